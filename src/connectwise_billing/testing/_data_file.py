"""Seed the simulator from a JSON data file (`python -m connectwise_billing.testing serve --data`).

The file holds ConnectWise's own records, `{"companies": [...], "products": [...],
"agreements": [...], "additions": [...]}`, with ConnectWise's field names. Every field is checked
against the contract's schema (`Company`, `CatalogItem`, `Agreement`, `Addition`), references
are resolved, and only then is anything stored: through the `add_*` methods, so that a field
left out takes the same default as when a test seeds the simulator in Python. Every problem is
collected and reported with the record and field it is in (`additions[3].agreementId: no
agreement 999`), never as a traceback.
"""

from __future__ import annotations

import itertools
import json
import re
import uuid
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any, Final

import attrs

from connectwise_billing.testing import _api
from connectwise_billing.testing._fake import FakeConnectWise
from connectwise_billing.testing._format import moment, timestamp

SECTIONS: Final = {
    "companies": "Company",
    "products": "CatalogItem",
    "agreements": "Agreement",
    "additions": "Addition",
}
"""The file's top-level keys, and the contract schema of each one's records."""

_NOUNS: Final = {
    "companies": "company",
    "products": "product",
    "agreements": "agreement",
    "additions": "addition",
}
_REQUIRED: Final = {
    "companies": ("id", "identifier", "name"),
    "products": ("id", "identifier"),
    "agreements": ("id", "company"),
    "additions": ("agreementId", "product"),
}
"""Fields a record must give: the ids other records, the configuration and the usage file
refer to, and what has no sensible default. Everything else has one (see the simulator guide)."""

_COMPUTED: Final = {
    "extPrice": "quantity x unitPrice",
    "extCost": "quantity x unitCost",
    "margin": "quantity x (unitPrice - unitCost)",
    "billedQuantity": "quantity",
    "agreementStatus": "the agreement's agreementStatus",
}
"""Addition fields the simulator computes on every answer: a value in the file would be
silently replaced, so it is refused instead."""

_MOMENT: Final = {"type": "string", "format": "date-time"}
_INT32_MAX: Final = 2**31 - 1
_MAX_MAGNITUDE: Final = 12
_MAX_DIGITS: Final = 15
"""The numbers the SDK reads and writes back: zero, or between 10**-12 and 10**13 in size, with at
most 15 significant digits. The same limits as `connectwise_billing._values` (`MAX_MAGNITUDE`,
`MAX_DIGITS`), stated again because the simulator does not borrow the SDK's code: a larger
number makes every answer holding it unreadable to the SDK, and a longer one is not what
ConnectWise, which keeps numbers as doubles, could hold (nor could the SDK write it back)."""
_DEFAULT_START: Final = "2024-01-01T00:00:00Z"
"""An agreement's `startDate` when the file leaves it out (`FakeConnectWise.add_agreement`)."""
_MAX_DEPTH: Final = 32
"""How deep lists and objects may nest: a ConnectWise record nests a few levels, and a file
nested thousands deep would exhaust Python's stack."""
_SHOWN_MAX: Final = 60
_PROBLEMS_SHOWN: Final = 20


class DataFileError(ValueError):
    """A data file the simulator cannot serve; each problem names the record and field.

    Attributes:
        problems: One line per problem (`additions[3].agreementId: no agreement 999`).
    """

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        shown = problems[:_PROBLEMS_SHOWN]
        if len(problems) == 1:
            text = problems[0]
        else:
            more = len(problems) - len(shown)
            text = f"{len(problems)} problems:\n" + "\n".join(f"  {p}" for p in shown)
            if more:
                text += f"\n  ... and {more} more"
        super().__init__(text)


class _Invalid(Exception):
    """One field's problem, raised while checking a value (caught per field)."""

    def __init__(self, where: str, message: str) -> None:
        super().__init__(f"{where}: {message}")


@attrs.define
class _Record:
    """One record of the file, its fields checked (numbers `Decimal`, moments normalised)."""

    section: str
    index: int
    fields: dict[str, Any]
    links: dict[str, int] = attrs.field(factory=dict)
    """Ids its references resolved to: `company`, `product`, `agreementId`."""

    @property
    def where(self) -> str:
        return f"{self.section}[{self.index}]"


def load_data_file(fake: FakeConnectWise, path: Path) -> None:
    """Seed `fake` with the records of the data file at `path` (`DataFileError` if it cannot)."""
    records = _checked(_read(path))
    _seed(fake, records)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for key, value in pairs:
        if key in found:
            raise ValueError(f"the key {key!r} appears twice in one object")
        found[key] = value
    return found


def _read(path: Path) -> Any:
    try:
        # utf-8-sig: a byte order mark at the start (as Notepad saves) is skipped, as in usage CSVs.
        text = path.read_text(encoding="utf-8-sig")
    except OSError as error:
        raise DataFileError([f"cannot read the file: {error.strerror or error}"]) from None
    except UnicodeDecodeError:
        raise DataFileError(["the file is not UTF-8 text"]) from None
    too_deep = f"lists and objects nest more than {_MAX_DEPTH} deep (a record nests a few levels)"
    try:
        # Money and quantities stay exact: JSON's non-integers are read as Decimal.
        data = json.loads(
            text,
            parse_float=Decimal,
            parse_constant=_reject_constant,
            object_pairs_hook=_unique_keys,
        )
    except json.JSONDecodeError as error:
        said = f"not valid JSON: {error.msg} (line {error.lineno}, column {error.colno})"
        raise DataFileError([said]) from None
    except ValueError as error:
        raise DataFileError([f"not valid JSON: {error}"]) from None
    except RecursionError:
        raise DataFileError([too_deep]) from None
    if _nesting_exceeds(data, _MAX_DEPTH):
        # Checked before anything walks the data recursively.
        raise DataFileError([too_deep])
    return data


def _nesting_exceeds(data: Any, limit: int) -> bool:
    """Whether lists and objects in `data` nest more than `limit` deep (found without recursion)."""
    pending: list[tuple[Any, int]] = [(data, 1)]
    while pending:
        value, depth = pending.pop()
        if isinstance(value, dict | list):
            if depth > limit:
                return True
            items = value.values() if isinstance(value, dict) else value
            pending.extend((item, depth + 1) for item in items)
    return False


def _surrogate_free(value: Any, where: str, problems: list[str]) -> Any:
    """`value` with every string holding a lone surrogate (`"\\ud800"` in the file: half of a
    UTF-16 pair, not a character) reported and escaped, so that checking can go on. UTF-8 cannot
    encode one, so no answer holding it could be written."""
    if isinstance(value, list):
        return [_surrogate_free(item, f"{where}[{i}]", problems) for i, item in enumerate(value)]
    if isinstance(value, dict):
        cleaned: dict[str, Any] = {}
        for key, item in value.items():
            name = _escaped(key)
            inner = f"{where}.{name}" if where else name
            if name != key:
                problems.append(f"{inner}: the field's name {_lone(key)}")
            cleaned[name] = _surrogate_free(item, inner, problems)
        return cleaned
    if isinstance(value, str) and _SURROGATE.search(value):
        problems.append(f"{where}: {_lone(value)}")
        return _escaped(value)
    return value


_SURROGATE: Final = re.compile(r"[\ud800-\udfff]")


def _escaped(text: str) -> str:
    """`text` with each lone surrogate written as its escape (`\\ud800`)."""
    return _SURROGATE.sub(lambda match: f"\\u{ord(match.group()):04x}", text)


def _lone(text: str) -> str:
    first = _SURROGATE.findall(text)[0]
    return (
        f"holds a lone surrogate ({_escaped(first)}), half of a UTF-16 pair and not a "
        "character: answers could not be written in UTF-8"
    )


# --- checking ---------------------------------------------------------------------------------


def _shown(value: Any) -> str:
    # A number as the file wrote it, in short: `1E+999999`, never its million digits.
    text = json.dumps(value, default=_marked, ensure_ascii=False, separators=(",", ":"))
    text = _MARKED.sub(lambda match: match.group(1), text)
    return text if len(text) <= _SHOWN_MAX else text[: _SHOWN_MAX - 3] + "..."


def _marked(value: Any) -> str:
    if isinstance(value, Decimal):
        return f"\0{value}\0"
    raise TypeError(f"cannot show {value!r}")


_MARKED: Final = re.compile(r'"\\u0000([^"]*)\\u0000"')


def _schema(name: str) -> Mapping[str, Any]:
    schema: Mapping[str, Any] = _api.contract()["schemas"][name]
    return schema


def _value(spec: Mapping[str, Any], value: Any, where: str) -> Any:
    """`value` checked against a contract property `spec`, as the simulator stores it."""
    ref = spec.get("$ref")
    if isinstance(ref, str):
        name = ref.rsplit("/", 1)[-1]
        return _object(name, _schema(name), value, where)
    declared = spec.get("type")
    types = declared if isinstance(declared, list) else [declared] if declared else []
    if value is None:
        if types and "null" not in types:
            raise _Invalid(where, "must not be null (leave the field out for the default)")
        return None
    if "enum" in spec:
        if value not in spec["enum"]:
            raise _Invalid(where, f"must be one of {', '.join(spec['enum'])}, not {_shown(value)}")
        return value
    kind = next((t for t in types if t != "null"), None)
    if kind == "string":
        return _text(spec, value, where)
    if kind == "integer":
        if isinstance(value, bool) or not isinstance(value, int):
            raise _Invalid(where, f"must be an integer, not {_shown(value)}")
        if spec.get("format") == "int32" and not -_INT32_MAX - 1 <= value <= _INT32_MAX:
            raise _Invalid(where, f"must fit in 32 bits, not {value}")
        return value
    if kind == "number":
        if isinstance(value, bool) or not isinstance(value, int | Decimal):
            raise _Invalid(where, f"must be a number, not {_shown(value)}")
        number = Decimal(value)
        problem = _unreadable(number) or _too_long(number)
        if problem:
            raise _Invalid(where, f"{_shown(number)} {problem}")
        return number
    if kind == "boolean":
        if not isinstance(value, bool):
            raise _Invalid(where, f"must be true or false, not {_shown(value)}")
        return value
    if kind == "array":
        if not isinstance(value, list):
            raise _Invalid(where, f"must be a list, not {_shown(value)}")
        return [_value(spec["items"], item, f"{where}[{i}]") for i, item in enumerate(value)]
    if kind == "object":
        return _object("object", spec, value, where)
    return value  # the contract leaves it open ({}): any JSON value


def _unreadable(number: Decimal) -> str | None:
    """Why the SDK could not read `number` in an answer (see `_MAX_MAGNITUDE`), or `None`."""
    if number and not -_MAX_MAGNITUDE <= number.adjusted() <= _MAX_MAGNITUDE:
        return (
            "is out of range: a number must be 0, or at least 0.000000000001 and below "
            "10000000000000 in size"
        )
    return None


def _too_long(number: Decimal) -> str | None:
    if len(number.normalize().as_tuple().digits) > _MAX_DIGITS:
        return f"has more than {_MAX_DIGITS} significant digits, which ConnectWise cannot hold"
    return None


def _text(spec: Mapping[str, Any], value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise _Invalid(where, f"must be a string, not {_shown(value)}")
    if spec.get("format") == "date-time":
        try:
            return timestamp(moment(value))
        except ValueError:
            said = f"must be a date and time such as 2025-01-31T00:00:00Z, not {_shown(value)}"
            raise _Invalid(where, said) from None
    if spec.get("format") == "uuid":
        try:
            uuid.UUID(value)
        except ValueError:
            raise _Invalid(where, f"must be a UUID, not {_shown(value)}") from None
    return value


def _object(name: str, spec: Mapping[str, Any], value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _Invalid(where, f"must be an object, not {_shown(value)}")
    properties: Mapping[str, Any] = spec.get("properties", {})
    extra = spec.get("additionalProperties")
    checked: dict[str, Any] = {}
    for key, item in value.items():
        if key in properties:
            checked[key] = _value(properties[key], item, f"{where}.{key}")
        elif isinstance(extra, Mapping):
            checked[key] = _value(extra, item, f"{where}.{key}")
        elif properties:
            raise _Invalid(f"{where}.{key}", f"not a field of ConnectWise's {name}")
        else:
            checked[key] = item
    return checked


def _record(section: str, index: int, item: Any, problems: list[str]) -> _Record | None:
    record = _Record(section, index, {})
    schema_name = SECTIONS[section]
    if not isinstance(item, dict):
        problems.append(f"{record.where}: must be an object, not {_shown(item)}")
        return None
    properties: Mapping[str, Any] = _schema(schema_name)["properties"]
    for key, value in item.items():
        where = f"{record.where}.{key}"
        if key not in properties:
            problems.append(f"{where}: not a field of ConnectWise's {schema_name}")
        elif section == "additions" and key in _COMPUTED:
            problems.append(f"{where}: computed by the simulator ({_COMPUTED[key]}); leave it out")
        else:
            try:
                record.fields[key] = _value(properties[key], value, where)
            except _Invalid as error:
                problems.append(str(error))
    for key in _REQUIRED[section]:
        if key not in item:
            *first, last = _REQUIRED[section]
            needs = f"{', '.join(first)} and {last}"
            problems.append(f"{record.where}.{key}: missing (a {_NOUNS[section]} needs {needs})")
        elif key in record.fields and record.fields[key] is None:
            problems.append(f"{record.where}.{key}: must not be null")
    if isinstance(record.fields.get("id"), int) and record.fields["id"] < 1:
        problems.append(f"{record.where}.id: must be at least 1, not {record.fields['id']}")
    info = record.fields.get("_info")
    if isinstance(info, dict) and "lastUpdated" in info:
        # The contract types `_info` as strings only; the simulator reads lastUpdated as a time.
        where = f"{record.where}._info.lastUpdated"
        try:
            info["lastUpdated"] = _text(_MOMENT, info["lastUpdated"], where)
        except _Invalid as error:
            problems.append(str(error))
    return record


class _Index:
    """A section's records by id and, for companies and products, by identifier (both unique,
    as ConnectWise keeps them)."""

    def __init__(self, records: list[_Record], problems: list[str], *, identifiers: bool) -> None:
        self.by_id: dict[int, _Record] = {}
        self.by_identifier: dict[str, _Record] = {}
        for record in records:
            record_id = record.fields.get("id")
            if isinstance(record_id, int):
                first = self.by_id.setdefault(record_id, record)
                if first is not record:
                    problems.append(
                        f"{record.where}.id: {record_id} is already the id of {first.where}"
                    )
            identifier = record.fields.get("identifier")
            if identifiers and isinstance(identifier, str):
                first = self.by_identifier.setdefault(identifier.casefold(), record)
                if first is not record:
                    problems.append(
                        f"{record.where}.identifier: {_shown(identifier)} is already the "
                        f"identifier of {first.where}"
                    )

    def find(self, reference: Mapping[str, Any], noun: str, where: str) -> _Record:
        """The record a reference (`{"id": ...}` or `{"identifier": ...}`) points to; the
        reference's other fields must agree with it."""
        if reference.get("id") is not None:
            found = self.by_id.get(reference["id"])
            if found is None:
                raise _Invalid(f"{where}.id", f"no {noun} {reference['id']}")
        elif reference.get("identifier") is not None:
            found = self.by_identifier.get(reference["identifier"].casefold())
            if found is None:
                raise _Invalid(
                    f"{where}.identifier",
                    f"no {noun} with identifier {_shown(reference['identifier'])}",
                )
        else:
            raise _Invalid(where, f"must give the {noun}'s id or identifier")
        for key in ("id", "identifier", "name"):
            given, actual = reference.get(key), found.fields.get(key)
            if given is None:
                continue
            # Identifiers are looked up ignoring case, as ConnectWise's conditions compare them.
            same = (
                given.casefold() == str(actual).casefold()
                if key == "identifier"
                else given == actual
            )
            if not same:
                said = (
                    f"{noun} {found.fields['id']} has {key} {_shown(actual)}, not {_shown(given)}"
                )
                raise _Invalid(f"{where}.{key}", said)
        return found


def _checked(data: Any) -> dict[str, list[_Record]]:
    """The file's records, checked and linked (`DataFileError` listing every problem)."""
    problems: list[str] = []
    data = _surrogate_free(data, "", problems)
    if not isinstance(data, dict):
        raise DataFileError(
            [f"the file must hold a JSON object with {', '.join(SECTIONS)}, not {_shown(data)}"]
        )
    problems += [
        f"{key}: unknown top-level key (the keys are {', '.join(SECTIONS)})"
        for key in data
        if key not in SECTIONS
    ]
    sections: dict[str, list[_Record]] = {}
    for section in SECTIONS:
        items = data.get(section, [])
        if not isinstance(items, list):
            problems.append(f"{section}: must be a list of records, not {_shown(items)}")
            items = []
        sections[section] = [
            record
            for index, item in enumerate(items)
            if (record := _record(section, index, item, problems)) is not None
        ]
    companies = _Index(sections["companies"], problems, identifiers=True)
    products = _Index(sections["products"], problems, identifiers=True)
    agreements = _Index(sections["agreements"], problems, identifiers=False)
    _Index(sections["additions"], problems, identifiers=False)
    for record in sections["agreements"]:
        _link(record, "company", companies, "company", problems)
        _check_agreement(record, problems)
    for record in sections["additions"]:
        _link(record, "product", products, "product", problems)
        agreement_id = record.fields.get("agreementId")
        if isinstance(agreement_id, int):
            if agreement_id in agreements.by_id:
                record.links["agreementId"] = agreement_id
            else:
                problems.append(f"{record.where}.agreementId: no agreement {agreement_id}")
        if "product" in record.links:
            _check_computed(record, products.by_id[record.links["product"]], problems)
    if problems:
        raise DataFileError(problems)
    return sections


def _check_agreement(record: _Record, problems: list[str]) -> None:
    """An agreement's dates in order, and its status and cancelled flag in agreement (each one
    the file leaves out is derived from the other, see the simulator guide)."""
    fields = record.fields
    start, end = fields.get("startDate", _DEFAULT_START), fields.get("endDate")
    if isinstance(start, str) and isinstance(end, str) and moment(end) < moment(start):
        given = "startDate" if "startDate" in fields else "startDate (the default)"
        problems.append(f"{record.where}.endDate: {end} is before {given} {start}")
    status, cancelled = fields.get("agreementStatus"), fields.get("cancelledFlag")
    if status is not None and cancelled is not None and (status == "Cancelled") != cancelled:
        problems.append(
            f"{record.where}.cancelledFlag: {'true' if cancelled else 'false'} contradicts "
            f'agreementStatus "{status}" (cancelledFlag is true when, and only when, the '
            'status is "Cancelled")'
        )


def _check_computed(record: _Record, product: _Record, problems: list[str]) -> None:
    """The amounts the simulator computes for an addition (see `_COMPUTED`), within what the SDK
    reads: readable factors can make an unreadable product (10**12 seats at 10**12 each)."""
    fields = record.fields

    def number(value: Any) -> Decimal:
        return value if isinstance(value, Decimal) else Decimal(0)  # null or wrong: 0, as served

    quantity = number(fields.get("quantity", Decimal(1)))
    price = number(fields.get("unitPrice", product.fields.get("price")))
    cost = number(fields.get("unitCost", product.fields.get("cost")))
    computed = {
        "extPrice": quantity * price,
        "extCost": quantity * cost,
        "margin": quantity * (price - cost),
    }
    for key, value in computed.items():
        problem = _unreadable(value)
        if problem:
            said = f"{key} ({_COMPUTED[key]}) would be {value}, which {problem}"
            problems.append(f"{record.where}: {said}")
            return  # one is enough: the others come from the same numbers


def _link(record: _Record, field: str, index: _Index, noun: str, problems: list[str]) -> None:
    reference = record.fields.get(field)
    if not isinstance(reference, dict):
        return  # missing or of the wrong type: already a problem
    try:
        record.links[field] = index.find(reference, noun, f"{record.where}.{field}").fields["id"]
    except _Invalid as error:
        problems.append(str(error))


# --- seeding ----------------------------------------------------------------------------------


def _overlay(
    stored: dict[str, Any], fields: Mapping[str, Any], *, derived: tuple[str, ...]
) -> None:
    """Write the file's fields over the defaults `add_*` stored; `derived` fields (references)
    keep the form the simulator gave them. `_info` is merged: what the file leaves out of it
    (`lastUpdated`, `updatedBy`) keeps its default."""
    for key, value in fields.items():
        if key in derived:
            continue
        if key == "_info":
            stored["_info"] = {**stored["_info"], **value}
        else:
            stored[key] = value


def _seed(fake: FakeConnectWise, sections: Mapping[str, list[_Record]]) -> None:
    # The loader is the simulator's own code: it writes the file's fields straight into the
    # records `add_*` just stored, and moves the store's id counter.
    highest = max(
        (r.fields["id"] for records in sections.values() for r in records if "id" in r.fields),
        default=0,
    )
    # Additions the file gives no id, and records later created through the API, take the next
    # ids: never one of the file's, which a POST would otherwise overwrite.
    fake._ids = itertools.count(max(highest + 1, next(fake._ids)))
    for record in sections["companies"]:
        fields = record.fields
        fake.add_company(fields["name"], identifier=fields["identifier"], id=fields["id"])
        _overlay(fake._companies[fields["id"]], fields, derived=())
    for record in sections["products"]:
        _seed_product(fake, record.fields)
    for record in sections["agreements"]:
        _seed_agreement(fake, record)
    for record in sections["additions"]:
        _seed_addition(fake, record)


def _number_or_zero(value: Any) -> Decimal:
    # `add_*` needs a number: a price or cost the file leaves out is 0 (the default), and one it
    # sets to null is written over this afterwards.
    return value if isinstance(value, Decimal) else Decimal(0)


def _seed_product(fake: FakeConnectWise, fields: Mapping[str, Any]) -> None:
    fake.add_product(
        fields["identifier"],
        price=_number_or_zero(fields.get("price")),
        cost=_number_or_zero(fields.get("cost")),
        description=fields.get("description"),
        customer_description=fields.get("customerDescription"),
        id=fields["id"],
    )
    _overlay(fake._catalog[fields["id"]], fields, derived=())


def _seed_agreement(fake: FakeConnectWise, record: _Record) -> None:
    fields = record.fields
    end = fields.get("endDate")
    status = fields.get("agreementStatus") or (
        "Cancelled" if fields.get("cancelledFlag") else "Active"
    )
    fake.add_agreement(
        record.links["company"],
        fields.get("name") or "Email Hosting",
        status=status,
        end_date=moment(end) if end else None,
        id=fields["id"],
    )
    _overlay(fake._agreements[fields["id"]], fields, derived=("company",))


def _seed_addition(fake: FakeConnectWise, record: _Record) -> None:
    fields = record.fields
    product = fake._catalog[record.links["product"]]
    # ConnectWise's default price and cost are the catalog item's, which the file may have
    # left null: then the addition's are null too.
    price = fields.get("unitPrice", product.get("price"))
    cost = fields.get("unitCost", product.get("cost"))
    addition_id = fake.add_addition(
        record.links["agreementId"],
        record.links["product"],
        Decimal(1),
        unit_price=_number_or_zero(price),
        unit_cost=_number_or_zero(cost),
        id=fields.get("id"),
    )
    stored = fake._additions[addition_id]
    stored.update(unitPrice=price, unitCost=cost)
    _overlay(stored, fields, derived=("product", "agreementId"))
