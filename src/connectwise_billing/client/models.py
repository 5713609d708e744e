"""Typed ConnectWise Manage records.

Frozen attrs classes with snake_case fields. They carry no (de)serialisation code: the mapping to
ConnectWise's camelCase JSON lives in one converter (`connectwise_billing.client._serde`).

Field names follow ConnectWise's OpenAPI document (2025.8): `unitPrice` is `unit_price`,
`taxableFlag` is `taxable_flag`. Two exceptions make the common case read better:
`Product.inactive` (`inactiveFlag`) and `Product.connectwise_id` (`connectWiseID`).
`last_updated` and `updated_by` come from the record's `_info` block.

Every field but `id` may be absent from a response (ConnectWise omits nulls, and `fields=` trims
records) and is then `None`. Money and quantities are `Decimal`; datetimes are timezone-aware.
Enumerations ConnectWise may extend (`bill_customer`, `agreement_status`, `product_class`) stay
plain strings.

The SDK's attrs classes are frozen but not slotted: a dict-backed frozen instance is built about
twice as fast (parsing a page of additions is mostly building instances), and the classes
themselves are created faster, which keeps `import connectwise_billing` cheap.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Final

import attrs

from connectwise_billing._values import as_decimal, as_utc_datetime
from connectwise_billing.errors import InputError

BILL_CUSTOMER_VALUES: Final = ("Billable", "DoNotBill", "NoCharge")
"""The values ConnectWise accepts for an addition's `billCustomer`."""


@attrs.frozen(slots=False)
class Reference:
    """A reference to another record (`CompanyReference`, `IvItemReference`, ...).

    Which of `identifier` and `name` are filled depends on the kind of reference: a product
    reference has an identifier but no name.
    """

    id: int | None = None
    identifier: str | None = None
    name: str | None = None


@attrs.frozen(slots=False)
class Product:
    """A product catalog item (`/procurement/catalog`). Products with class `Agreement` are
    what agreement additions bill."""

    id: int
    identifier: str | None = None
    description: str | None = None
    customer_description: str | None = None
    price: Decimal | None = None
    cost: Decimal | None = None
    product_class: str | None = None
    inactive: bool | None = None
    taxable_flag: bool | None = None
    category: Reference | None = None
    subcategory: Reference | None = None
    type: Reference | None = None
    unit_of_measure: Reference | None = None
    recurring_flag: bool | None = None
    recurring_revenue: Decimal | None = None
    recurring_cost: Decimal | None = None
    connectwise_id: str | None = None
    last_updated: datetime | None = None
    updated_by: str | None = None


@attrs.frozen(slots=False)
class Company:
    """A company (`/company/companies`)."""

    id: int
    identifier: str | None = None
    name: str | None = None
    status: Reference | None = None
    types: tuple[Reference, ...] | None = None
    deleted_flag: bool | None = None
    phone_number: str | None = None
    website: str | None = None
    city: str | None = None
    state: str | None = None
    country: Reference | None = None
    territory: Reference | None = None
    default_contact: Reference | None = None
    account_number: str | None = None
    last_updated: datetime | None = None
    updated_by: str | None = None


@attrs.frozen(slots=False)
class Agreement:
    """An agreement (`/finance/agreements`): how and when a company is billed."""

    id: int
    name: str | None = None
    type: Reference | None = None
    company: Reference | None = None
    contact: Reference | None = None
    agreement_status: str | None = None
    cancelled_flag: bool | None = None
    date_cancelled: datetime | None = None
    reason_cancelled: str | None = None
    start_date: datetime | None = None
    end_date: datetime | None = None
    no_ending_date_flag: bool | None = None
    prorate_flag: bool | None = None
    bill_amount: Decimal | None = None
    billing_cycle: Reference | None = None
    parent_agreement: Reference | None = None
    customer_po: str | None = None
    last_updated: datetime | None = None
    updated_by: str | None = None


@attrs.frozen(slots=False)
class Addition:
    """A product addition on an agreement (`/finance/agreements/{id}/additions`).

    `ext_price`, `ext_cost` and `agreement_status` are computed by ConnectWise and cannot be
    written. Proration and other fields the SDK does not use are not modelled.
    """

    id: int
    agreement_id: int | None = None
    product: Reference | None = None
    quantity: Decimal | None = None
    unit_price: Decimal | None = None
    unit_cost: Decimal | None = None
    bill_customer: str | None = None
    effective_date: datetime | None = None
    cancelled_date: datetime | None = None
    description: str | None = None
    invoice_description: str | None = None
    taxable_flag: bool | None = None
    ext_price: Decimal | None = None
    ext_cost: Decimal | None = None
    agreement_status: str | None = None
    last_updated: datetime | None = None
    updated_by: str | None = None


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

    product_id: int = attrs.field(converter=_product_id)
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
    """Marks an `update()` argument the caller did not pass (distinct from `None`)."""

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
"""Default of every `additions.update()` argument: the field is not part of the PATCH."""


_NULLABLE_UPDATE_FIELDS: Final = frozenset(
    {"cancelled_date", "effective_date", "description", "invoice_description"}
)


def addition_patch_values(fields: dict[str, object]) -> dict[str, object]:
    """Validate `additions.update()` arguments; return field -> coerced value for given fields.

    `None` is allowed for the fields ConnectWise lets you clear (dates and descriptions) and is
    sent as `null`; for quantities, money and flags it is an error.
    """
    values: dict[str, object] = {}
    for name, value in fields.items():
        if value is NOT_GIVEN:
            continue
        if value is None:
            if name not in _NULLABLE_UPDATE_FIELDS:
                raise InputError(f"{name} cannot be set to None")
            values[name] = None
        elif name in ("quantity", "unit_price", "unit_cost", "less_included"):
            values[name] = as_decimal(value, name)
        elif name in ("cancelled_date", "effective_date"):
            values[name] = as_utc_datetime(value, name)
        elif name == "bill_customer":
            _check_text(value, name)
            _check_bill_customer(str(value))
            values[name] = value
        elif name == "taxable_flag":
            if not isinstance(value, bool):
                raise InputError(f"taxable_flag must be True or False, got {value!r}")
            values[name] = value
        else:
            _check_text(value, name)
            values[name] = value
    if not values:
        raise InputError("update() needs at least one field to change")
    return values


__all__ = [
    "BILL_CUSTOMER_VALUES",
    "NOT_GIVEN",
    "Addition",
    "Agreement",
    "Company",
    "NewAddition",
    "NotGiven",
    "Product",
    "Reference",
    "addition_patch_values",
]
