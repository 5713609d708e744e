"""Change sets: plan now, let a person review, apply exactly what was approved; undo a run.

`plan_changes()` is a dry run that keeps what it planned: per agreement, the operations, what
the guardrails hold, and a fingerprint of the agreement's lines as read (their ids and owned
fields). `ChangeSet.save()` writes it as readable JSON (amounts as exact strings); a person may
read it and delete the operations they do not approve. `apply_changes()` writes exactly the
saved operations, under each agreement's lock, after reading the agreement again: when its lines
no longer match the fingerprint the agreement is `"stale"` and nothing is written there. It never
recomputes from usage. Held operations are written only when approved.

`undo_changes()` turns a run's audit log into a change set that restores every line the run
changed and cancels every line it created, fingerprinted with the values the run wrote: a line
changed since is stale, never overwritten.

No checksum covers the file: the fingerprints are what protect against a changed ConnectWise,
and the expiry (24 hours by default) against an old plan.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal, cast

import attrs

from connectwise_billing._values import unwritable
from connectwise_billing.convert import unique_keys
from connectwise_billing.errors import ChangeSetError, InputError
from connectwise_billing.locks import Lock
from connectwise_billing.reconcile import (
    AdditionLike,
    AgreementDiff,
    BillingCheck,
    BillingProblem,
    CancelAddition,
    Change,
    CompanyUsage,
    CreateAddition,
    Operation,
    Plan,
    PlanMapping,
    Reconciler,
    SyncPolicy,
    UpdateAddition,
    billed_quantity,
    bills,
    is_active,
)
from connectwise_billing.reconcile._billing import PlannedLine, PlannedProduct
from connectwise_billing.reconcile._diff import Field, Hold, operation_delta
from connectwise_billing.reconcile._guardrails import PERCENT_RULES, Guardrails, hold_operations
from connectwise_billing.runner._audit import read_audit_log, runs, write_key
from connectwise_billing.runner._backends import async_backend_for, backend_for
from connectwise_billing.runner._flows import (
    FINGERPRINT_FIELDS,
    BillingChecker,
    LineFingerprint,
    Planned,
)
from connectwise_billing.runner._reports import SyncReport
from connectwise_billing.runner._run import async_sync_run, sync_run
from connectwise_billing.runner._state import Approval, RunState

if TYPE_CHECKING:
    from collections.abc import Iterable

    from connectwise_billing.backend import AsyncBillingBackend, BillingBackend
    from connectwise_billing.client import AsyncConnectWiseClient, ConnectWiseClient

__all__ = [
    "FORMAT_VERSION",
    "LIFETIME",
    "AgreementChanges",
    "ChangeSet",
    "ChangeSetKind",
    "apply_changes",
    "async_apply_changes",
    "async_plan_changes",
    "plan_changes",
    "undo_changes",
]

FORMAT_VERSION: Final = 1
"""The version of the change set file format this SDK writes and reads."""
LIFETIME: Final = timedelta(hours=24)
"""How long a change set may be applied after it was planned, by default."""

ChangeSetKind = Literal["plan", "undo"]
"""`plan` (from `plan_changes`) or `undo` (from `undo_changes`)."""


@attrs.frozen(slots=False)
class AgreementChanges:
    """What a change set does to one agreement.

    Attributes:
        agreement_id: The agreement.
        company: The company's name.
        company_id: The PSA's id of the company, when known: the agreement must still belong
            to it.
        usage: The usage it was planned from (the billing is checked against it once
            applied); `None` for an undo.
        lines: The fingerprint of the agreement's lines when it was planned.
        complete: Whether `lines` covers every line of the agreement (a plan: a line added
            since makes it stale), or only the lines the operations touch (an undo).
        operations: The writes, in order.
        holds: The guardrails holding operations (by position in `operations`).
        mrr_before: Monthly revenue of the billing lines when it was planned (an undo: of the
            lines it touches).
        mrr_after: Monthly revenue once the operations are applied, as planned.
        cost_before: Monthly cost of those lines when it was planned.
        cost_after: Monthly cost once the operations are applied, as planned.
    """

    agreement_id: int
    company: str | None
    company_id: int | None
    usage: CompanyUsage | None
    lines: tuple[LineFingerprint, ...]
    complete: bool
    operations: tuple[Operation, ...]
    holds: tuple[Hold, ...] = ()
    mrr_before: Decimal = Decimal(0)
    mrr_after: Decimal = Decimal(0)
    cost_before: Decimal = Decimal(0)
    cost_after: Decimal = Decimal(0)

    def held(self, index: int) -> Hold | None:
        """The guardrail holding operation number `index`, if one does."""
        return self.diff().hold_of(index)

    def diff(self) -> AgreementDiff:
        """The changes as a diff (what the applier and the reports take)."""
        return AgreementDiff(
            agreement_id=self.agreement_id,
            company=self.company,
            operations=self.operations,
            unchanged=(),
            warnings=(),
            mrr_before=self.mrr_before,
            mrr_after=self.mrr_after,
            cost_before=self.cost_before,
            cost_after=self.cost_after,
            holds=self.holds,
        )


@attrs.frozen(slots=False)
class ChangeSet:
    """Planned writes, to be reviewed, saved, loaded and applied as they are.

    Attributes:
        kind: `"plan"` or `"undo"`.
        planned_at: When it was made (UTC).
        expires_at: After this (UTC) it is refused: plan again.
        psa: The PSA it was planned against (`"ConnectWise"`).
        scope: The PSA tenant (`BillingBackend.scope`): it applies to that tenant only.
        plans: The plans it was planned with (none for an undo).
        mapping: The plan mapping it was planned with.
        policy: The policy it was planned with (`None` for an undo).
        agreements: Per agreement, its changes (agreements with nothing to write are left out).
        held_all: Why a guardrail over the whole run held every operation, if one did.
        run_id: For an undo, the run it undoes.
        notes: What a person should know that the operations do not say (an undo: the run's
            writes it cannot undo).
        report: The dry run's report (`plan_changes` only; not saved).
        format_version: The file format's version.
    """

    kind: ChangeSetKind
    planned_at: datetime
    expires_at: datetime
    psa: str
    scope: str | None
    plans: tuple[Plan, ...]
    mapping: PlanMapping
    policy: SyncPolicy | None
    agreements: tuple[AgreementChanges, ...]
    held_all: str | None = None
    run_id: str | None = None
    notes: tuple[str, ...] = ()
    report: SyncReport | None = attrs.field(default=None, eq=False, repr=False)
    format_version: int = FORMAT_VERSION

    @property
    def operations(self) -> int:
        """How many operations it holds."""
        return sum(len(agreement.operations) for agreement in self.agreements)

    @property
    def held(self) -> int:
        """How many of them a guardrail holds."""
        return sum(
            1
            for agreement in self.agreements
            for index in range(len(agreement.operations))
            if agreement.held(index) is not None
        )

    def to_json(self) -> dict[str, Any]:
        """The file's content: JSON-ready data, amounts as exact strings."""
        return {
            "format_version": self.format_version,
            "kind": self.kind,
            "planned_at": _moment(self.planned_at),
            "expires_at": _moment(self.expires_at),
            "psa": self.psa,
            "scope": self.scope,
            "run_id": self.run_id,
            "held_all": self.held_all,
            "notes": list(self.notes),
            "plans": [
                {"id": p.id, "name": p.name, "cost": str(p.cost), "price": str(p.price)}
                for p in self.plans
            ],
            "mapping": dict(self.mapping),
            "retired": {plan: product for product, plan in self.mapping.retired.items()},
            "policy": _policy_json(self.policy),
            "agreements": [_agreement_json(agreement) for agreement in self.agreements],
        }

    def save(self, path: str | Path) -> None:
        """Write the change set to `path` as indented JSON (a person may read it and delete
        the operations they do not approve).

        Raises:
            ChangeSetError: the file cannot be written (named, with why).
        """
        text = json.dumps(self.to_json(), indent=2, ensure_ascii=False) + "\n"
        try:
            Path(path).write_text(text, encoding="utf-8")
        except OSError as error:
            raise ChangeSetError(f"{path}: cannot write the change set: {error.strerror}") from None

    @classmethod
    def from_json(cls, data: object, *, source: str = "the change set") -> ChangeSet:
        """A change set from the file's content, checked to its last field.

        Raises:
            ChangeSetError: naming `source`, the place in it and what is wrong.
        """
        return _Reader(source).change_set(data)

    @classmethod
    def load(cls, path: str | Path) -> ChangeSet:
        """Read a change set file.

        Raises:
            ChangeSetError: the file is missing, not JSON, of another format version, or a
                field is wrong (named).
        """
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as error:
            raise ChangeSetError(f"{path}: cannot read the change set: {error.strerror}") from None
        except UnicodeDecodeError:
            raise ChangeSetError(f"{path}: not UTF-8 text") from None
        try:
            data = json.loads(text, parse_float=Decimal, object_pairs_hook=unique_keys)
        except json.JSONDecodeError as error:
            raise ChangeSetError(
                f"{path}: line {error.lineno}: not valid JSON: {error.msg}"
            ) from None
        except (ValueError, RecursionError) as error:  # a duplicate key, a number too long
            raise ChangeSetError(f"{path}: not a change set: {error}") from None
        return cls.from_json(data, source=str(path))


# --- writing the file ---------------------------------------------------------------------------


def _moment(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _text(value: object) -> object:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


def _policy_json(policy: SyncPolicy | None) -> dict[str, Any] | None:
    if policy is None:
        return None
    data: dict[str, Any] = {}
    for name, value in policy._asdict().items():
        if name == "bill_customer":
            continue  # deprecated, and the backend's business
        if name == "guardrails":
            rules = None if value is None else value._asdict()
            if rules is not None and rules["max_mrr_increase_percent"] is None:
                del rules["max_mrr_increase_percent"]  # off: a file the SDK before it reads
            data[name] = None if rules is None else {k: _text(v) for k, v in rules.items()}
        else:
            data[name] = _text(value)
    return data


def _operation_json(op: Operation, hold: Hold | None) -> dict[str, Any]:
    data: dict[str, Any] = {
        "kind": op.kind,
        "plan_id": op.plan_id,
        "plan_name": op.plan_name,
        "product_id": op.product_id,
    }
    if isinstance(op, CreateAddition):
        data.update(
            quantity=str(op.quantity),
            unit_price=str(op.unit_price),
            unit_cost=str(op.unit_cost),
            effective_date=op.effective_date.isoformat(),
            bill_customer=op.bill_customer,
        )
    elif isinstance(op, UpdateAddition):
        data.update(
            line_id=op.line_id,
            changes={
                field: {"old": _text(change.old), "new": str(change.new)}
                for field, change in op.changes.items()
            },
            reason=op.reason,
        )
    else:
        data.update(
            line_id=op.line_id,
            cancelled_date=_text(op.cancelled_date),
            previous_cancelled_date=_text(op.previous_cancelled_date),
            reason=op.reason,
        )
    data["held"] = None if hold is None else {"rule": hold.rule, "message": hold.message}
    return data


def _agreement_json(agreement: AgreementChanges) -> dict[str, Any]:
    usage = agreement.usage
    return {
        "agreement_id": agreement.agreement_id,
        "company": agreement.company,
        "company_id": agreement.company_id,
        "usage": None
        if usage is None
        else {
            "seats": dict(usage.seats),
            "custom_prices": {plan: str(price) for plan, price in usage.custom_prices.items()},
            "discount_percent": str(usage.discount_percent),
        },
        "mrr_before": str(agreement.mrr_before),
        "mrr_after": str(agreement.mrr_after),
        "cost_before": str(agreement.cost_before),
        "cost_after": str(agreement.cost_after),
        "lines_complete": agreement.complete,
        "lines": [
            {"id": line.id, **{name: _text(value) for name, value in line.values.items()}}
            for line in agreement.lines
        ],
        "operations": [
            _operation_json(op, agreement.held(index))
            for index, op in enumerate(agreement.operations)
        ],
    }


# --- reading the file ---------------------------------------------------------------------------

_MONEY_FIELDS: Final = frozenset({"quantity", "unit_price", "unit_cost", "less_included"})
_PLAIN_NUMBER: Final = re.compile(r"-?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?", re.ASCII)
_UPDATE_FIELDS: Final[tuple[Field, ...]] = ("quantity", "unit_price", "unit_cost")


def _amount(value: object) -> Decimal | None:
    return value if isinstance(value, Decimal) else None


class _Reader:
    """Reads a change set's JSON, naming the place of every problem (`agreements[2].lines[0]`)."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, where: str, problem: str) -> ChangeSetError:
        return ChangeSetError(f"{self.source}: {where}: {problem}")

    def table(self, value: object, where: str) -> Mapping[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(where, f"must be an object, got {_kind(value)}")
        return value

    def items(self, value: object, where: str) -> list[Any]:
        if not isinstance(value, list):
            raise self.fail(where, f"must be a list, got {_kind(value)}")
        return value

    def need(self, table: Mapping[str, Any], key: str, where: str) -> Any:
        if key not in table:
            raise self.fail(f"{where}.{key}" if where else key, "is missing")
        return table[key]

    def text(self, value: object, where: str, *, optional: bool = False) -> Any:
        if value is None and optional:
            return None
        if not isinstance(value, str) or not value:
            raise self.fail(where, f"must be text, got {_kind(value)}")
        return value

    def number(self, value: object, where: str, *, signed: bool = False) -> Decimal:
        """An amount: plain ASCII digits, finite, one ConnectWise can keep, and not negative
        (unless `signed`: a change in money)."""
        if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
            raise self.fail(where, f"must be a number, got {_kind(value)}")
        text = str(value)
        if not _PLAIN_NUMBER.fullmatch(text):
            raise self.fail(where, f"must be a number, got {value!r}")
        try:
            number = Decimal(text)
        except InvalidOperation:
            raise self.fail(where, f"must be a number, got {value!r}") from None
        problem = None if number.is_finite() else "is not finite"
        if not signed and (number < 0 or number.is_signed()):
            problem = problem or "is negative"
        problem = problem or unwritable(number)
        if problem:
            raise self.fail(where, f"{problem}: {value!r}")
        return number if number else Decimal(0)

    def money(self, table: Mapping[str, Any], key: str, where: str) -> Decimal:
        """An informational amount (the plan's MRR): apply recomputes what it decides by."""
        return self.number(table.get(key, "0"), f"{where}.{key}", signed=True)

    def identifier(self, value: object, where: str, *, optional: bool = False) -> Any:
        if value is None and optional:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise self.fail(where, f"must be a positive whole number, got {_kind(value)}")
        return value

    def day(self, value: object, where: str, *, optional: bool = False) -> Any:
        if value is None and optional:
            return None
        try:
            return date.fromisoformat(self.text(value, where))
        except ValueError:
            raise self.fail(where, f"must be a date (YYYY-MM-DD), got {value!r}") from None

    def moment(self, value: object, where: str) -> datetime:
        try:
            moment = datetime.fromisoformat(self.text(value, where))
            if moment.tzinfo is None:
                raise self.fail(where, f"must say its time zone (Z for UTC), got {value!r}")
            return moment.astimezone(UTC)
        except (ValueError, OverflowError):
            raise self.fail(where, f"must be an ISO 8601 time, got {value!r}") from None

    def change_set(self, data: object) -> ChangeSet:
        top = self.table(data, "the file")
        version = top.get("format_version")
        if type(version) is not int or version != FORMAT_VERSION:
            raise self.fail(
                "format_version",
                f"this SDK reads format {FORMAT_VERSION}, the file is {version!r}: plan again",
            )
        kind = self.need(top, "kind", "")
        if kind not in ("plan", "undo"):
            raise self.fail("kind", f"must be 'plan' or 'undo', got {kind!r}")
        plans = tuple(
            self.plan(plan, f"plans[{i}]")
            for i, plan in enumerate(self.items(self.need(top, "plans", ""), "plans"))
        )
        mapping = self.mapping(top)
        policy = self.policy(top.get("policy"))
        agreements = tuple(
            self.agreement(entry, f"agreements[{i}]", kind)
            for i, entry in enumerate(self.items(self.need(top, "agreements", ""), "agreements"))
        )
        seen: set[int] = set()
        for i, agreement in enumerate(agreements):
            if agreement.agreement_id in seen:
                raise self.fail(
                    f"agreements[{i}].agreement_id", f"{agreement.agreement_id} appears twice"
                )
            seen.add(agreement.agreement_id)
            if kind == "plan":
                self.products(agreement, f"agreements[{i}]", plans, mapping)
        planned_at = self.moment(self.need(top, "planned_at", ""), "planned_at")
        expires_at = self.moment(self.need(top, "expires_at", ""), "expires_at")
        if expires_at <= planned_at:
            raise self.fail("expires_at", "must be later than planned_at")
        return ChangeSet(
            kind=kind,
            planned_at=planned_at,
            expires_at=expires_at,
            psa=self.text(self.need(top, "psa", ""), "psa"),
            # The tenant it applies to: without it, any ConnectWise would take it.
            scope=self.text(self.need(top, "scope", ""), "scope"),
            plans=plans,
            mapping=mapping,
            policy=policy,
            agreements=agreements,
            held_all=self.text(top.get("held_all"), "held_all", optional=True),
            run_id=self.text(top.get("run_id"), "run_id", optional=True),
            notes=tuple(
                self.text(note, f"notes[{i}]")
                for i, note in enumerate(self.items(top.get("notes", []), "notes"))
            ),
        )

    def products(
        self,
        agreement: AgreementChanges,
        where: str,
        plans: tuple[Plan, ...],
        mapping: PlanMapping,
    ) -> None:
        """A plan's operations write its own product's lines only (or, for a retired product,
        the lines of the plan it was retired from)."""
        known = {plan.id for plan in plans}
        for i, op in enumerate(agreement.operations):
            place = f"{where}.operations[{i}]"
            if op.plan_id not in known or op.plan_id not in mapping:
                raise self.fail(f"{place}.plan_id", f"{op.plan_id!r} is not a mapped plan")
            retired = mapping.retired.get(op.product_id)
            if op.product_id != mapping[op.plan_id] and retired != op.plan_id:
                raise self.fail(
                    f"{place}.product_id",
                    f"product {op.product_id} is not the product of plan {op.plan_id!r}",
                )

    def plan(self, value: object, where: str) -> Plan:
        table = self.table(value, where)
        return Plan(
            self.text(self.need(table, "id", where), f"{where}.id"),
            self.text(self.need(table, "name", where), f"{where}.name"),
            cost=self.number(self.need(table, "cost", where), f"{where}.cost"),
            price=self.number(self.need(table, "price", where), f"{where}.price"),
        )

    def mapping(self, top: Mapping[str, Any]) -> PlanMapping:
        mapped = self.table(top.get("mapping", {}), "mapping")
        retired = self.table(top.get("retired", {}), "retired")
        try:
            return PlanMapping(mapped, retired=retired)
        except InputError as error:
            raise self.fail("mapping", str(error)) from None

    def policy(self, value: object) -> SyncPolicy | None:
        if value is None:
            return None
        table = dict(self.table(value, "policy"))
        unknown = sorted(set(table) - set(SyncPolicy._fields))
        if unknown:
            raise self.fail(f"policy.{unknown[0]}", "unknown setting")
        if isinstance(table.get("effective_date"), str) and table["effective_date"][:1].isdigit():
            table["effective_date"] = self.day(table["effective_date"], "policy.effective_date")
        guardrails = table.get("guardrails")
        if guardrails is not None:
            rules = dict(self.table(guardrails, "policy.guardrails"))
            for rule in PERCENT_RULES:
                if rules.get(rule) is not None:
                    rules[rule] = self.number(rules[rule], f"policy.guardrails.{rule}")
            try:
                table["guardrails"] = Guardrails(**rules)
            except TypeError as error:
                raise self.fail("policy.guardrails", str(error)) from None
        try:
            return SyncPolicy(**table)
        except (InputError, TypeError) as error:
            raise self.fail("policy", str(error)) from None

    def usage(self, value: object, where: str, agreement_id: int, company: Any) -> Any:
        if value is None:
            return None
        table = self.table(value, where)
        seats = self.table(table.get("seats", {}), f"{where}.seats")
        prices = self.table(table.get("custom_prices", {}), f"{where}.custom_prices")
        for plan, count in seats.items():
            if isinstance(count, bool) or not isinstance(count, int) or count < 0:
                raise self.fail(f"{where}.seats.{plan}", f"must be seats >= 0, got {count!r}")
        return CompanyUsage(
            agreement_id,
            seats,
            {
                plan: self.number(price, f"{where}.custom_prices.{plan}")
                for plan, price in prices.items()
            },
            self.number(table.get("discount_percent", "0"), f"{where}.discount_percent"),
            company,
        )

    def line(self, value: object, where: str) -> LineFingerprint:
        table = self.table(value, where)
        line_id = self.identifier(self.need(table, "id", where), f"{where}.id")
        values: dict[str, object] = {}
        for name, raw in table.items():
            place = f"{where}.{name}"
            if name == "id":
                continue
            if name not in FINGERPRINT_FIELDS:
                raise self.fail(place, "unknown field")
            if name in _MONEY_FIELDS:
                values[name] = None if raw is None else self.number(raw, place)
            elif name == "cancelled_date":
                values[name] = self.day(raw, place, optional=True)
            elif name == "product_id":
                values[name] = self.identifier(raw, place, optional=True)
            else:
                values[name] = self.text(raw, place, optional=True)
        return LineFingerprint(line_id, values)

    def operation(
        self,
        value: object,
        where: str,
        agreement_id: int,
        lines: Mapping[int, LineFingerprint],
    ) -> tuple[Operation, Hold | None]:
        table = self.table(value, where)
        kind = self.need(table, "kind", where)
        plan_id = self.text(self.need(table, "plan_id", where), f"{where}.plan_id")
        plan_name = self.text(table.get("plan_name") or plan_id, f"{where}.plan_name")
        product = self.identifier(self.need(table, "product_id", where), f"{where}.product_id")
        held = table.get("held")
        hold = None
        if held is not None:
            rule = self.table(held, f"{where}.held")
            hold = Hold(
                self.text(self.need(rule, "rule", f"{where}.held"), f"{where}.held.rule"),
                self.text(rule.get("message") or "held", f"{where}.held.message"),
            )
        if kind == "create":
            create = CreateAddition(
                agreement_id=agreement_id,
                plan_id=plan_id,
                plan_name=plan_name,
                product_id=product,
                quantity=self.number(self.need(table, "quantity", where), f"{where}.quantity"),
                unit_price=self.number(
                    self.need(table, "unit_price", where), f"{where}.unit_price"
                ),
                unit_cost=self.number(self.need(table, "unit_cost", where), f"{where}.unit_cost"),
                effective_date=self.day(
                    self.need(table, "effective_date", where), f"{where}.effective_date"
                ),
                bill_customer=self.text(
                    table.get("bill_customer"), f"{where}.bill_customer", optional=True
                ),
            )
            return create, hold
        if kind not in ("update", "cancel"):
            raise self.fail(f"{where}.kind", f"must be create, update or cancel, got {kind!r}")
        line_id = self.identifier(self.need(table, "line_id", where), f"{where}.line_id")
        if line_id not in lines:
            raise self.fail(f"{where}.line_id", f"addition {line_id} is not among the lines")
        known = lines[line_id].values
        if known.get("product_id") not in (None, product):
            raise self.fail(
                f"{where}.product_id",
                f"addition {line_id} is of product {known.get('product_id')}, not {product}",
            )
        expected: dict[Field, Decimal | None] = {
            field: _amount(known.get(field)) for field in _UPDATE_FIELDS
        }
        reason = self.text(table.get("reason") or kind, f"{where}.reason")
        if kind == "update":
            changes = self.table(self.need(table, "changes", where), f"{where}.changes")
            if not changes or set(changes) - set(_UPDATE_FIELDS):
                raise self.fail(
                    f"{where}.changes", f"must change some of {', '.join(_UPDATE_FIELDS)}"
                )
            parsed: dict[Field, Change] = {
                cast("Field", field): Change(
                    _amount(known.get(field)),
                    self.number(
                        self.need(
                            self.table(change, f"{where}.changes.{field}"),
                            "new",
                            f"{where}.changes.{field}",
                        ),
                        f"{where}.changes.{field}.new",
                    ),
                )
                for field, change in changes.items()
            }
            update = UpdateAddition(
                agreement_id=agreement_id,
                line_id=line_id,
                plan_id=plan_id,
                plan_name=plan_name,
                product_id=product,
                changes=parsed,
                reason=reason,
                expected=expected,
            )
            return update, hold
        cancel = CancelAddition(
            agreement_id=agreement_id,
            line_id=line_id,
            plan_id=plan_id,
            plan_name=plan_name,
            product_id=product,
            cancelled_date=self.day(
                table.get("cancelled_date"), f"{where}.cancelled_date", optional=True
            ),
            reason=reason,
            expected=expected,
            previous_cancelled_date=self.day(
                table.get("previous_cancelled_date"),
                f"{where}.previous_cancelled_date",
                optional=True,
            ),
        )
        return cancel, hold

    def agreement(self, value: object, where: str, kind: str) -> AgreementChanges:
        table = self.table(value, where)
        agreement_id = self.identifier(
            self.need(table, "agreement_id", where), f"{where}.agreement_id"
        )
        company = self.text(table.get("company"), f"{where}.company", optional=True)
        lines = tuple(
            self.line(line, f"{where}.lines[{i}]")
            for i, line in enumerate(self.items(table.get("lines", []), f"{where}.lines"))
        )
        by_id = {line.id: line for line in lines}
        if len(by_id) != len(lines):
            raise self.fail(f"{where}.lines", "lists a line twice")
        complete = table.get("lines_complete")
        if complete is not (kind == "plan"):
            wanted = "true for a plan" if kind == "plan" else "false for an undo"
            raise self.fail(f"{where}.lines_complete", f"must be {wanted}, got {complete!r}")
        operations: list[Operation] = []
        holds: list[Hold] = []
        for i, op in enumerate(
            self.items(self.need(table, "operations", where), f"{where}.operations")
        ):
            operation, hold = self.operation(op, f"{where}.operations[{i}]", agreement_id, by_id)
            if hold is not None:
                holds.append(hold._replace(operations=(len(operations),)))
            operations.append(operation)
        usage = self.usage(table.get("usage"), f"{where}.usage", agreement_id, company)
        company_id = self.identifier(table.get("company_id"), f"{where}.company_id", optional=True)
        if kind == "plan":
            if usage is None:
                raise self.fail(f"{where}.usage", "is missing")
            if company is None and company_id is None:
                raise self.fail(
                    f"{where}.company_id",
                    "is missing, and so is company: nothing would check whose agreement it is",
                )
        if kind == "undo" and any(isinstance(op, CreateAddition) for op in operations):
            raise self.fail(f"{where}.operations", "an undo creates nothing")
        return AgreementChanges(
            agreement_id=agreement_id,
            company=company,
            company_id=company_id,
            usage=usage,
            lines=lines,
            complete=complete,
            operations=tuple(operations),
            holds=tuple(holds),
            mrr_before=self.money(table, "mrr_before", where),
            mrr_after=self.money(table, "mrr_after", where),
            cost_before=self.money(table, "cost_before", where),
            cost_after=self.money(table, "cost_after", where),
        )


def _kind(value: object) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, str):
        return repr(value)
    return type(value).__name__


# --- planning -----------------------------------------------------------------------------------


def _changes_of(planned: Planned) -> AgreementChanges:
    diff = planned.diff
    return AgreementChanges(
        agreement_id=diff.agreement_id,
        company=planned.usage.company,
        company_id=planned.company_id,
        usage=planned.usage,
        lines=planned.fingerprint,
        complete=planned.complete,
        operations=diff.operations,
        holds=tuple(
            hold._replace(operations=(index,))
            for index in range(len(diff.operations))
            if (hold := diff.hold_of(index)) is not None
        ),
        mrr_before=diff.mrr_before,
        mrr_after=diff.mrr_after,
        cost_before=diff.cost_before,
        cost_after=diff.cost_after,
    )


def _expiry(start: datetime, lifetime: object) -> datetime:
    """When a change set made at `start` expires.

    Raises:
        InputError: `lifetime` is not a positive `timedelta` (naming it).
    """
    if not isinstance(lifetime, timedelta) or lifetime <= timedelta(0):
        raise InputError(f"lifetime must be a positive timedelta, got {lifetime!r}")
    try:
        return start + lifetime
    except OverflowError:
        raise InputError(f"lifetime is too long, got {lifetime!r}") from None


def _change_set(
    state: RunState,
    backend: BillingBackend | AsyncBillingBackend,
    report: SyncReport,
    lifetime: timedelta,
) -> ChangeSet:
    reconciler = state.reconciler
    return ChangeSet(
        kind="plan",
        planned_at=state.started_at,
        expires_at=_expiry(state.started_at, lifetime),
        psa=backend.name,
        scope=backend.scope,
        plans=tuple(reconciler.plans.values()),
        mapping=reconciler.mapping,
        policy=reconciler.policy,
        agreements=tuple(_changes_of(planned) for planned in state.planned.values()),
        held_all=state.held_all,
        report=report,
    )


def plan_changes(
    client: ConnectWiseClient | BillingBackend,
    plans: Iterable[Plan],
    mapping: PlanMapping | Mapping[str, int],
    usages: Iterable[CompanyUsage],
    policy: SyncPolicy | None = None,
    *,
    today: date | None = None,
    lifetime: timedelta = LIFETIME,
) -> ChangeSet:
    """The dry run, kept: what a sync would write now, per agreement, with what the guardrails
    hold and a fingerprint of the lines it was planned on. Its `report` is the dry run's.
    Save it, let a person review it, and `apply_changes` it.

    Args:
        client: The ConnectWise client, or any `BillingBackend`.
        plans: Every plan the control panel sells.
        mapping: Plan id -> product id.
        usages: One per linked agreement.
        policy: The `SyncPolicy` (its guardrails decide what is held).
        today: The day it is planned for (default: today, UTC).
        lifetime: How long it may be applied (default 24 hours).

    Raises:
        InputError: invalid input, before any request (as `sync_all`).
    """
    backend = backend_for(client, policy)
    _expiry(datetime.now(UTC), lifetime)  # before anything is sent
    state = RunState.for_usages(
        backend, plans, mapping, usages, policy,
        today=today, dry_run=True, audit_log=None, lock=None, stop=None,
    )  # fmt: skip
    report = sync_run(backend, state)
    return _change_set(state, backend, report, lifetime)


async def async_plan_changes(
    client: AsyncConnectWiseClient | AsyncBillingBackend,
    plans: Iterable[Plan],
    mapping: PlanMapping | Mapping[str, int],
    usages: Iterable[CompanyUsage],
    policy: SyncPolicy | None = None,
    *,
    today: date | None = None,
    lifetime: timedelta = LIFETIME,
    concurrency: int = 8,
) -> ChangeSet:
    """The async twin of [`plan_changes`][connectwise_billing.plan_changes]."""
    backend = async_backend_for(client, policy)
    _expiry(datetime.now(UTC), lifetime)
    state = RunState.for_usages(
        backend, plans, mapping, usages, policy,
        today=today, dry_run=True, audit_log=None, lock=None, stop=None,
    )  # fmt: skip
    report = await async_sync_run(backend, state, concurrency=concurrency)
    return _change_set(state, backend, report, lifetime)


# --- applying -----------------------------------------------------------------------------------


def _restored(agreement: AgreementChanges, today: date) -> BillingChecker:
    """An undo's check: each line its operations touch shows the values they restore (its
    money: that of those lines)."""
    wanted: dict[int, dict[str, object]] = {}
    for op in agreement.operations:
        if isinstance(op, UpdateAddition):
            wanted[op.line_id] = {f: change.new for f, change in op.changes.items()}
        elif isinstance(op, CancelAddition):
            wanted[op.line_id] = {"cancelled_date": op.cancelled_date}

    def check(lines: Sequence[AdditionLike], planned: Sequence[Operation]) -> BillingCheck:
        by_id = {line.id: line for line in lines}
        problems = []
        for line_id, values in wanted.items():
            line = by_id.get(line_id)
            shows = {}
            if line is not None:
                shows = {f: getattr(line, f, None) for f in values}
                cancelled = shows.get("cancelled_date")
                if isinstance(cancelled, datetime):
                    shows["cancelled_date"] = cancelled.date()
            if line is None or shows != values:
                op = next(o for o in agreement.operations if getattr(o, "line_id", 0) == line_id)
                problems.append(
                    BillingProblem(
                        "wrong_values",
                        op.plan_id,
                        op.plan_name,
                        op.product_id,
                        (line_id,),
                        f"addition {line_id} shows {shows or 'nothing'} instead of {values}",
                    )
                )
        active = [
            line
            for line in lines
            if line.id in wanted and is_active(line.cancelled_date, today) and bills(line)
        ]
        mrr = sum((billed_quantity(line) * (line.unit_price or 0) for line in active), Decimal(0))
        cost = sum((billed_quantity(line) * (line.unit_cost or 0) for line in active), Decimal(0))
        return BillingCheck(tuple(problems), mrr, cost)

    return check


def _state_for(
    backend: BillingBackend | AsyncBillingBackend,
    changes: ChangeSet,
    *,
    approve: Approval,
    lock: Lock | None,
    audit_log: str | Path | None,
    stop: threading.Event | None,
    now: datetime | None,
) -> RunState:
    if not isinstance(changes, ChangeSet):
        raise InputError(f"changes must be a ChangeSet, got {type(changes).__name__}")
    if now is not None and (not isinstance(now, datetime) or now.utcoffset() is None):
        raise InputError(f"now must be a timezone-aware datetime, got {now!r}")
    moment = now or datetime.now(UTC)
    if moment > changes.expires_at:
        raise ChangeSetError(
            f"the change set planned at {_moment(changes.planned_at)} expired at "
            f"{_moment(changes.expires_at)}: plan again"
        )
    if changes.scope != backend.scope:
        raise ChangeSetError(
            f"the change set was planned against {changes.scope}, not {backend.scope}: apply "
            "it with the configuration it was planned with"
        )
    today = moment.date()
    policy = changes.policy or SyncPolicy(guardrails=None)
    reconciler = Reconciler(changes.plans, changes.mapping, policy, today=today, psa=backend.name)
    usages = [
        agreement.usage or CompanyUsage(agreement.agreement_id, {}, company=agreement.company)
        for agreement in changes.agreements
    ]
    usages = [
        usage._replace(company_id=agreement.company_id)
        for usage, agreement in zip(usages, changes.agreements, strict=True)
    ]
    checked = reconciler.check(usages)
    checks = {
        agreement.agreement_id: _restored(agreement, today)
        for agreement in changes.agreements
        if agreement.usage is None
    }
    state = RunState(
        backend, reconciler, checked,
        dry_run=False, audit_log=audit_log, lock=lock, stop=stop, approve=approve,
        replan=False, checks=checks, reread=True,
    )  # fmt: skip
    by_id = {usage.agreement_id: usage for usage in checked}
    for agreement in changes.agreements:
        usage = by_id[agreement.agreement_id]
        diff = agreement.diff()
        if agreement.usage is not None:
            diff = _guarded(reconciler, usage, agreement, diff)
        state.planned[agreement.agreement_id] = Planned(
            usage,
            diff,
            (),
            agreement.company_id,
            given=agreement.lines,
            complete=agreement.complete,
        )
    return state


def _planned_lines(lines: Sequence[LineFingerprint]) -> list[PlannedLine]:
    return [
        PlannedLine(
            line.id,
            PlannedProduct(_whole(line.values.get("product_id"))),
            _amount(line.values.get("quantity")),
            _amount(line.values.get("unit_price")),
            _amount(line.values.get("unit_cost")),
            _day_of(line.values.get("cancelled_date")),
            _text_of(line.values.get("bill_customer")),
            _amount(line.values.get("less_included")),
        )
        for line in lines
    ]


def _whole(value: object) -> int | None:
    return value if isinstance(value, int) else None


def _day_of(value: object) -> date | None:
    return value if isinstance(value, date) else None


def _text_of(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _guarded(
    reconciler: Reconciler, usage: CompanyUsage, agreement: AgreementChanges, diff: AgreementDiff
) -> AgreementDiff:
    """A plan's diff with the guardrails judged again, on the money the fingerprint and the
    operations give (not on the file's own figures): the holds of the file stay, and an edit
    that would cut a bill without a hold is held all the same."""
    guardrails = reconciler.policy.guardrails
    lines = _planned_lines(agreement.lines)
    before = reconciler.billing(usage, lines)
    after = reconciler.billing(usage, lines, diff.operations)
    diff = diff._replace(
        mrr_before=before.mrr, mrr_after=after.mrr, cost_before=before.cost, cost_after=after.cost
    )
    if guardrails is None:
        return diff
    again = hold_operations(guardrails, diff, usage, reconciler.plans, reconciler.mapping)
    return diff._replace(holds=(*diff.holds, *again))


def apply_changes(
    client: ConnectWiseClient | BillingBackend,
    changes: ChangeSet,
    *,
    approve: Approval = (),
    lock: Lock | None = None,
    audit_log: str | Path | None = None,
    stop: threading.Event | None = None,
    now: datetime | None = None,
) -> SyncReport:
    """Write exactly the operations of a change set: under each agreement's lock, after
    reading it again. An agreement whose lines no longer match the fingerprint is `"stale"`:
    nothing is written there. Held operations are written only for agreements in `approve`
    (or `"all"`). Nothing is recomputed from usage; the billing is then checked on the lines
    read back, against the usage the change set was planned from (an undo: against the values
    it restores).

    Args:
        client: The ConnectWise client, or any `BillingBackend`, of the tenant it was planned
            against.
        changes: The change set (`ChangeSet.load(path)`).
        approve: Agreement ids whose held operations a person approved, or `"all"`.
        lock: As for `sync_all` (default `InProcessLock()`).
        audit_log: Append each settled write to this JSON Lines file.
        stop: Set it to stop after the agreement in flight.
        now: The time the expiry is judged by (default: now).

    Raises:
        ChangeSetError: the change set expired, or was planned against another tenant; nothing
            is sent.
    """
    backend = backend_for(client)
    state = _state_for(
        backend, changes, approve=approve, lock=lock, audit_log=audit_log, stop=stop, now=now
    )
    return sync_run(backend, state, plan=False)


async def async_apply_changes(
    client: AsyncConnectWiseClient | AsyncBillingBackend,
    changes: ChangeSet,
    *,
    approve: Approval = (),
    lock: Lock | None = None,
    audit_log: str | Path | None = None,
    stop: threading.Event | None = None,
    now: datetime | None = None,
    concurrency: int = 8,
) -> SyncReport:
    """The async twin of [`apply_changes`][connectwise_billing.apply_changes]."""
    backend = async_backend_for(client)
    state = _state_for(
        backend, changes, approve=approve, lock=lock, audit_log=audit_log, stop=stop, now=now
    )
    return await async_sync_run(backend, state, concurrency=concurrency, plan=False)


# --- undo -----------------------------------------------------------------------------------------


def _money_of(values: Mapping[str, Any], field: str) -> Decimal | None:
    value = values.get(field)
    if value is None:
        return None
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise ValueError(f"{field} {value!r}") from None
    if not amount.is_finite():
        raise ValueError(f"{field} {value!r}")
    return amount


def _undo_line(record: Mapping[str, Any], today: date) -> tuple[Operation, LineFingerprint] | None:
    """The operation that undoes one applied write, and the fingerprint of what it wrote;
    `None` for a write with nothing to undo.

    Raises:
        ValueError: the line does not say what the write was (a damaged log).
    """
    kind = record.get("operation")
    line_id = record.get("addition_id")
    agreement_id = record.get("agreement_id")
    before, after = record.get("before") or {}, record.get("after") or {}
    if not isinstance(line_id, int) or not isinstance(agreement_id, int):
        raise ValueError("no line or agreement")
    if not isinstance(before, Mapping) or not isinstance(after, Mapping):
        raise ValueError("no values before and after")
    common: dict[str, Any] = {
        "agreement_id": agreement_id,
        "line_id": line_id,
        "plan_id": str(record.get("plan_id")),
        "plan_name": str(record.get("plan_name") or record.get("plan_id")),
        "product_id": record.get("product_id") or 0,
    }
    written: dict[Field, Decimal | None] = {
        field: _money_of(after, field) for field in _UPDATE_FIELDS
    }
    values: dict[str, object] = {"product_id": record.get("product_id")}
    values.update((str(field), value) for field, value in written.items())
    # The run wrote only active lines: one cancelled since is not the line it left.
    values["cancelled_date"] = None
    if kind == "create":
        undo: Operation = CancelAddition(
            **common,
            cancelled_date=today,
            reason=f"undo: it was created by run {record['run_id']}",
            expected=written,
        )
    elif kind == "update":
        restored = {
            field: Change(written[field], old)
            for field in _UPDATE_FIELDS
            if (old := _money_of(before, field)) is not None and old != written[field]
        }
        if not restored:
            return None
        undo = UpdateAddition(
            **common,
            changes=restored,
            reason=f"undo: restore what run {record['run_id']} changed",
            expected=written,
        )
    elif kind == "cancel":
        cancelled = _day_value(after.get("cancelled_date"))
        values["cancelled_date"] = cancelled
        undo = CancelAddition(
            **common,
            cancelled_date=_day_value(before.get("cancelled_date")),
            reason=f"undo: restore the line run {record['run_id']} cancelled",
            expected=written,
            previous_cancelled_date=cancelled,
        )
    else:
        raise ValueError(f"an operation {kind!r}")
    return undo, LineFingerprint(line_id, values)


def _day_value(value: object) -> date | None:
    """A date as an audit line writes it (`2026-12-07`, or a datetime's ISO form)."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(f"a date {value!r}")
    return datetime.fromisoformat(value).date() if "T" in value else date.fromisoformat(value)


def _undo_agreement(
    agreement_id: int,
    record: Mapping[str, Any],
    undone: list[tuple[Operation, LineFingerprint]],
    today: date,
) -> AgreementChanges:
    """An undo's changes to one agreement; its money is that of the lines it touches: as the
    run left them, and once restored."""
    mrr = cost = Decimal(0)
    for _, line in undone:
        cancelled = line.values.get("cancelled_date")
        if cancelled is None or (isinstance(cancelled, date) and cancelled > today):
            quantity = _amount(line.values.get("quantity")) or Decimal(0)
            mrr += quantity * (_amount(line.values.get("unit_price")) or Decimal(0))
            cost += quantity * (_amount(line.values.get("unit_cost")) or Decimal(0))
    deltas = [operation_delta(op) for op, _ in undone]
    return AgreementChanges(
        agreement_id=agreement_id,
        company=record.get("company"),
        company_id=record.get("company_id"),
        usage=None,
        lines=tuple(line for _, line in undone),
        complete=False,
        operations=tuple(op for op, _ in undone),
        mrr_before=mrr,
        mrr_after=mrr + sum((revenue for revenue, _ in deltas), Decimal(0)),
        cost_before=cost,
        cost_after=cost + sum((spend for _, spend in deltas), Decimal(0)),
    )


def undo_changes(
    audit_log: str | Path,
    run_id: str,
    *,
    today: date | None = None,
    lifetime: timedelta = LIFETIME,
) -> ChangeSet:
    """A change set that undoes a run, from its audit log: every line the run changed back to
    its values before, every line it created cancelled (its billing history stays), every line
    it cancelled restored. Each line is fingerprinted with the values the run wrote, so a line
    changed since is `"stale"` when the undo is applied, never overwritten. An undo is not
    guarded: it restores values a person already saw. Writes the run did not settle as applied
    (failed, unknown) are not undone; `notes` counts them.

    Args:
        audit_log: The run's audit log (`sync_all(audit_log=...)`).
        run_id: The run to undo (`runs(audit_log)` lists them).
        today: The day the undo cancels created lines on (default: today, UTC).
        lifetime: How long the change set may be applied (default 24 hours).

    Raises:
        ChangeSetError: the log holds no such run, or only its dry run.
    """
    now = datetime.now(UTC)
    expires = _expiry(now, lifetime)
    day = today or now.date()
    records = [record for record in read_audit_log(audit_log) if record["run_id"] == run_id]
    if not records:
        known = ", ".join(run.run_id for run in runs(audit_log)[-5:]) or "none"
        raise ChangeSetError(f"{audit_log}: no run {run_id!r} (the last runs: {known})")
    if all(record.get("dry_run") for record in records):
        raise ChangeSetError(f"{audit_log}: run {run_id!r} was a dry run: it wrote nothing")
    scope = records[0].get("scope")
    if not isinstance(scope, str):
        raise ChangeSetError(
            f"{audit_log}: run {run_id!r} does not say which tenant it wrote to (an audit log "
            "older than this SDK): undo it by hand"
        )
    last: dict[tuple[object, ...], dict[str, Any]] = {}
    for record in records:
        if record.get("event", "outcome") == "outcome":
            last[write_key(record)] = record
    by_agreement: dict[int, list[tuple[Operation, LineFingerprint]]] = {}
    companies: dict[int, Mapping[str, Any]] = {}
    not_applied = unreadable = 0
    for record in last.values():
        if record.get("status") != "applied":
            not_applied += 1
            continue
        try:
            undone = _undo_line(record, day)
        except (ValueError, TypeError):
            unreadable += 1
            continue
        if undone is None:
            continue
        agreement_id = undone[0].agreement_id
        by_agreement.setdefault(agreement_id, []).append(undone)
        companies[agreement_id] = record
    agreements = tuple(
        _undo_agreement(agreement_id, companies[agreement_id], undone, day)
        for agreement_id, undone in sorted(by_agreement.items())
    )
    notes = tuple(
        note
        for count, note in (
            (not_applied, f"{not_applied} write(s) of the run were not applied: not undone"),
            (unreadable, f"{unreadable} line(s) of the run could not be read: not undone"),
        )
        if count
    )
    return ChangeSet(
        kind="undo",
        planned_at=now,
        expires_at=expires,
        psa=str(records[0].get("psa") or "the PSA"),
        scope=scope,
        plans=(),
        mapping=PlanMapping(),
        policy=None,
        agreements=agreements,
        run_id=run_id,
        notes=notes,
    )
