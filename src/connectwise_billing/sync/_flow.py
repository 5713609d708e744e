"""Multi-request flows written once, driven by a tiny sync and a tiny async driver.

A flow is a generator that yields typed operations (`Op[R]`) and receives each one's result of
type `R`, or has the operation's `ConnectWiseBillingError` thrown into it. Everything a sync
decides (what to read, what to write, how to settle a lost answer) lives in the flow; the
drivers only perform, or await. This is the pattern of httpx's auth flows.

Flows take results with `value = yield from perform(SomeOp(...))`: `perform` is generic in
the operation's result type, so mypy checks every seam between a flow and an operation.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import attrs

from connectwise_billing.client.conditions import Field
from connectwise_billing.client.models import Addition, Agreement, NewAddition, Product
from connectwise_billing.errors import (
    APIConnectionError,
    AuthenticationError,
    ConnectWiseBillingError,
    PermissionDeniedError,
)
from connectwise_billing.waits import asleep, sleep

if TYPE_CHECKING:
    from connectwise_billing.client import AsyncConnectWiseClient, ConnectWiseClient

R = TypeVar("R")
T = TypeVar("T")

READ_FIELDS = (
    "id",
    "product/id",
    "product/identifier",
    "quantity",
    "unitPrice",
    "unitCost",
    "billCustomer",
    "effectiveDate",
    "cancelledDate",
    "agreementId",
    "_info/lastUpdated",
    "_info/updatedBy",
)
"""What a sync reads of each addition: what reconciliation and drift detection need."""


class Op(Generic[R]):
    """One step a flow asks its driver to perform, with a result of type `R`."""

    def run(self, client: ConnectWiseClient) -> R:
        """Perform the step with the sync client."""
        raise NotImplementedError

    async def arun(self, client: AsyncConnectWiseClient) -> R:
        """Perform the step with the async client."""
        raise NotImplementedError


Flow = Generator[Op[Any], Any, T]
"""A generator that yields operations, receives their results and returns a `T`."""


def perform(op: Op[R]) -> Generator[Op[Any], Any, R]:
    """`result = yield from perform(op)`: hand `op` to the driver and type its result."""
    result: R = yield op
    return result


@attrs.frozen(slots=False)
class ListAdditions(Op[list[Addition]]):
    """Every addition of an agreement, trimmed to `READ_FIELDS`; one that cannot be used fails
    the read (a sync decides with all of them)."""

    agreement_id: int

    def run(self, client: ConnectWiseClient) -> list[Addition]:
        return client.additions.list(self.agreement_id, fields=READ_FIELDS, strict=True)

    async def arun(self, client: AsyncConnectWiseClient) -> list[Addition]:
        return await client.additions.list(self.agreement_id, fields=READ_FIELDS, strict=True)


@attrs.frozen(slots=False)
class GetAddition(Op[Addition]):
    """One addition."""

    agreement_id: int
    addition_id: int

    def run(self, client: ConnectWiseClient) -> Addition:
        return client.additions.get(self.agreement_id, self.addition_id)

    async def arun(self, client: AsyncConnectWiseClient) -> Addition:
        return await client.additions.get(self.agreement_id, self.addition_id)


@attrs.frozen(slots=False)
class PostAddition(Op[Addition]):
    """Create an addition (sent once: never repeated when it may have landed)."""

    agreement_id: int
    addition: NewAddition

    def run(self, client: ConnectWiseClient) -> Addition:
        return client.additions.create(self.agreement_id, self.addition)

    async def arun(self, client: AsyncConnectWiseClient) -> Addition:
        return await client.additions.create(self.agreement_id, self.addition)


@attrs.frozen(slots=False)
class PatchAddition(Op[Addition]):
    """Replace some fields of an addition (`fields` as `additions.update()` takes them)."""

    agreement_id: int
    addition_id: int
    fields: dict[str, Any]

    def run(self, client: ConnectWiseClient) -> Addition:
        return client.additions.update(self.agreement_id, self.addition_id, **self.fields)

    async def arun(self, client: AsyncConnectWiseClient) -> Addition:
        return await client.additions.update(self.agreement_id, self.addition_id, **self.fields)


@attrs.frozen(slots=False)
class ListAgreements(Op[list[Agreement]]):
    """The agreements with these ids (one `id in (...)` read)."""

    ids: Sequence[int]
    fields: Sequence[str]

    def run(self, client: ConnectWiseClient) -> list[Agreement]:
        return client.agreements.list(Field("id").in_(self.ids), fields=self.fields, strict=True)

    async def arun(self, client: AsyncConnectWiseClient) -> list[Agreement]:
        condition = Field("id").in_(self.ids)
        return await client.agreements.list(condition, fields=self.fields, strict=True)


@attrs.frozen(slots=False)
class GetAgreement(Op[Agreement]):
    """One agreement."""

    agreement_id: int
    fields: Sequence[str]

    def run(self, client: ConnectWiseClient) -> Agreement:
        return client.agreements.get(self.agreement_id, fields=self.fields)

    async def arun(self, client: AsyncConnectWiseClient) -> Agreement:
        return await client.agreements.get(self.agreement_id, fields=self.fields)


PRODUCT_FIELDS = ("identifier", "price", "cost", "inactiveFlag")
"""What a sync reads of a mapped catalog item: whether it is usable, and its price and cost."""


@attrs.frozen(slots=False)
class ListProducts(Op[list[Product]]):
    """The catalog items with these ids (`PRODUCT_FIELDS`)."""

    ids: Sequence[int]

    def run(self, client: ConnectWiseClient) -> list[Product]:
        condition = Field("id").in_(self.ids)
        return client.products.list(condition, fields=PRODUCT_FIELDS, strict=True)

    async def arun(self, client: AsyncConnectWiseClient) -> list[Product]:
        condition = Field("id").in_(self.ids)
        return await client.products.list(condition, fields=PRODUCT_FIELDS, strict=True)


@attrs.frozen(slots=False)
class Sleep(Op[None]):
    """Let time pass (zero in testing mode: see `set_testing`)."""

    seconds: float

    def run(self, client: ConnectWiseClient) -> None:
        sleep(self.seconds)

    async def arun(self, client: AsyncConnectWiseClient) -> None:
        await asleep(self.seconds)


class RunGuard:
    """Which errors end a whole run instead of being handed to the flow that met them.

    ConnectWise refusing the credentials (401) ends a run wherever it happens: every other request
    would be refused too. Before anything of the run has succeeded, so do a 403 (the API member
    cannot read what a sync needs) and a connection failure (ConnectWise cannot be reached).
    """

    def __init__(self) -> None:
        self.contacted = False

    def succeeded(self) -> None:
        """Note that a request of the run succeeded."""
        self.contacted = True

    def ends_run(self, error: ConnectWiseBillingError) -> bool:
        """Whether `error` stops the run."""
        if isinstance(error, AuthenticationError):
            return True
        return not self.contacted and isinstance(error, PermissionDeniedError | APIConnectionError)


def run(client: ConnectWiseClient, flow: Flow[T], guard: RunGuard | None = None) -> T:
    """Drive a flow with the sync client; errors that end the run (see `RunGuard`) are raised
    instead of being thrown into the flow."""
    try:
        op = next(flow)
        while True:
            try:
                result = op.run(client)
            except ConnectWiseBillingError as error:
                if guard is not None and guard.ends_run(error):
                    flow.close()
                    raise
                op = flow.throw(error)
            else:
                if guard is not None:
                    guard.succeeded()
                op = flow.send(result)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]


async def run_async(
    client: AsyncConnectWiseClient, flow: Flow[T], guard: RunGuard | None = None
) -> T:
    """Drive a flow with the async client: the same flow, awaited."""
    try:
        op = next(flow)
        while True:
            try:
                result = await op.arun(client)
            except ConnectWiseBillingError as error:
                if guard is not None and guard.ends_run(error):
                    flow.close()
                    raise
                op = flow.throw(error)
            else:
                if guard is not None:
                    guard.succeeded()
                op = flow.send(result)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
