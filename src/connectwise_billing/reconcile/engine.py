"""`reconcile_agreement` and `reconcile`: plan counts + prices + additions -> a diff. Pure.

No I/O and no clock: `today` is passed in. The same inputs, in any order, give the same diff.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Protocol

import attrs

from connectwise_billing.errors import (
    DuplicateAgreementError,
    DuplicatePlanError,
    InputError,
    InvalidDiscountError,
    InvalidPriceError,
    InvalidSeatsError,
    UnknownPlanError,
)
from connectwise_billing.reconcile.diff import (
    AgreementDiff,
    CancelAddition,
    CreateAddition,
    DiffWarning,
    Field,
    Operation,
    UnchangedAddition,
    UpdateAddition,
    operation_delta,
)
from connectwise_billing.reconcile.inputs import CompanyUsage, Plan, PlanMapping
from connectwise_billing.reconcile.policy import SyncPolicy
from connectwise_billing.reconcile.pricing import discounted_price

ZERO = Decimal(0)


class ProductRefLike(Protocol):
    """What reconciliation reads of an addition's product reference."""

    @property
    def id(self) -> int | None: ...


class AdditionLike(Protocol):
    """What reconciliation reads of an existing addition: the client's `Addition`, or any
    object with these attributes (`last_updated` and `updated_by` are optional)."""

    @property
    def id(self) -> int: ...

    @property
    def product(self) -> ProductRefLike | None: ...

    @property
    def quantity(self) -> Decimal | None: ...

    @property
    def unit_price(self) -> Decimal | None: ...

    @property
    def unit_cost(self) -> Decimal | None: ...

    @property
    def cancelled_date(self) -> datetime | date | None: ...


# --- validation -------------------------------------------------------------------------


def _check_money(value: object, what: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, Decimal | int):
        raise InvalidPriceError(f"{what} must be a number, got {value!r}")
    amount = Decimal(value)
    if not amount.is_finite():
        raise InvalidPriceError(f"{what} must be a finite number, got {value!r}")
    if amount < 0:
        raise InvalidPriceError(f"{what} must not be negative, got {value!r}")
    return amount


def _check_plans(plans: Iterable[Plan]) -> dict[str, Plan]:
    by_id: dict[str, Plan] = {}
    for plan in plans:
        if not isinstance(plan, Plan):
            raise InputError(f"plans must be Plan objects, got {type(plan).__name__} {plan!r}")
        if plan.id in by_id:
            raise DuplicatePlanError(f"plan id {plan.id!r} appears twice in the plan list")
        _check_money(plan.price, f"price of plan {plan.id!r}")
        _check_money(plan.cost, f"cost of plan {plan.id!r}")
        by_id[plan.id] = plan
    return by_id


def _check_usage(usage: CompanyUsage, plans: Mapping[str, Plan]) -> None:
    if not isinstance(usage, CompanyUsage):
        raise InputError(f"usage must be a CompanyUsage, got {type(usage).__name__}")
    where = f"agreement {usage.agreement_id!r}" + (f" ({usage.company})" if usage.company else "")
    if isinstance(usage.agreement_id, bool) or not isinstance(usage.agreement_id, int):
        raise InputError(f"agreement_id must be an integer, got {usage.agreement_id!r}")
    if usage.agreement_id <= 0:
        raise InputError(f"agreement_id must be positive, got {usage.agreement_id!r}")
    for plan_id, seats in usage.seats.items():
        if plan_id not in plans:
            raise UnknownPlanError(f"seats on {where} name unknown plan {plan_id!r}")
        if isinstance(seats, bool) or not isinstance(seats, int):
            raise InvalidSeatsError(
                f"seats for plan {plan_id!r} on {where} must be a whole number, got {seats!r}"
            )
        if seats < 0:
            raise InvalidSeatsError(
                f"seats for plan {plan_id!r} on {where} must not be negative, got {seats!r}"
            )
    for plan_id, price in usage.custom_prices.items():
        if plan_id not in plans:
            raise UnknownPlanError(f"a custom price on {where} names unknown plan {plan_id!r}")
        _check_money(price, f"custom price for plan {plan_id!r} on {where}")
    discount = usage.discount_percent
    if isinstance(discount, bool) or not isinstance(discount, Decimal | int):
        raise InvalidDiscountError(f"discount on {where} must be a number, got {discount!r}")
    if not Decimal(discount).is_finite() or not 0 <= discount <= 100:
        raise InvalidDiscountError(
            f"discount on {where} must be between 0 and 100 percent, got {discount!r}"
        )


def _check_today(today: object) -> date:
    if isinstance(today, datetime):
        return today.date()
    if not isinstance(today, date):
        raise InputError(f"today must be a date, got {today!r}")
    return today


# --- reconciliation -----------------------------------------------------------------------


@attrs.frozen(slots=False)  # slots=False: cached_property needs an instance __dict__
class _Context:
    plans: Mapping[str, Plan]
    mapping: PlanMapping
    managed: Mapping[int, Plan]  # product id -> plan, for mapped plans in the plan list
    unknown_mapped: tuple[tuple[str, int], ...]
    policy: SyncPolicy
    today: date
    # discount -> plan id -> unit price: agreements share plans and discounts.
    price_tables: dict[Decimal, dict[str, Decimal]] = attrs.field(factory=dict)

    @functools.cached_property
    def plan_order(self) -> list[tuple[int, Plan]]:
        """Mapped plans with their products, in plan id order (the order of operations)."""
        return sorted(self.managed.items(), key=lambda item: item[1].id)

    def unit_price(self, plan: Plan, usage: CompanyUsage) -> Decimal:
        """The plan's unit price for the usage: custom or plan price, less the discount."""
        policy = self.policy
        custom = usage.custom_prices.get(plan.id)
        if custom is not None:
            return discounted_price(
                custom, usage.discount_percent, policy.price_decimals, policy.rounding
            )
        table = self.price_tables.get(usage.discount_percent)
        if table is None:
            table = self.price_tables[usage.discount_percent] = {
                plan_id: discounted_price(
                    known.price, usage.discount_percent, policy.price_decimals, policy.rounding
                )
                for plan_id, known in self.plans.items()
            }
        return table[plan.id]


def _context(
    plans: Iterable[Plan], mapping: Mapping[str, int], policy: SyncPolicy, today: object
) -> _Context:
    if not isinstance(mapping, PlanMapping):
        mapping = PlanMapping(mapping)
    if not isinstance(policy, SyncPolicy):
        raise InputError(f"policy must be a SyncPolicy, got {type(policy).__name__}")
    by_id = _check_plans(plans)
    managed = {product: by_id[plan] for plan, product in mapping.items() if plan in by_id}
    unknown = tuple(
        sorted((plan, product) for plan, product in mapping.items() if plan not in by_id)
    )
    return _Context(by_id, mapping, managed, unknown, policy, _check_today(today))


def is_active(cancelled: datetime | date | None, today: date) -> bool:
    """Active: no cancelled date, or one later than today."""
    if cancelled is None:
        return True
    day = cancelled.date() if isinstance(cancelled, datetime) else cancelled
    return day > today


def _product_id(addition: AdditionLike) -> int | None:
    product = addition.product
    return None if product is None else product.id


def _values(addition: AdditionLike) -> dict[Field, Decimal | None]:
    return {
        "quantity": addition.quantity,
        "unit_price": addition.unit_price,
        "unit_cost": addition.unit_cost,
    }


# What a sync wants an addition to hold: quantity, and unit price and cost when the policy owns
# them (None: not owned). A plain tuple: this runs once per managed addition.
_Target = tuple[Decimal, Decimal | None, Decimal | None]


def _changes(
    addition: AdditionLike, target: _Target
) -> dict[Field, tuple[Decimal | None, Decimal]] | None:
    quantity, price, cost = target
    changes: dict[Field, tuple[Decimal | None, Decimal]] | None = None
    if addition.quantity != quantity:
        changes = {"quantity": (addition.quantity, quantity)}
    if price is not None and addition.unit_price != price:
        changes = changes or {}
        changes["unit_price"] = (addition.unit_price, price)
    if cost is not None and addition.unit_cost != cost:
        changes = changes or {}
        changes["unit_cost"] = (addition.unit_cost, cost)
    return changes


def _manual_editor(addition: AdditionLike, policy: SyncPolicy) -> str | None:
    if policy.api_member is None:
        return None
    editor = getattr(addition, "updated_by", None)
    if editor and str(editor).casefold() != policy.api_member.casefold():
        return str(editor)
    return None


class _Builder:
    """Accumulates one agreement's operations, unchanged additions and warnings."""

    def __init__(self, context: _Context, usage: CompanyUsage) -> None:
        self.context = context
        self.usage = usage
        self.operations: list[Operation] = []
        self.unchanged: list[UnchangedAddition] = []
        self.warnings: list[DiffWarning] = []

    def keep(self, addition: AdditionLike, plan: Plan, product_id: int) -> None:
        self.unchanged.append(
            UnchangedAddition(
                addition.id,
                plan.id,
                product_id,
                addition.quantity,
                addition.unit_price,
                addition.unit_cost,
            )
        )

    def target(self, plan: Plan, seats: int) -> _Target:
        """The values the sync owns for `seats` on `plan`, per the policy."""
        policy = self.context.policy
        price = self.context.unit_price(plan, self.usage) if policy.manage_price else None
        return Decimal(seats), price, plan.cost if policy.manage_cost else None

    def create(self, plan: Plan, product_id: int, seats: int) -> None:
        policy = self.context.policy
        self.operations.append(
            CreateAddition(
                agreement_id=self.usage.agreement_id,
                plan_id=plan.id,
                plan_name=plan.name,
                product_id=product_id,
                quantity=Decimal(seats),
                unit_price=self.context.unit_price(plan, self.usage),
                unit_cost=plan.cost,
                bill_customer=policy.bill_customer,
                effective_date=policy.effective_date_for(self.context.today),
            )
        )

    def sync(
        self,
        addition: AdditionLike,
        plan: Plan,
        product_id: int,
        target: _Target,
        reason: str,
    ) -> None:
        """Update the fields of `addition` that differ from `target`, minding manual edits."""
        changes = _changes(addition, target)
        if not changes:
            self.keep(addition, plan, product_id)
            return
        editor = _manual_editor(addition, self.context.policy)
        if editor is not None:
            fields = ", ".join(sorted(changes))
            held = self.context.policy.respect_manual_edits
            self.warnings.append(
                DiffWarning(
                    "manual_edit",
                    f"addition {addition.id} ({plan.name}) was last changed by {editor}, not by "
                    f"the sync; {fields} {'left as edited' if held else 'overwritten'}",
                    plan.id,
                    product_id,
                    (addition.id,),
                )
            )
            if held:
                self.keep(addition, plan, product_id)
                return
        self.operations.append(
            UpdateAddition(
                agreement_id=self.usage.agreement_id,
                addition_id=addition.id,
                plan_id=plan.id,
                plan_name=plan.name,
                product_id=product_id,
                changes=changes,
                reason=reason,
                expected=_values(addition),
                last_updated=getattr(addition, "last_updated", None),
            )
        )

    def cancel(self, addition: AdditionLike, plan: Plan, product_id: int, reason: str) -> None:
        editor = _manual_editor(addition, self.context.policy)
        if editor is not None and self.context.policy.respect_manual_edits:
            self.warnings.append(
                DiffWarning(
                    "manual_edit",
                    f"addition {addition.id} ({plan.name}) was last changed by {editor}, not by "
                    "the sync; not cancelled",
                    plan.id,
                    product_id,
                    (addition.id,),
                )
            )
            self.keep(addition, plan, product_id)
            return
        self.operations.append(
            CancelAddition(
                agreement_id=self.usage.agreement_id,
                addition_id=addition.id,
                plan_id=plan.id,
                plan_name=plan.name,
                product_id=product_id,
                cancelled_date=self.context.today,
                reason=reason,
                expected=_values(addition),
                last_updated=getattr(addition, "last_updated", None),
            )
        )

    def zero(self, addition: AdditionLike, plan: Plan, product_id: int, reason: str) -> None:
        """Apply `on_zero` to an addition that should bill nothing."""
        on_zero = self.context.policy.on_zero
        if on_zero == "cancel":
            self.cancel(addition, plan, product_id, reason)
        elif on_zero == "set_quantity_zero":
            self.sync(addition, plan, product_id, self.target(plan, 0), reason)
        else:
            self.keep(addition, plan, product_id)
            self.warnings.append(
                DiffWarning(
                    "zero_seats_left",
                    f"plan {plan.name} has no seats but addition {addition.id} still bills "
                    f"{addition.quantity} (on_zero='leave')",
                    plan.id,
                    product_id,
                    (addition.id,),
                )
            )

    def plan(self, plan: Plan, product_id: int, active: Sequence[AdditionLike]) -> None:
        """Reconcile one mapped plan against its active additions."""
        seats = self.usage.seats.get(plan.id, 0)
        if not active:
            if seats > 0:
                self.create(plan, product_id, seats)
            return
        keeper, *others = sorted(active, key=lambda a: a.id) if len(active) > 1 else active
        if others:
            ids = tuple(a.id for a in (keeper, *others))
            if self.context.policy.on_duplicates == "skip":
                self.warnings.append(
                    DiffWarning(
                        "duplicate_additions",
                        f"plan {plan.name} has {len(ids)} active additions "
                        f"({', '.join(map(str, ids))}); none changed (on_duplicates='skip')",
                        plan.id,
                        product_id,
                        ids,
                    )
                )
                for addition in (keeper, *others):
                    self.keep(addition, plan, product_id)
                return
            self.warnings.append(
                DiffWarning(
                    "duplicate_additions",
                    f"plan {plan.name} has {len(ids)} active additions; keeping {keeper.id}, "
                    f"merging {', '.join(str(a.id) for a in others)} into it",
                    plan.id,
                    product_id,
                    ids,
                )
            )
            for duplicate in others:
                reason = f"duplicate of addition {keeper.id}"
                if self.context.policy.on_zero == "cancel":
                    self.cancel(duplicate, plan, product_id, reason)
                else:
                    self.sync(duplicate, plan, product_id, (ZERO, None, None), reason)
        if seats == 0:
            self.zero(keeper, plan, product_id, "no seats on the plan")
        else:
            self.sync(
                keeper,
                plan,
                product_id,
                self.target(plan, seats),
                "seats or prices changed",
            )


def _money(
    managed: Iterable[AdditionLike], operations: Iterable[Operation]
) -> tuple[Decimal, Decimal, Decimal, Decimal]:
    """MRR and cost before the operations, and after them (before plus each one's delta)."""
    mrr = cost = ZERO
    for addition in managed:
        quantity = addition.quantity or ZERO
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
    return (op.plan_id, rank, getattr(op, "addition_id", 0))


def _reconcile(
    context: _Context, usage: CompanyUsage, additions: Iterable[AdditionLike]
) -> AgreementDiff:
    builder = _Builder(context, usage)
    by_product: dict[int, list[AdditionLike]] = defaultdict(list)
    unmanaged: dict[int | None, list[int]] = defaultdict(list)
    managed_products, today = context.managed, context.today
    for addition in additions:
        cancelled = addition.cancelled_date
        if cancelled is not None and not is_active(cancelled, today):
            continue
        product = addition.product
        product_id = None if product is None else product.id
        if product_id in managed_products:
            by_product[product_id].append(addition)  # type: ignore[index]
        else:
            unmanaged[product_id].append(addition.id)
    for product_id, plan in context.plan_order:
        builder.plan(plan, product_id, by_product.get(product_id, ()))
    for plan_id in sorted(usage.seats):
        if usage.seats[plan_id] > 0 and plan_id not in context.mapping:
            plan = context.plans[plan_id]
            builder.warnings.append(
                DiffWarning(
                    "unmapped_usage",
                    f"unmapped usage: {_seats(usage.seats[plan_id])} on plan {plan.name} not "
                    "billed (map the plan to a ConnectWise product)",
                    plan_id,
                )
            )
    for plan_id, product_id in context.unknown_mapped:
        builder.warnings.append(
            DiffWarning(
                "unknown_mapped_plan",
                f"the mapping names plan {plan_id!r}, which is not in the plan list; product "
                f"{product_id} is left alone",
                plan_id,
                product_id,
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
    mrr_before, mrr_after, cost_before, cost_after = _money(managed, operations)
    return AgreementDiff(
        agreement_id=usage.agreement_id,
        company=usage.company,
        operations=tuple(operations),
        unchanged=tuple(sorted(builder.unchanged, key=lambda u: u.addition_id)),
        warnings=tuple(
            sorted(
                builder.warnings, key=lambda w: (w.kind, w.plan_id or "", w.addition_ids, w.message)
            )
        ),
        mrr_before=mrr_before,
        mrr_after=mrr_after,
        cost_before=cost_before,
        cost_after=cost_after,
        policy=context.policy,
        today=context.today,
    )


class Reconciler:
    """Plans, mapping, policy and `today`, validated once, for reconciling many agreements.

    `reconcile_agreement` and `reconcile` are built on it; a sync uses it directly to check
    every usage before the first request and then reconcile agreement by agreement.
    """

    def __init__(
        self,
        plans: Iterable[Plan],
        mapping: PlanMapping | Mapping[str, int],
        policy: SyncPolicy | None = None,
        *,
        today: date,
    ) -> None:
        self._context = _context(plans, mapping, policy or SyncPolicy(), today)

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
            _check_usage(usage, self._context.plans)
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


def reconcile_agreement(
    plans: Iterable[Plan],
    mapping: PlanMapping | Mapping[str, int],
    usage: CompanyUsage,
    additions: Iterable[AdditionLike],
    policy: SyncPolicy | None = None,
    *,
    today: date,
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

    Raises:
        InputError: a subclass naming the offending value (`InvalidSeatsError`,
            `UnknownPlanError`, `InvalidPriceError`, `InvalidDiscountError`, ...), before
            anything is produced.
    """
    reconciler = Reconciler(plans, mapping, policy, today=today)
    reconciler.check([usage])
    return reconciler.agreement(usage, additions)


def reconcile(
    plans: Iterable[Plan],
    mapping: PlanMapping | Mapping[str, int],
    usages: Iterable[CompanyUsage],
    additions_by_agreement: Mapping[int, Iterable[AdditionLike]],
    policy: SyncPolicy | None = None,
    *,
    today: date,
) -> list[AgreementDiff]:
    """Reconcile many agreements; one diff per usage, ordered by agreement id.

    `additions_by_agreement` maps agreement id -> its additions; an agreement missing from it
    has none. Every usage is validated, and agreement ids checked for duplicates, before any
    diff is produced.
    """
    reconciler = Reconciler(plans, mapping, policy, today=today)
    return [
        reconciler.agreement(usage, additions_by_agreement.get(usage.agreement_id, ()))
        for usage in reconciler.check(usages)
    ]
