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
import uuid
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any, Final

import attrs

from connectwise_billing.testing import _api
from connectwise_billing.testing._format import dumps, moment, timestamp
from connectwise_billing.testing.fake import FakeConnectWise

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
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise DataFileError([f"cannot read the file: {error.strerror or error}"]) from None
    except UnicodeDecodeError:
        raise DataFileError(["the file is not UTF-8 text"]) from None
    try:
        # Money and quantities stay exact: JSON's non-integers are read as Decimal.
        return json.loads(
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


# --- checking ---------------------------------------------------------------------------------


def _shown(value: Any) -> str:
    text = dumps(value).decode()
    return text if len(text) <= _SHOWN_MAX else text[: _SHOWN_MAX - 3] + "..."


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
        return Decimal(value)
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
    if not isinstance(data, dict):
        raise DataFileError(
            [f"the file must hold a JSON object with {', '.join(SECTIONS)}, not {_shown(data)}"]
        )
    problems = [
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
    for record in sections["additions"]:
        _link(record, "product", products, "product", problems)
        agreement_id = record.fields.get("agreementId")
        if isinstance(agreement_id, int):
            if agreement_id in agreements.by_id:
                record.links["agreementId"] = agreement_id
            else:
                problems.append(f"{record.where}.agreementId: no agreement {agreement_id}")
    if problems:
        raise DataFileError(problems)
    return sections


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
