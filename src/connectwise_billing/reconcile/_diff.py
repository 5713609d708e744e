"""The result of reconciling an agreement: operations, what stays, warnings, money impact."""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Final, Literal, NamedTuple

Field = Literal["quantity", "unit_price", "unit_cost"]
"""The addition fields a sync owns."""


class CreateAddition(NamedTuple):
    """Create an addition for a plan that has seats but no active addition.

    Attributes:
        agreement_id: The agreement it writes to.
        plan_id: The plan mapped to the product.
        plan_name: The plan's name.
        product_id: The catalog item (ConnectWise's `product/id`).
        quantity: Seats on the plan.
        unit_price: The price per seat: custom or plan price, less the discount, rounded.
        unit_cost: The plan's cost per seat.
        effective_date: The date billing starts (`SyncPolicy.effective_date`).
        kind: Always `"create"`.
        bill_customer: Whether the line bills: `"Billable"` when it must (a line created
            beside lines that do not bill, `on_non_billing="create_billable"`); `None` lets
            the backend decide (ConnectWise: its `bill_customer`, `"Billable"` by default).
    """

    agreement_id: int
    plan_id: str
    plan_name: str
    product_id: int
    quantity: Decimal
    unit_price: Decimal
    unit_cost: Decimal
    effective_date: date
    kind: Literal["create"] = "create"
    bill_customer: str | None = None


class Change(NamedTuple):
    """One field of an update: the value the addition holds, and the value written.

    Attributes:
        old: What the addition holds (`None`: no value).
        new: What is written.
    """

    old: Decimal | None
    new: Decimal


_ADDITION_ID = "addition_id is deprecated (it goes in the next release): use line_id"


class _LineId:
    """What the tuples naming one line share: `addition_id`, the name `line_id` had before,
    still works for one release, with a `DeprecationWarning`, as an attribute, a constructor
    keyword and a `_replace` keyword."""

    __slots__ = ()

    line_id: int

    @property
    def addition_id(self) -> int:
        """Deprecated: `line_id`."""
        warnings.warn(_ADDITION_ID, DeprecationWarning, stacklevel=2)
        return self.line_id

    # Hidden from mypy, which then checks constructor calls against the named tuple's own
    # typed signature (where `addition_id` is not a keyword any more).
    if not TYPE_CHECKING:

        def __new__(cls, *args, **kwargs):
            return super().__new__(cls, *args, **_renamed(kwargs))

        def _replace(self, **changes):
            return super()._replace(**_renamed(changes))


def _renamed(values: dict[str, Any]) -> dict[str, Any]:
    if "addition_id" in values:
        warnings.warn(_ADDITION_ID, DeprecationWarning, stacklevel=3)
        if "line_id" in values:
            raise TypeError("give line_id only (addition_id is its deprecated name)")
        values["line_id"] = values.pop("addition_id")
    return values


class _UpdateFields(NamedTuple):
    agreement_id: int
    line_id: int
    plan_id: str
    plan_name: str
    product_id: int
    changes: Mapping[Field, Change]
    reason: str
    expected: Mapping[Field, Decimal | None]
    last_updated: datetime | None = None
    kind: Literal["update"] = "update"


class UpdateAddition(_LineId, _UpdateFields):
    """Change the fields of an addition whose values differ; `changes` is field ->
    `Change(old, new)` (a named tuple: `for field, (old, new) in op.changes.items()` works).

    `expected` holds the addition's values when the diff was computed, so a writer can refuse
    to overwrite an addition someone changed meanwhile.

    Attributes:
        agreement_id: The agreement it writes to.
        line_id: The line (addition) changed; `addition_id` is its deprecated name.
        plan_id: The plan mapped to the product.
        plan_name: The plan's name.
        product_id: The catalog item (ConnectWise's `product/id`).
        changes: Field -> `Change(old, new)`, for the fields that differ.
        reason: Why, in words (`seats 12 -> 14`).
        expected: The addition's owned fields when the diff was computed.
        last_updated: When the addition was last changed, as read.
        kind: Always `"update"`.
    """

    __slots__ = ()


class _CancelFields(NamedTuple):
    agreement_id: int
    line_id: int
    plan_id: str
    plan_name: str
    product_id: int
    cancelled_date: date | None
    reason: str
    expected: Mapping[Field, Decimal | None]
    last_updated: datetime | None = None
    kind: Literal["cancel"] = "cancel"
    previous_cancelled_date: date | None = None


class CancelAddition(_LineId, _CancelFields):
    """Cancel an addition (set its cancelled date), keeping its billing history; or, with a
    `cancelled_date` of `None`, restore a cancelled one (what an undo does).

    Attributes:
        agreement_id: The agreement it writes to.
        line_id: The line (addition) cancelled; `addition_id` is its deprecated name.
        plan_id: The plan mapped to the product.
        plan_name: The plan's name.
        product_id: The catalog item (ConnectWise's `product/id`).
        cancelled_date: The cancelled date written (today, by default); `None` clears it.
        reason: Why, in words (`no seats left`).
        expected: The addition's owned fields when the diff was computed.
        last_updated: When the addition was last changed, as read.
        kind: Always `"cancel"`.
        previous_cancelled_date: The cancelled date the addition had when the diff was
            computed (`None` for one that was not going to end): what an undo restores.
    """

    __slots__ = ()

    @property
    def restores(self) -> bool:
        """Whether it gives a cancelled line its billing back (an undo): it clears the
        cancelled date, or moves it later than the one the line has."""
        previous = self.previous_cancelled_date
        return self.cancelled_date is None or (
            previous is not None and self.cancelled_date > previous
        )


Operation = CreateAddition | UpdateAddition | CancelAddition
"""One write the diff asks for."""


class _UnchangedFields(NamedTuple):
    line_id: int
    plan_id: str
    product_id: int
    quantity: Decimal | None
    unit_price: Decimal | None
    unit_cost: Decimal | None


class UnchangedAddition(_LineId, _UnchangedFields):
    """A managed addition that already matches (or that a policy leaves alone).

    Attributes:
        line_id: The line (addition); `addition_id` is its deprecated name.
        plan_id: The plan mapped to its product.
        product_id: The catalog item.
        quantity: Its quantity.
        unit_price: Its unit price.
        unit_cost: Its unit cost.
    """

    __slots__ = ()


WarningKind = Literal[
    "unmapped_usage",
    "duplicate_additions",
    "unmanaged_products",
    "previously_mapped",
    "manual_edit",
    "zero_seats_left",
    "non_billing",
]
"""What a `DiffWarning` is about (see its description)."""


class DuplicateAdditions(NamedTuple):
    """Two or more active, billing additions of one mapped product on one agreement (whatever
    their quantities): the product's billing is ambiguous, and with quantities on more than one
    of them the customer is billed twice, until it is resolved.

    Attributes:
        plan_id: The plan mapped to the product.
        plan_name: The plan's name.
        product_id: The catalog item.
        addition_ids: The active additions, lowest id (the one a sync keeps) first.
        billed_twice: What the additions after the first bill a month (quantity x unit price).
    """

    plan_id: str
    plan_name: str
    product_id: int
    addition_ids: tuple[int, ...]
    billed_twice: Decimal

    def describe(self) -> str:
        """`plan Gold 50 GB: additions 1001, 1005 both bill (96.00 a month billed twice)`."""
        ids = ", ".join(map(str, self.addition_ids))
        return (
            f"plan {self.plan_name}: additions {ids} all bill product {self.product_id} "
            f"({_money(self.billed_twice)} a month billed twice)"
        )


class DiffWarning(NamedTuple):
    """Something the MSP should know that the diff does not fix by itself.

    Kinds: `unmapped_usage` (seats on a plan with no product: revenue not billed),
    `duplicate_additions`, `unmanaged_products` (active additions of unmapped products,
    left alone), `previously_mapped` (an active addition of a product that was mapped before and
    is not now: still billed), `manual_edit` (a managed addition last changed by someone other
    than the API member), `zero_seats_left` (`on_zero="leave"` kept an addition whose plan has
    no seats), `non_billing` (an active addition of a mapped product that does not bill the
    customer: `DoNotBill` or `NoCharge`; never written to).

    Attributes:
        kind: See above.
        message: What to know, as the diff sees it (before anything is written).
        plan_id: The plan concerned, if one is.
        product_id: The product concerned, if one is.
        addition_ids: The additions concerned.
        after: For a warning about a write, what to say once that write is applied
            (`quantity overwritten` rather than `would overwrite quantity`).
    """

    kind: WarningKind
    message: str
    plan_id: str | None = None
    product_id: int | None = None
    addition_ids: tuple[int, ...] = ()
    after: str | None = None


class Hold(NamedTuple):
    """A guardrail holding operations of a diff until a person approves them (see
    [`Guardrails`][connectwise_billing.reconcile._guardrails.Guardrails]).

    Attributes:
        rule: The rule (`max_mrr_drop_percent`, `max_price_change_percent`, `below_cost`,
            `max_zeroed_percent`, `unmapped_usage`).
        message: What it found, with the numbers.
        operations: The positions in `AgreementDiff.operations` it holds (`()`: all of them,
            for a rule that holds the whole run).
    """

    rule: str
    message: str
    operations: tuple[int, ...] = ()


def _line(quantity: Decimal | None, amount: Decimal | None) -> Decimal:
    return (quantity or Decimal(0)) * (amount or Decimal(0))


def operation_delta(op: Operation) -> tuple[Decimal, Decimal]:
    """What an operation adds to the agreement's monthly revenue and cost."""
    if isinstance(op, CreateAddition):
        return op.quantity * op.unit_price, op.quantity * op.unit_cost
    old = op.expected
    new: Mapping[Field, Decimal | None] = {}
    if isinstance(op, UpdateAddition):
        new = {**old, **{field: value for field, (_, value) in op.changes.items()}}
    elif op.restores:  # it bills again, and did not before
        new, old = old, {}
    revenue = _line(new.get("quantity"), new.get("unit_price"))
    revenue -= _line(old.get("quantity"), old.get("unit_price"))
    cost = _line(new.get("quantity"), new.get("unit_cost"))
    cost -= _line(old.get("quantity"), old.get("unit_cost"))
    return revenue, cost


def _money(value: Decimal | None) -> str:
    """Two decimals, or more when the value has them (a hand-typed 7.499 shows as such)."""
    if value is None:
        return "-"
    return f"{value:,.2f}" if value.as_tuple().exponent >= -2 else f"{value:,f}"  # type: ignore[operator]


class AgreementDiff(NamedTuple):
    """What a sync of one agreement would do, and what it does to the monthly bill.

    MRR and cost are sums of quantity x unit price (unit cost) over the agreement's managed,
    active additions that bill the customer (those of mapped products, and of retired products
    that still bill), before and after the operations. Additions marked `DoNotBill` or
    `NoCharge` are invoiced at zero and count for nothing.

    Attributes:
        agreement_id: The agreement.
        company: The control panel's company name, as given in `CompanyUsage`.
        operations: The writes, in plan order: `CreateAddition`, `UpdateAddition` and
            `CancelAddition`.
        unchanged: Managed additions left as they are.
        warnings: What the MSP should know (`DiffWarning`).
        mrr_before: Monthly revenue of the managed additions now.
        mrr_after: Monthly revenue once the operations are applied.
        cost_before: Monthly cost of the managed additions now.
        cost_after: Monthly cost once the operations are applied.
    """

    agreement_id: int
    company: str | None
    operations: tuple[Operation, ...]
    unchanged: tuple[UnchangedAddition, ...]
    warnings: tuple[DiffWarning, ...]
    mrr_before: Decimal
    mrr_after: Decimal
    cost_before: Decimal
    cost_after: Decimal
    duplicates: tuple[DuplicateAdditions, ...] = ()
    """Mapped products billed by more than one active addition (see `DuplicateAdditions`)."""
    mrr_unmanaged: Decimal = Decimal(0)
    """Monthly revenue of the agreement's other active additions: products that are not mapped
    (or no longer are). The sync leaves them as they are."""
    holds: tuple[Hold, ...] = ()
    """The guardrails holding operations until a person approves them (`SyncPolicy.guardrails`);
    a held operation is not written."""
    zeroed: bool = False
    """The agreement bills seats today, and the usage gives none for any plan it is billed for
    (what `max_zeroed_percent` counts)."""

    def holds_of(self, index: int) -> tuple[Hold, ...]:
        """The guardrails holding operation number `index`."""
        return tuple(hold for hold in self.holds if not hold.operations or index in hold.operations)

    def hold_of(self, index: int) -> Hold | None:
        """The guardrails holding operation number `index` as one hold (their rules and their
        messages joined), or `None`."""
        by_rule: dict[str, str] = {}
        for hold in self.holds_of(index):  # a rule judged twice (plan, then apply) says it once
            by_rule.setdefault(hold.rule, hold.message)
        if not by_rule:
            return None
        return Hold(", ".join(by_rule), "; ".join(by_rule.values()), (index,))

    @property
    def held(self) -> tuple[Operation, ...]:
        """The operations a guardrail holds."""
        return tuple(op for i, op in enumerate(self.operations) if self.hold_of(i) is not None)

    @property
    def creates(self) -> tuple[CreateAddition, ...]:
        """The create operations."""
        return tuple(op for op in self.operations if isinstance(op, CreateAddition))

    @property
    def updates(self) -> tuple[UpdateAddition, ...]:
        """The update operations."""
        return tuple(op for op in self.operations if isinstance(op, UpdateAddition))

    @property
    def cancels(self) -> tuple[CancelAddition, ...]:
        """The cancel operations."""
        return tuple(op for op in self.operations if isinstance(op, CancelAddition))

    @property
    def is_empty(self) -> bool:
        """True when the agreement is already in step: nothing to write."""
        return not self.operations

    @property
    def mrr_change(self) -> Decimal:
        """Monthly recurring revenue after minus before."""
        return self.mrr_after - self.mrr_before

    @property
    def cost_change(self) -> Decimal:
        """Monthly cost after minus before."""
        return self.cost_after - self.cost_before

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready data: Decimals as exact strings, dates in ISO 8601."""
        # Imported here: `json` and cattrs stay out of `import connectwise_billing.reconcile`.
        from connectwise_billing.convert import to_json

        data: dict[str, Any] = to_json(self)
        data.update(mrr_change=str(self.mrr_change), cost_change=str(self.cost_change))
        # Readers of this JSON knew a line as `addition_id`: kept beside `line_id` until the
        # deprecated name goes.
        for item in (*data["operations"], *data["unchanged"]):
            if "line_id" in item:
                item["addition_id"] = item["line_id"]
        return data

    def to_text(self) -> str:
        """A readable table of the operations, the warnings and the money impact."""
        return render_diff(self)

    def __str__(self) -> str:
        return self.to_text()


_HEADER: Final = (
    f"  {'action':<7} {'plan':<22} {'quantity':>15} {'unit price':>19} {'unit cost':>19}"
)


_FIELDS: Final[tuple[Field, ...]] = ("quantity", "unit_price", "unit_cost")


def _quantity(value: Decimal | None) -> str:
    return "-" if value is None else f"{value.normalize():,f}"


def _show(field: Field, value: Decimal | None) -> str:
    return _quantity(value) if field == "quantity" else _money(value)


def _columns(op: Operation) -> tuple[str, str, str]:
    if isinstance(op, CreateAddition):
        return _quantity(op.quantity), _money(op.unit_price), _money(op.unit_cost)
    if isinstance(op, UpdateAddition):
        cells = []
        for field in _FIELDS:
            if field in op.changes:
                old, new = op.changes[field]
                cells.append(f"{_show(field, old)} -> {_show(field, new)}")
            else:
                cells.append(_show(field, op.expected.get(field)))
        return cells[0], cells[1], cells[2]
    change = "restore" if op.restores else "cancel"
    quantity = f"{_quantity(op.expected.get('quantity'))} -> {change}"
    return quantity, _money(op.expected.get("unit_price")), _money(op.expected.get("unit_cost"))


def render_diff(diff: AgreementDiff) -> str:
    """The text form of an agreement diff (fits a 100-column terminal)."""
    title = f"Agreement {diff.agreement_id}" + (f" - {diff.company}" if diff.company else "")
    lines = [title]
    if diff.operations:
        lines.append(_HEADER)
    for op in diff.operations:
        quantity, price, cost = _columns(op)
        lines.append(
            f"  {op.kind:<7} {op.plan_name[:22]:<22} {quantity:>15} {price:>19} {cost:>19}"
        )
    if diff.unchanged:
        count = len(diff.unchanged)
        lines.append(f"  {count} addition{'s' if count != 1 else ''} unchanged")
    if not diff.operations and not diff.unchanged:
        lines.append("  no managed additions")
    lines.extend(f"  ! {w.message}" for w in diff.warnings)
    lines.append(
        f"  MRR {_money(diff.mrr_before)} -> {_money(diff.mrr_after)} ({diff.mrr_change:+,.2f})"
        f"   cost {_money(diff.cost_before)} -> {_money(diff.cost_after)}"
    )
    return "\n".join(lines)
