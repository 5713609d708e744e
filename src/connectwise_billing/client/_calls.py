"""The steps an HTTP client performs: a flow yields `Fetch`, `Send`, `Collect` or `Count`, and
[`run`][connectwise_billing._flow.run] (or [`arun`][connectwise_billing._flow.arun]) performs
them with a sync (or an async) client. A multi-request operation (a read that settles a lost
DELETE, a batched look-up) is then written once for both clients (see
[`connectwise_billing._flow`][connectwise_billing._flow]).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

import attrs

from connectwise_billing._flow import Flow, Step
from connectwise_billing.client._api import ApiRequest, ListQuery
from connectwise_billing.client._paging import M

if TYPE_CHECKING:
    from connectwise_billing.client import AsyncConnectWiseClient, ConnectWiseClient

__all__ = ["Call", "ClientFlow", "Collect", "Count", "Fetch", "Send"]

R = TypeVar("R")
"""What a call gives back to the flow that yielded it."""
T = TypeVar("T")
"""What a flow returns."""

Call = Step[R, "ConnectWiseClient", "AsyncConnectWiseClient"]
"""One request (or listing) a flow asks for, with a result of type `R`, performed by a client."""

ClientFlow = Flow[Call[Any], T]
"""A flow of requests: it yields calls and returns a `T`."""


@attrs.frozen(slots=False)
class Fetch(Call[M]):
    """A request whose answer is one record, read as `model`."""

    request: ApiRequest
    """The request."""
    model: type[M]
    """The model the answer is read into."""

    def perform(self, client: ConnectWiseClient) -> M:
        return client.fetch(self.request, self.model)

    async def aperform(self, client: AsyncConnectWiseClient) -> M:
        return await client.fetch(self.request, self.model)


@attrs.frozen(slots=False)
class Send(Call[Any]):
    """A request whose answer is not a record (a DELETE): its parsed JSON, if any."""

    request: ApiRequest
    """The request."""

    def perform(self, client: ConnectWiseClient) -> Any:
        return client.request(self.request)

    async def aperform(self, client: AsyncConnectWiseClient) -> Any:
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

    def perform(self, client: ConnectWiseClient) -> list[M]:
        return client.paginate(self.query, self.model, strict=self.strict).collect()

    async def aperform(self, client: AsyncConnectWiseClient) -> list[M]:
        return await client.paginate(self.query, self.model, strict=self.strict).collect()


@attrs.frozen(slots=False)
class Count(Call[int]):
    """A `/count` request."""

    request: ApiRequest
    """The request."""

    def perform(self, client: ConnectWiseClient) -> int:
        return client.count(self.request)

    async def aperform(self, client: AsyncConnectWiseClient) -> int:
        return await client.count(self.request)
