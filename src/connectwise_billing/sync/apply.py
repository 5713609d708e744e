"""Execute an `AgreementDiff` through a billing backend: every write once, every outcome settled.

- Each write is sent once. The ConnectWise client repeats it only when ConnectWise provably did
  not get it (the connection was never made, or a 429); see
  [`write_outcome`][connectwise_billing.retry.write_outcome].
- A write whose answer was lost (a timeout or dropped connection after sending, a 502/504, a
  gateway's page instead of the PSA's answer) is *settled* by reading: right away, then every
  `settle_interval` seconds until `settle_timeout` (the backend's
  [`RetryPolicy`][connectwise_billing.RetryPolicy]). A create counts as landed only when a
  line that did not exist before shows the product, quantity, price and cost that were
  written; an update or cancel when the line shows the values written. What the re-reads do
  not show is `"unknown"`: never sent again in this run, and settled by the next sync, which
  reads the truth.
- Before the agreement is let go, one more read confirms that the additions it created are
  visible, and settles any write still unknown.
- With `policy.verify_before_write`, each update or cancel first re-reads its line and
  refuses to write over a change made since the diff was computed (a conflict).

Nothing here knows which PSA is behind the backend.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from connectwise_billing.errors import ConnectWiseBillingError, NotFoundError
from connectwise_billing.reconcile import (
    AdditionLike,
    AgreementDiff,
    CancelAddition,
    CreateAddition,
    Operation,
    SyncPolicy,
    UpdateAddition,
    is_active,
)
from connectwise_billing.retry import RetryPolicy, write_outcome
from connectwise_billing.sync.audit import AuditLog
from connectwise_billing.sync.backends import async_backend_for, backend_for
from connectwise_billing.sync.results import OperationResult, Status
from connectwise_billing.sync.steps import (
    CancelLine,
    CreateLine,
    ReadLine,
    ReadLines,
    Sleep,
    SyncFlow,
    UpdateLine,
    WriteAudit,
    arun,
    perform,
    run,
)

if TYPE_CHECKING:
    from connectwise_billing.backend import AsyncBillingBackend, BillingBackend
    from connectwise_billing.client import AsyncConnectWiseClient, ConnectWiseClient

__all__ = ["ApplySettings", "OperationResult", "Status", "apply_diff", "apply_flow"]


@attrs.frozen(slots=False)
class ApplySettings:
    """What the applier needs besides the diff.

    Attributes:
        retry: Its `settle_timeout` and `settle_interval` bound the re-reads of a lost answer.
        known_ids: Every addition the agreement had when the diff was computed: none of them can
            be the addition a create made.
        dry_run: Send nothing; every operation is `"planned"`.
        verify_before_write: Re-read each addition before updating it (see `SyncPolicy`).
        audit: Where settled outcomes are logged.
        company: The company named in the audit log.
        today: The day the diff was computed for: a create is confirmed only by an addition
            active after it (default: the day the operation is applied).
        name: How messages name the PSA (the backend's `name`).
    """

    retry: RetryPolicy = attrs.field(factory=RetryPolicy)
    known_ids: frozenset[int] = frozenset()
    dry_run: bool = False
    verify_before_write: bool = False
    audit: AuditLog | None = None
    company: str | None = None
    today: date | None = None
    name: str = "the PSA"


def _day(value: date | datetime | None) -> date | None:
    return value.date() if isinstance(value, datetime) else value


def _written(op: UpdateAddition | CancelAddition) -> dict[str, Any]:
    if isinstance(op, CancelAddition):
        return {"cancelled_date": op.cancelled_date}
    return {field: new for field, (_old, new) in op.changes.items()}


def _differences(op: UpdateAddition | CancelAddition, addition: AdditionLike) -> dict[str, Any]:
    """Written field -> the value the addition shows instead (`None`: it does not say)."""
    differences: dict[str, Any] = {}
    for field, written in _written(op).items():
        shown, wanted = getattr(addition, field), written
        if field == "cancelled_date":
            shown, wanted = _day(shown), _day(written)
        if shown != wanted:
            differences[field] = shown
    return differences


def _landed_create(
    op: CreateAddition, additions: Iterable[AdditionLike], known: frozenset[int], today: date
) -> AdditionLike | None:
    """The addition a create made, judged by the record itself (never by the server's filter):
    new since the diff, active, of the product, with the quantity, price and cost written."""
    found = [
        a
        for a in additions
        if a.id not in known
        and a.product is not None
        and a.product.id == op.product_id
        and is_active(a.cancelled_date, today)
        and (a.quantity, a.unit_price, a.unit_cost) == (op.quantity, op.unit_price, op.unit_cost)
    ]
    return min(found, key=lambda a: a.id) if found else None


def _unknown(op: Operation, error: ConnectWiseBillingError, reads: list[str]) -> OperationResult:
    failed = [read for read in reads if read]
    seen = f"{len(reads) - len(failed)} re-read(s) did not show it"
    if failed:
        seen += f"; {len(failed)} failed, the last with: {failed[-1]}"
    return OperationResult(
        op,
        "unknown",
        addition_id=getattr(op, "addition_id", None),
        error=f"outcome unknown: {error}; {seen}",
        note="not sent again; the next sync reads whether it landed",
    )


def _create(op: CreateAddition, settings: ApplySettings, today: date) -> SyncFlow[OperationResult]:
    try:
        created = yield from perform(CreateLine(op))
    except ConnectWiseBillingError as error:
        if write_outcome(error) != "unknown":
            return OperationResult(op, "failed", error=str(error))
        reads: list[str] = []  # one entry per re-read: "" when it succeeded, else its error
        for wait in (0.0, *settings.retry.settle_waits()):
            if wait and settings.retry.wait:
                yield from perform(Sleep(wait))
            try:
                additions = yield from perform(ReadLines(op.agreement_id))
            except ConnectWiseBillingError as reread:
                reads.append(str(reread))
                continue
            reads.append("")
            landed = _landed_create(op, additions, settings.known_ids, today)
            if landed is not None:
                note = f"confirmed by re-reading after: {error}"
                return OperationResult(op, "applied", addition_id=landed.id, note=note)
        return _unknown(op, error, reads)
    return OperationResult(op, "applied", addition_id=created.id)


def _conflict(op: UpdateAddition | CancelAddition, current: AdditionLike) -> OperationResult | None:
    changed = [
        f"{field} {expected} -> {getattr(current, field)}"
        for field, expected in op.expected.items()
        if getattr(current, field) != expected
    ]
    if current.cancelled_date is None and not changed:
        return None
    why = ", ".join(changed) or "it was cancelled"
    return OperationResult(
        op,
        "conflict",
        addition_id=op.addition_id,
        error=f"changed in ConnectWise since the diff ({why}); not overwritten",
    )


_GONE = "the addition no longer exists"


def _patch(
    op: UpdateAddition | CancelAddition, settings: ApplySettings
) -> SyncFlow[OperationResult]:
    target = (op.agreement_id, op.addition_id)
    try:
        if settings.verify_before_write:
            conflict = _conflict(op, (yield from perform(ReadLine(*target))))
            if conflict is not None:
                return conflict
        write = CancelLine(op) if isinstance(op, CancelAddition) else UpdateLine(op)
        answer = yield from perform(write)
    except NotFoundError:
        return OperationResult(op, "failed", addition_id=op.addition_id, error=_GONE)
    except ConnectWiseBillingError as error:
        if write_outcome(error) != "unknown":
            return OperationResult(op, "failed", addition_id=op.addition_id, error=str(error))
        reads: list[str] = []
        for wait in (0.0, *settings.retry.settle_waits()):
            if wait and settings.retry.wait:
                yield from perform(Sleep(wait))
            try:
                current = yield from perform(ReadLine(*target))
            except NotFoundError:
                return OperationResult(op, "failed", addition_id=op.addition_id, error=_GONE)
            except ConnectWiseBillingError as reread:
                reads.append(str(reread))
                continue
            reads.append("")
            if not _differences(op, current):
                note = f"confirmed by re-reading after: {error}"
                return OperationResult(op, "applied", addition_id=op.addition_id, note=note)
        return _unknown(op, error, reads)
    contradicted = {
        field: shown for field, shown in _differences(op, answer).items() if shown is not None
    }
    if contradicted:
        shows = ", ".join(f"{field} {shown}" for field, shown in contradicted.items())
        return OperationResult(
            op,
            "failed",
            addition_id=op.addition_id,
            error=(
                f"{settings.name} answered the update, but the addition it returned shows {shows}"
            ),
        )
    return OperationResult(op, "applied", addition_id=op.addition_id)


def _audit(settings: ApplySettings, result: OperationResult) -> SyncFlow[None]:
    if settings.audit is not None:
        yield from perform(WriteAudit(settings.audit, result, settings.company))


def _resettle(
    result: OperationResult,
    by_id: Mapping[int, AdditionLike],
    settings: ApplySettings,
    today: date,
) -> OperationResult:
    """An unknown outcome seen again in the final read."""
    op = result.operation
    note = "confirmed by the final re-read of the agreement"
    if isinstance(op, CreateAddition):
        landed = _landed_create(op, by_id.values(), settings.known_ids, today)
        if landed is not None:
            return attrs.evolve(result, status="applied", addition_id=landed.id, note=note)
    elif op.addition_id in by_id and not _differences(op, by_id[op.addition_id]):
        return attrs.evolve(result, status="applied", note=note)
    return result


def _final_check(
    diff: AgreementDiff, results: list[OperationResult], settings: ApplySettings, today: date
) -> SyncFlow[list[OperationResult]]:
    """Before the agreement is let go: make sure the next reader sees what was created, and
    settle what is still unknown. Nothing to do (and no request) in the common case."""
    created = {r.addition_id for r in results if r.operation.kind == "create" and r.ok}
    if not created and all(r.status != "unknown" for r in results):
        return results
    visible = False
    for wait in (0.0, *settings.retry.settle_waits()):
        if wait and settings.retry.wait:
            yield from perform(Sleep(wait))
        try:
            additions = yield from perform(ReadLines(diff.agreement_id))
        except ConnectWiseBillingError:
            continue
        by_id = {addition.id: addition for addition in additions}
        for index, result in enumerate(results):
            if result.status == "unknown":
                results[index] = _resettle(result, by_id, settings, today)
                if results[index] is not result:
                    yield from _audit(settings, results[index])
        visible = created <= by_id.keys()
        if visible:
            break
    if not visible:
        for index, result in enumerate(results):
            if result.addition_id in created:
                results[index] = attrs.evolve(
                    result,
                    note="ConnectWise confirmed the create, but reads did not show it yet",
                )
    return results


def apply_flow(diff: AgreementDiff, settings: ApplySettings) -> SyncFlow[list[OperationResult]]:
    """The flow that applies every operation of a diff; one failure does not stop the rest."""
    results: list[OperationResult] = []
    today = settings.today or date.today()
    for op in diff.operations:
        if settings.dry_run:
            results.append(OperationResult(op, "planned"))
            continue
        if isinstance(op, CreateAddition):
            result = yield from _create(op, settings, today)
        else:
            result = yield from _patch(op, settings)
        yield from _audit(settings, result)
        results.append(result)
    if settings.dry_run:
        return results
    return (yield from _final_check(diff, results, settings, today))


def _settings(
    backend: BillingBackend | AsyncBillingBackend,
    diff: AgreementDiff,
    dry_run: bool,
    known_ids: Iterable[int] | None,
    audit_log: str | Path | None,
    policy: SyncPolicy | None,
    today: date | None,
) -> ApplySettings:
    if known_ids is None:
        known = {u.addition_id for u in diff.unchanged}
        known.update(op.addition_id for op in diff.operations if not isinstance(op, CreateAddition))
        known_ids = known
    return ApplySettings(
        retry=backend.retry,
        known_ids=frozenset(known_ids),
        dry_run=dry_run,
        verify_before_write=policy is not None and policy.verify_before_write,
        audit=AuditLog(audit_log, run_id=uuid.uuid4().hex, dry_run=dry_run) if audit_log else None,
        company=diff.company,
        today=today,
        name=backend.name,
    )


def apply_diff(
    client: ConnectWiseClient | BillingBackend,
    diff: AgreementDiff,
    *,
    dry_run: bool = False,
    known_ids: Iterable[int] | None = None,
    audit_log: str | Path | None = None,
    policy: SyncPolicy | None = None,
    today: date | None = None,
) -> list[OperationResult]:
    """Apply a diff; return a result per operation, in order.

    Args:
        client: The ConnectWise client (wrapped in a
            [`ConnectWiseBackend`][connectwise_billing.ConnectWiseBackend]), or any
            [`BillingBackend`][connectwise_billing.backend.BillingBackend]. Its retry policy
            bounds the settle re-reads.
        diff: What to do.
        dry_run: Send nothing; every operation is `"planned"`.
        known_ids: The ids of every line the agreement had when the diff was computed
            (default: the ones the diff mentions); a create is confirmed only by a line that
            is not among them.
        audit_log: Append one JSON line per settled write to this file.
        policy: The policy the diff was computed with: its `verify_before_write` applies, and
            its (deprecated) `bill_customer` when `client` is a ConnectWise client.
        today: The day the diff was computed for (default: today).

    Hold the agreement's lock (see `connectwise_billing.locks`) from reading the lines to
    here, or use [`sync_all`][connectwise_billing.sync_all], which does.
    """
    backend = backend_for(client, policy)
    settings = _settings(backend, diff, dry_run, known_ids, audit_log, policy, today)
    return run(backend, apply_flow(diff, settings))


async def async_apply_diff(
    client: AsyncConnectWiseClient | AsyncBillingBackend,
    diff: AgreementDiff,
    *,
    dry_run: bool = False,
    known_ids: Iterable[int] | None = None,
    audit_log: str | Path | None = None,
    policy: SyncPolicy | None = None,
    today: date | None = None,
) -> list[OperationResult]:
    """Apply a diff with the async client or an async backend (see
    [`apply_diff`][connectwise_billing.apply_diff])."""
    backend = async_backend_for(client, policy)
    settings = _settings(backend, diff, dry_run, known_ids, audit_log, policy, today)
    return await arun(backend, apply_flow(diff, settings))
