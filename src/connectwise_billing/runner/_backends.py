"""Which backend a sync function writes through: the one it is given, or a ConnectWise backend
around the ConnectWise client it is given."""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any

from connectwise_billing.backend import AsyncBillingBackend, BillingBackend, SettlePolicy
from connectwise_billing.errors import ConfigurationError, InputError

if TYPE_CHECKING:
    from connectwise_billing.reconcile import SyncPolicy

__all__ = ["async_backend_for", "backend_for", "settle_of", "throttle_budget_of"]


def settle_of(backend: BillingBackend | AsyncBillingBackend) -> SettlePolicy:
    """The backend's `settle` policy; for a backend written before `settle` existed, the one
    its `retry` policy's settings make (so its timings do not change); else the defaults."""
    settle = getattr(backend, "settle", None)
    if isinstance(settle, SettlePolicy):
        return settle
    settle = getattr(getattr(backend, "retry", None), "settle", None)
    return settle if isinstance(settle, SettlePolicy) else SettlePolicy()


def throttle_budget_of(backend: BillingBackend | AsyncBillingBackend) -> float | None:
    """Seconds a run may spend waiting out the backend's throttling: its `throttle_budget`
    (ConnectWise's is its client's `RetryPolicy`'s); for a backend written before
    `SettlePolicy`, its `retry`'s; `None`: no limit."""
    budget: float | None = getattr(backend, "throttle_budget", None)
    if budget is None:
        budget = getattr(getattr(backend, "retry", None), "throttle_budget", None)
    return budget


def _bill_customer(target: Any, policy: SyncPolicy | None) -> str | None:
    value = policy.bill_customer if policy is not None else None
    if value is not None and isinstance(target, BillingBackend | AsyncBillingBackend):
        raise ConfigurationError(
            "SyncPolicy.bill_customer applies to a ConnectWise client only: set bill_customer "
            "on the ConnectWiseBackend instead"
        )
    return value


def _backend(target: Any, policy: SyncPolicy | None, *, awaited: bool) -> Any:
    """What both choosers share: they differ only in which side of each pair they want."""
    bill_customer = _bill_customer(target, policy)
    if isinstance(target, AsyncBillingBackend if awaited else BillingBackend):
        if inspect.iscoroutinefunction(target.read_lines) is not awaited:
            kind = "a sync" if awaited else "an async"
            function = "the function without async_" if awaited else "the async_ function"
            raise InputError(f"{type(target).__name__} is {kind} backend: use {function}")
        return target
    # Imported here: a sync through another PSA's backend never loads the ConnectWise client.
    from connectwise_billing.client import AsyncConnectWiseClient, ConnectWiseClient
    from connectwise_billing.runner._connectwise import AsyncConnectWiseBackend, ConnectWiseBackend

    bill_customer = bill_customer or "Billable"
    if awaited and isinstance(target, AsyncConnectWiseClient):
        return AsyncConnectWiseBackend(target, bill_customer=bill_customer)
    if not awaited and isinstance(target, ConnectWiseClient):
        return ConnectWiseBackend(target, bill_customer=bill_customer)
    if isinstance(target, ConnectWiseClient | AsyncConnectWiseClient):
        use = "sync function (not async_)" if awaited else "async_ function"
        raise InputError(f"{'a' if awaited else 'an'} {type(target).__name__} needs the {use}")
    expected = (
        "an AsyncConnectWiseClient or an AsyncBillingBackend"
        if awaited
        else ("a ConnectWiseClient or a BillingBackend")
    )
    raise InputError(f"expected {expected}, got {type(target).__name__}")


def backend_for(target: Any, policy: SyncPolicy | None = None) -> BillingBackend:
    """`target` if it is a billing backend, else a `ConnectWiseBackend` around the ConnectWise
    client `target` (with the policy's `bill_customer`, if it sets the deprecated field).

    Raises:
        InputError: `target` is neither, or is async.
        ConfigurationError: the policy sets `bill_customer` for a backend.
    """
    return _backend(target, policy, awaited=False)  # type: ignore[no-any-return]


def async_backend_for(target: Any, policy: SyncPolicy | None = None) -> AsyncBillingBackend:
    """The async twin of [`backend_for`][connectwise_billing.runner._backends.backend_for]."""
    return _backend(target, policy, awaited=True)  # type: ignore[no-any-return]
