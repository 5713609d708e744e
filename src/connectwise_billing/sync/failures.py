"""How a failed read is reported: what it says about the PSA, for the run's circuit breaker."""

from __future__ import annotations

from connectwise_billing.errors import (
    APIConnectionError,
    ConnectWiseBillingError,
    RateLimitError,
    ServerError,
    UnexpectedResponseError,
)

__all__ = ["failure_kind", "unreachable"]


def unreachable(name: str) -> str:
    """The failure of a PSA that cannot be reached (`ConnectWise could not be reached`)."""
    return f"{name} could not be reached"


def failure_kind(error: ConnectWiseBillingError, name: str) -> str | None:
    """How a read failed, when the failure says something about the PSA called `name` rather
    than about the agreement (a 404, a 403 or one bad record are the agreement's own)."""
    if isinstance(error, APIConnectionError):
        return unreachable(name)
    if isinstance(error, RateLimitError):
        return f"{name} throttled it"
    if isinstance(error, ServerError):
        return f"{name} answered {error.status_code}"
    if isinstance(error, UnexpectedResponseError) and error.record is None:
        return f"{name}'s answers were not what it sends"
    return None
