"""Which backend a sync function writes through: the one it is given, or a ConnectWise backend
around the ConnectWise client it is given."""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any

from connectwise_billing.backend import AsyncBillingBackend, BillingBackend
from connectwise_billing.errors import ConfigurationError, InputError

if TYPE_CHECKING:
    from connectwise_billing.reconcile import SyncPolicy

__all__ = ["async_backend_for", "backend_for"]


def _bill_customer(target: Any, policy: SyncPolicy | None) -> str | None:
    value = policy.bill_customer if policy is not None else None
    if value is not None and isinstance(target, BillingBackend | AsyncBillingBackend):
        raise ConfigurationError(
            "SyncPolicy.bill_customer applies to a ConnectWise client only: set bill_customer "
            "on the ConnectWiseBackend instead"
        )
    return value


def _checked(target: Any, *, awaited: bool) -> Any:
    if inspect.iscoroutinefunction(target.read_lines) is not awaited:
        kind = "a sync" if awaited else "an async"
        function = "the function without async_" if awaited else "the async_ function"
        raise InputError(f"{type(target).__name__} is {kind} backend: use {function}")
    return target


def backend_for(target: Any, policy: SyncPolicy | None = None) -> BillingBackend:
    """`target` if it is a billing backend, else a `ConnectWiseBackend` around the ConnectWise
    client `target` (with the policy's `bill_customer`, if it sets the deprecated field).

    Raises:
        InputError: `target` is neither, or is async.
        ConfigurationError: the policy sets `bill_customer` for a backend.
    """
    bill_customer = _bill_customer(target, policy)
    if isinstance(target, BillingBackend):
        return _checked(target, awaited=False)  # type: ignore[no-any-return]
    # Imported here: a sync through another PSA's backend never loads the ConnectWise client.
    from connectwise_billing.client import AsyncConnectWiseClient, ConnectWiseClient
    from connectwise_billing.sync.connectwise import ConnectWiseBackend

    if isinstance(target, ConnectWiseClient):
        return ConnectWiseBackend(target, bill_customer=bill_customer or "Billable")
    if isinstance(target, AsyncConnectWiseClient):
        raise InputError("an AsyncConnectWiseClient needs the async_ function")
    raise InputError(
        f"expected a ConnectWiseClient or a BillingBackend, got {type(target).__name__}"
    )


def async_backend_for(target: Any, policy: SyncPolicy | None = None) -> AsyncBillingBackend:
    """The async twin of [`backend_for`][connectwise_billing.sync.backends.backend_for]."""
    bill_customer = _bill_customer(target, policy)
    if isinstance(target, AsyncBillingBackend):
        return _checked(target, awaited=True)  # type: ignore[no-any-return]
    from connectwise_billing.client import AsyncConnectWiseClient, ConnectWiseClient
    from connectwise_billing.sync.connectwise import AsyncConnectWiseBackend

    if isinstance(target, AsyncConnectWiseClient):
        return AsyncConnectWiseBackend(target, bill_customer=bill_customer or "Billable")
    if isinstance(target, ConnectWiseClient):
        raise InputError("a ConnectWiseClient needs the sync function (not async_)")
    raise InputError(
        f"expected an AsyncConnectWiseClient or an AsyncBillingBackend, got {type(target).__name__}"
    )
