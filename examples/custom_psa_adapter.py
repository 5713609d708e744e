"""Embed the pure reconciler in another PSA integration.

Reconciliation needs no ConnectWise: give it any line items with `id`, `product.id`,
`quantity`, `unit_price`, `unit_cost` and `cancelled_date`, and apply the diff with your PSA's
own API. Here, a made-up PSA whose contract lines use other names.
"""

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from connectwise_billing import (
    CancelAddition,
    CompanyUsage,
    CreateAddition,
    Plan,
    PlanMapping,
    SyncPolicy,
    UpdateAddition,
    reconcile_agreement,
)


@dataclass
class ContractLine:
    """A line of a contract in the other PSA."""

    line_id: int
    sku_id: int
    units: int
    rate: Decimal
    our_cost: Decimal
    ended_on: date | None = None


@dataclass(frozen=True)
class ProductRef:
    id: int


@dataclass(frozen=True)
class LineAdapter:
    """What the reconciler reads, over a `ContractLine`."""

    line: ContractLine

    @property
    def id(self) -> int:
        return self.line.line_id

    @property
    def product(self) -> ProductRef:
        return ProductRef(self.line.sku_id)

    @property
    def quantity(self) -> Decimal:
        return Decimal(self.line.units)

    @property
    def unit_price(self) -> Decimal:
        return self.line.rate

    @property
    def unit_cost(self) -> Decimal:
        return self.line.our_cost

    @property
    def cancelled_date(self) -> date | None:
        return self.line.ended_on


def main() -> None:
    plans = [
        Plan("basic", "Basic 10 GB", cost=Decimal("1.50"), price=Decimal("4.00")),
        Plan("gold", "Gold 50 GB", cost=Decimal("3.25"), price=Decimal("8.00")),
    ]
    mapping = PlanMapping({"basic": 501, "gold": 502})  # plan -> the other PSA's SKU id
    lines = [ContractLine(1, 501, 10, Decimal("4.00"), Decimal("1.50"))]
    usage = CompanyUsage(
        9001, {"basic": 12, "gold": 3}, discount_percent=Decimal(5), company="Acme"
    )

    diff = reconcile_agreement(
        plans,
        mapping,
        usage,
        [LineAdapter(line) for line in lines],
        SyncPolicy(),
        today=date(2026, 11, 28),
    )
    print(diff)
    for op in diff.operations:  # the other PSA's API calls would go here
        if isinstance(op, CreateAddition):
            print(f"add line: SKU {op.product_id} x {op.quantity} at {op.unit_price}")
        elif isinstance(op, UpdateAddition):
            print(f"change line {op.addition_id}: {dict(op.changes)}")
        elif isinstance(op, CancelAddition):
            print(f"end line {op.addition_id} on {op.cancelled_date}")


if __name__ == "__main__":
    main()
