"""The steps of a sync's flows, performed by a billing backend.

The flows of a sync (check the mapping, look agreements up, read, reconcile, write, settle) are
generators written once; they yield these typed steps, and
[`run`][connectwise_billing._flow.run] performs them with a
[`BillingBackend`][connectwise_billing.backend.BillingBackend] while
[`arun`][connectwise_billing._flow.arun] awaits them with an
[`AsyncBillingBackend`][connectwise_billing.backend.AsyncBillingBackend]. Flows take results
with `value = yield from ask(SomeStep(...))`: `ask` is generic in the step's result type, so
mypy checks every seam between a flow and the backend.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import TYPE_CHECKING, Any, TypeVar

import attrs

from connectwise_billing._flow import Flow, Step
from connectwise_billing.errors import (
    AccessDeniedError,
    ConnectWiseBillingError,
    CredentialsRefusedError,
    PSAUnreachableError,
)
from connectwise_billing.reconcile import (
    AdditionLike,
    CancelAddition,
    CreateAddition,
    Operation,
    UpdateAddition,
)
from connectwise_billing.runner._backends import settle_of

if TYPE_CHECKING:
    from connectwise_billing.backend import (
        AgreementCandidate,
        AgreementState,
        AsyncBillingBackend,
        BillingBackend,
        CatalogItem,
    )
    from connectwise_billing.locks import Lease
    from connectwise_billing.runner._audit import AuditLog, Intent
    from connectwise_billing.runner._results import OperationResult

__all__ = [
    "AnsweredIntents",
    "BackendStep",
    "CancelLine",
    "CreateLine",
    "DescribeAgreements",
    "FindAgreements",
    "HoldLock",
    "ReadCatalog",
    "ReadLine",
    "ReadLines",
    "RunGuard",
    "SettleIntents",
    "Sleep",
    "SyncFlow",
    "UpdateLine",
    "WriteAudit",
    "WriteIntent",
]

R = TypeVar("R")
"""What a step gives back to the flow that yielded it."""
T = TypeVar("T")
"""What a flow returns."""


BackendStep = Step[R, "BillingBackend", "AsyncBillingBackend"]
"""One step a flow asks a billing backend for, with a result of type `R`."""

SyncFlow = Flow[BackendStep[Any], T]
"""A flow of a sync: it yields steps and returns a `T`."""


@attrs.frozen(slots=False)
class ReadLines(BackendStep[Sequence[AdditionLike]]):
    """Every line of an agreement (a line that cannot be used fails the read)."""

    agreement_id: int
    """The agreement."""

    def perform(self, backend: BillingBackend) -> Sequence[AdditionLike]:
        return backend.read_lines(self.agreement_id)

    async def aperform(self, backend: AsyncBillingBackend) -> Sequence[AdditionLike]:
        return await backend.read_lines(self.agreement_id)


@attrs.frozen(slots=False)
class ReadLine(BackendStep[AdditionLike]):
    """One line."""

    agreement_id: int
    """The agreement."""
    line_id: int
    """The addition (line) to read."""

    def perform(self, backend: BillingBackend) -> AdditionLike:
        return backend.read_line(self.agreement_id, self.line_id)

    async def aperform(self, backend: AsyncBillingBackend) -> AdditionLike:
        return await backend.read_line(self.agreement_id, self.line_id)


@attrs.frozen(slots=False)
class CreateLine(BackendStep[AdditionLike]):
    """Create a line (sent once: never repeated when it may have landed)."""

    operation: CreateAddition
    """The create to write."""

    def perform(self, backend: BillingBackend) -> AdditionLike:
        return backend.create_line(self.operation)

    async def aperform(self, backend: AsyncBillingBackend) -> AdditionLike:
        return await backend.create_line(self.operation)


@attrs.frozen(slots=False)
class UpdateLine(BackendStep[AdditionLike]):
    """Write the new values of an update."""

    operation: UpdateAddition
    """The update to write."""

    def perform(self, backend: BillingBackend) -> AdditionLike:
        return backend.update_line(self.operation)

    async def aperform(self, backend: AsyncBillingBackend) -> AdditionLike:
        return await backend.update_line(self.operation)


@attrs.frozen(slots=False)
class CancelLine(BackendStep[AdditionLike]):
    """Cancel a line."""

    operation: CancelAddition
    """The cancel to write."""

    def perform(self, backend: BillingBackend) -> AdditionLike:
        return backend.cancel_line(self.operation)

    async def aperform(self, backend: AsyncBillingBackend) -> AdditionLike:
        return await backend.cancel_line(self.operation)


@attrs.frozen(slots=False)
class ReadCatalog(BackendStep[Mapping[int, "CatalogItem"]]):
    """The catalog items with these ids."""

    product_ids: Sequence[int]
    """The mapped products."""

    def perform(self, backend: BillingBackend) -> Mapping[int, CatalogItem]:
        return backend.read_catalog(self.product_ids)

    async def aperform(self, backend: AsyncBillingBackend) -> Mapping[int, CatalogItem]:
        return await backend.read_catalog(self.product_ids)


@attrs.frozen(slots=False)
class DescribeAgreements(BackendStep[Mapping[int, "AgreementState"]]):
    """Whether a sync may write to each of these agreements on `today`."""

    agreement_ids: Sequence[int]
    """The agreements."""
    today: date
    """The day closed agreements are judged by (an end date before it)."""

    def perform(self, backend: BillingBackend) -> Mapping[int, AgreementState]:
        return backend.describe_agreements(self.agreement_ids, self.today)

    async def aperform(self, backend: AsyncBillingBackend) -> Mapping[int, AgreementState]:
        return await backend.describe_agreements(self.agreement_ids, self.today)


@attrs.frozen(slots=False)
class FindAgreements(BackendStep[Sequence["AgreementCandidate"]]):
    """A company's active agreements, by its id or else its name: candidates to re-link. A
    backend without `find_agreements` (it is optional) names none."""

    company_id: int | None
    """The company's id in the PSA, when known."""
    company_name: str | None
    """Its name, matched once normalised when the id is not known."""
    today: date
    """The day an agreement must be active on."""

    def perform(self, backend: BillingBackend) -> Sequence[AgreementCandidate]:
        find = getattr(backend, "find_agreements", None)
        if find is None:
            return ()
        found: Sequence[AgreementCandidate] = find(self.company_id, self.company_name, self.today)
        return found

    async def aperform(self, backend: AsyncBillingBackend) -> Sequence[AgreementCandidate]:
        find = getattr(backend, "find_agreements", None)
        if find is None:
            return ()
        found: Sequence[AgreementCandidate] = await find(
            self.company_id, self.company_name, self.today
        )
        return found


@attrs.frozen(slots=False)
class Sleep(BackendStep[None]):
    """Let time pass, by the backend's settle policy (zero in testing mode)."""

    seconds: float
    """How long to wait."""

    def perform(self, backend: BillingBackend) -> None:
        settle_of(backend).sleep(self.seconds)

    async def aperform(self, backend: AsyncBillingBackend) -> None:
        await settle_of(backend).asleep(self.seconds)


@attrs.frozen(slots=False)
class HoldLock(BackendStep[bool]):
    """Before a write: renew the agreement's lock and say whether this run still holds it (the
    fencing check; a run that lost its lock must not write)."""

    lease: Lease
    """The agreement's lock, as held."""

    def perform(self, backend: BillingBackend) -> bool:
        return self.lease.check()

    async def aperform(self, backend: AsyncBillingBackend) -> bool:
        return await self.lease.acheck()


@attrs.frozen(slots=False)
class WriteIntent(BackendStep[None]):
    """Record a write about to be sent in the audit log, durably, before it is sent (in a
    worker thread under asyncio)."""

    log: AuditLog
    """The audit log."""
    write_id: str
    """The write's id, which its outcome line repeats."""
    operation: Operation
    """The write."""
    company: str | None
    """The company, for the line."""
    company_id: int | None
    """The company's id in the PSA, for the line."""
    known_ids: frozenset[int]
    """The lines the agreement had: a lost create is found as a line that was not there."""

    def _write(self) -> None:
        self.log.intent(
            self.write_id, self.operation, self.company, self.company_id, self.known_ids
        )

    def perform(self, backend: BillingBackend) -> None:
        self._write()

    async def aperform(self, backend: AsyncBillingBackend) -> None:
        import asyncio

        await asyncio.to_thread(self._write)


@attrs.frozen(slots=False)
class SettleIntents(BackendStep[int]):
    """Record in the audit log whether each of an earlier run's intents landed, judged by the
    agreement's lines (in a worker thread under asyncio); how many were settled."""

    log: AuditLog
    """The audit log."""
    intents: tuple[Intent, ...]
    """The intents of one agreement."""
    lines: tuple[AdditionLike, ...]
    """The agreement's lines, as read now."""
    today: date
    """The day lines are judged active by."""
    gone: bool = False
    """The agreement is gone: each intent is settled `unknown`."""

    def _settle(self) -> int:
        from connectwise_billing.runner._audit import settle

        return settle(self.log, self.intents, self.lines, self.today, gone=self.gone)

    def perform(self, backend: BillingBackend) -> int:
        return self._settle()

    async def aperform(self, backend: AsyncBillingBackend) -> int:
        import asyncio

        return await asyncio.to_thread(self._settle)


@attrs.frozen(slots=False)
class AnsweredIntents(BackendStep[frozenset[str]]):
    """Which of these writes an outcome line of the audit log answers now (read in a worker
    thread under asyncio): their own run may have settled them since they were listed."""

    log: AuditLog
    """The audit log."""
    write_ids: tuple[str, ...]
    """The writes asked about."""

    def _answered(self) -> frozenset[str]:
        from connectwise_billing.runner._audit import answered

        return answered(self.log.path, self.write_ids)

    def perform(self, backend: BillingBackend) -> frozenset[str]:
        return self._answered()

    async def aperform(self, backend: AsyncBillingBackend) -> frozenset[str]:
        import asyncio

        return await asyncio.to_thread(self._answered)


@attrs.frozen(slots=False)
class WriteAudit(BackendStep[None]):
    """Append an outcome to the audit log (in a worker thread under asyncio: file I/O must not
    block the event loop)."""

    log: AuditLog
    """The audit log."""
    result: OperationResult
    """The settled operation."""
    company: str | None
    """The company, for the line."""
    company_id: int | None = None
    """The company's id in the PSA, for the line."""

    def perform(self, backend: BillingBackend) -> None:
        self.log.write(self.result, self.company, self.company_id)

    async def aperform(self, backend: AsyncBillingBackend) -> None:
        import asyncio

        await asyncio.to_thread(self.log.write, self.result, self.company, self.company_id)


class RunGuard:
    """Which errors end a whole run instead of being handed to the flow that met them.

    The PSA refusing the credentials (`CredentialsRefusedError`) ends a run wherever it
    happens: every other request would be refused too. Before anything of the run has
    succeeded, so do `AccessDeniedError` (the integration cannot read what a sync needs) and
    `PSAUnreachableError` (the PSA cannot be reached).
    """

    def __init__(self) -> None:
        self.contacted = False
        """Whether anything of the run has succeeded."""

    def succeeded(self) -> None:
        """Note that a step of the run succeeded."""
        self.contacted = True

    def ends_run(self, error: ConnectWiseBillingError) -> bool:
        """Whether `error` stops the run."""
        if isinstance(error, CredentialsRefusedError):
            return True
        return not self.contacted and isinstance(error, AccessDeniedError | PSAUnreachableError)
