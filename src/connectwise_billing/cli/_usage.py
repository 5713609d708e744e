"""The usage file: what each control-panel company uses, as CSV or JSON.

CSV, one row per company, agreement and plan (`custom_price`, `discount_percent` and the
optional `company_id` column may be empty; a company's discount and company id must be the same
on all its rows):

```text
company,company_id,agreement_id,plan,seats,custom_price,discount_percent
Contoso Ltd,12,1056,gold-50,12,7.25,10
Contoso Ltd,12,1056,basic-10,3,,10
```

JSON, one object per linked agreement:

```json
[{"company": "Contoso Ltd", "company_id": 12, "agreement_id": 1056, "discount_percent": "10",
  "seats": {"gold-50": 12, "basic-10": 3}, "custom_prices": {"gold-50": "7.25"}}]
```

`company_id` is the ConnectWise company the agreement must belong to: a sync writes nothing to
an agreement of another company (without it, the company's name is compared instead).

Seat counts and ids are ASCII digits: `"²".isdigit()` is true, and `int()` reads full-width
and Arabic-Indic digits, none of which anyone types into a seat count on purpose. Plan ids are
compared in Unicode NFC, as [`Plan`][connectwise_billing.Plan] keeps them. A quoted CSV field
keeps every character, line separators such as U+2028 included.

Problems are reported as `ConfigFileError` naming the file, the line (CSV) or entry (JSON),
and the field; a value that is not ASCII is also shown in escapes, so that a lookalike can be
told apart.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Final, TypeVar

from connectwise_billing._values import normalize_text, shown, shown_text
from connectwise_billing.cli._config import ConfigFileError, read_text
from connectwise_billing.convert import unique_keys
from connectwise_billing.reconcile import CompanyUsage, Plan

_Value = TypeVar("_Value")

_DECIMAL_COMMA: Final = re.compile(r"^\s*-?\d+,\d+\s*$")

CSV_COLUMNS: Final = (
    "company",
    "company_id",
    "agreement_id",
    "plan",
    "seats",
    "custom_price",
    "discount_percent",
)


class _Where:
    def __init__(self, path: Path, place: str, *, allow_small_discounts: bool = False) -> None:
        self.path = path
        self.place = place
        self.allow_small_discounts = allow_small_discounts

    def fail(self, field: str, problem: str) -> ConfigFileError:
        return ConfigFileError(f"{self.path}: {self.place}: {field}: {problem}")


def _digits(text: str) -> bool:
    # ASCII only: "²".isdigit() is true and int() refuses it; int() reads full-width and
    # Arabic-Indic digits, which no one types into a usage file on purpose.
    return text.isascii() and text.isdigit()


def _record_id(where: _Where, field: str, value: Any) -> int:
    text = str(value).strip()
    if isinstance(value, bool) or not _digits(text) or int(text) <= 0:
        raise where.fail(field, f"must be a positive whole number, got {shown_text(value)}")
    return int(text)


def _agreement_id(where: _Where, value: Any) -> int:
    return _record_id(where, "agreement_id", value)


def _company_id(where: _Where, value: Any) -> int | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return _record_id(where, "company_id", value)


def _seats(where: _Where, field: str, value: Any) -> int:
    text = str(value).strip()
    if isinstance(value, bool) or not _digits(text):
        raise where.fail(field, f"must be a whole number >= 0, got {shown_text(value)}")
    return int(text)


def _decimal(where: _Where, field: str, value: Any, *, upper: Decimal | None = None) -> Decimal:
    if isinstance(value, str) and _DECIMAL_COMMA.match(value):
        point = value.strip().replace(",", ".")
        raise where.fail(field, f"{shown(value)} has a decimal comma: write {point}")
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        raise where.fail(field, f"must be a number, got {shown(value)}") from None
    if (
        isinstance(value, bool)
        or not amount.is_finite()
        or amount < 0
        or (upper is not None and amount > upper)
    ):
        limit = f" and <= {upper}" if upper is not None else ""
        raise where.fail(field, f"must be a number >= 0{limit}, got {shown(value)}")
    return amount


def _discount(where: _Where, value: Any) -> Decimal:
    discount = _decimal(where, "discount_percent", value, upper=Decimal(100))
    if 0 < discount < 1 and not where.allow_small_discounts:
        meant = f"{(discount * 100).normalize():f}"
        raise where.fail(
            "discount_percent",
            f"{discount} is a percentage: {discount}% off; write {meant} for {meant}%, or pass "
            f"--allow-small-discounts if {discount}% is meant",
        )
    return discount


def _plan(where: _Where, field: str, given: str, plans: Mapping[str, Plan]) -> str:
    plan_id = normalize_text(given)
    if plan_id not in plans:
        known = ", ".join(shown_text(known_id) for known_id in sorted(plans))
        raise where.fail(
            field, f"unknown plan {shown_text(given)}; the config's [plans] has {known}"
        )
    return plan_id


def _by_plan(
    where: _Where,
    field: str,
    given: Mapping[str, Any],
    plans: Mapping[str, Plan],
    read: Callable[[_Where, str, Any], _Value],
) -> dict[str, _Value]:
    by_plan: dict[str, _Value] = {}
    for key, value in given.items():
        plan_id = _plan(where, f"{field}.{key}", key, plans)
        if plan_id in by_plan:
            raise where.fail(
                f"{field}.{key}",
                f"{shown_text(key)} is plan {shown_text(plan_id)} again, in another Unicode form",
            )
        by_plan[plan_id] = read(where, f"{field}.{key}", value)
    return by_plan


_DELIMITERS: Final = {";": "semicolons", "\t": "tabs", "|": "vertical bars"}


def _delimiter_hint(header: list[str]) -> str:
    """Why a header lacks its columns when a spreadsheet saved it with another separator (a
    semicolon, as Excel does where the decimal separator is a comma)."""
    whole = ",".join(header)
    for delimiter, name in _DELIMITERS.items():
        columns = {part.strip().lower() for part in whole.split(delimiter)}
        if columns & {"company", "agreement_id", "plan", "seats"}:
            return (
                f" (the header is separated by {name}: save the file with commas between "
                "the fields, as CSV)"
            )
    return ""


def _rows(path: Path, text: str) -> Iterator[tuple[int, dict[str, str]]]:
    """Each record with the line it starts on, by the header's columns."""
    # Not text.splitlines(): it also splits at U+2028, U+0085 and other separators a quoted
    # field (a company name pasted from a document) may hold, which would cut the record.
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, [])
        missing = [c for c in ("company", "agreement_id", "plan", "seats") if c not in header]
        if missing:
            expected = ",".join(c for c in CSV_COLUMNS if c != "company_id")
            raise ConfigFileError(
                f"{path}: line 1: the header lacks column {missing[0]!r}; expected {expected}"
                + _delimiter_hint(header)
            )
        read = reader.line_num
        for fields in reader:
            # A quoted field may span lines: the record starts after the one before it ends.
            line, read = read + 1, reader.line_num
            if not fields:
                continue
            if len(fields) != len(header):
                hint = (
                    " (a decimal comma in a number? write 11.50)"
                    if len(fields) > len(header)
                    else ""
                )
                raise ConfigFileError(
                    f"{path}: line {line}: has {len(fields)} fields, the header has "
                    f"{len(header)}{hint}"
                )
            yield line, dict(zip(header, fields, strict=True))
    except csv.Error as error:
        raise ConfigFileError(f"{path}: line {reader.line_num}: not valid CSV: {error}") from None


def _from_csv(
    path: Path, text: str, plans: Mapping[str, Plan], allow_small_discounts: bool
) -> list[CompanyUsage]:
    usages: dict[int, dict[str, Any]] = {}
    for line, row in _rows(path, text):
        where = _Where(path, f"line {line}", allow_small_discounts=allow_small_discounts)
        agreement = _agreement_id(where, row.get("agreement_id") or "")
        company = (row.get("company") or "").strip()
        if not company:
            raise where.fail("company", "is empty")
        company_id = _company_id(where, row.get("company_id"))
        entry = usages.setdefault(
            agreement,
            {
                "company": company,
                "company_id": company_id,
                "seats": {},
                "prices": {},
                "discount": None,
                "line": line,
            },
        )
        if normalize_text(entry["company"]) != normalize_text(company):
            raise where.fail(
                "company",
                f"agreement {agreement} belongs to {entry['company']!r} on line {entry['line']}",
            )
        if entry["company_id"] != company_id:
            raise where.fail(
                "company_id", f"differs from line {entry['line']} for agreement {agreement}"
            )
        given = (row.get("plan") or "").strip()
        plan = _plan(where, "plan", given, plans)
        if plan in entry["seats"]:
            raise where.fail("plan", f"{shown_text(given)} appears twice for agreement {agreement}")
        entry["seats"][plan] = _seats(where, "seats", row.get("seats") or "")
        if (row.get("custom_price") or "").strip():
            entry["prices"][plan] = _decimal(where, "custom_price", row["custom_price"])
        discount_text = (row.get("discount_percent") or "").strip()
        discount = _discount(where, discount_text) if discount_text else Decimal(0)
        if entry["discount"] is not None and entry["discount"] != discount:
            raise where.fail(
                "discount_percent", f"differs from line {entry['line']} for agreement {agreement}"
            )
        entry["discount"] = discount
    return [
        CompanyUsage(
            agreement,
            entry["seats"],
            entry["prices"],
            entry["discount"],
            entry["company"],
            entry["company_id"],
        )
        for agreement, entry in usages.items()
    ]


def _from_json(
    path: Path, text: str, plans: Mapping[str, Plan], allow_small_discounts: bool
) -> list[CompanyUsage]:
    try:
        data = json.loads(text, parse_float=Decimal, object_pairs_hook=unique_keys)
    except json.JSONDecodeError as error:
        raise ConfigFileError(f"{path}: line {error.lineno}: not valid JSON: {error.msg}") from None
    except (ValueError, RecursionError) as error:  # a key given twice, nesting too deep
        raise ConfigFileError(f"{path}: not a usage file: {error}") from None
    if not isinstance(data, list):
        raise ConfigFileError(f"{path}: expected a JSON list of usages")
    usages: list[CompanyUsage] = []
    seen: dict[int, int] = {}
    for index, entry in enumerate(data):
        where = _Where(path, f"entry {index}", allow_small_discounts=allow_small_discounts)
        if not isinstance(entry, dict):
            raise where.fail("entry", "must be an object")
        unknown = set(entry) - {
            "company",
            "company_id",
            "agreement_id",
            "seats",
            "custom_prices",
            "discount_percent",
        }
        if unknown:
            raise where.fail(sorted(unknown)[0], "unknown field")
        company = entry.get("company")
        if company is not None and (not isinstance(company, str) or not company.strip()):
            raise where.fail("company", f"must be a non-empty string, got {shown(company)}")
        seats = entry.get("seats")
        if not isinstance(seats, dict):
            raise where.fail("seats", "must be an object of plan id -> seats")
        prices = entry.get("custom_prices") or {}
        if not isinstance(prices, dict):
            raise where.fail("custom_prices", "must be an object of plan id -> price")
        agreement = _agreement_id(where, entry.get("agreement_id", ""))
        if agreement in seen:
            raise where.fail(
                "agreement_id", f"agreement {agreement} is also in entry {seen[agreement]}"
            )
        seen[agreement] = index
        usages.append(
            CompanyUsage(
                agreement,
                _by_plan(where, "seats", seats, plans, _seats),
                _by_plan(where, "custom_prices", prices, plans, _decimal),
                _discount(where, entry.get("discount_percent", 0)),
                company.strip() if company else None,
                _company_id(where, entry.get("company_id")),
            )
        )
    return usages


def load_usage(
    path: str | Path, plans: Iterable[Plan], *, allow_small_discounts: bool = False
) -> list[CompanyUsage]:
    """Read a usage file (`.csv` or `.json`, by extension) against the configured plans.

    A CSV row must have as many fields as the header (an unquoted decimal comma, `11,50`, would
    otherwise shift every field after it); a number with a decimal comma is refused with a hint;
    a discount between 0 and 1 percent is taken for a mistake (0.1 meant as 10%) unless
    `allow_small_discounts`.

    Raises:
        ConfigFileError: naming the file, line or entry, and field.
    """
    path = Path(path)
    if path.suffix.lower() not in (".csv", ".json"):
        raise ConfigFileError(f"{path}: the usage file must be .csv or .json")
    by_id = {plan.id: plan for plan in plans}
    if path.suffix.lower() == ".json":
        text = read_text(path, "the usage file", encoding="utf-8-sig")
        return _from_json(path, text, by_id, allow_small_discounts)
    # newline="": the csv module tells line ends from line breaks inside quoted fields.
    text = read_text(path, "the usage file", encoding="utf-8-sig", newline="")
    return _from_csv(path, text, by_id, allow_small_discounts)
