"""Sync billing in another PSA: implement the backend protocol, and the whole applier is yours.

A made-up PSA keeps contracts with lines of its own shape. `ContractBackend` adapts it to
`BillingBackend` (a few methods: read the catalog and a contract's lines, say whether a contract
is open, create, update and end a line), and `sync_all` does the rest: reconciliation, each
write sent once and settled by reading when its answer is lost, per-contract locks, reports.

It imports nothing of ConnectWise: the backend protocol, its neutral errors (`PSANotFoundError`,
and for a real API `OutcomeUnknownError` when an answer is lost, `WriteRefusedError`, ...) and
its request counter are all in `connectwise_billing.backend`.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal

from connectwise_billing import CompanyUsage, Plan, PlanMapping, sync_all
from connectwise_billing.backend import (
    AgreementState,
    CatalogItem,
    PSANotFoundError,
    SettlePolicy,
    record_request,
)
from connectwise_billing.reconcile import CancelAddition, CreateAddition, UpdateAddition

# --- the other PSA, as its own API would hand things out ---------------------------------------


@dataclass(frozen=True)
class Sku:
    id: int


@dataclass(frozen=True)
class ContractLine:
    """A line of a contract, named the way the reconciler reads lines."""

    id: int
    contract: int
    product: Sku
    quantity: Decimal
    unit_price: Decimal
    unit_cost: Decimal
    cancelled_date: date | None = None


class OtherPSA:
    """A PSA with SKUs, contracts and contract lines."""

    def __init__(self) -> None:
        self.skus = {501: ("BASIC-10", True), 502: ("GOLD-50", True)}
        self.contracts = {9001: "active", 9002: "ended"}
        self.lines: dict[int, ContractLine] = {}
        self.ids = itertools.count(1)

    def add_line(self, contract: int, sku: int, units: int, rate: str, cost: str) -> ContractLine:
        line = ContractLine(
            next(self.ids), contract, Sku(sku), Decimal(units), Decimal(rate), Decimal(cost)
        )
        self.lines[line.id] = line
        return line

    def change_line(self, line_id: int, **values: object) -> ContractLine:
        self.lines[line_id] = replace(self.lines[line_id], **values)  # type: ignore[arg-type]
        return self.lines[line_id]


# --- the adapter: BillingBackend over the other PSA -------------------------------------------


class ContractBackend:
    """The other PSA as a `BillingBackend`. Each method is one call of the other PSA's API,
    counted with `record_request` for the reports' `api_calls`."""

    name = "OtherPSA"

    def __init__(self, psa: OtherPSA) -> None:
        self.psa = psa
        self.settle = SettlePolicy()  # bounds the re-reads that settle a lost answer

    @property
    def scope(self) -> str:
        return "other-psa"  # one tenant: lock keys name it and the contract

    def read_catalog(self, product_ids: Sequence[int]) -> Mapping[int, CatalogItem]:
        record_request()
        skus = self.psa.skus
        return {i: CatalogItem(i, skus[i][0], skus[i][1]) for i in product_ids if i in skus}

    def describe_agreements(
        self, agreement_ids: Sequence[int], today: date
    ) -> Mapping[int, AgreementState]:
        record_request()
        states = {}
        for contract in agreement_ids:
            status = self.psa.contracts.get(contract)
            if status is None:
                states[contract] = AgreementState(contract, "unavailable", "no such contract")
            elif status != "active":
                states[contract] = AgreementState(contract, "closed", f"the contract is {status}")
            else:
                states[contract] = AgreementState(contract, "open")
        return states

    def read_lines(self, agreement_id: int) -> Sequence[ContractLine]:
        record_request()
        return [line for line in self.psa.lines.values() if line.contract == agreement_id]

    def read_line(self, agreement_id: int, line_id: int) -> ContractLine:
        record_request()
        line = self.psa.lines.get(line_id)
        if line is None or line.contract != agreement_id:
            raise PSANotFoundError(f"contract {agreement_id} has no line {line_id}")
        return line

    def create_line(self, operation: CreateAddition) -> ContractLine:
        record_request()
        return self.psa.add_line(
            operation.agreement_id,
            operation.product_id,
            int(operation.quantity),
            str(operation.unit_price),
            str(operation.unit_cost),
        )

    def update_line(self, operation: UpdateAddition) -> ContractLine:
        record_request()
        values = {field: change.new for field, change in operation.changes.items()}
        return self.psa.change_line(operation.line_id, **values)

    def cancel_line(self, operation: CancelAddition) -> ContractLine:
        record_request()
        return self.psa.change_line(operation.line_id, cancelled_date=operation.cancelled_date)


def main() -> None:
    psa = OtherPSA()
    psa.add_line(9001, 501, 10, "4.00", "1.50")  # Acme pays for 10 Basic seats; it uses 12
    plans = [
        Plan("basic", "Basic 10 GB", cost=Decimal("1.50"), price=Decimal("4.00")),
        Plan("gold", "Gold 50 GB", cost=Decimal("3.25"), price=Decimal("8.00")),
    ]
    mapping = PlanMapping({"basic": 501, "gold": 502})  # plan -> the other PSA's SKU id
    usages = [
        CompanyUsage(9001, {"basic": 12, "gold": 3}, discount_percent=Decimal(5), company="Acme"),
        CompanyUsage(9002, {"basic": 0}, company="Globex"),  # contract ended, mailboxes gone
    ]
    backend = ContractBackend(psa)

    report = sync_all(backend, plans, mapping, usages, today=date(2026, 11, 28))
    print(report.render())
    for line in psa.lines.values():
        print(f"line {line.id}: SKU {line.product.id} x {line.quantity} at {line.unit_price}")

    again = sync_all(backend, plans, mapping, usages, today=date(2026, 11, 28))
    print(f"second sync: {again.applied} writes; the contracts are in step")


if __name__ == "__main__":
    main()
