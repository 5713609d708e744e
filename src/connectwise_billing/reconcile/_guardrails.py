"""Guardrails: what stands between a wrong usage file and the invoices. Pure.

A usage export that lost a row zeroes a customer; a decimal comma halves a price; a typo prices a
seat below its cost. The sync writes what the usage says, so the rules below *hold* such
operations when they are planned: a held operation is not written, the report names the rule
with its numbers, and `ok` is false until a person approves it (`approve=`), or fixes the usage.

Per agreement ([`hold_operations`][connectwise_billing.reconcile._guardrails.hold_operations]):
`max_mrr_drop_percent` holds all of an agreement's operations, `max_price_change_percent` and
`below_cost` the operations concerned, and `unmapped_usage="fail"` all of an agreement's
operations. Per run ([`zeroed_hold`][connectwise_billing.reconcile._guardrails.zeroed_hold]):
`max_zeroed_percent` holds every operation of the run.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Final, Literal, NamedTuple

from connectwise_billing.reconcile._diff import (
    AgreementDiff,
    CreateAddition,
    Hold,
    Operation,
    UpdateAddition,
    operation_delta,
)

if TYPE_CHECKING:
    from connectwise_billing.reconcile._inputs import CompanyUsage, Plan, PlanMapping

__all__ = [
    "MIN_AGREEMENTS_FOR_ZEROED",
    "PERCENT_RULES",
    "BelowCost",
    "GuardrailRule",
    "Guardrails",
    "UnmappedUsage",
    "hold_operations",
    "zeroed_hold",
]

HUNDRED: Final = Decimal(100)

GuardrailRule = Literal[
    "max_mrr_drop_percent",
    "max_mrr_increase_percent",
    "max_price_change_percent",
    "below_cost",
    "max_zeroed_percent",
    "unmapped_usage",
]
"""The rule that held an operation (a `Guardrails` field)."""
BelowCost = Literal["hold", "warn"]
"""What a unit price below the unit cost does (`Guardrails.below_cost`)."""
UnmappedUsage = Literal["warn", "fail"]
"""What seats on a plan with no product do (`Guardrails.unmapped_usage`)."""
MIN_AGREEMENTS_FOR_ZEROED: Final = 3
"""`max_zeroed_percent` judges runs of at least this many agreements that bill today."""
PERCENT_RULES: Final = (
    "max_mrr_drop_percent",
    "max_price_change_percent",
    "max_zeroed_percent",
    "max_mrr_increase_percent",
)
"""The rules whose setting is a percentage."""


class Guardrails(NamedTuple):
    """The rules that hold a planned change until a person approves it. On by default; set a
    rule to `None` to turn it off (or `SyncPolicy(guardrails=None)` for all of them).

    Attributes:
        max_mrr_drop_percent: An agreement whose monthly revenue would drop by more than this
            share is held, all its operations (default 50).
        max_price_change_percent: An update that moves a unit price by more than this share
            (up or down) is held (default 50). A price set where there was none or 0 moves by
            100%.
        below_cost: A create or update that leaves a unit price below the unit cost, on a
            line that bills seats: `"hold"` (default), or `"warn"`.
        max_zeroed_percent: When more than this share of the run's agreements that bill today
            would drop to zero seats on every plan they are billed for (a broken export), the
            whole run is held: nothing is written (default 20; judged from 3 such agreements
            up).
        unmapped_usage: Seats on a plan that is mapped to no product (revenue not billed):
            `"warn"` (default), or `"fail"`: the agreement's operations are held and it is not
            ok.
        max_mrr_increase_percent: An agreement whose monthly revenue would rise by more than
            this share is held, all its operations (a seat count typed 10 times too large).
            Judged, as `max_mrr_drop_percent` is, on the whole plan and on what the other rules
            leave to be written. Off by default (`None`): customers grow. An agreement that
            bills nothing (or a net credit) today has no share to rise by and is never held by
            it.
    """

    max_mrr_drop_percent: Decimal | int | None = 50
    max_price_change_percent: Decimal | int | None = 50
    below_cost: BelowCost | None = "hold"
    max_zeroed_percent: Decimal | int | None = 20
    unmapped_usage: UnmappedUsage | None = "warn"
    max_mrr_increase_percent: Decimal | int | None = None


def _percent(value: Decimal, limit: Decimal | int | None = None) -> str:
    """`value` with one decimal, or as many more as it takes not to read as `limit` (a share
    over the limit must not be shown equal to it)."""
    places = Decimal("0.1")
    shown = value.quantize(places, rounding=ROUND_HALF_UP)
    while limit is not None and shown == limit and places > Decimal("1e-6"):
        places /= 10
        shown = value.quantize(places, rounding=ROUND_HALF_UP)
    return f"{shown:f}%"


def _money(value: Decimal | None) -> str:
    return "none" if value is None else f"{value:,.2f}"


def _after(op: Operation, field: str) -> Decimal | None:
    """The value an operation leaves in a field (`unit_price`, `unit_cost`, `quantity`)."""
    if isinstance(op, CreateAddition):
        return getattr(op, field)  # type: ignore[no-any-return]
    if isinstance(op, UpdateAddition) and field in op.changes:
        return op.changes[field].new  # type: ignore[index]
    return op.expected.get(field)  # type: ignore[call-overload,no-any-return]


def _price_moves(op: Operation, limit: Decimal) -> str | None:
    if not isinstance(op, UpdateAddition) or "unit_price" not in op.changes:
        return None
    old, new = op.changes["unit_price"]
    if old is not None and old != 0:
        moved = (new - old) / old * HUNDRED
    elif new:
        moved = HUNDRED
    else:
        return None
    if abs(moved) <= limit:
        return None
    sign = "+" if moved > 0 else "-"
    return (
        f"{op.plan_name}: unit price of addition {op.line_id} would move from "
        f"{_money(old)} to {_money(new)} ({sign}{_percent(abs(moved), limit)}), more than "
        f"max_price_change_percent={limit}"
    )


def _below_cost(op: Operation) -> str | None:
    if isinstance(op, UpdateAddition) and not {"unit_price", "unit_cost"} & set(op.changes):
        return None
    if not isinstance(op, CreateAddition | UpdateAddition):
        return None
    price, cost = _after(op, "unit_price"), _after(op, "unit_cost")
    if price is None or cost is None or price >= cost or not _after(op, "quantity"):
        return None
    where = "a new addition" if isinstance(op, CreateAddition) else f"addition {op.line_id}"
    return (
        f"{op.plan_name}: unit price {_money(price)} of {where} would be below its unit cost "
        f"{_money(cost)} (below_cost='hold')"
    )


def _unmapped(usage: CompanyUsage, plans: Mapping[str, Plan], mapping: PlanMapping) -> str | None:
    seats = [
        f"{count} on {plans[plan_id].name if plan_id in plans else plan_id}"
        for plan_id, count in sorted(usage.seats.items())
        if count > 0 and plan_id not in mapping
    ]
    if not seats:
        return None
    return (
        f"seats on plans mapped to no product ({', '.join(seats)}): not billed "
        "(unmapped_usage='fail'); map the plans, or approve"
    )


_MRR_RULES: Final = {
    "max_mrr_drop_percent": ("drop", "-", -1),
    "max_mrr_increase_percent": ("rise", "+", 1),
}
"""Each MRR rule: its verb, the sign it shows, and the direction of the move it judges."""


def _mrr_moves(rule: str, before: Decimal, after: Decimal, limit: Decimal | int) -> str | None:
    """Why the MRR rule `rule` holds a move from `before` to `after`, or `None` (an agreement
    that bills nothing, or a net credit, has no share to move by)."""
    verb, sign, direction = _MRR_RULES[rule]
    if before <= 0:
        return None
    moved = (after - before) / before * HUNDRED * direction
    if moved <= limit:
        return None
    return (
        f"MRR would {verb} from {_money(before)} to {_money(after)} "
        f"({sign}{_percent(moved, limit)}), more than {rule}={limit}"
    )


def hold_operations(
    guardrails: Guardrails,
    diff: AgreementDiff,
    usage: CompanyUsage,
    plans: Mapping[str, Plan],
    mapping: PlanMapping,
) -> tuple[Hold, ...]:
    """The per-agreement holds the guardrails put on `diff`'s operations (see the module).

    The MRR rules are judged on the whole plan, and again on the operations the other rules
    leave to be written: holding a price fix must not let the rest of the plan cut (or raise)
    the bill alone.
    """
    operations = diff.operations
    everything = tuple(range(len(operations)))
    holds: list[Hold] = []
    if guardrails.unmapped_usage == "fail":
        problem = _unmapped(usage, plans, mapping)
        if problem:
            holds.append(Hold("unmapped_usage", problem, everything))
    if not operations:
        return tuple(holds)
    limit = guardrails.max_price_change_percent
    for index, op in enumerate(operations):
        moved = _price_moves(op, Decimal(limit)) if limit is not None else None
        if moved:
            holds.append(Hold("max_price_change_percent", moved, (index,)))
        below = _below_cost(op) if guardrails.below_cost == "hold" else None
        if below:
            holds.append(Hold("below_cost", below, (index,)))
    held = {index for hold in holds for index in hold.operations}
    written = diff.mrr_before + sum(
        (operation_delta(op)[0] for i, op in enumerate(operations) if i not in held),
        Decimal(0),
    )
    for rule in _MRR_RULES:
        limit = getattr(guardrails, rule)
        if limit is None:
            continue
        said = _mrr_moves(rule, diff.mrr_before, diff.mrr_after, limit) or _mrr_moves(
            rule, diff.mrr_before, written, limit
        )
        if said:
            holds.insert(0, Hold(rule, said, everything))
    return tuple(holds)


def zeroed_hold(guardrails: Guardrails, diffs: Sequence[AgreementDiff]) -> Hold | None:
    """The run-wide hold of `max_zeroed_percent`, if the share of `diffs` that bill today and
    would drop to zero seats on every plan they are billed for is above it (the `Hold` names no
    operations: it holds them all)."""
    limit = guardrails.max_zeroed_percent
    if limit is None:
        return None
    billing = [diff for diff in diffs if diff.mrr_before > 0]
    zeroed = [diff for diff in billing if diff.zeroed]
    if len(billing) < MIN_AGREEMENTS_FOR_ZEROED or not zeroed:
        return None
    share = Decimal(len(zeroed)) / len(billing) * HUNDRED
    if share <= limit:
        return None
    return Hold(
        "max_zeroed_percent",
        f"{len(zeroed)} of {len(billing)} agreements that bill today ({_percent(share)}) would "
        f"drop to zero seats on every plan they are billed for, more than "
        f"max_zeroed_percent={limit}: a broken usage export? Held: check the usage, or "
        "approve",
        (),
    )
