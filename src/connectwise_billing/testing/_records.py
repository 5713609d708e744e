"""What the simulator holds, as tests read it: its own record types, not the SDK's models.

`fake.list_additions()` answers `StoredAddition`s built from the simulator's JSON records by
its own rules, so a test that checks what the SDK wrote reads the simulator's truth, not the
SDK's parsing of it. An addition has the attributes the reconciler reads (`id`, `product.id`,
`quantity`, `unit_price`, `unit_cost`, `cancelled_date`, `updated_by`), so a test can reconcile
the simulator's state directly. A value `set_raw` made unreadable shows as `None`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

import attrs

from connectwise_billing.testing._format import moment

__all__ = ["StoredAddition", "StoredAgreement", "StoredCompany", "StoredProduct", "StoredReference"]


def _number(value: Any) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        return None
    return Decimal(value)


def _moment(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return moment(value)
    except ValueError:
        return None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _flag(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


def _info(record: Mapping[str, Any], key: str) -> Any:
    info = record.get("_info")
    return info.get(key) if isinstance(info, Mapping) else None


@attrs.frozen
class StoredReference:
    """A reference held in a record (`product`, `company`).

    Attributes:
        id: The referenced record's id.
        identifier: Its identifier, for products and companies.
        name: Its name, for companies.
    """

    id: int | None
    identifier: str | None = None
    name: str | None = None

    @classmethod
    def of(cls, value: Any) -> StoredReference | None:
        if not isinstance(value, Mapping):
            return None
        record_id = value.get("id")
        return cls(
            record_id if isinstance(record_id, int) and not isinstance(record_id, bool) else None,
            _text(value.get("identifier")),
            _text(value.get("name")),
        )


@attrs.frozen
class StoredCompany:
    """A company the simulator holds.

    Attributes:
        id: The company's id.
        identifier: Its short identifier.
        name: Its name.
    """

    id: int
    identifier: str | None
    name: str | None

    @classmethod
    def of(cls, record: Mapping[str, Any]) -> StoredCompany:
        return cls(record["id"], _text(record.get("identifier")), _text(record.get("name")))


@attrs.frozen
class StoredProduct:
    """A catalog item the simulator holds.

    Attributes:
        id: The catalog item's id.
        identifier: Its product id (`MBX-GOLD-50`).
        price: Its price per unit.
        cost: Its cost per unit.
        inactive: Whether it is inactive.
    """

    id: int
    identifier: str | None
    price: Decimal | None
    cost: Decimal | None
    inactive: bool | None

    @classmethod
    def of(cls, record: Mapping[str, Any]) -> StoredProduct:
        return cls(
            record["id"],
            _text(record.get("identifier")),
            _number(record.get("price")),
            _number(record.get("cost")),
            _flag(record.get("inactiveFlag")),
        )


@attrs.frozen
class StoredAgreement:
    """An agreement the simulator holds.

    Attributes:
        id: The agreement's id.
        name: Its name.
        company: The company it bills.
        agreement_status: `Active`, `Cancelled`, `Expired` or `Inactive`.
        cancelled_flag: Whether it was cancelled.
        end_date: When it ends, if it does.
    """

    id: int
    name: str | None
    company: StoredReference | None
    agreement_status: str | None
    cancelled_flag: bool | None
    end_date: datetime | None

    @classmethod
    def of(cls, record: Mapping[str, Any]) -> StoredAgreement:
        return cls(
            record["id"],
            _text(record.get("name")),
            StoredReference.of(record.get("company")),
            _text(record.get("agreementStatus")),
            _flag(record.get("cancelledFlag")),
            _moment(record.get("endDate")),
        )


@attrs.frozen
class StoredAddition:
    """An agreement addition the simulator holds.

    Attributes:
        id: The addition's id.
        agreement_id: The agreement it belongs to.
        product: The catalog item it bills.
        quantity: Its quantity.
        unit_price: Its unit price.
        unit_cost: Its unit cost.
        bill_customer: `Billable`, `DoNotBill` or `NoCharge`.
        effective_date: When billing starts.
        cancelled_date: When it was cancelled, if it was.
        description: Its description.
        invoice_description: The text on invoices.
        updated_by: The member who last wrote it.
        last_updated: When it was last written.
    """

    id: int
    agreement_id: int
    product: StoredReference | None
    quantity: Decimal | None
    unit_price: Decimal | None
    unit_cost: Decimal | None
    bill_customer: str | None
    effective_date: datetime | None
    cancelled_date: datetime | None
    description: str | None
    invoice_description: str | None
    updated_by: str | None
    last_updated: datetime | None

    @classmethod
    def of(cls, record: Mapping[str, Any]) -> StoredAddition:
        return cls(
            record["id"],
            record["agreementId"],
            StoredReference.of(record.get("product")),
            _number(record.get("quantity")),
            _number(record.get("unitPrice")),
            _number(record.get("unitCost")),
            _text(record.get("billCustomer")),
            _moment(record.get("effectiveDate")),
            _moment(record.get("cancelledDate")),
            _text(record.get("description")),
            _text(record.get("invoiceDescription")),
            _text(_info(record, "updatedBy")),
            _moment(_info(record, "lastUpdated")),
        )
