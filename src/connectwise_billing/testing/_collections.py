"""The simulator's collections, each declared once: where it is served, its schema in the
contract, whose company a record belongs to (for an API member's security role), and, for a
writable one, its writable fields and how each is checked.

Storage, routing, listing, counting and writing all read these declarations: serving another
collection is one more `Table`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Final, Literal

import attrs

from connectwise_billing.testing._format import moment, timestamp

if TYPE_CHECKING:
    from connectwise_billing.testing._fake import FakeConnectWise

Kind = Literal["number", "flag", "moment", "text", "bill_customer", "product"]
BILL_CUSTOMER: Final = ("Billable", "DoNotBill", "NoCharge")


class ApiFailure(Exception):
    """Raised inside a handler to answer with a ConnectWise error body."""

    def __init__(
        self, status: int, code: str, message: str, errors: list[dict[str, str]] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.errors = errors

    def answer(self) -> tuple[int, Any, dict[str, str]]:
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.errors:
            body["errors"] = self.errors
        return self.status, body, {}


def invalid(resource: str, field: str, message: str, code: str = "InvalidField") -> ApiFailure:
    """400 InvalidObject with one field-level error, as ConnectWise reports validation failures."""
    return ApiFailure(
        400,
        "InvalidObject",
        f"{resource} object is invalid",
        [{"code": code, "message": message, "resource": resource, "field": field}],
    )


@attrs.frozen(slots=False)
class Table:
    """One collection of the simulated API.

    Attributes:
        name: The store's name for it (`additions`).
        route: Its path under `apis/3.0`; `*` stands for the parent record's id.
        schema: Its schema in the contract.
        noun: How error messages name a record (`Addition`).
        company: The company a record belongs to, for the security role (`None`: everyone's).
        parent: The collection of the records it lives under, and the field holding the
            parent's id.
        writable: Writable fields and their kind (empty: read-only).
        required: Fields a write must give.
        defaults: Values of fields a create leaves out, from the record's product.
    """

    name: str
    route: tuple[str, ...]
    schema: str
    noun: str
    company: Callable[[Mapping[str, Any]], int | None] | None = None
    parent: tuple[str, str] | None = None
    writable: Mapping[str, Kind] = attrs.field(factory=dict)
    required: tuple[str, ...] = ()
    defaults: Callable[[Mapping[str, Any]], dict[str, Any]] | None = None


def _addition_defaults(product: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "quantity": Decimal(1),
        "unitPrice": product.get("price", Decimal(0)),
        "unitCost": product.get("cost", Decimal(0)),
        "description": product.get("description"),
        "invoiceDescription": product.get("customerDescription"),
        "taxableFlag": product.get("taxableFlag", False),
        "lessIncluded": Decimal(0),
        "purchaseItemFlag": False,
        "specialOrderFlag": False,
        "uom": "Each",
    }


COMPANIES: Final = Table(
    "companies", ("company", "companies"), "Company", "Company", lambda r: r["id"]
)
AGREEMENTS: Final = Table(
    "agreements",
    ("finance", "agreements"),
    "Agreement",
    "Agreement",
    lambda r: r["company"]["id"],
)
CATALOG: Final = Table("catalog", ("procurement", "catalog"), "CatalogItem", "CatalogItem")
ADDITIONS: Final = Table(
    "additions",
    ("finance", "agreements", "*", "additions"),
    "Addition",
    "Addition",
    parent=("agreements", "agreementId"),
    writable={
        "product": "product",
        "billCustomer": "bill_customer",
        **dict.fromkeys(
            ("quantity", "lessIncluded", "unitPrice", "unitCost", "sequenceNumber"), "number"
        ),
        **dict.fromkeys(
            ("taxableFlag", "purchaseItemFlag", "specialOrderFlag", "prorateCurrentPeriodFlag"),
            "flag",
        ),
        **dict.fromkeys(("effectiveDate", "cancelledDate"), "moment"),
        **dict.fromkeys(("serialNumber", "invoiceDescription", "description", "uom"), "text"),
    },
    required=("product", "billCustomer"),
    defaults=_addition_defaults,
)
TABLES: Final = (COMPANIES, AGREEMENTS, CATALOG, ADDITIONS)


def coerce(fake: FakeConnectWise, table: Table, field: str, value: Any) -> Any:
    """Check one writable field's value; return what is stored."""
    noun = table.noun.lower()
    kind = table.writable.get(field)
    if kind is None:
        raise invalid(noun, field, f"{field} cannot be written", code="ReadOnly")
    if value is None:
        if field in table.required:
            raise invalid(noun, field, f"{field} is required")
        return None
    if kind == "number":
        if isinstance(value, bool) or not isinstance(value, int | Decimal):
            raise invalid(noun, field, f"{field} must be a number")
        return Decimal(value)
    if kind == "flag":
        if not isinstance(value, bool):
            raise invalid(noun, field, f"{field} must be true or false")
        return value
    if kind == "moment":
        if not isinstance(value, str):
            raise invalid(noun, field, f"{field} must be a datetime string")
        try:
            return timestamp(moment(value))
        except ValueError:
            raise invalid(noun, field, f"{field} is not a valid datetime: {value!r}") from None
    if kind == "text":
        if not isinstance(value, str):
            raise invalid(noun, field, f"{field} must be a string")
        return value
    if kind == "bill_customer":
        if value not in BILL_CUSTOMER:
            raise invalid(noun, field, f"{field} must be one of {', '.join(BILL_CUSTOMER)}")
        return value
    return fake.product_reference(value)
