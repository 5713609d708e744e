"""The flows of a sync run, as pure generators: check the mapping, plan one agreement, write it.

A run plans every agreement first (read its lines, reconcile, put the guardrails' holds on the
diff), so that a rule over the whole run can hold it before anything is written; then it writes
each agreement that has something to write, under its lock, after reading it again: when the
lines are no longer what was planned on, a sync plans that agreement again and a change set
reports it stale. They yield backend steps (see [`steps`][connectwise_billing.runner._steps]) and
decide everything between them; `run.py` performs them with a sync or an async backend. Nothing
here knows which PSA is behind the backend.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Final, NamedTuple

import attrs

from connectwise_billing._flow import ask
from connectwise_billing.backend import AgreementState, CatalogItem
from connectwise_billing.errors import (
    AccessDeniedError,
    ConnectWiseBillingError,
    MappingError,
    PSANotFoundError,
)
from connectwise_billing.reconcile import (
    AdditionLike,
    AgreementDiff,
    BillingCheck,
    CompanyUsage,
    Operation,
    PlanMapping,
    Reconciler,
)
from connectwise_billing.runner._apply import ApplySettings, additions_problem, apply_and_read_back
from connectwise_billing.runner._failures import failure_kind
from connectwise_billing.runner._reports import AgreementReport
from connectwise_billing.runner._results import OperationResult
from connectwise_billing.runner._steps import ReadCatalog, ReadLines, SyncFlow

__all__ = [
    "FINGERPRINT_FIELDS",
    "BillingChecker",
    "LineFingerprint",
    "Planned",
    "Replanner",
    "fingerprint",
    "line_changes",
    "mapping_problem",
    "plan_flow",
    "preflight_flow",
    "write_flow",
]

BillingChecker = Callable[[Sequence[AdditionLike], Sequence[Operation]], BillingCheck]
"""`check(lines, planned)`: what `lines` bill (with the `planned` operations applied, for a dry
run), against what they should."""
Replanner = Callable[[Sequence[AdditionLike]], AgreementDiff]
"""`replan(lines)`: the diff for an agreement's lines read again (a sync); `None` in its place
reports the agreement stale instead (a change set)."""


def mapping_problem(
    mapping: PlanMapping, items: Mapping[int, CatalogItem], name: str
) -> str | None:
    """Why the mapping cannot be synced against these catalog items of the PSA `name`, or
    `None`."""
    for plan_id in sorted(mapping):
        product_id = mapping[plan_id]
        item = items.get(product_id)
        if item is None:
            return (
                f"plan {plan_id!r} is mapped to product {product_id}, which is not in the "
                f"catalog, or which the {name} integration is not allowed to read"
            )
        if not item.active:
            called = f" ({item.name})" if item.name else ""
            return (
                f"plan {plan_id!r} is mapped to product {product_id}{called}, which is inactive "
                f"in {name}: activate it or map the plan to another product"
            )
    return None


def preflight_flow(mapping: PlanMapping, name: str) -> SyncFlow[None]:
    """Before anything is written: every mapped product exists, is active and can be read.

    Raises:
        MappingError: naming the plan and the product.
    """
    if not mapping:
        return
    items = yield from ask(ReadCatalog(sorted(set(mapping.values()))))
    problem = mapping_problem(mapping, items, name)
    if problem:
        raise MappingError(problem)


@attrs.frozen(slots=False)
class Planned:
    """One agreement read and reconciled: what a run writes later, or a change set keeps.

    Attributes:
        usage: Its usage.
        diff: What reconciliation decided, with the guardrails' holds.
        lines: Its lines as read (none for a change set loaded from a file).
        company_id: The PSA's id of the company the agreement belongs to, when known.
        given: The fingerprint a change set was planned on (default: that of `lines`).
        complete: Whether the fingerprint covers all of the agreement's lines (a plan) or only
            the ones the operations touch (an undo): a line added since makes only a complete
            plan stale.
    """

    usage: CompanyUsage
    diff: AgreementDiff
    lines: tuple[AdditionLike, ...]
    company_id: int | None = None
    given: tuple[LineFingerprint, ...] | None = None
    complete: bool = True

    @property
    def fingerprint(self) -> tuple[LineFingerprint, ...]:
        """The lines the writes depend on: they happen only while the agreement shows them."""
        return self.given if self.given is not None else fingerprint(self.lines)


def _read_failed(
    report: AgreementReport, error: ConnectWiseBillingError, name: str
) -> AgreementReport:
    if isinstance(error, PSANotFoundError):
        gone = f"agreement not found: it was deleted or replaced in {name}; link the new one"
        return attrs.evolve(report, error=gone)
    if isinstance(error, AccessDeniedError):
        return attrs.evolve(report, error=f"no access to the agreement's additions: {error}")
    failure = failure_kind(error, name)
    return attrs.evolve(report, error=f"could not read the additions: {error}", failure=failure)


def _read(usage: CompanyUsage, name: str) -> SyncFlow[Sequence[AdditionLike] | AgreementReport]:
    """The agreement's lines, or the report of an agreement whose lines cannot be decided on."""
    report = AgreementReport(usage.agreement_id, usage.company, "error")
    try:
        lines = yield from ask(ReadLines(usage.agreement_id))
    except ConnectWiseBillingError as error:
        return _read_failed(report, error, name)
    problem = additions_problem(lines, name)
    if problem:
        return attrs.evolve(report, error=problem)
    return lines


def plan_flow(
    reconciler: Reconciler, usage: CompanyUsage, state: AgreementState, name: str
) -> SyncFlow[Planned | AgreementReport]:
    """Read one agreement's lines from the PSA `name` and reconcile them; the report of an
    agreement that is closed, unavailable or unreadable instead."""
    report = AgreementReport(usage.agreement_id, usage.company, "error")
    if state.status == "unavailable":
        return attrs.evolve(report, error=state.reason, failure=state.failure)
    if state.status == "closed":
        # Nothing bills a closed agreement: seats in use there are not billed.
        billing = reconciler.billing(usage, ())
        reason = state.reason or "closed"
        if not billing.ok:
            reason += ": link the customer's current agreement"
        return attrs.evolve(report, status="skipped", warnings=(reason,), billing=billing)
    lines = yield from _read(usage, name)
    if isinstance(lines, AgreementReport):
        return lines
    diff = reconciler.agreement(usage, lines)
    return Planned(usage, diff, tuple(lines), usage.company_id or state.company_id)


def _day(value: date | datetime | None) -> date | None:
    return value.date() if isinstance(value, datetime) else value


FINGERPRINT_FIELDS: Final[tuple[str, ...]] = (
    "product_id",
    "quantity",
    "unit_price",
    "unit_cost",
    "cancelled_date",
    "bill_customer",
    "less_included",
)
"""A line's owned fields, as a fingerprint compares them."""


class LineFingerprint(NamedTuple):
    """One line as a plan was made on it: its id, and the owned fields to compare (a field
    left out is not compared: an undo knows only what the run wrote).

    Attributes:
        id: The line's id.
        values: Field (one of `FINGERPRINT_FIELDS`) -> the value it showed.
    """

    id: int
    values: Mapping[str, object]


def _owned(line: AdditionLike) -> dict[str, object]:
    product = line.product
    return {
        "product_id": None if product is None else product.id,
        "quantity": line.quantity,
        "unit_price": line.unit_price,
        "unit_cost": line.unit_cost,
        "cancelled_date": _day(line.cancelled_date),
        "bill_customer": getattr(line, "bill_customer", None),
        "less_included": getattr(line, "less_included", None) or Decimal(0),
    }


def fingerprint(lines: Iterable[AdditionLike]) -> tuple[LineFingerprint, ...]:
    """The fingerprint of lines as read: every owned field of every line."""
    return tuple(LineFingerprint(line.id, _owned(line)) for line in lines)


def _shown(value: object) -> str:
    if isinstance(value, Decimal):
        return f"{value.normalize():f}"
    return "none" if value is None else str(value)


def line_changes(
    planned: Sequence[LineFingerprint], current: Sequence[AdditionLike], *, complete: bool
) -> list[str]:
    """How an agreement's lines differ from the lines a plan was made on: each planned line
    gone or showing other owned fields (product, quantity, prices, cancelled date, whether it
    bills, units less included), and, when `complete`, each line that was not there."""
    now = {line.id: line for line in current}
    changes = []
    for line in planned:
        found = now.get(line.id)
        if found is None:
            changes.append(f"addition {line.id} is gone")
            continue
        shows = _owned(found)
        for name, was in line.values.items():
            if was != shows[name]:
                changes.append(f"addition {line.id}: {name} {_shown(was)} -> {_shown(shows[name])}")
    if complete:
        known = {line.id for line in planned}
        changes += [f"addition {line.id} is new" for line in current if line.id not in known]
    return changes


def _stale(planned: Planned, changes: list[str]) -> AgreementReport:
    why = f"changed since it was planned ({'; '.join(changes[:5])}); nothing written, plan again"
    results = tuple(
        OperationResult(op, "stale", getattr(op, "line_id", None), error=why)
        for op in planned.diff.operations
    )
    usage = planned.usage
    return AgreementReport(
        usage.agreement_id,
        usage.company,
        "stale",
        planned.diff,
        results,
        error=why,
        company_id=planned.company_id,
    )


def write_flow(
    planned: Planned,
    settings: ApplySettings,
    name: str,
    check: BillingChecker,
    *,
    reread: bool,
    replan: Replanner | None,
) -> SyncFlow[AgreementReport]:
    """Write one planned agreement and check its billing on the lines read back.

    With `reread` (the run holds the agreement's lock and has something to write), the lines are
    read again first: when they are not what the plan was made on, `replan` makes a new diff
    from them, or, without it, the agreement is reported stale and nothing is written. Held
    operations are not written unless `settings.approved`. Without `reread` nothing is written
    (a dry run, or nothing to write): the report is the plan's.
    """
    usage, diff, lines = planned.usage, planned.diff, planned.lines
    if reread:
        current = yield from _read(usage, name)
        if isinstance(current, AgreementReport):
            return attrs.evolve(current, company_id=planned.company_id)
        changes = line_changes(planned.fingerprint, current, complete=planned.complete)
        if changes:
            if replan is None:
                return _stale(planned, changes)
            diff = replan(current)
        lines = tuple(current)
    known = frozenset(line.id for line in lines)
    applied = yield from apply_and_read_back(diff, attrs.evolve(settings, known_ids=known))
    results = tuple(applied.results)
    report = AgreementReport(
        usage.agreement_id, usage.company, "busy", diff, results, company_id=planned.company_id
    )
    if applied.lost is not None:
        lost = (
            f"this run lost the agreement's lock ({applied.lost}) and wrote nothing more; "
            "another run has it (the next sync settles the rest)"
        )
        return attrs.evolve(report, error=lost)
    if applied.stopped is not None:  # the audit log broke: nothing more is sent, anywhere
        stopped = f"{applied.stopped}; nothing more was sent"
        settled = AgreementReport.settled(usage, diff, results, dry_run=False, billing=None)
        return attrs.evolve(settled, error=stopped, company_id=planned.company_id)
    written = [r for r in results if r.status not in ("held", "planned")]
    if settings.dry_run:  # the lines as read, with the plan applied: what the plan promises
        billing = check(lines, [r.operation for r in results if r.status == "planned"])
    elif not written:  # nothing written: the lines as read are the truth
        billing = check(lines, ())
    elif applied.lines is not None:  # the lines as read back after the writes
        billing = check(applied.lines, ())
    else:
        billing = None
    settled = AgreementReport.settled(
        usage, diff, results, dry_run=settings.dry_run, billing=billing
    )
    return attrs.evolve(settled, company_id=planned.company_id, failure=_write_failure(results))


def _write_failure(results: Sequence[OperationResult]) -> str | None:
    """The way the agreement's writes failed, when every write that failed failed that way."""
    failed = [r for r in results if r.status in ("failed", "unknown")]
    kinds = {r.failure for r in failed}
    return kinds.pop() if len(kinds) == 1 else None
