"""How a failed read is reported: what it says about the PSA, for the run's circuit breaker."""

from __future__ import annotations

from connectwise_billing.errors import ConnectWiseBillingError, PSAError

__all__ = ["failure_kind"]


def failure_kind(error: ConnectWiseBillingError, name: str) -> str | None:
    """How a request failed, when the failure says something about the PSA called `name`
    rather than about the agreement (a line not found, no access or one bad record are the
    agreement's own): what the error says of itself
    ([`PSAError.failure`][connectwise_billing.errors.PSAError.failure])."""
    return error.failure(name) if isinstance(error, PSAError) else None
