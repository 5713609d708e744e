"""What the control panel knows: plans, the plan -> product mapping, and each company's usage.

Constructing these objects converts values (`"8.00"` -> `Decimal("8.00")`) but checks ranges
only when reconciling, where every problem is reported before anything is produced. The
exceptions: `PlanMapping` refuses a product mapped to two plans as soon as it is built, and
`CompanyUsage` refuses a plan named twice (see below).

Plan ids and plan names are kept in Unicode NFC, whichever form they were given in: `café`
typed as one code point (as most keyboards do) and as `e` plus a combining accent (as some
systems export it) look the same and name the same plan, so every comparison downstream sees one
form. Two spellings of one plan among a usage's seats or custom prices are refused.

`Plan` and `CompanyUsage` are named tuples (immutable; `plan._replace(price=...)` makes a
changed copy): the reconciler is built on the standard library alone, so importing it stays
cheap for integrations that embed it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any, NamedTuple, Self

from connectwise_billing._values import normalize_text, shown, shown_text
from connectwise_billing.errors import InputError, MappingError


def _lenient_decimal(value: Any) -> Any:
    # Convert what converts exactly; leave anything else for validation to name.
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return value
    try:
        return Decimal(str(value).strip())
    except InvalidOperation:
        return value


def _normal_id(value: Any) -> Any:
    # Anything but text is left for validation to name.
    return normalize_text(value) if isinstance(value, str) else value


def _by_plan(values: Mapping[str, Any], what: str) -> dict[str, Any]:
    by_plan: dict[str, Any] = {}
    given: dict[str, str] = {}
    for plan_id, value in dict(values).items():
        key = _normal_id(plan_id)
        if key in by_plan:
            raise InputError(
                f"{what} name plan {shown_text(given[key])} twice: {shown_text(plan_id)} is "
                "the same plan id in another Unicode form"
            )
        by_plan[key] = value
        given[key] = plan_id
    return by_plan


def _decimal_mapping(values: Mapping[str, Any]) -> dict[str, Any]:
    return {key: _lenient_decimal(value) for key, value in values.items()}


class Rebuilt:
    """A named tuple whose constructor converts or checks its values: `_replace` goes through
    the constructor too (a plain named tuple's would take the new values as they are)."""

    __slots__ = ()

    def _replace(self, **changes: Any) -> Self:
        fields: dict[str, Any] = self._asdict()  # type: ignore[attr-defined]
        return type(self)(**{**fields, **changes})


class _PlanFields(NamedTuple):
    id: str
    name: str
    cost: Decimal
    price: Decimal


class Plan(Rebuilt, _PlanFields):
    """A plan the control panel sells (a mailbox plan, or any sellable plan).

    Attributes:
        id: The control panel's plan id (kept in Unicode NFC).
        name: A readable name, used in diffs and reports (kept in Unicode NFC).
        cost: What one seat costs the MSP per month (the addition's unit cost).
        price: What one seat costs the customer per month before discounts.
    """

    __slots__ = ()

    def __new__(
        cls, id: str, name: str, cost: Decimal | int | str, price: Decimal | int | str
    ) -> Plan:
        return super().__new__(
            cls, _normal_id(id), _normal_id(name), _lenient_decimal(cost), _lenient_decimal(price)
        )


class _UsageFields(NamedTuple):
    agreement_id: int
    seats: Mapping[str, int]
    custom_prices: Mapping[str, Decimal]
    discount_percent: Decimal
    company: str | None
    company_id: int | None


class CompanyUsage(Rebuilt, _UsageFields):
    """One control-panel company linked to one ConnectWise agreement.

    A company linked to two agreements is two usages; one agreement in two usages is an error.

    A sync writes to the agreement only when it belongs to this company: the one `company_id`
    names, or else one whose name (or identifier) matches `company` once case, spacing,
    punctuation and legal suffixes (Ltd, LLC, Inc, GmbH, ...) are set aside. A stale link or a
    typo in the agreement id never bills another customer.

    Attributes:
        agreement_id: The linked ConnectWise agreement.
        seats: Seats in use per plan id (ids kept in Unicode NFC).
        custom_prices: Per plan id, a price that replaces the plan price for this company.
        discount_percent: A percentage taken off the resulting price (0 to 100).
        company: The company's name, for reports (and the check above, without `company_id`).
        company_id: The ConnectWise company the agreement must belong to (recommended).

    Raises:
        InputError: `seats` or `custom_prices` name one plan twice, in two Unicode forms.
    """

    __slots__ = ()

    def __new__(
        cls,
        agreement_id: int,
        seats: Mapping[str, int],
        custom_prices: Mapping[str, Decimal | int | str] | None = None,
        discount_percent: Decimal | int | str = 0,
        company: str | None = None,
        company_id: int | None = None,
    ) -> CompanyUsage:
        return super().__new__(
            cls,
            agreement_id,
            _by_plan(seats, "the seats"),
            _decimal_mapping(_by_plan(custom_prices or {}, "the custom prices")),
            _lenient_decimal(discount_percent),
            company,
            company_id,
        )


class PlanMapping(Mapping[str, int]):
    """Plan id -> ConnectWise catalog item (product) id.

    Only mapped plans are synced; mapping only some plans is fine. Plan ids are kept, and
    looked up, in Unicode NFC (as `Plan` keeps them).

    ```python
    mapping = PlanMapping({"gold-50": 1043, "basic-10": 1042})
    assert mapping["gold-50"] == 1043
    assert mapping.plan_for(1042) == "basic-10"
    ```

    `retired` names the products plans were mapped to before (after a remap, `{"gold-50":
    1031}`): a sync reports their additions that are still active as "previously mapped,
    still billed", with what they bill a month, and leaves them alone.

    Raises:
        MappingError: a product is mapped to two plans (the error names the product and both
            plans), or an entry is not `str -> positive int`, or a retired product is mapped.
    """

    __slots__ = ("_plans", "_products", "_retired")

    def __init__(
        self,
        mapping: Mapping[str, int] | Iterable[tuple[str, int]] = (),
        *,
        retired: Mapping[str, int] | None = None,
    ) -> None:
        items = mapping.items() if isinstance(mapping, Mapping) else mapping
        products: dict[str, int] = {}
        plans: dict[int, str] = {}
        for given_id, product_id in items:
            if not isinstance(given_id, str) or not given_id:
                raise MappingError(f"plan ids must be non-empty strings, got {given_id!r}")
            plan_id = normalize_text(given_id)
            if isinstance(product_id, bool) or not isinstance(product_id, int) or product_id <= 0:
                raise MappingError(
                    f"plan {shown_text(given_id)} must map to a positive product id, got "
                    f"{shown(product_id)}"
                )
            if product_id in plans and plans[product_id] != plan_id:
                raise MappingError(
                    f"product {product_id} is mapped to both plan {shown_text(plans[product_id])} "
                    f"and plan {shown_text(plan_id)}; each plan needs its own product, or "
                    "the synced quantities are wrong"
                )
            if plan_id in products and products[plan_id] != product_id:
                raise MappingError(
                    f"plan {shown_text(given_id)} is mapped to two products: "
                    f"{products[plan_id]} and {product_id}"
                )
            products[plan_id] = product_id
            plans[product_id] = plan_id
        self._products = products
        self._plans = plans
        self._retired: dict[int, str] = {}
        for given_id, product_id in (retired or {}).items():
            if isinstance(product_id, bool) or not isinstance(product_id, int) or product_id <= 0:
                raise MappingError(
                    f"retired product of plan {shown_text(given_id)} must be a positive product "
                    f"id, got {shown(product_id)}"
                )
            if product_id in plans:
                raise MappingError(
                    f"product {product_id} is mapped to plan {shown_text(plans[product_id])}, so "
                    f"it cannot be retired from plan {shown_text(given_id)}"
                )
            self._retired[product_id] = _normal_id(given_id)

    def __getitem__(self, plan_id: str) -> int:
        return self._products[_normal_id(plan_id)]

    def __iter__(self) -> Iterator[str]:
        return iter(self._products)

    def __contains__(self, plan_id: object) -> bool:
        return _normal_id(plan_id) in self._products

    def __len__(self) -> int:
        return len(self._products)

    def __repr__(self) -> str:
        retired = {plan: product for product, plan in self._retired.items()}
        return f"PlanMapping({self._products!r}" + (f", retired={retired!r})" if retired else ")")

    def __eq__(self, other: object) -> bool:
        if isinstance(other, PlanMapping):
            return self._products == other._products
        return super().__eq__(other)

    __hash__ = None  # type: ignore[assignment]

    def plan_for(self, product_id: int) -> str | None:
        """The plan mapped to a product, if any."""
        return self._plans.get(product_id)

    @property
    def product_ids(self) -> frozenset[int]:
        """Every mapped product id."""
        return frozenset(self._plans)

    @property
    def retired(self) -> Mapping[int, str]:
        """Product id -> the plan it was mapped to before (see the class docs)."""
        return self._retired
