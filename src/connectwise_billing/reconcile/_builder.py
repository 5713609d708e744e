"""The per-agreement decision procedure: which additions to create, update or cancel.

`AgreementBuilder` walks one agreement's mapped plans and records operations, unchanged
additions and warnings; `engine.py` drives it and assembles the `AgreementDiff`.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal

from connectwise_billing._values import shown_text
from connectwise_billing.errors import InputError, MappingError
from connectwise_billing.reconcile._diff import (
    CancelAddition,
    Change,
    CreateAddition,
    DiffWarning,
    DuplicateAdditions,
    Field,
    Operation,
    UnchangedAddition,
    UpdateAddition,
)
from connectwise_billing.reconcile._inputs import CompanyUsage, Plan, PlanMapping
from connectwise_billing.reconcile._lines import BILLABLE, AdditionLike, billed_quantity, bills
from connectwise_billing.reconcile._policy import SyncPolicy
from connectwise_billing.reconcile._pricing import discounted_price
from connectwise_billing.reconcile._validation import check_plans, check_today

ZERO = Decimal(0)


def _seats(count: int) -> str:
    return f"{count} seat{'s' if count != 1 else ''}"


class Context:
    """What every agreement of a run is reconciled against."""

    def __init__(
        self,
        plans: Mapping[str, Plan],
        mapping: PlanMapping,
        managed: Mapping[int, Plan],  # product id -> plan
        policy: SyncPolicy,
        today: date,
        psa: str,
    ) -> None:
        self.plans = plans
        self.mapping = mapping
        self.managed = managed
        self.policy = policy
        self.today = today
        self.psa = psa  # how warnings name the PSA the lines are in
        # discount -> plan id -> unit price: agreements share plans and discounts.
        self.price_tables: dict[Decimal, dict[str, Decimal]] = {}

    def retired_plan(self, product_id: int | None) -> Plan | None:
        """The plan a retired product was mapped to, if it is one (and the plan is known)."""
        plan_id = self.mapping.retired.get(product_id) if product_id is not None else None
        return None if plan_id is None else self.plans.get(plan_id)

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


def build_context(
    plans: Iterable[Plan],
    mapping: Mapping[str, int],
    policy: SyncPolicy,
    today: object,
    psa: str,
) -> Context:
    if not isinstance(mapping, PlanMapping):
        mapping = PlanMapping(mapping)
    if not isinstance(policy, SyncPolicy):
        raise InputError(f"policy must be a SyncPolicy, got {type(policy).__name__}")
    by_id = check_plans(plans)
    unknown = sorted(plan for plan in mapping if plan not in by_id)
    if unknown:
        known = ", ".join(shown_text(plan_id) for plan_id in sorted(by_id)) or "none"
        raise MappingError(
            f"the mapping names plan {shown_text(unknown[0])}, which is not in the plan list "
            f"(it has: {known}); a plan meant to be billed would otherwise go unbilled"
        )
    managed = {product: by_id[plan] for plan, product in mapping.items()}
    return Context(by_id, mapping, managed, policy, check_today(today), psa)


def _product_id(addition: AdditionLike) -> int | None:
    product = addition.product
    return None if product is None else product.id


def _day(value: datetime | date | None) -> date | None:
    return value.date() if isinstance(value, datetime) else value


def _values(addition: AdditionLike) -> dict[Field, Decimal | None]:
    return {
        "quantity": addition.quantity,
        "unit_price": addition.unit_price,
        "unit_cost": addition.unit_cost,
    }


# What a sync wants an addition to hold: quantity, and unit price and cost when the policy owns
# them (None: not owned). A plain tuple: this runs once per managed addition.
_Target = tuple[Decimal, Decimal | None, Decimal | None]


def _changes(addition: AdditionLike, target: _Target) -> dict[Field, Change] | None:
    quantity, price, cost = target
    changes: dict[Field, Change] | None = None
    if addition.quantity != quantity:
        changes = {"quantity": Change(addition.quantity, quantity)}
    if price is not None and addition.unit_price != price:
        changes = changes or {}
        changes["unit_price"] = Change(addition.unit_price, price)
    if cost is not None and addition.unit_cost != cost:
        changes = changes or {}
        changes["unit_cost"] = Change(addition.unit_cost, cost)
    return changes


def _manual_editor(addition: AdditionLike, policy: SyncPolicy) -> str | None:
    if policy.api_member is None:
        return None
    editor = getattr(addition, "updated_by", None)
    if editor and str(editor).casefold() != policy.api_member.casefold():
        return str(editor)
    return None


class AgreementBuilder:
    """Accumulates one agreement's operations, unchanged additions and warnings."""

    def __init__(self, context: Context, usage: CompanyUsage) -> None:
        self.context = context
        self.usage = usage
        self.operations: list[Operation] = []
        self.unchanged: list[UnchangedAddition] = []
        self.warnings: list[DiffWarning] = []
        self.duplicates: list[DuplicateAdditions] = []

    def previously_mapped(self, addition: AdditionLike, product_id: int | None) -> bool:
        """Report an active addition of a product that is no longer mapped but was (a remap,
        or a plan taken out of the mapping): it is still billed. True when it is one.

        Known from the mapping's `retired` products, or, with `SyncPolicy(api_member=...)`,
        from the addition having been last written by the sync itself."""
        policy = self.context.policy
        plan_id = self.context.mapping.retired.get(product_id) if product_id else None
        written_by_sync = (
            policy.api_member is not None
            and str(getattr(addition, "updated_by", "") or "").casefold()
            == policy.api_member.casefold()
        )
        if plan_id is None and not written_by_sync:
            return False
        monthly = billed_quantity(addition) * (addition.unit_price or ZERO)
        was = f" (it was mapped to plan {plan_id!r})" if plan_id else " (the sync wrote it)"
        said = (
            f"previously mapped, still billed: addition {addition.id} of product "
            f"{product_id}{was} bills {monthly:,.2f} a month"
        )
        stopping = (
            plan_id is not None
            and policy.on_retired == "zero"
            and policy.on_zero != "leave"
            and bool(addition.quantity)
            and bills(addition)
        )
        message = (
            f"{said}; on_retired='zero' stops it"
            if stopping
            else (
                f"{said}; cancel it in {self.context.psa}, map its plan back, or use "
                "on_retired='zero'"
            )
        )
        after = f"{said}; stopped (on_retired='zero')" if stopping else None
        self.warnings.append(
            DiffWarning(
                "previously_mapped", message, plan_id, product_id, (addition.id,), after=after
            )
        )
        return True

    def held_by_manual_edit(
        self, addition: AdditionLike, plan: Plan, product_id: int, fields: str | None
    ) -> bool:
        """Report an addition last changed by someone other than the sync; True when the
        policy respects the edit, in which case the addition is kept as it is.

        `fields` are the fields an update would write; `None` for a cancel. The warning says
        what a sync would do (`would overwrite quantity`), and, in `after`, what it did once the
        write is applied (`quantity overwritten`).
        """
        editor = _manual_editor(addition, self.context.policy)
        if editor is None:
            return False
        respect = self.context.policy.respect_manual_edits
        said = f"addition {addition.id} ({plan.name}) was last changed by {editor}, not by the sync"
        if respect:
            held = "not cancelled" if fields is None else f"{fields} left as edited"
            message, after = f"{said}; {held}", None
        elif fields is None:
            message, after = f"{said}; would cancel it anyway", f"{said}; cancelled anyway"
        else:
            message, after = f"{said}; would overwrite {fields}", f"{said}; {fields} overwritten"
        self.warnings.append(
            DiffWarning("manual_edit", message, plan.id, product_id, (addition.id,), after=after)
        )
        if respect:
            self.keep(addition, plan, product_id)
        return respect

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

    def create(
        self, plan: Plan, product_id: int, seats: int, bill_customer: str | None = None
    ) -> None:
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
                effective_date=policy.effective_date_for(self.context.today),
                bill_customer=bill_customer,
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
        fields = ", ".join(sorted(changes))
        if self.held_by_manual_edit(addition, plan, product_id, fields):
            return
        self.operations.append(
            UpdateAddition(
                agreement_id=self.usage.agreement_id,
                line_id=addition.id,
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
        if self.held_by_manual_edit(addition, plan, product_id, None):
            return
        self.operations.append(
            CancelAddition(
                agreement_id=self.usage.agreement_id,
                line_id=addition.id,
                plan_id=plan.id,
                plan_name=plan.name,
                product_id=product_id,
                cancelled_date=self.context.today,
                reason=reason,
                expected=_values(addition),
                last_updated=getattr(addition, "last_updated", None),
                previous_cancelled_date=_day(addition.cancelled_date),
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

    def non_billing(
        self, plan: Plan, product_id: int, lines: Sequence[AdditionLike], billed: bool
    ) -> bool:
        """Report the mapped product's active lines that do not bill (left untouched); True
        when a billable line is to be created for the plan's seats beside them."""
        seats = self.usage.seats.get(plan.id, 0)
        ids = tuple(sorted(line.id for line in lines))
        said = ", ".join(
            f"addition {line.id} ({getattr(line, 'bill_customer', None)})"
            for line in sorted(lines, key=lambda line: line.id)
        )
        create = not billed and seats > 0 and self.context.policy.on_non_billing != "report"
        if billed or seats == 0:
            outcome = "left as it is; it bills nothing"
        elif create:
            outcome = f"left as it is; a billable addition is created for {_seats(seats)}"
        else:
            outcome = (
                f"left as it is: {_seats(seats)} not billed (on_non_billing='report'; make it "
                f"Billable in {self.context.psa}, or use on_non_billing='create_billable')"
            )
        self.warnings.append(
            DiffWarning(
                "non_billing",
                f"plan {plan.name}: {said} does not bill the customer; {outcome}",
                plan.id,
                product_id,
                ids,
            )
        )
        return create

    def plan(self, plan: Plan, product_id: int, active: Sequence[AdditionLike]) -> None:
        """Reconcile one mapped plan against its active additions: the ones that bill are
        synced, the ones that do not are reported and never written to."""
        seats = self.usage.seats.get(plan.id, 0)
        billing = [line for line in active if bills(line)]
        create = False
        if len(billing) != len(active):
            idle = [line for line in active if not bills(line)]
            create = self.non_billing(plan, product_id, idle, bool(billing))
        if not billing:
            if seats > 0 and (create or not active):
                # Beside lines that do not bill, the new one must bill, whatever the backend's
                # default is: else every run would add another that does not.
                self.create(plan, product_id, seats, BILLABLE if active else None)
            return
        others: Sequence[AdditionLike] = ()
        if len(billing) == 1:  # the common case, without building a list of duplicates
            keeper = billing[0]
        else:
            keeper, *others = sorted(billing, key=lambda a: a.id)
        if others:
            ids = tuple(a.id for a in (keeper, *others))
            billed = sum((billed_quantity(a) * (a.unit_price or ZERO) for a in others), ZERO)
            self.duplicates.append(DuplicateAdditions(plan.id, plan.name, product_id, ids, billed))
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
                    f"cancelling {', '.join(str(a.id) for a in others)}",
                    plan.id,
                    product_id,
                    ids,
                )
            )
            for duplicate in others:
                self.cancel(duplicate, plan, product_id, f"duplicate of addition {keeper.id}")
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

    def retired(self, addition: AdditionLike, plan: Plan, product_id: int) -> None:
        """A billing line of a product the plan was mapped to before: `on_retired="zero"`
        applies `on_zero` to it (its quantity only: its price is the old product's);
        `"report"` keeps it (its warning is `previously_mapped`)."""
        policy = self.context.policy
        reason = "retired product: the plan now bills another"
        if policy.on_retired != "zero" or not addition.quantity or policy.on_zero == "leave":
            self.keep(addition, plan, product_id)
        elif policy.on_zero == "cancel":
            self.cancel(addition, plan, product_id, reason)
        else:
            self.sync(addition, plan, product_id, (ZERO, None, None), reason)
