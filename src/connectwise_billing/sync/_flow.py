"""Multi-request flows written once, driven by a tiny sync and a tiny async driver.

A flow is a generator that yields `Call`s (which client method to call, with what) and receives
each call's result, or has the call's `ConnectWiseBillingError` thrown into it. Everything a
sync decides (what to read, what to write, how to react to a failure) lives in the flow; the
drivers only call, or await. This is the pattern of httpx's auth flows.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import TYPE_CHECKING, Any, TypeVar

import attrs

from connectwise_billing.errors import ConnectWiseBillingError

if TYPE_CHECKING:
    from connectwise_billing.client import AsyncConnectWiseClient, ConnectWiseClient

T = TypeVar("T")


@attrs.frozen(slots=False)
class Call:
    """`client.<resource>.<method>(*args, **kwargs)`, to be run by a driver."""

    resource: str
    method: str
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = attrs.field(factory=dict)

    def bound(self, client: Any) -> Any:
        return getattr(getattr(client, self.resource), self.method)


Flow = Generator[Call, Any, T]
"""A generator that yields `Call`s, receives their results and returns a `T`."""


def run(client: ConnectWiseClient, flow: Flow[T]) -> T:
    """Drive a flow with the sync client."""
    try:
        call = next(flow)
        while True:
            try:
                result = call.bound(client)(*call.args, **call.kwargs)
            except ConnectWiseBillingError as error:
                call = flow.throw(error)
            else:
                call = flow.send(result)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]


async def run_async(client: AsyncConnectWiseClient, flow: Flow[T]) -> T:
    """Drive a flow with the async client: the same flow, awaited."""
    try:
        call = next(flow)
        while True:
            try:
                result = await call.bound(client)(*call.args, **call.kwargs)
            except ConnectWiseBillingError as error:
                call = flow.throw(error)
            else:
                call = flow.send(result)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
