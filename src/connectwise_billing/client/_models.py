"""Typed ConnectWise Manage records: what the client's resources return.

Field names follow ConnectWise's OpenAPI document (2025.8) in snake_case: `unitPrice` is
`unit_price`, `taxableFlag` is `taxable_flag`. Where the wire name is irregular the field says so
(`Product.inactive` is `inactiveFlag`, `Agreement.customer_po` is `customerPO`); `last_updated`
and `updated_by` come from the record's `_info` block.

Every field but `id` may be absent from a response (ConnectWise omits nulls, and `fields=` trims
records) and is then `None`. Money and quantities are `Decimal`; datetimes are timezone-aware.
Enumerations ConnectWise may extend (`bill_customer`, `agreement_status`, `product_class`) stay
plain strings. Records are frozen: they compare by value and cannot be changed.

Two kinds of fields. The ones a sync decides with are *strict*: a value that cannot be used (a
price of `""`, a quantity of `NaN` or below zero) makes the record an
[`UnexpectedResponseError`][connectwise_billing.UnexpectedResponseError] naming the record, the
field and the value. Every other field is *tolerant*: a value that does not parse (a date
`"2015-12-24T22: 08: 22Z"`, a reference sent as a string) becomes `None`, and the raw value stays
in the record's `unparsed` mapping, by wire name.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from types import MappingProxyType
from typing import Any, Final

import attrs

from connectwise_billing._values import as_decimal, as_utc_datetime
from connectwise_billing.defaults import BILL_CUSTOMER_VALUES
from connectwise_billing.errors import InputError

NOTHING_UNPARSED: Final[Mapping[str, Any]] = MappingProxyType({})
"""The `unparsed` mapping of a record whose every field parsed."""


def _wire(*, wire: str | None = None, strict: bool = False, minimum: int | None = None) -> Any:
    """An optional field, with how it is read: its wire name when it is not the camelCase of
    its own, whether it is strict, and a lower bound for numbers."""
    return attrs.field(default=None, metadata={"wire": wire, "strict": strict, "minimum": minimum})


def _unparsed() -> Any:
    return attrs.field(default=NOTHING_UNPARSED, eq=False, repr=False, metadata={"unparsed": True})


_STRICT_ID: Final = {"strict": True}


# Frozen but not slotted: a dict-backed frozen instance is built about twice as fast (parsing a
# page of additions is mostly building instances), and the classes are created faster, which
# keeps `import connectwise_billing` cheap. How each field is read from the wire is declared in
# its metadata and applied by one converter (`client._wire`).
@attrs.frozen(slots=False)
class Reference:
    """A reference to another record (`CompanyReference`, `IvItemReference`, ...).

    Which of `identifier` and `name` are filled depends on the kind of reference: a product
    reference has an identifier but no name.

    Attributes:
        id: The referenced record's id.
        identifier: Its short identifier (products, companies).
        name: Its name (companies, members, statuses).
    """

    id: int | None = None
    identifier: str | None = None
    name: str | None = None


@attrs.frozen(slots=False)
class Product:
    """A product catalog item (`/procurement/catalog`, schema `CatalogItem`). Products with
    class `Agreement` are what agreement additions bill.

    Strict fields: `id`, `price`, `cost`, `inactive`.

    Attributes:
        id: The catalog item's id: what a plan is mapped to.
        identifier: The product id shown in ConnectWise (`MBX-GOLD-50`).
        description: The internal description.
        customer_description: The text printed on invoices.
        price: The catalog price per unit.
        cost: The catalog cost per unit.
        product_class: `Agreement` for products billed as agreement additions.
        inactive: Whether the product is inactive (`inactiveFlag`).
        taxable_flag: Whether it is taxable.
        category: Its category.
        subcategory: Its subcategory.
        type: Its product type.
        unit_of_measure: Its unit of measure.
        recurring_flag: Whether it bills on a recurring basis.
        recurring_revenue: The recurring revenue per unit.
        recurring_cost: The recurring cost per unit.
        connectwise_id: ConnectWise's global id of the item (`connectWiseID`).
        last_updated: When it was last changed (`_info.lastUpdated`).
        updated_by: Who last changed it (`_info.updatedBy`).
        unparsed: Raw values of fields that did not parse, by wire name.
    """

    id: int = attrs.field(metadata=_STRICT_ID)
    identifier: str | None = _wire()
    description: str | None = _wire()
    customer_description: str | None = _wire()
    price: Decimal | None = _wire(strict=True)
    cost: Decimal | None = _wire(strict=True)
    product_class: str | None = _wire()
    inactive: bool | None = _wire(wire="inactiveFlag", strict=True)
    taxable_flag: bool | None = _wire()
    category: Reference | None = _wire()
    subcategory: Reference | None = _wire()
    type: Reference | None = _wire()
    unit_of_measure: Reference | None = _wire()
    recurring_flag: bool | None = _wire()
    recurring_revenue: Decimal | None = _wire()
    recurring_cost: Decimal | None = _wire()
    connectwise_id: str | None = _wire(wire="connectWiseID")
    last_updated: datetime | None = _wire(wire="_info/lastUpdated")
    updated_by: str | None = _wire(wire="_info/updatedBy")
    unparsed: Mapping[str, Any] = _unparsed()


@attrs.frozen(slots=False)
class Company:
    """A company (`/company/companies`).

    Strict field: `id`.

    Attributes:
        id: The company's id.
        identifier: Its short identifier.
        name: Its name.
        status: Its status (`Active`, ...).
        types: Its company types (`Client`, `Vendor`, ...).
        deleted_flag: Whether it was deleted.
        phone_number: Its phone number.
        website: Its website.
        city: Its city.
        state: Its state or region.
        country: Its country.
        territory: Its territory.
        default_contact: Its default contact.
        account_number: Its account number.
        last_updated: When it was last changed (`_info.lastUpdated`).
        updated_by: Who last changed it (`_info.updatedBy`).
        unparsed: Raw values of fields that did not parse, by wire name.
    """

    id: int = attrs.field(metadata=_STRICT_ID)
    identifier: str | None = _wire()
    name: str | None = _wire()
    status: Reference | None = _wire()
    types: tuple[Reference, ...] | None = _wire()
    deleted_flag: bool | None = _wire()
    phone_number: str | None = _wire()
    website: str | None = _wire()
    city: str | None = _wire()
    state: str | None = _wire()
    country: Reference | None = _wire()
    territory: Reference | None = _wire()
    default_contact: Reference | None = _wire()
    account_number: str | None = _wire()
    last_updated: datetime | None = _wire(wire="_info/lastUpdated")
    updated_by: str | None = _wire(wire="_info/updatedBy")
    unparsed: Mapping[str, Any] = _unparsed()


@attrs.frozen(slots=False)
class Agreement:
    """An agreement (`/finance/agreements`): how and when a company is billed.

    Strict fields: `id`, `company`, `agreement_status`, `cancelled_flag`, `end_date`,
    `no_ending_date_flag` (whether a sync may write to it).

    Attributes:
        id: The agreement's id: what a company is linked to.
        name: Its name.
        type: Its agreement type.
        company: The company it bills.
        contact: Its contact.
        agreement_status: `Active`, `Cancelled`, `Expired` or `Inactive`.
        cancelled_flag: Whether it was cancelled.
        date_cancelled: When it was cancelled.
        reason_cancelled: Why it was cancelled.
        start_date: When it starts.
        end_date: When it ends (see `no_ending_date_flag`).
        no_ending_date_flag: Whether it runs without an end date.
        prorate_flag: Whether additions starting mid-period are prorated.
        bill_amount: Its fixed bill amount.
        billing_cycle: Its billing cycle (`Monthly`, ...).
        parent_agreement: The agreement it belongs to, if any.
        customer_po: The customer's purchase order number (`customerPO`).
        last_updated: When it was last changed (`_info.lastUpdated`).
        updated_by: Who last changed it (`_info.updatedBy`).
        unparsed: Raw values of fields that did not parse, by wire name.
    """

    id: int = attrs.field(metadata=_STRICT_ID)
    name: str | None = _wire()
    type: Reference | None = _wire()
    company: Reference | None = _wire(strict=True)
    contact: Reference | None = _wire()
    agreement_status: str | None = _wire(strict=True)
    cancelled_flag: bool | None = _wire(strict=True)
    date_cancelled: datetime | None = _wire()
    reason_cancelled: str | None = _wire()
    start_date: datetime | None = _wire()
    end_date: datetime | None = _wire(strict=True)
    no_ending_date_flag: bool | None = _wire(strict=True)
    prorate_flag: bool | None = _wire()
    bill_amount: Decimal | None = _wire()
    billing_cycle: Reference | None = _wire()
    parent_agreement: Reference | None = _wire()
    customer_po: str | None = _wire(wire="customerPO")
    last_updated: datetime | None = _wire(wire="_info/lastUpdated")
    updated_by: str | None = _wire(wire="_info/updatedBy")
    unparsed: Mapping[str, Any] = _unparsed()


@attrs.frozen(slots=False)
class Addition:
    """A product addition on an agreement (`/finance/agreements/{id}/additions`).

    `ext_price`, `ext_cost` and `agreement_status` are computed by ConnectWise and cannot be
    written. Proration and other fields the SDK does not use are not modelled.

    Strict fields: `id`, `product`, `quantity` and `less_included` (zero or more),
    `unit_price`, `unit_cost`, `cancelled_date`, `bill_customer`.

    Attributes:
        id: The addition's id.
        agreement_id: The agreement it belongs to.
        product: The catalog item it bills (id and identifier).
        quantity: How many units it bills.
        less_included: Units of `quantity` included in the agreement and not billed
            (`lessIncluded`): it bills `quantity - less_included`.
        unit_price: The price per unit.
        unit_cost: The cost per unit.
        bill_customer: `Billable`, `DoNotBill` or `NoCharge`.
        effective_date: When billing starts.
        cancelled_date: When billing stops (an addition is active until then).
        description: Its internal description.
        invoice_description: The text printed on invoices.
        taxable_flag: Whether it is taxable.
        ext_price: Quantity x unit price, computed by ConnectWise.
        ext_cost: Quantity x unit cost, computed by ConnectWise.
        agreement_status: The agreement's status, as ConnectWise repeats it here.
        last_updated: When it was last changed (`_info.lastUpdated`).
        updated_by: Who last changed it (`_info.updatedBy`): the API member, or a person.
        unparsed: Raw values of fields that did not parse, by wire name.
    """

    id: int = attrs.field(metadata=_STRICT_ID)
    agreement_id: int | None = _wire()
    product: Reference | None = _wire(strict=True)
    quantity: Decimal | None = _wire(strict=True, minimum=0)
    less_included: Decimal | None = _wire(strict=True, minimum=0)
    unit_price: Decimal | None = _wire(strict=True)
    unit_cost: Decimal | None = _wire(strict=True)
    bill_customer: str | None = _wire(strict=True)
    effective_date: datetime | None = _wire()
    cancelled_date: datetime | None = _wire(strict=True)
    description: str | None = _wire()
    invoice_description: str | None = _wire()
    taxable_flag: bool | None = _wire()
    ext_price: Decimal | None = _wire()
    ext_cost: Decimal | None = _wire()
    agreement_status: str | None = _wire()
    last_updated: datetime | None = _wire(wire="_info/lastUpdated")
    updated_by: str | None = _wire(wire="_info/updatedBy")
    unparsed: Mapping[str, Any] = _unparsed()


def _check_bill_customer(value: str) -> None:
    if value not in BILL_CUSTOMER_VALUES:
        allowed = ", ".join(BILL_CUSTOMER_VALUES)
        raise InputError(f"bill_customer must be one of {allowed}; got {value!r}")


def _check_text(value: object, what: str) -> None:
    if value is not None and not isinstance(value, str):
        raise InputError(f"{what} must be a string, got {type(value).__name__} {value!r}")


def _unit_price(value: object) -> Decimal | None:
    return None if value is None else as_decimal(value, "unit_price")


def _unit_cost(value: object) -> Decimal | None:
    return None if value is None else as_decimal(value, "unit_cost")


def _quantity(value: object) -> Decimal:
    return as_decimal(value, "quantity")


def _effective_date(value: object) -> datetime | None:
    return None if value is None else as_utc_datetime(value, "effective_date")


def _product_id(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise InputError(f"product_id must be a positive integer, got {value!r}")
    return value


@attrs.frozen(slots=False)
class NewAddition:
    """An addition to create with `client.additions.create(agreement_id, NewAddition(...))`.

    Fields left `None` are left out of the POST body, so ConnectWise applies its own defaults
    (the catalog item's price, cost and description). Values are checked here, before anything
    is sent: a bad value raises [`InputError`][connectwise_billing.errors.InputError] naming it.

    Attributes:
        product_id: The catalog item's id.
        quantity: How many units to bill.
        unit_price: Price per unit; `None` lets ConnectWise use the catalog price.
        unit_cost: Cost per unit; `None` lets ConnectWise use the catalog cost.
        bill_customer: `"Billable"`, `"DoNotBill"` or `"NoCharge"`.
        effective_date: When billing starts: a `date` (midnight UTC) or an aware `datetime`.
        description: Internal description; defaults to the catalog item's.
        invoice_description: Text printed on the invoice.
    """

    product_id: int = attrs.field(converter=_product_id, metadata={"wire": "product/id"})
    quantity: Decimal = attrs.field(converter=_quantity)
    unit_price: Decimal | None = attrs.field(default=None, kw_only=True, converter=_unit_price)
    unit_cost: Decimal | None = attrs.field(default=None, kw_only=True, converter=_unit_cost)
    bill_customer: str = attrs.field(default="Billable", kw_only=True)
    effective_date: datetime | None = attrs.field(
        default=None, kw_only=True, converter=_effective_date
    )
    description: str | None = attrs.field(default=None, kw_only=True)
    invoice_description: str | None = attrs.field(default=None, kw_only=True)

    def __attrs_post_init__(self) -> None:
        _check_bill_customer(self.bill_customer)
        _check_text(self.description, "description")
        _check_text(self.invoice_description, "invoice_description")


class NotGiven:
    """Marks an `update()` argument as not given (distinct from `None`, which clears a field):
    handy when the arguments are built conditionally."""

    _instance: NotGiven | None = None

    def __new__(cls) -> NotGiven:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "NOT_GIVEN"

    def __bool__(self) -> bool:
        return False


NOT_GIVEN: Final = NotGiven()
"""An `update()` argument passed as `NOT_GIVEN` is left out of the PATCH, as if not passed."""


__all__ = [
    "BILL_CUSTOMER_VALUES",
    "NOTHING_UNPARSED",
    "NOT_GIVEN",
    "Addition",
    "Agreement",
    "Company",
    "NewAddition",
    "NotGiven",
    "Product",
    "Reference",
]
