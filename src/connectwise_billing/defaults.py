"""Defaults in one place."""

from __future__ import annotations

from typing import Final

__all__ = [
    "BILL_CUSTOMER_VALUES",
    "DEFAULT_API_VERSION",
    "DEFAULT_CONNECT_TIMEOUT_SECONDS",
    "DEFAULT_PAGE_SIZE",
    "DEFAULT_RATE_LIMIT_PER_MINUTE",
    "DEFAULT_TIMEOUT_SECONDS",
    "LOGGER_NAME",
    "MEDIA_TYPE",
]

DEFAULT_API_VERSION: Final = "2025.8"
"""The ConnectWise model version the SDK is written against (`Accept: ...; version=2025.8`)."""

DEFAULT_TIMEOUT_SECONDS: Final = 30.0
"""Per-request timeout (connect, read, write, pool), in seconds."""

DEFAULT_CONNECT_TIMEOUT_SECONDS: Final = 10.0
"""Timeout for opening a connection, in seconds."""

DEFAULT_RATE_LIMIT_PER_MINUTE: Final = 950
"""Just under ConnectWise's "over 1,000 requests per minute will likely be rate limited"."""

DEFAULT_PAGE_SIZE: Final = 1000
"""ConnectWise's maximum page size: fewest round trips."""

MEDIA_TYPE: Final = "application/vnd.connectwise.com+json"
"""ConnectWise's media type, sent in `Accept` with the API version."""

LOGGER_NAME: Final = "connectwise_billing"
"""The logger every module logs under (a child of it)."""

BILL_CUSTOMER_VALUES: Final = ("Billable", "DoNotBill", "NoCharge")
"""The values ConnectWise accepts for an addition's `billCustomer`."""
