"""`reconcile_agreement` and `reconcile`: plan counts + prices + additions -> a diff. Pure.

No I/O and no clock: `today` is passed in. The same inputs, in any order, give the same diff.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import date
from decimal import Decimal

from connectwise_billing._values import unwritable
from connectwise_billing.errors import DuplicateAgreementError, InvalidPriceError
from connectwise_billing.reconcile._billing import BillingCheck, apply_operations, check_billing
from connectwise_billing.reconcile._builder import ZERO, AgreementBuilder, Context, build_context
from connectwise_billing.reconcile._diff import (
    AgreementDiff,
    DiffWarning,
    Operation,
    operation_delta,
)
from connectwise_billing.reconcile._guardrails import hold_operations
from connectwise_billing.reconcile._inputs import CompanyUsage, Plan, PlanMapping
from connectwise_billing.reconcile._lines import (
    BILLABLE,
    AdditionLike,
    ProductRefLike,
    billed_quantity,
    bills,
    is_active,
)
from connectwise_billing.reconcile._policy import SyncPolicy
from connectwise_billing.reconcile._validation import check_usage

__all__ = [
    "AdditionLike",
    "ProductRefLike",
    "Reconciler",
    "bills",
    "is_active",
    "reconcile_agreement",
    "reconcile_all",
]


def _money(
    managed: Iterable[AdditionLike], operations: Iterable[Operation]
) -> tuple[Decimal, Decimal, Decimal, Decimal]:
    """MRR and cost of the billing lines before the operations, and after them (before plus
    each one's delta)."""
    mrr = cost = ZERO
    for addition in managed:
        if not bills(addition):
            continue
        quantity = billed_quantity(addition)
        mrr += quantity * (addition.unit_price or ZERO)
        cost += quantity * (addition.unit_cost or ZERO)
    mrr_after, cost_after = mrr, cost
    for op in operations:
        revenue, spend = operation_delta(op)
        mrr_after += revenue
        cost_after += spend
    return mrr, mrr_after, cost, cost_after


def _seats(count: int) -> str:
    return f"{count} seat{'s' if count != 1 else ''}"


def _order(op: Operation) -> tuple[str, int, int]:
    rank = {"create": 0, "update": 1, "cancel": 2}[op.kind]
    return (op.plan_id, rank, getattr(op, "line_id", 0))


def _reconcile(
    context: Context, usage: CompanyUsage, additions: Iterable[AdditionLike]
) -> AgreementDiff:
    builder = AgreementBuilder(context, usage)
    by_product: dict[int, list[AdditionLike]] = defaultdict(list)
    unmanaged: dict[int | None, list[int]] = defaultdict(list)
    retired: list[tuple[AdditionLike, Plan, int]] = []
    mrr_unmanaged = ZERO
    managed_products, today = context.managed, context.today
    for addition in additions:
        cancelled = addition.cancelled_date
        if cancelled is not None and not is_active(cancelled, today):
            continue
        product = addition.product
        product_id = None if product is None else product.id
        if product_id in managed_products:
            by_product[product_id].append(addition)  # type: ignore[index]
            continue
        retired_from = context.retired_plan(product_id)
        if retired_from is not None and bills(addition):
            # It bills the plan's seats under the old product: part of what the plan bills.
            builder.previously_mapped(addition, product_id)
            retired.append((addition, retired_from, product_id))  # type: ignore[arg-type]
            continue
        if bills(addition):  # a DoNotBill or NoCharge line invoices nothing
            mrr_unmanaged += billed_quantity(addition) * (addition.unit_price or ZERO)
        if not builder.previously_mapped(addition, product_id):
            unmanaged[product_id].append(addition.id)
    for product_id, plan in context.plan_order:
        builder.plan(plan, product_id, by_product.get(product_id, ()))
    for addition, plan, product_id in retired:
        builder.retired(addition, plan, product_id)
    for plan_id in sorted(usage.seats):
        if usage.seats[plan_id] > 0 and plan_id not in context.mapping:
            plan = context.plans[plan_id]
            builder.warnings.append(
                DiffWarning(
                    "unmapped_usage",
                    f"unmapped usage: {_seats(usage.seats[plan_id])} on plan {plan.name} not "
                    f"billed (map it to a product in {context.psa})",
                    plan_id,
                )
            )
    if unmanaged:
        ids = tuple(sorted(i for group in unmanaged.values() for i in group))
        products = ", ".join(
            str(p) if p is not None else "none"
            for p in sorted(unmanaged, key=lambda p: (p is None, p or 0))
        )
        builder.warnings.append(
            DiffWarning(
                "unmanaged_products",
                f"{len(ids)} active addition{'s' if len(ids) != 1 else ''} of unmapped products "
                f"({products}) left alone",
                addition_ids=ids,
            )
        )
    operations = sorted(builder.operations, key=_order)
    managed = [a for group in by_product.values() for a in group]
    managed += [addition for addition, _, _ in retired]
    mrr_before, mrr_after, cost_before, cost_after = _money(managed, operations)
    # The plans the agreement bills seats for today: what `zeroed` asks about.
    billed = {
        context.managed[product_id].id
        for product_id, lines in by_product.items()
        if any(line.quantity and bills(line) for line in lines)
    }
    billed |= {plan.id for line, plan, _ in retired if line.quantity}
    diff = AgreementDiff(
        agreement_id=usage.agreement_id,
        company=usage.company,
        operations=tuple(operations),
        unchanged=tuple(sorted(builder.unchanged, key=lambda u: u.line_id)),
        warnings=tuple(
            sorted(
                builder.warnings, key=lambda w: (w.kind, w.plan_id or "", w.addition_ids, w.message)
            )
        ),
        mrr_before=mrr_before,
        mrr_after=mrr_after,
        cost_before=cost_before,
        cost_after=cost_after,
        duplicates=tuple(builder.duplicates),
        mrr_unmanaged=mrr_unmanaged,
        zeroed=bool(billed) and not any(usage.seats.get(plan_id, 0) for plan_id in billed),
    )
    guardrails = context.policy.guardrails
    if guardrails is None:
        return diff
    holds = hold_operations(guardrails, diff, usage, context.plans, context.mapping)
    return diff._replace(holds=holds) if holds else diff


def check_prices(context: Context, usage: CompanyUsage) -> None:
    """Every unit price the usage gives a mapped plan can be written and read back.

    Raises:
        InvalidPriceError: naming the plan, the agreement and the computed price.
    """
    for plan_id in context.mapping:
        plan = context.plans[plan_id]
        price = context.unit_price(plan, usage)
        problem = unwritable(price)
        if problem:
            raise InvalidPriceError(
                f"the unit price of plan {plan_id!r} on agreement {usage.agreement_id} comes "
                f"to {price} {problem}"
            )


class Reconciler:
    """Plans, mapping, policy and `today`, validated once, for reconciling many agreements.

    `reconcile_agreement` and `reconcile` are built on it; a sync uses it directly to check
    every usage before the first request and then reconcile agreement by agreement. `psa` is
    how warnings name the PSA the lines are in (a sync gives its backend's `name`).
    """

    def __init__(
        self,
        plans: Iterable[Plan],
        mapping: PlanMapping | Mapping[str, int],
        policy: SyncPolicy | None = None,
        *,
        today: date,
        psa: str = "the PSA",
    ) -> None:
        self._context = build_context(plans, mapping, policy or SyncPolicy(), today, psa)

    @property
    def policy(self) -> SyncPolicy:
        """The policy in force."""
        return self._context.policy

    @property
    def today(self) -> date:
        """The day the sync runs."""
        return self._context.today

    @property
    def plans(self) -> Mapping[str, Plan]:
        """The plans by id."""
        return self._context.plans

    @property
    def mapping(self) -> PlanMapping:
        """The plan mapping."""
        return self._context.mapping

    def check(self, usages: Iterable[CompanyUsage]) -> list[CompanyUsage]:
        """Validate usages, and that no agreement appears twice; return them by agreement id.

        Raises:
            InputError: a subclass naming the offending value.
        """
        seen: dict[int, CompanyUsage] = {}
        for usage in usages:
            check_usage(usage, self._context.plans)
            check_prices(self._context, usage)
            if usage.agreement_id in seen:
                first = seen[usage.agreement_id].company or "a usage"
                second = usage.company or "another usage"
                raise DuplicateAgreementError(
                    f"agreement {usage.agreement_id} is linked twice ({first} and {second})"
                )
            seen[usage.agreement_id] = usage
        return [seen[agreement_id] for agreement_id in sorted(seen)]

    def agreement(self, usage: CompanyUsage, additions: Iterable[AdditionLike]) -> AgreementDiff:
        """The diff for one (already checked) usage and its agreement's additions."""
        return _reconcile(self._context, usage, list(additions))

    def billing(
        self,
        usage: CompanyUsage,
        lines: Iterable[AdditionLike],
        planned: Iterable[Operation] = (),
        *,
        created_bill_customer: str = BILLABLE,
    ) -> BillingCheck:
        """Whether an agreement's lines bill what `usage` says (see
        [`BillingCheck`][connectwise_billing.reconcile.BillingCheck] for the rules): the lines
        as read back after a sync, or, with `planned` operations, the lines as read with those
        applied (what a dry run promises; a created line bills as `created_bill_customer`, what
        the backend creates lines as, unless its operation says)."""
        if planned:
            lines = apply_operations(lines, planned, created_bill_customer)
        return check_billing(self._context, usage, lines)


def reconcile_agreement(
    plans: Iterable[Plan],
    mapping: PlanMapping | Mapping[str, int],
    usage: CompanyUsage,
    additions: Iterable[AdditionLike],
    policy: SyncPolicy | None = None,
    *,
    today: date,
    psa: str = "the PSA",
) -> AgreementDiff:
    """The diff that makes one agreement's additions match the control panel.

    Args:
        plans: Every plan the control panel sells.
        mapping: Plan id -> ConnectWise product id (a `PlanMapping`, or a plain mapping).
        usage: The company's seats, custom prices and discount, and its agreement.
        additions: The agreement's existing additions (the client's `Addition`, or any object
            with `id`, `product.id`, `quantity`, `unit_price`, `unit_cost`, `cancelled_date`).
        policy: The [`SyncPolicy`][connectwise_billing.SyncPolicy]; default `SyncPolicy()`.
        today: The day the sync runs, for active additions, effective and cancelled dates.
        psa: How warnings name the PSA the additions are in (a sync gives its backend's
            `name`, such as `"ConnectWise"`).

    Raises:
        InputError: a subclass naming the offending value (`InvalidSeatsError`,
            `UnknownPlanError`, `InvalidPriceError`, `InvalidDiscountError`, ...), before
            anything is produced.
    """
    reconciler = Reconciler(plans, mapping, policy, today=today, psa=psa)
    reconciler.check([usage])
    return reconciler.agreement(usage, additions)


def reconcile_all(
    plans: Iterable[Plan],
    mapping: PlanMapping | Mapping[str, int],
    usages: Iterable[CompanyUsage],
    additions_by_agreement: Mapping[int, Iterable[AdditionLike]],
    policy: SyncPolicy | None = None,
    *,
    today: date,
    psa: str = "the PSA",
) -> list[AgreementDiff]:
    """Reconcile many agreements; one diff per usage, ordered by agreement id.

    `additions_by_agreement` maps agreement id -> its additions; an agreement missing from it
    has none. Every usage is validated, and agreement ids checked for duplicates, before any
    diff is produced. `psa` names the PSA in warnings (see `reconcile_agreement`).
    """
    reconciler = Reconciler(plans, mapping, policy, today=today, psa=psa)
    return [
        reconciler.agreement(usage, additions_by_agreement.get(usage.agreement_id, ()))
        for usage in reconciler.check(usages)
    ]
