"""Typed client calls for flows: a flow yields `Fetch`, `Send`, `Collect` or `Count`, and
[`run`][connectwise_billing.client._calls.run] (or
[`arun`][connectwise_billing.client._calls.arun]) performs them with a sync (or an async)
client. A multi-request operation (a read that settles a lost DELETE, a batched look-up) is
then written once for both clients (see [`connectwise_billing._flow`][connectwise_billing._flow]).
"""

from __future__ import annotations

from collections.abc import Generator
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import attrs

from connectwise_billing._flow import Flow, adrive, drive
from connectwise_billing.client._api import ApiRequest, ListQuery
from connectwise_billing.client._paging import M

if TYPE_CHECKING:
    from connectwise_billing.client import AsyncConnectWiseClient, ConnectWiseClient

__all__ = ["Call", "Collect", "Count", "Fetch", "Send", "arun", "call", "run"]

R = TypeVar("R")
"""What a call gives back to the flow that yielded it."""
T = TypeVar("T")
"""What a flow returns."""


class Call(Generic[R]):
    """One request (or listing) a flow asks for, with a result of type `R`."""

    def run(self, client: ConnectWiseClient) -> R:
        """Perform the call with the sync client."""
        raise NotImplementedError

    async def arun(self, client: AsyncConnectWiseClient) -> R:
        """Perform the call with the async client."""
        raise NotImplementedError


@attrs.frozen(slots=False)
class Fetch(Call[M]):
    """A request whose answer is one record, read as `model`."""

    request: ApiRequest
    """The request."""
    model: type[M]
    """The model the answer is read into."""

    def run(self, client: ConnectWiseClient) -> M:
        return client.fetch(self.request, self.model)

    async def arun(self, client: AsyncConnectWiseClient) -> M:
        return await client.fetch(self.request, self.model)


@attrs.frozen(slots=False)
class Send(Call[Any]):
    """A request whose answer is not a record (a DELETE): its parsed JSON, if any."""

    request: ApiRequest
    """The request."""

    def run(self, client: ConnectWiseClient) -> Any:
        return client.request(self.request)

    async def arun(self, client: AsyncConnectWiseClient) -> Any:
        return await client.request(self.request)


@attrs.frozen(slots=False)
class Collect(Call[list[M]]):
    """Every record of a listing, as `model` (see `paginate` for `strict`)."""

    query: ListQuery
    """The listing, page after page."""
    model: type[M]
    """The model the answer is read into."""
    strict: bool = False
    """Whether a record that cannot be used fails the call (else it is left out, with a warning,
    and the list returned is a `Listing` whose `left_out` names it)."""

    def run(self, client: ConnectWiseClient) -> list[M]:
        return client.paginate(self.query, self.model, strict=self.strict).collect()

    async def arun(self, client: AsyncConnectWiseClient) -> list[M]:
        return await client.paginate(self.query, self.model, strict=self.strict).collect()


@attrs.frozen(slots=False)
class Count(Call[int]):
    """A `/count` request."""

    request: ApiRequest
    """The request."""

    def run(self, client: ConnectWiseClient) -> int:
        return client.count(self.request)

    async def arun(self, client: AsyncConnectWiseClient) -> int:
        return await client.count(self.request)


def call(step: Call[R]) -> Generator[Call[Any], Any, R]:
    """`result = yield from call(Fetch(...))`: hand the call to the driver and type its result."""
    result: R = yield step
    return result


def run(client: ConnectWiseClient, flow: Flow[Call[Any], T]) -> T:
    """Perform a flow's calls with the sync client; return what the flow returns."""
    return drive(flow, lambda step: step.run(client))


async def arun(client: AsyncConnectWiseClient, flow: Flow[Call[Any], T]) -> T:
    """Perform a flow's calls with the async client; return what the flow returns."""
    return await adrive(flow, lambda step: step.arun(client))
