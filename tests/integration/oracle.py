"""What the simulator's records say, judged without the SDK's sync code: the tests' oracle."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from connectwise_billing import CompanyUsage, SyncPolicy, reconcile_all
from connectwise_billing.testing import ExampleMSP, StoredAddition


def unreachable(example: ExampleMSP) -> set[int]:
    """Agreements no sync can write to: deleted, cancelled, or out of the member's reach."""
    hidden = {u.agreement_id for u in example.usages if u.company == example.hidden_company}
    gone = {example.deleted_agreement_id, example.cancelled_agreement_id} - {None}
    return gone | hidden  # type: ignore[operator]


def duplicates(example: ExampleMSP) -> list[tuple[int, int]]:
    """(agreement, product) pairs of mapped products with more than one active addition."""
    seen: dict[tuple[int, int], int] = {}
    for addition in example.fake.list_additions():
        product = addition.product.id if addition.product else None
        if addition.cancelled_date is None and product in example.mapping.product_ids:
            key = (addition.agreement_id or 0, product or 0)
            seen[key] = seen.get(key, 0) + 1
    return sorted(key for key, count in seen.items() if count > 1)


def still_to_do(
    example: ExampleMSP, today: date, policy: SyncPolicy | None = None
) -> dict[int, int]:
    """Agreement id -> operations a fresh reconcile of the simulator's records still wants."""
    by_agreement: dict[int, list[object]] = {}
    for addition in example.fake.list_additions():
        by_agreement.setdefault(addition.agreement_id or 0, []).append(addition)
    usable = [u for u in example.usages if u.agreement_id not in unreachable(example)]
    diffs = reconcile_all(example.plans, example.mapping, usable, by_agreement, policy, today=today)  # type: ignore[arg-type]
    return {d.agreement_id: len(d.operations) for d in diffs if d.operations}


def _active(addition: StoredAddition, today: date) -> bool:
    return addition.cancelled_date is None or addition.cancelled_date.date() > today


def bills_right(example: ExampleMSP, usage: CompanyUsage, today: date) -> bool:
    """Whether the agreement's lines, as the simulator stores them, bill exactly what the usage
    says: per mapped plan, one active Billable line with the seats, the discounted price and
    the plan's cost (none, or one billing nothing, for a plan without seats). Written from the
    rules, not with the SDK's own check."""
    lines = [a for a in example.fake.list_additions(usage.agreement_id) if _active(a, today)]
    hundred = Decimal(100)
    for plan in example.plans:
        if plan.id not in example.mapping:
            continue
        product = example.mapping[plan.id]
        billing = [
            a
            for a in lines
            if a.product is not None and a.product.id == product and a.bill_customer == "Billable"
        ]
        seats = usage.seats.get(plan.id, 0)
        if len(billing) > 1:
            return False
        if not seats:
            if billing and billing[0].quantity:
                return False
            continue
        if not billing:
            return False
        base = usage.custom_prices.get(plan.id, plan.price)
        price = (base * (1 - usage.discount_percent / hundred)).quantize(Decimal("0.01"))
        line = billing[0]
        if (line.quantity, line.unit_price, line.unit_cost) != (seats, price, plan.cost):
            return False
    return True
