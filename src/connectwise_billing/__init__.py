"""connectwise-billing: keep ConnectWise Manage agreement additions in step with what you sell.

The public API, importable from the package root:

- the client layer: `ConnectWiseClient`, `AsyncConnectWiseClient`, `Credentials`, `RetryPolicy`,
  the models (`Product`, `Company`, `Agreement`, `Addition`, `NewAddition`) and the condition
  builder (`Field`, `Condition`);
- the error tree rooted at `ConnectWiseBillingError`.
"""

from connectwise_billing._version import __version__
from connectwise_billing.client import (
    NOT_GIVEN,
    Addition,
    Agreement,
    AsyncConnectWiseClient,
    Company,
    Condition,
    ConnectWiseClient,
    Credentials,
    Field,
    NewAddition,
    Product,
    RateLimiter,
    Reference,
    RetryPolicy,
)
from connectwise_billing.errors import (
    APIConnectionError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ConfigurationError,
    ConflictError,
    ConnectWiseAPIError,
    ConnectWiseBillingError,
    InputError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
    UnexpectedResponseError,
)

__all__ = [
    "NOT_GIVEN",
    "APIConnectionError",
    "APITimeoutError",
    "Addition",
    "Agreement",
    "AsyncConnectWiseClient",
    "AuthenticationError",
    "BadRequestError",
    "Company",
    "Condition",
    "ConfigurationError",
    "ConflictError",
    "ConnectWiseAPIError",
    "ConnectWiseBillingError",
    "ConnectWiseClient",
    "Credentials",
    "Field",
    "InputError",
    "NewAddition",
    "NotFoundError",
    "PermissionDeniedError",
    "Product",
    "RateLimitError",
    "RateLimiter",
    "Reference",
    "RetryPolicy",
    "ServerError",
    "UnexpectedResponseError",
    "__version__",
]
