"""What an agreement's lines bill, checked against the usage: the post-condition behind `ok`.

[`Reconciler.billing`][connectwise_billing.reconcile.Reconciler.billing] takes lines as the PSA
shows them (read back after a sync, or as read plus the planned operations for a dry run, see
[`apply_operations`][connectwise_billing.reconcile._billing.apply_operations]) and says, plan by
plan, whether they bill exactly what the usage says: each mapped plan has exactly one active
line of its product that bills the customer, with the seats as its quantity and the computed
unit price and cost (where the policy manages them); a plan without seats bills nothing; and
no line of a retired product still bills the plan's seats. Pure, like the reconciler.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Literal, NamedTuple

from connectwise_billing.reconcile._diff import (
    CreateAddition,
    Operation,
    UpdateAddition,
    _money as _amount,
)
from connectwise_billing.reconcile._lines import (
    BILLABLE,
    AdditionLike,
    billed_quantity,
    bills,
    is_active,
)

if TYPE_CHECKING:
    from connectwise_billing.reconcile._builder import Context
    from connectwise_billing.reconcile._inputs import CompanyUsage, Plan

__all__ = [
    "BillingCheck",
    "BillingProblem",
    "BillingProblemKind",
    "PlannedLine",
    "PlannedProduct",
    "apply_operations",
]

ZERO = Decimal(0)

BillingProblemKind = Literal[
    "not_billed",
    "duplicate_lines",
    "wrong_values",
    "billed_twice",
    "retired_billed",
    "unmapped_usage",
]
"""What is wrong with a plan's billing: `not_billed` (the plan has seats but no active line of
its product bills them: none at all, or only lines marked `DoNotBill`/`NoCharge`),
`duplicate_lines` (several active lines of its product bill, whatever their quantities),
`wrong_values` (its one billing line shows another quantity, unit price or unit cost than the
usage gives), `billed_twice` (a line of a retired product still bills seats while the plan's
product bills them too), `retired_billed` (a line of a retired product bills seats the plan
does not bill through its product), `unmapped_usage` (seats on a plan mapped to no product, when
the guardrail `unmapped_usage` is `"fail"`)."""


class BillingProblem(NamedTuple):
    """One way an agreement's lines do not bill what the usage says.

    Attributes:
        kind: See `BillingProblemKind`.
        plan_id: The plan concerned.
        plan_name: Its name.
        product_id: The product whose lines are concerned (for `billed_twice` and
            `retired_billed`, the retired one).
        line_ids: The lines concerned.
        message: What is wrong, with the figures.
        monthly: What the lines concerned bill a month (quantity x unit price); for
            `not_billed`, what the plan's seats should bill and do not.
    """

    kind: BillingProblemKind
    plan_id: str
    plan_name: str
    product_id: int
    line_ids: tuple[int, ...]
    message: str
    monthly: Decimal = Decimal(0)


class BillingCheck(NamedTuple):
    """What an agreement's lines bill, and every way it differs from the usage.

    The rules, plan by plan (the mapped plans, and the retired products of
    `PlanMapping(retired=...)`):

    - a line *bills* when it is active (no cancelled date, or one after today) and its
      `bill_customer` is `"Billable"` (or it has none); `DoNotBill` and `NoCharge` lines are
      invoiced at zero and bill nothing;
    - a plan with seats has exactly one billing line of its product, with the seats as its
      quantity, and the computed unit price and the plan's cost where the policy manages them
      (`manage_price`, `manage_cost`); otherwise it is `not_billed`, has `duplicate_lines` or
      `wrong_values`;
    - a plan without seats has no billing line of its product, or one whose quantity is 0;
    - no line of a retired product still bills seats (`billed_twice` when the plan's product
      bills too, else `retired_billed`).

    Attributes:
        problems: Every way the lines do not bill what the usage says (none: billed right).
        mrr: Monthly revenue of the lines that bill (mapped and retired products).
        cost: Monthly cost of those lines.
    """

    problems: tuple[BillingProblem, ...]
    mrr: Decimal
    cost: Decimal

    @property
    def ok(self) -> bool:
        """The lines bill exactly what the usage says."""
        return not self.problems


class PlannedProduct(NamedTuple):
    """The product reference of a `PlannedLine`.

    Attributes:
        id: The catalog item's id.
    """

    id: int | None


class PlannedLine(NamedTuple):
    """A line as a dry run expects it once its operations are applied.

    Attributes:
        id: The line's id (a planned create has a negative one).
        product: Its product reference.
        quantity: Its quantity.
        unit_price: Its unit price.
        unit_cost: Its unit cost.
        cancelled_date: Its cancelled date.
        bill_customer: Whether it bills (`"Billable"`, or the line's own value).
        less_included: Units of its quantity included in the agreement, not billed.
    """

    id: int
    product: PlannedProduct | None
    quantity: Decimal | None
    unit_price: Decimal | None
    unit_cost: Decimal | None
    cancelled_date: datetime | date | None
    bill_customer: str | None
    less_included: Decimal | None = None


def _planned(line: AdditionLike) -> PlannedLine:
    product = line.product
    return PlannedLine(
        line.id,
        None if product is None else PlannedProduct(product.id),
        line.quantity,
        line.unit_price,
        line.unit_cost,
        line.cancelled_date,
        getattr(line, "bill_customer", None),
        getattr(line, "less_included", None),
    )


def apply_operations(
    lines: Iterable[AdditionLike],
    operations: Iterable[Operation],
    created_bill_customer: str = BILLABLE,
) -> list[PlannedLine]:
    """The lines as they will be once `operations` are applied: what a dry run checks. A
    created line bills as its operation says, else as `created_bill_customer` (what the
    backend creates lines as)."""
    planned = {line.id: _planned(line) for line in lines}
    created = 0
    for op in operations:
        if isinstance(op, CreateAddition):
            created += 1
            planned[-created] = PlannedLine(
                -created,
                PlannedProduct(op.product_id),
                op.quantity,
                op.unit_price,
                op.unit_cost,
                None,
                op.bill_customer or created_bill_customer,
            )
        elif op.line_id in planned:
            line = planned[op.line_id]
            if isinstance(op, UpdateAddition):
                new = {field: change.new for field, change in op.changes.items()}
                planned[op.line_id] = line._replace(
                    quantity=new.get("quantity", line.quantity),
                    unit_price=new.get("unit_price", line.unit_price),
                    unit_cost=new.get("unit_cost", line.unit_cost),
                )
            else:
                planned[op.line_id] = line._replace(cancelled_date=op.cancelled_date)
    return list(planned.values())


def _money(value: Decimal) -> str:
    return f"{value:,.2f}"


def _number(value: Decimal | None) -> str:
    return "none" if value is None else f"{value.normalize():,f}"


def _seats(count: Decimal) -> str:
    return f"{_number(count)} seat{'s' if count != 1 else ''}"


def _line_total(line: AdditionLike) -> Decimal:
    return billed_quantity(line) * (line.unit_price or ZERO)


def _wrong_values(
    context: Context, usage: CompanyUsage, plan: Plan, line: AdditionLike, seats: int
) -> str | None:
    policy = context.policy
    quantity = Decimal(seats)
    wrong = []
    if line.quantity != quantity:
        wrong.append(f"quantity {_number(line.quantity)} instead of {_number(quantity)}")
    included = getattr(line, "less_included", None)
    if included:  # ConnectWise bills the quantity less these
        wrong.append(
            f"less included {_number(included)}: it bills {_number(billed_quantity(line))} "
            f"of {_number(line.quantity)}"
        )
    if seats or line.quantity:  # a line billing nothing bills nothing at any price
        wanted: list[tuple[str, Decimal | None, Decimal]] = []
        if policy.manage_price:
            wanted.append(("unit price", line.unit_price, context.unit_price(plan, usage)))
        if policy.manage_cost:
            wanted.append(("unit cost", line.unit_cost, plan.cost))
        wrong += [
            f"{name} {_amount(shown)} instead of {_amount(target)}"
            for name, shown, target in wanted
            if shown != target
        ]
    return ", ".join(wrong) or None


def _plan_problems(
    context: Context,
    usage: CompanyUsage,
    plan: Plan,
    product_id: int,
    lines: Sequence[AdditionLike],
) -> list[BillingProblem]:
    seats = usage.seats.get(plan.id, 0)
    billing = [line for line in lines if bills(line)]
    where = f"plan {plan.name} (product {product_id})"

    def problem(
        kind: BillingProblemKind, found: Sequence[AdditionLike], text: str
    ) -> BillingProblem:
        ids = tuple(sorted(line.id for line in found))
        monthly = sum((_line_total(line) for line in found), ZERO)
        return BillingProblem(kind, plan.id, plan.name, product_id, ids, text, monthly)

    if len(billing) > 1:
        listed = ", ".join(str(line.id) for line in sorted(billing, key=lambda line: line.id))
        return [
            problem(
                "duplicate_lines",
                billing,
                f"{where}: {len(billing)} active additions bill it ({listed}), one is meant to",
            )
        ]
    if not billing:
        if not seats:
            return []
        idle = [line for line in lines if not bills(line)]
        why = (
            f"its only additions ({', '.join(str(line.id) for line in idle)}) do not bill"
            if idle
            else "no addition bills it"
        )
        missed = seats * context.unit_price(plan, usage)
        text = (
            f"{where}: not billed: {_seats(Decimal(seats))} in use ({_money(missed)} a month), "
            f"but {why}"
        )
        ids = tuple(sorted(line.id for line in idle))
        return [BillingProblem("not_billed", plan.id, plan.name, product_id, ids, text, missed)]
    [line] = billing
    wrong = _wrong_values(context, usage, plan, line, seats)
    if wrong:
        return [problem("wrong_values", [line], f"{where}: addition {line.id} shows {wrong}")]
    return []


def check_billing(
    context: Context, usage: CompanyUsage, lines: Iterable[AdditionLike]
) -> BillingCheck:
    """Whether `lines` (an agreement's, as the PSA shows them) bill what `usage` says; see the
    module's description for the rules."""
    today = context.today
    active = [line for line in lines if is_active(line.cancelled_date, today)]
    by_product: dict[int | None, list[AdditionLike]] = {}
    for line in active:
        product = line.product
        by_product.setdefault(None if product is None else product.id, []).append(line)
    problems: list[BillingProblem] = []
    counted: list[AdditionLike] = []
    for product_id, plan in context.plan_order:
        mine = by_product.get(product_id, [])
        counted += mine
        problems += _plan_problems(context, usage, plan, product_id, mine)
    for product_id, plan_id in sorted(context.mapping.retired.items()):
        retired_from = context.plans.get(plan_id)
        still = [line for line in by_product.get(product_id, []) if bills(line)]
        if retired_from is None or not still:
            continue
        counted += still
        billing = [line for line in still if line.quantity]
        if not billing:
            continue
        new_product = context.mapping.get(plan_id)
        beside = [
            line
            for line in by_product.get(new_product, [])
            if new_product is not None and bills(line) and line.quantity
        ]
        quantity = sum((line.quantity or ZERO for line in billing), ZERO)
        monthly = sum((_line_total(line) for line in billing), ZERO)
        ids = ", ".join(str(line.id) for line in billing)
        said = (
            f"plan {retired_from.name}: addition {ids} of retired product {product_id} still bills "
            f"{_seats(quantity)} ({_money(monthly)} a month)"
        )
        if beside:
            kind: BillingProblemKind = "billed_twice"
            text = f"{said} while product {new_product} bills the plan too: billed twice"
        else:
            kind = "retired_billed"
            now = "no longer mapped" if new_product is None else f"mapped to {new_product}"
            text = f"{said}, which the usage does not bill there (the plan is {now})"
        line_ids = tuple(sorted(line.id for line in billing))
        problems.append(
            BillingProblem(kind, plan_id, retired_from.name, product_id, line_ids, text, monthly)
        )
    guardrails = context.policy.guardrails
    if guardrails is not None and guardrails.unmapped_usage == "fail":
        for plan_id, seats in sorted(usage.seats.items()):
            unmapped = context.plans.get(plan_id)
            if unmapped is None or not seats or plan_id in context.mapping:
                continue
            missed = seats * context.unit_price(unmapped, usage)
            text = (
                f"plan {unmapped.name}: {_seats(Decimal(seats))} in use ({_money(missed)} a "
                "month) on a plan mapped to no product: not billed (unmapped_usage='fail')"
            )
            problems.append(
                BillingProblem("unmapped_usage", plan_id, unmapped.name, 0, (), text, missed)
            )
    billed = [line for line in counted if bills(line)]
    mrr = sum((_line_total(line) for line in billed), ZERO)
    cost = sum((billed_quantity(line) * (line.unit_cost or ZERO) for line in billed), ZERO)
    return BillingCheck(tuple(problems), mrr, cost)
