"""connectwise-billing: keep ConnectWise Manage agreement additions in step with what you sell.

The public API, importable from the package root:

- the client layer: `ConnectWiseClient`, `AsyncConnectWiseClient`, `Credentials`, `RetryPolicy`,
  the models (`Product`, `Company`, `Agreement`, `Addition`, `NewAddition`) and the condition
  builder (`Field`, `Condition`);
- reconciliation: `Plan`, `PlanMapping`, `CompanyUsage`, `SyncPolicy`, `reconcile_agreement`,
  `reconcile` and the diff types (`AgreementDiff`, `CreateAddition`, `UpdateAddition`,
  `CancelAddition`);
- sync: `apply_diff`, `sync_company`, `sync_all`, their async twins, `refresh_plan_prices`,
  `run_every` and the reports (`CompanyReport`, `SyncReport`);
- the locks that keep two syncs off one agreement: `InProcessLock`, `FileLock`, `RedisLock`
  (the `Lock` protocol is in `connectwise_billing.locks`);
- the error tree rooted at `ConnectWiseBillingError`.
"""

import logging

from connectwise_billing._constants import LOGGER_NAME
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
from connectwise_billing.client.accounting import count_requests
from connectwise_billing.errors import (
    APIConnectionError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ConfigurationError,
    ConflictError,
    ConnectWiseAPIError,
    ConnectWiseBillingError,
    DuplicateAgreementError,
    DuplicatePlanError,
    InputError,
    InvalidDiscountError,
    InvalidPriceError,
    InvalidSeatsError,
    MappingError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
    UnexpectedResponseError,
    UnknownPlanError,
)
from connectwise_billing.locks import FileLock, InProcessLock, RedisLock
from connectwise_billing.reconcile import (
    AgreementDiff,
    CancelAddition,
    CompanyUsage,
    CreateAddition,
    DiffWarning,
    DuplicateAdditions,
    Plan,
    PlanMapping,
    SyncPolicy,
    UnchangedAddition,
    UpdateAddition,
    reconcile,
    reconcile_agreement,
)
from connectwise_billing.sync import (
    AgreementReport,
    CompanyReport,
    OperationResult,
    PriceRefresh,
    SyncReport,
    apply_diff,
    async_apply_diff,
    async_refresh_plan_prices,
    async_sync_all,
    async_sync_company,
    refresh_plan_prices,
    run_every,
    sync_all,
    sync_company,
)

# A library is silent unless the application asks: without this, Python's last-resort handler
# would print the SDK's warnings to stderr of every program that uses it.
logging.getLogger(LOGGER_NAME).addHandler(logging.NullHandler())

__all__ = [
    "NOT_GIVEN",
    "APIConnectionError",
    "APITimeoutError",
    "Addition",
    "Agreement",
    "AgreementDiff",
    "AgreementReport",
    "AsyncConnectWiseClient",
    "AuthenticationError",
    "BadRequestError",
    "CancelAddition",
    "Company",
    "CompanyReport",
    "CompanyUsage",
    "Condition",
    "ConfigurationError",
    "ConflictError",
    "ConnectWiseAPIError",
    "ConnectWiseBillingError",
    "ConnectWiseClient",
    "CreateAddition",
    "Credentials",
    "DiffWarning",
    "DuplicateAdditions",
    "DuplicateAgreementError",
    "DuplicatePlanError",
    "Field",
    "FileLock",
    "InProcessLock",
    "InputError",
    "InvalidDiscountError",
    "InvalidPriceError",
    "InvalidSeatsError",
    "MappingError",
    "NewAddition",
    "NotFoundError",
    "OperationResult",
    "PermissionDeniedError",
    "Plan",
    "PlanMapping",
    "PriceRefresh",
    "Product",
    "RateLimitError",
    "RateLimiter",
    "RedisLock",
    "Reference",
    "RetryPolicy",
    "ServerError",
    "SyncPolicy",
    "SyncReport",
    "UnchangedAddition",
    "UnexpectedResponseError",
    "UnknownPlanError",
    "UpdateAddition",
    "__version__",
    "apply_diff",
    "async_apply_diff",
    "async_refresh_plan_prices",
    "async_sync_all",
    "async_sync_company",
    "count_requests",
    "reconcile",
    "reconcile_agreement",
    "refresh_plan_prices",
    "run_every",
    "sync_all",
    "sync_company",
]
