"""What the command line prints besides reports (`report.render()`): lookup tables, the
price check, progress."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import IO

from connectwise_billing._text import money, table
from connectwise_billing.client import Addition, Agreement, Company, Product
from connectwise_billing.runner import PriceRefresh


def products_table(products: Sequence[Product]) -> str:
    """Catalog items, for choosing the product of a plan."""
    rows = [
        (
            str(p.id),
            p.identifier or "",
            p.description or "",
            p.product_class or "",
            exact(p.price),
            exact(p.cost),
            "inactive" if p.inactive else "",
        )
        for p in products
    ]
    headers = ("id", "identifier", "description", "class", "price", "cost", "")
    return table(headers, rows, right=frozenset({0, 4, 5}))


def companies_table(companies: Sequence[Company]) -> str:
    """Companies, for finding the one to link."""
    rows = [(str(c.id), c.identifier or "", c.name or "") for c in companies]
    return table(("id", "identifier", "name"), rows, right=frozenset({0}))


def agreements_table(agreements: Sequence[Agreement]) -> str:
    """A company's agreements, for choosing the one to link."""
    rows = [
        (
            str(a.id),
            a.name or "",
            a.agreement_status or "",
            a.type.name if a.type and a.type.name else "",
            a.company.name if a.company and a.company.name else "",
        )
        for a in agreements
    ]
    return table(("id", "name", "status", "type", "company"), rows, right=frozenset({0}))


def exact(value: Decimal | None) -> str:
    """An amount as ConnectWise holds it: two decimals at least, every further one it has (a
    unit price of 7.499 is not shown as 7.50)."""
    if value is None:
        return "-"
    exponent = value.normalize().as_tuple().exponent
    places = max(2, -exponent) if isinstance(exponent, int) else 2
    return f"{value:,.{places}f}"


def _day(value: datetime | None) -> str:
    return "" if value is None else f"{value:%Y-%m-%d}"


def additions_table(additions: Sequence[Addition]) -> str:
    """An agreement's additions as ConnectWise shows them, cancelled ones included."""
    rows = [
        (
            str(a.id),
            a.product.identifier or str(a.product.id) if a.product else "",
            "-" if a.quantity is None else f"{a.quantity.normalize():f}",
            exact(a.unit_price),
            exact(a.unit_cost),
            a.bill_customer or "",
            _day(a.effective_date),
            _day(a.cancelled_date),
            a.updated_by or "",
        )
        for a in additions
    ]
    headers = (
        "id", "product", "quantity", "price", "cost", "billCustomer", "effective", "cancelled",
        "last updated by",
    )  # fmt: skip
    return table(headers, rows, right=frozenset({0, 2, 3, 4}))


def refresh_text(refresh: PriceRefresh) -> str:
    """What `plans refresh-prices` found."""
    if not refresh.changes and not refresh.missing_products:
        return "Plan costs and prices match the ConnectWise catalog."
    lines = []
    if refresh.changes:
        rows = [(c.plan_id, c.field, money(c.old), money(c.new)) for c in refresh.changes]
        lines.append(table(("plan", "field", "config", "catalog"), rows, right=frozenset({2, 3})))
        lines.append("Update the [plans] section of the config (or the control panel) to match.")
    lines.extend(
        f"Product {product_id} is mapped but not in the catalog: its plan keeps its values."
        for product_id in refresh.missing_products
    )
    return "\n".join(lines)


class Progress:
    """`12/50 agreements, 0 failures` on one line of a terminal's stderr."""

    def __init__(self, stream: IO[str] | None = None) -> None:
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty()

    def __call__(self, done: int, total: int, failures: int) -> None:
        if self.enabled:
            self.stream.write(f"\r  {done}/{total} agreements, {failures} failures")
            self.stream.flush()

    def finish(self) -> None:
        """End the progress line."""
        if self.enabled:
            self.stream.write("\n")
            self.stream.flush()
