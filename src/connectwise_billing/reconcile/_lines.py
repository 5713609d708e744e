"""What the reconciler reads of the lines an agreement already has.

A line is the client's `Addition`, another PSA's contract line, or any object with these
attributes: nothing here knows where it came from.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Final, Protocol

__all__ = ["BILLABLE", "AdditionLike", "ProductRefLike", "billed_quantity", "bills", "is_active"]

BILLABLE: Final = "Billable"
"""The `bill_customer` of a line that bills the customer (ConnectWise's `billCustomer`)."""


class ProductRefLike(Protocol):
    """What reconciliation reads of an addition's product reference."""

    @property
    def id(self) -> int | None:
        """The catalog item's id."""


class AdditionLike(Protocol):
    """What reconciliation reads of an existing addition: the client's `Addition`, or any
    object with these attributes (`bill_customer`, `less_included`, `last_updated` and
    `updated_by` are optional: a line without `bill_customer` bills, and without
    `less_included` bills its whole quantity)."""

    @property
    def id(self) -> int:
        """The addition's id."""

    @property
    def product(self) -> ProductRefLike | None:
        """Its product reference: its `id` is the catalog item."""

    @property
    def quantity(self) -> Decimal | None:
        """Its quantity."""

    @property
    def unit_price(self) -> Decimal | None:
        """Its unit price."""

    @property
    def unit_cost(self) -> Decimal | None:
        """Its unit cost."""

    @property
    def cancelled_date(self) -> datetime | date | None:
        """Its cancelled date: the addition is active until that day."""


def is_active(cancelled: datetime | date | None, today: date) -> bool:
    """Active: no cancelled date, or one later than today."""
    if cancelled is None:
        return True
    day = cancelled.date() if isinstance(cancelled, datetime) else cancelled
    return day > today


def bills(line: object) -> bool:
    """Whether a line bills the customer: its `bill_customer` is `"Billable"`, or it has none.

    A ConnectWise addition marked `DoNotBill` or `NoCharge` is invoiced at zero, whatever its
    quantity and price: it never counts as billing seats.
    """
    value = getattr(line, "bill_customer", None)
    return value is None or value == BILLABLE


def billed_quantity(line: AdditionLike) -> Decimal:
    """The units a line bills: its quantity less the units included in the agreement
    (ConnectWise's `lessIncluded`), never below zero."""
    quantity = line.quantity or Decimal(0)
    included = getattr(line, "less_included", None) or Decimal(0)
    return max(quantity - included, Decimal(0))
