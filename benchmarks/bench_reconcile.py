"""Reconciliation benchmark. Prints figures; asserts nothing.

    python benchmarks/bench_reconcile.py

Target (issue "Pure reconciliation"): reconciling 10,000 agreements x 10 plans, with existing
additions, costs less than `json.loads` of the same additions as ConnectWise JSON (ratio < 1).
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal

from connectwise_billing import (
    Addition,
    CompanyUsage,
    Plan,
    PlanMapping,
    Reference,
    SyncPolicy,
    convert,
    reconcile_all,
)
from connectwise_billing._values import format_datetime
from connectwise_billing.reconcile import discounted_price

AGREEMENTS = 10_000
PLANS = 10
TODAY = date(2026, 11, 28)


def build() -> tuple[list[Plan], PlanMapping, list[CompanyUsage], dict[int, list[Addition]]]:
    rng = random.Random(1)
    plans = [
        Plan(f"plan-{n}", f"Plan {n}", cost=Decimal(n) + Decimal("0.75"), price=Decimal(2 * n + 3))
        for n in range(PLANS)
    ]
    mapping = PlanMapping({plan.id: 1000 + n for n, plan in enumerate(plans)})
    usages = []
    additions: dict[int, list[Addition]] = {}
    next_id = 1
    for agreement in range(1, AGREEMENTS + 1):
        seats = {plan.id: rng.randint(0, 40) for plan in plans}
        discount = Decimal(rng.choice((0, 5, 10)))
        usages.append(CompanyUsage(agreement, seats, discount_percent=discount))
        existing = []
        # About one addition in ten has a stale quantity: a typical day's changes.
        for n, plan in enumerate(plans):
            quantity = seats[plan.id] + (rng.choice((-1, 1)) if rng.random() < 0.1 else 0)
            existing.append(
                Addition(
                    id=next_id,
                    agreement_id=agreement,
                    product=Reference(id=1000 + n, identifier=f"MBX-{n}"),
                    quantity=Decimal(max(quantity, 0)),
                    unit_price=discounted_price(plan.price, discount),
                    unit_cost=plan.cost,
                    bill_customer="Billable",
                    effective_date=datetime(2026, 1, 1, tzinfo=UTC),
                    agreement_status="Active",
                    last_updated=datetime(2026, 11, 1, tzinfo=UTC),
                    updated_by="CloudPanelAPI",
                )
            )
            next_id += 1
        additions[agreement] = existing
    return plans, mapping, usages, additions


def as_json(additions: dict[int, list[Addition]], *, full: bool) -> bytes:
    """The same additions as ConnectWise sends them: whole records, or trimmed to the fields
    the sync asks for with `fields=`."""
    records = []
    for group in additions.values():
        for a in group:
            record = {
                "id": a.id,
                "product": {"id": a.product.id, "identifier": a.product.identifier}
                if a.product
                else None,
                "quantity": a.quantity,
                "unitPrice": a.unit_price,
                "unitCost": a.unit_cost,
                "billCustomer": a.bill_customer,
                "effectiveDate": format_datetime(a.effective_date) if a.effective_date else None,
                "agreementId": a.agreement_id,
                "agreementStatus": a.agreement_status,
                "_info": {"lastUpdated": "2026-11-01T00:00:00Z", "updatedBy": a.updated_by},
            }
            if full:
                quantity, price, cost = a.quantity or 0, a.unit_price or 0, a.unit_cost or 0
                record.update(
                    lessIncluded=0, taxableFlag=False, invoiceDescription="Hosted mailbox",
                    purchaseItemFlag=False, specialOrderFlag=False, description="Mailbox",
                    billedQuantity=quantity, uom="Each", extPrice=quantity * price,
                    extCost=quantity * cost, sequenceNumber=1, margin=quantity * (price - cost),
                    prorateCost=0, proratePrice=0, extendedProrateCost=0, extendedProratePrice=0,
                    prorateCurrentPeriodFlag=False,
                )  # fmt: skip
            records.append(record)
    return convert.dumps(records)


def best_of(runs: int, fn: Callable[[], object]) -> float:
    best = float("inf")
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - started)
    return best


def main() -> None:
    plans, mapping, usages, additions = build()
    count = sum(len(group) for group in additions.values())
    diffs = reconcile_all(plans, mapping, usages, additions, SyncPolicy(), today=TODAY)
    operations = sum(len(d.operations) for d in diffs)
    elapsed = best_of(
        3, lambda: reconcile_all(plans, mapping, usages, additions, SyncPolicy(), today=TODAY)
    )
    print(
        f"reconcile {AGREEMENTS:,} agreements x {PLANS} plans ({count:,} additions, "
        f"{operations:,} operations): {elapsed * 1000:.0f} ms, {count / elapsed:,.0f} additions/s"
    )
    for label, full in (("whole records", True), ("trimmed by fields=", False)):
        data = as_json(additions, full=full)
        parse = best_of(3, lambda data=data: json.loads(data))  # type: ignore[misc]
        print(
            f"json.loads of the same additions, {label} ({len(data) / 1e6:.1f} MB): "
            f"{parse * 1000:.0f} ms -> ratio {elapsed / parse:.2f} (target < 1)"
        )


if __name__ == "__main__":
    main()
