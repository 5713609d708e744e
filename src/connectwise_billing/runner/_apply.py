"""Execute an `AgreementDiff` through a billing backend: every write once, every outcome settled.

- A create is sent once. A backend repeats a write only when the PSA provably did not get it
  (for ConnectWise: the connection was never made, or a 429); see
  [`write_outcome`][connectwise_billing.backend.write_outcome].
- A write whose answer was lost (an
  [`OutcomeUnknownError`][connectwise_billing.errors.OutcomeUnknownError]: for ConnectWise a
  timeout or dropped connection after sending, a 502/504, a gateway's page instead of its
  answer) is *settled* by reading: right away, then every `settle_interval` seconds until
  `settle_timeout` (the backend's
  [`SettlePolicy`][connectwise_billing.backend.SettlePolicy]). A create counts as landed only
  when a
  line that did not exist before shows the product, quantity, price and cost that were
  written; an update or cancel when the line shows the values written. A create the re-reads
  do not show is `"unknown"`: never sent again in this run, and settled by the next sync, which
  reads the truth.
- An update or a cancel replaces fields, so a second copy changes nothing more: one whose
  answer was lost or that the PSA failed on (a 5xx), and whose line still shows the values
  before, is sent again (up to the settle policy's `max_attempts` in all, the lock checked
  first), so that one bad answer heals in the run.
- Before each write, the agreement's lock is checked (renewed) when the applier holds one: a
  run that lost it writes nothing more there.
- An answer that contradicts what was written (a create or an update answered with other
  values) fails the operation, with the values shown.
- Before the agreement is let go, the agreement is read back (re-read every `settle_interval`
  until what was written is visible, or `settle_timeout`): that read settles any write still
  unknown, and is what the sync checks the billing on.
- With `policy.verify_before_write`, each update or cancel first re-reads its line and
  refuses to write over a change made since the diff was computed (a conflict).

Nothing here knows which PSA is behind the backend: it classifies the PSA-neutral errors of
[`connectwise_billing.backend`][connectwise_billing.backend] only.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, Literal, NamedTuple, TypeVar

import attrs

from connectwise_billing._flow import arun, ask, run
from connectwise_billing.backend import SettlePolicy, write_outcome
from connectwise_billing.errors import (
    AuditLogError,
    ConnectWiseBillingError,
    OutcomeUnknownError,
    PSANotFoundError,
)
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
from connectwise_billing.runner._audit import AuditLog
from connectwise_billing.runner._backends import async_backend_for, backend_for, settle_of
from connectwise_billing.runner._failures import failure_kind
from connectwise_billing.runner._results import OperationResult, Status
from connectwise_billing.runner._steps import (
    BackendStep,
    CancelLine,
    CreateLine,
    HoldLock,
    ReadLine,
    ReadLines,
    Sleep,
    SyncFlow,
    UpdateLine,
    WriteAudit,
    WriteIntent,
)

if TYPE_CHECKING:
    from connectwise_billing.backend import AsyncBillingBackend, BillingBackend
    from connectwise_billing.client import AsyncConnectWiseClient, ConnectWiseClient
    from connectwise_billing.locks import Lease

__all__ = [
    "Applied",
    "ApplySettings",
    "OperationResult",
    "Status",
    "Written",
    "additions_problem",
    "apply_and_read_back",
    "apply_diff",
    "apply_flow",
]

T = TypeVar("T")
V = TypeVar("V")
"""What a settle's reads come to."""


@attrs.frozen(slots=False)
class ApplySettings:
    """What the applier needs besides the diff.

    Attributes:
        settle: How lost answers are settled: its `settle_timeout` and `settle_interval` bound
            the re-reads, its `max_attempts` the sends of an update or cancel.
        known_ids: Every addition the agreement had when the diff was computed: none of them can
            be the addition a create made.
        dry_run: Send nothing; every operation is `"planned"`.
        verify_before_write: Re-read each addition before updating it (see `SyncPolicy`).
        audit: Where settled outcomes are logged.
        company: The company named in the audit log.
        company_id: The company's id in the PSA, for the audit log.
        today: The day the diff was computed for: a create is confirmed only by an addition
            active after it (default: the day the operation is applied).
        name: How messages name the PSA (the backend's `name`).
        lease: The agreement's lock, when the applier holds one: checked before every write.
        approved: Write the operations a guardrail holds too (a person approved them).
        written: Where the applier keeps its results as it goes, and the write in flight: what
            a run that ends before the applier returns reports.
    """

    settle: SettlePolicy = attrs.field(factory=SettlePolicy)
    known_ids: frozenset[int] = frozenset()
    dry_run: bool = False
    verify_before_write: bool = False
    audit: AuditLog | None = None
    company: str | None = None
    company_id: int | None = None
    today: date | None = None
    name: str = "the PSA"
    lease: Lease | None = None
    approved: bool = False
    written: Written | None = None


@attrs.define(slots=False)
class Written:
    """What an applier has done so far: kept where the run can see it, because an exception
    (`KeyboardInterrupt`, a cancellation, a refused credential) can end the run before the
    applier returns.

    Attributes:
        results: The results so far, in order.
        in_flight: The write sent (or about to be) whose result is not in yet.
    """

    results: list[OperationResult] = attrs.Factory(list)
    in_flight: Operation | None = None


class Applied(NamedTuple):
    """What applying a diff came to.

    Attributes:
        results: One result per operation, in order.
        lines: The agreement's lines as read back after the writes (`None` when nothing was
            written, or no read back succeeded).
        lost: Why the run stopped writing: it lost the agreement's lock (`None`: it did not).
        stopped: Why the run must send no further write at all (the audit log cannot be
            written), if it must.
    """

    results: list[OperationResult]
    lines: Sequence[AdditionLike] | None
    lost: str | None = None
    stopped: str | None = None


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


def _contradicted(written: Mapping[str, Any], shown: Mapping[str, Any]) -> str | None:
    """`quantity 1, unit_price 0.00`: the fields an answer shows with other values than were
    written (a field the answer leaves out says nothing; a created line must show no
    cancelled date)."""
    wrong = [
        f"{field} {value}"
        for field, value in shown.items()
        if value is not None and written.get(field) != value
    ]
    return ", ".join(wrong) or None


def _created_values(line: AdditionLike) -> dict[str, Any]:
    product = line.product
    return {
        "product": None if product is None else product.id,
        "quantity": line.quantity,
        "unit_price": line.unit_price,
        "unit_cost": line.unit_cost,
        "less_included": getattr(line, "less_included", None),
        "cancelled_date": line.cancelled_date,
    }


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


def _unknown(
    op: Operation, error: ConnectWiseBillingError, reads: list[str], settings: ApplySettings
) -> OperationResult:
    failed = [read for read in reads if read]
    seen = f"{len(reads) - len(failed)} re-read(s) did not show it"
    if failed:
        seen += f"; {len(failed)} failed, the last with: {failed[-1]}"
    return OperationResult(
        op,
        "unknown",
        line_id=getattr(op, "line_id", None),
        error=f"outcome unknown: {error}; {seen}",
        note="not sent again; the next sync reads whether it landed",
        failure=_failure(error, settings),
    )


def _create(op: CreateAddition, settings: ApplySettings, today: date) -> SyncFlow[OperationResult]:
    try:
        created = yield from ask(CreateLine(op))
    except ConnectWiseBillingError as error:
        if write_outcome(error) != "unknown":
            return OperationResult(
                op, "failed", error=str(error), failure=_failure(error, settings)
            )
        settled = yield from _settle(op, settings, error, today)
        if settled.state == "landed":
            note = f"confirmed by re-reading after: {error}"
            return OperationResult(op, "applied", line_id=settled.line_id, note=note)
        return _unknown(op, error, settled.reads, settings)
    written = {
        "product": op.product_id,
        "quantity": op.quantity,
        "unit_price": op.unit_price,
        "unit_cost": op.unit_cost,
        "less_included": Decimal(0),
    }
    shows = _contradicted(written, _created_values(created))
    if shows:
        return OperationResult(
            op,
            "failed",
            line_id=created.id,
            error=(
                f"{settings.name} answered the create with addition {created.id}, but it "
                f"shows {shows}"
            ),
        )
    return OperationResult(op, "applied", line_id=created.id)


def _failure(error: ConnectWiseBillingError, settings: ApplySettings) -> str | None:
    return failure_kind(error, settings.name)


def _conflict(
    op: UpdateAddition | CancelAddition, current: AdditionLike, name: str
) -> OperationResult | None:
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
        line_id=op.line_id,
        error=f"changed in {name} since the diff ({why}); not overwritten",
    )


_GONE = "the addition no longer exists"


def _before(op: UpdateAddition | CancelAddition) -> dict[str, Any]:
    """The values the written fields had when the diff was computed."""
    if isinstance(op, CancelAddition):
        return {"cancelled_date": op.previous_cancelled_date}
    return {field: old for field, (old, _new) in op.changes.items()}


def _shows_before(op: UpdateAddition | CancelAddition, line: AdditionLike) -> bool:
    for field, before in _before(op).items():
        shown, wanted = getattr(line, field), before
        if field == "cancelled_date":
            shown, wanted = _day(shown), _day(before)
        if shown != wanted:
            return False
    return True


def _may_send_again(error: ConnectWiseBillingError) -> bool:
    """Whether an update or cancel that failed so may be sent again once a read shows it did
    not land: it replaces fields, so a second copy changes nothing more. The answer was lost, or
    the PSA failed on it (an `OutcomeUnknownError` whose answer says it was refused: a
    ConnectWise 500); a refusal of the content would come again."""
    return write_outcome(error) == "unknown" or isinstance(error, OutcomeUnknownError)


def _now(value: T) -> SyncFlow[T]:
    """A flow that performs no step and comes to `value`."""
    yield from ()
    return value


@attrs.frozen
class _Reads(Generic[V]):
    """What the re-reads of a settle came to.

    Attributes:
        last: The last read, when it succeeded (`None`: it failed, or none was made).
        reads: One entry per re-read: `""` when it succeeded, else its error.
        settled: Whether a read settled it (`seen` said so).
    """

    last: V | None
    reads: list[str]
    settled: bool


def reread(
    settle: SettlePolicy,
    read: BackendStep[V],
    seen: Callable[[V], SyncFlow[bool]],
    *,
    within: float | None = None,
    stop: Callable[[], bool] | None = None,
    failed: Callable[[ConnectWiseBillingError], None] | None = None,
    not_found_ends: bool = False,
) -> SyncFlow[_Reads[V]]:
    """The settle loop, the one of every settle (a write of this run, or an earlier run's
    intents): perform `read` right away, then every `settle_interval` until `settle_timeout`
    (or `within` seconds), until `seen` (a flow: it may record what the read shows) says the
    read settles it, or `stop` says the run is stopping. A read that fails is counted (and told
    to `failed` as it happens) and the next one made; with `not_found_ends`, a
    `PSANotFoundError` ends the reads (it is raised)."""
    reads: list[str] = []
    last: V | None = None
    for wait in (0.0, *settle.settle_waits(within)):
        if stop is not None and stop():
            break
        if wait and settle.wait:
            yield from ask(Sleep(wait))
        try:
            last = yield from ask(read)
        except ConnectWiseBillingError as error:
            if not_found_ends and isinstance(error, PSANotFoundError):
                raise
            if failed is not None:
                failed(error)
            reads.append(str(error))
            last = None
            continue
        reads.append("")
        if (yield from seen(last)):
            return _Reads(last, reads, settled=True)
    return _Reads(last, reads, settled=False)


class _Settled(NamedTuple):
    state: Literal["landed", "not_landed", "gone", "unknown"]
    reads: list[str]  # one entry per re-read: "" when it succeeded, else its error
    line_id: int | None = None  # the line that shows the write landed


def _settle(
    op: Operation, settings: ApplySettings, error: ConnectWiseBillingError, today: date
) -> SyncFlow[_Settled]:
    """Settle a write (a create, an update or a cancel) whose answer was lost, or that the
    PSA failed on, by reading until it shows the write landed (or `settle_timeout`).

    A create landed when a line new since the diff shows what was written; otherwise it is
    unknown. An update or a cancel landed when its line shows the values written; one the PSA
    refused with a 5xx did not land when one read shows the values before; one whose answer
    was lost may still be committing, so it did not land only when the last read of the whole
    window still shows them."""
    if isinstance(op, CreateAddition):
        known = settings.known_ids

        def created(additions: Sequence[AdditionLike]) -> SyncFlow[bool]:
            return _now(_landed_create(op, additions, known, today) is not None)

        lines = yield from reread(settings.settle, ReadLines(op.agreement_id), created)
        landed = None if lines.last is None else _landed_create(op, lines.last, known, today)
        if landed is None:
            return _Settled("unknown", lines.reads)
        return _Settled("landed", lines.reads, landed.id)
    patch = op
    refused = write_outcome(error) == "refused"

    def settles(line: AdditionLike) -> SyncFlow[bool]:
        landed = not _differences(patch, line)
        return _now(landed or (refused and _shows_before(patch, line)))

    try:
        line = yield from reread(
            settings.settle, ReadLine(op.agreement_id, op.line_id), settles, not_found_ends=True
        )
    except PSANotFoundError:
        return _Settled("gone", [])
    if line.last is not None and not _differences(op, line.last):
        return _Settled("landed", line.reads, op.line_id)
    before = line.last is not None and _shows_before(op, line.last)
    return _Settled("not_landed" if before else "unknown", line.reads)


def _patch(
    op: UpdateAddition | CancelAddition, settings: ApplySettings, today: date
) -> SyncFlow[OperationResult]:
    """Send an update or a cancel; when its answer is lost or a 5xx, read the line (see
    `_settle`), and send it again (up to the settle policy's `max_attempts`, the lease
    checked first) while the line shows it did not land."""
    target = (op.agreement_id, op.line_id)
    write = CancelLine(op) if isinstance(op, CancelAddition) else UpdateLine(op)
    try:
        if settings.verify_before_write:
            conflict = _conflict(op, (yield from ask(ReadLine(*target))), settings.name)
            if conflict is not None:
                return conflict
    except PSANotFoundError:
        return OperationResult(op, "failed", line_id=op.line_id, error=_GONE)
    sent = 0
    while True:
        sent += 1
        try:
            answer = yield from ask(write)
            break
        except PSANotFoundError:
            return OperationResult(op, "failed", line_id=op.line_id, error=_GONE)
        except ConnectWiseBillingError as error:
            if not _may_send_again(error):
                return OperationResult(
                    op,
                    "failed",
                    line_id=op.line_id,
                    error=str(error),
                    failure=_failure(error, settings),
                )
            settled = yield from _settle(op, settings, error, today)
            times = f" (sent {sent} times)" if sent > 1 else ""
            if settled.state == "landed":
                note = f"confirmed by re-reading after: {error}{times}"
                return OperationResult(op, "applied", line_id=op.line_id, note=note)
            if settled.state == "gone":
                return OperationResult(op, "failed", line_id=op.line_id, error=_GONE)
            if settled.state == "not_landed" and sent < settings.settle.max_attempts:
                wait = settings.settle.resend_wait(sent)
                if wait and settings.settle.wait:
                    yield from ask(Sleep(wait))
                lease = settings.lease
                if lease is None or (yield from ask(HoldLock(lease))):
                    continue
            if write_outcome(error) == "refused" and settled.state != "unknown":
                why = f"{error}; a re-read shows it did not land{times}"
                return OperationResult(
                    op,
                    "failed",
                    line_id=op.line_id,
                    error=why,
                    failure=_failure(error, settings),
                )
            return _unknown(op, error, settled.reads, settings)
    contradicted = {
        field: shown for field, shown in _differences(op, answer).items() if shown is not None
    }
    if contradicted:
        shows = ", ".join(f"{field} {shown}" for field, shown in contradicted.items())
        return OperationResult(
            op,
            "failed",
            line_id=op.line_id,
            error=(
                f"{settings.name} answered the update, but the addition it returned shows {shows}"
            ),
        )
    resent = (
        f"sent {sent} times: reads showed the earlier copies had not landed (yet)"
        if sent > 1
        else None
    )
    return OperationResult(op, "applied", line_id=op.line_id, note=resent)


def _audit(settings: ApplySettings, result: OperationResult) -> SyncFlow[bool]:
    """Record a settled outcome; whether the audit log took it."""
    if settings.audit is None:
        return True
    audit = WriteAudit(settings.audit, result, settings.company, settings.company_id)
    try:
        yield from ask(audit)
    except AuditLogError:
        return False
    return True


def _intent(settings: ApplySettings, op: Operation, write_id: str) -> SyncFlow[bool]:
    """Record a write about to be sent, durably; whether the audit log took it (if not, the
    write must not be sent)."""
    if settings.audit is None:
        return True
    intent = WriteIntent(
        settings.audit, write_id, op, settings.company, settings.company_id, settings.known_ids
    )
    try:
        yield from ask(intent)
    except AuditLogError:
        return False
    return True


def _not_sent(ops: Iterable[Operation], why: str) -> list[OperationResult]:
    return [
        OperationResult(op, "failed", line_id=getattr(op, "line_id", None), error=why) for op in ops
    ]


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
            return attrs.evolve(result, status="applied", line_id=landed.id, note=note)
    elif op.line_id in by_id and not _differences(op, by_id[op.line_id]):
        return attrs.evolve(result, status="applied", note=note)
    return result


def additions_problem(lines: Sequence[AdditionLike], name: str) -> str | None:
    """Why a read of an agreement's lines cannot be trusted to decide on, or `None`.

    Acting on such an answer costs money: a line without its product would look unmanaged and
    be created again; one listed twice would look like a duplicate of itself.
    """
    seen: set[int] = set()
    for line in lines:
        if line.id in seen:
            return f"{name} listed addition {line.id} twice in one read; nothing written"
        seen.add(line.id)
        if line.product is None or line.product.id is None:
            return f"addition {line.id} came without its product id; nothing written"
    return None


def _visible(result: OperationResult, by_id: Mapping[int, AdditionLike]) -> bool:
    """Whether a read shows what became of an operation (a create's line, an update's or a
    cancel's values); a write that was refused or never sent shows nothing to wait for."""
    if result.status == "unknown":
        return False
    if result.status != "applied":
        return True
    op = result.operation
    if isinstance(op, CreateAddition):
        return result.line_id in by_id
    return op.line_id in by_id and not _differences(op, by_id[op.line_id])


def _read_back(
    diff: AgreementDiff, results: list[OperationResult], settings: ApplySettings, today: date
) -> SyncFlow[tuple[list[OperationResult], Sequence[AdditionLike] | None]]:
    """Before the agreement is let go, read it back: once in the common case, again every
    `settle_interval` (until `settle_timeout`) while it does not show yet what was written.
    The read settles writes still unknown, lets the next reader see what was created, and is
    the truth the billing is checked on."""
    lines: Sequence[AdditionLike] | None = None

    def shows_all(read: Sequence[AdditionLike]) -> SyncFlow[bool]:
        nonlocal lines
        if additions_problem(read, settings.name):  # not a truth to check the billing on
            return False
        lines = read
        by_id = {line.id: line for line in lines}
        for index, result in enumerate(results):
            if result.status == "unknown":
                results[index] = _resettle(result, by_id, settings, today)
                if results[index] is not result:
                    yield from _audit(settings, results[index])
        return all(_visible(result, by_id) for result in results)

    if (yield from reread(settings.settle, ReadLines(diff.agreement_id), shows_all)).settled:
        return results, lines
    seen = {line.id for line in lines or ()}
    for index, result in enumerate(results):
        if result.ok and result.operation.kind == "create" and result.line_id not in seen:
            results[index] = attrs.evolve(
                result,
                note=f"{settings.name} confirmed the create, but reads did not show it yet",
            )
    return results, lines


def apply_and_read_back(diff: AgreementDiff, settings: ApplySettings) -> SyncFlow[Applied]:
    """The flow that applies every operation of a diff (one failure does not stop the rest)
    and reads the agreement back once anything was written. An operation a guardrail holds is
    not written (`held`) unless `settings.approved`. With a lease, the lock is checked before
    each write; once it is lost, the remaining operations are not written."""
    written = settings.written if settings.written is not None else Written()
    results = written.results
    today = settings.today or date.today()
    for index, op in enumerate(diff.operations):
        hold = None if settings.approved else diff.hold_of(index)
        if hold is not None:
            line = getattr(op, "line_id", None)
            results.append(OperationResult(op, "held", line, error=hold.message, rule=hold.rule))
            continue
        if settings.dry_run:
            results.append(OperationResult(op, "planned"))
            continue
        lease = settings.lease
        if lease is not None and not (yield from ask(HoldLock(lease))):
            why = f"not written: this run lost the agreement's lock ({lease.lost})"
            results += _not_sent(diff.operations[index:], why)
            return Applied(results, None, lease.lost)
        write_id = uuid.uuid4().hex
        if not (yield from _intent(settings, op, write_id)):
            broken = settings.audit.broken if settings.audit else None
            results += _not_sent(diff.operations[index:], f"not sent: {broken}")
            return Applied(results, None, stopped=broken)
        written.in_flight = op
        if isinstance(op, CreateAddition):
            result = yield from _create(op, settings, today)
        else:
            result = yield from _patch(op, settings, today)
        result = attrs.evolve(result, write_id=write_id)
        results.append(result)
        written.in_flight = None
        if not (yield from _audit(settings, result)):
            broken = settings.audit.broken if settings.audit else None
            results += _not_sent(diff.operations[index + 1 :], f"not sent: {broken}")
            return Applied(results, None, stopped=broken)
    if settings.dry_run or all(result.status == "held" for result in results):
        return Applied(results, None)
    results, lines = yield from _read_back(diff, results, settings, today)
    return Applied(results, lines)


def apply_flow(diff: AgreementDiff, settings: ApplySettings) -> SyncFlow[list[OperationResult]]:
    """The flow that applies every operation of a diff; one failure does not stop the rest."""
    applied = yield from apply_and_read_back(diff, settings)
    return applied.results


def _settings(
    backend: BillingBackend | AsyncBillingBackend,
    diff: AgreementDiff,
    dry_run: bool,
    known_ids: Iterable[int] | None,
    audit_log: str | Path | None,
    policy: SyncPolicy | None,
    today: date | None,
    approve: bool,
) -> ApplySettings:
    if known_ids is None:
        known = {u.line_id for u in diff.unchanged}
        known.update(op.line_id for op in diff.operations if not isinstance(op, CreateAddition))
        known_ids = known
    return ApplySettings(
        settle=settle_of(backend),
        known_ids=frozenset(known_ids),
        dry_run=dry_run,
        verify_before_write=policy is not None and policy.verify_before_write,
        audit=(
            AuditLog(
                audit_log,
                run_id=uuid.uuid4().hex,
                dry_run=dry_run,
                psa=backend.name,
                scope=backend.scope,
            )
            if audit_log
            else None
        ),
        company=diff.company,
        today=today,
        name=backend.name,
        approved=approve,
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
    approve: bool = False,
) -> list[OperationResult]:
    """Apply a diff; return a result per operation, in order.

    Args:
        client: The ConnectWise client (wrapped in a
            [`ConnectWiseBackend`][connectwise_billing.ConnectWiseBackend]), or any
            [`BillingBackend`][connectwise_billing.backend.BillingBackend]. Its settle policy
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
        approve: Write the operations a guardrail holds too (`diff.holds`); by default they
            are `held`, not written.

    Hold the agreement's lock (see `connectwise_billing.locks`) from reading the lines to
    here, or use [`sync_all`][connectwise_billing.sync_all], which does.
    """
    backend = backend_for(client, policy)
    settings = _settings(backend, diff, dry_run, known_ids, audit_log, policy, today, approve)
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
    approve: bool = False,
) -> list[OperationResult]:
    """Apply a diff with the async client or an async backend (see
    [`apply_diff`][connectwise_billing.apply_diff])."""
    backend = async_backend_for(client, policy)
    settings = _settings(backend, diff, dry_run, known_ids, audit_log, policy, today, approve)
    return await arun(backend, apply_flow(diff, settings))
