"""The one place that maps ConnectWise JSON to models and back.

Reading (`structure`): each model field is read from its wire name (the camelCase of its own, or
the `wire` its metadata declares; `_info/lastUpdated` reads inside the `_info` block) and checked
for its type. Unknown keys are ignored; absent and `null` fields stay `None`. Numbers arrive as
`Decimal` (the JSON layer reads them so) and must be finite and of a sane size.

A field that does not parse is handled by its kind:

- *strict* fields (what a sync decides with) raise `RecordError`, which the client turns into an
  [`UnexpectedResponseError`][connectwise_billing.UnexpectedResponseError] naming the record,
  the field and the value;
- every other field becomes `None`, and its raw value is kept in the record's `unparsed`.

The common case, a record that parses whole, runs straight-line generated code; a record with a
problem is read again field by field to find and name it.

Writing (`unstructure`) reads the same metadata the other way: each field is written under its
wire name, unset (`None`) fields are left out, and what did not parse goes back as it came. A
record read and written again is what ConnectWise sent, less the fields the model leaves out.
`patch_operations` builds a PATCH body.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final, TypeVar, cast

import attrs

from connectwise_billing.client import _parsers as parsers
from connectwise_billing.client.models import (
    NOTHING_UNPARSED,
    Addition,
    Agreement,
    Company,
    Product,
    Reference,
)
from connectwise_billing.convert import base_converter
from connectwise_billing.values import format_datetime, shown_json

if TYPE_CHECKING:
    from cattrs import Converter

T = TypeVar("T")
"""The model a record is structured into."""


__all__ = [
    "RecordError",
    "camel_case",
    "get_converter",
    "patch_operations",
    "structure",
    "unstructure",
    "wire_name",
]


class RecordError(ValueError):
    """A strict field of a record holds a value that cannot be used.

    Attributes:
        field: The field's wire name (`unitPrice`).
        value: The raw value.
        problem: What is wrong with it (`is not a number`).
    """

    def __init__(self, field: str, value: Any, problem: str) -> None:
        self.field = field
        self.value = value
        self.problem = problem
        said = field if problem == MISSING_PROBLEM else f"{field} {shown_json(value)}"
        super().__init__(f"{said} {problem}")


MISSING_PROBLEM: Final = "is missing"


def camel_case(name: str) -> str:
    """`unit_price` -> `unitPrice`."""
    first, *rest = name.split("_")
    return first + "".join(part.capitalize() for part in rest)


def wire_name(cls: type, field: str) -> str:
    """The JSON key ConnectWise uses for `cls.field` (`_info/...` for the `_info` block)."""
    declared = attrs.fields_dict(cast("type[attrs.AttrsInstance]", cls))[field].metadata
    return declared.get("wire") or camel_case(field)


# --- reading a whole record ----------------------------------------------------------------

_MISSING: Final = object()


@attrs.frozen(slots=False)
class _Field:
    name: str
    wire: str
    path: tuple[str, ...]
    parse: Callable[[Any], Any]
    strict: bool


def _fields_of(cls: type) -> list[_Field]:
    fields = []
    for field in attrs.fields(attrs.resolve_types(cast("type[attrs.AttrsInstance]", cls))):
        if field.metadata.get("unparsed"):
            continue
        wire = field.metadata.get("wire") or camel_case(field.name)
        strict = bool(field.metadata.get("strict"))
        fields.append(
            _Field(field.name, wire, tuple(wire.split("/")), parsers.parser_for(field), strict)
        )
    return fields


def _keeps_unparsed(cls: type) -> bool:
    """Whether the model has an `unparsed` field for the raw values of tolerant fields."""
    fields = attrs.fields(cast("type[attrs.AttrsInstance]", cls))
    return any(field.metadata.get("unparsed") for field in fields)


def _raw(record: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = record
    for part in path:
        if not isinstance(value, Mapping):
            return _MISSING
        value = value.get(part, _MISSING)
    return value


# Straight-line code for the common case: the type checks of text, flags and whole numbers
# inline, a call per other field, and the instance filled in one dict update (a frozen attrs
# __init__ would set each field through object.__setattr__). Any exception sends the record
# to the field-by-field reader, which names the problem or tolerates it.
_INLINE_CHECKS: Final[Mapping[Callable[[Any], Any], str]] = {
    parsers.text: "x.__class__ is not str",
    parsers.flag: "x is not True and x is not False",
    parsers.integer: "x.__class__ is not int",
}


def _fast_reader(cls: type[T], fields: list[_Field]) -> Callable[[Any], T]:
    names: dict[str, Any] = {"D": {f.name: None for f in fields}, "new": object.__new__, "C": cls}
    if _keeps_unparsed(cls):
        names["D"]["unparsed"] = NOTHING_UNPARSED
    lines = ["def read(o):", "    v = D.copy()"]
    info = [f for f in fields if len(f.path) == 2 and f.path[0] == "_info"]
    for index, field in enumerate(f for f in fields if f not in info):
        names[f"p{index}"] = field.parse
        key = field.wire
        if field.name == "id":
            lines.append(f"    v['id'] = p{index}(o['id'])")
            continue
        lines += [f"    x = o.get({key!r})", "    if x is not None:"]
        check = _INLINE_CHECKS.get(field.parse)
        if check is None:
            lines.append(f"        v[{field.name!r}] = p{index}(x)")
        else:
            lines += [f"        if {check}: raise TypeError", f"        v[{field.name!r}] = x"]
    if info:
        lines += ["    i = o.get('_info')", "    if i is not None:"]
        lines.append("        if i.__class__ is not dict: raise TypeError")
        for index, field in enumerate(info, start=len(fields)):
            names[f"p{index}"] = field.parse
            lines += [f"        x = i.get({field.path[1]!r})", "        if x is not None:"]
            check = _INLINE_CHECKS.get(field.parse)
            if check is None:
                lines.append(f"            v[{field.name!r}] = p{index}(x)")
            else:
                lines += [
                    f"            if {check}: raise TypeError",
                    f"            v[{field.name!r}] = x",
                ]
    lines += ["    r = new(C)", "    r.__dict__.update(v)", "    return r"]
    exec("\n".join(lines), names)  # noqa: S102 - our own code, generated from the model
    return cast("Callable[[Any], T]", names["read"])


def _careful_reader(cls: type[T], fields: list[_Field]) -> Callable[[Any], T]:
    keeps_unparsed = _keeps_unparsed(cls)
    defaults: dict[str, Any] = {field.name: None for field in fields}

    def read_carefully(record: Any) -> T:
        if not isinstance(record, Mapping):
            raise RecordError("record", record, "is not a JSON object")
        values = dict(defaults)
        unparsed: dict[str, Any] = {}
        for field in fields:
            raw = _raw(record, field.path)
            if raw is _MISSING or raw is None:
                if field.name == "id":
                    raise RecordError("id", None, MISSING_PROBLEM)
                continue
            try:
                values[field.name] = field.parse(raw)
            except (
                parsers.Problem,
                TypeError,
                ValueError,
                ArithmeticError,
                AttributeError,
            ) as error:
                if field.strict:
                    problem = str(error) if isinstance(error, parsers.Problem) else "cannot be read"
                    raise RecordError(field.wire, raw, problem) from None
                unparsed[field.wire] = raw
        if keeps_unparsed:
            values["unparsed"] = MappingProxyType(unparsed) if unparsed else NOTHING_UNPARSED
        instance: T = object.__new__(cls)
        instance.__dict__.update(values)
        return instance

    return read_carefully


def _reader(cls: type[T]) -> Callable[[Any, Any], T]:
    fields = _fields_of(cls)
    fast, careful = _fast_reader(cls, fields), _careful_reader(cls, fields)

    def read(record: Any, _: Any = None) -> T:
        try:
            return fast(record)
        except Exception:
            return careful(record)

    return read


# --- writing --------------------------------------------------------------------------------


def _put(body: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    for part in path[:-1]:
        body = body.setdefault(part, {})
    body[path[-1]] = value


def _writer(converter: Converter, cls: type) -> Callable[[Any], dict[str, Any]]:
    """The wire form of a record, from the same field metadata the reader uses: unset (`None`)
    fields left out, `_info/...` fields inside `_info`, and what did not parse put back as it
    came (a record read and written again says what ConnectWise said)."""
    fields = [
        (field.name, tuple((field.metadata.get("wire") or camel_case(field.name)).split("/")))
        for field in attrs.fields(cls)
        if not field.metadata.get("unparsed")
    ]
    keeps_unparsed = _keeps_unparsed(cls)

    def write(record: Any) -> dict[str, Any]:
        body: dict[str, Any] = {}
        for name, path in fields:
            value = getattr(record, name)
            if value is not None:
                _put(body, path, converter.unstructure(value))
        if keeps_unparsed:
            for wire, raw in record.unparsed.items():
                _put(body, tuple(wire.split("/")), raw)
        return body

    return write


def _wire_date(value: date) -> str:
    return format_datetime(datetime(value.year, value.month, value.day, tzinfo=UTC))


READ_MODELS: Final = (Product, Company, Agreement, Addition)
"""The records the client's own resources read (a model declared for a new resource is read
the same way: the hooks are made for any attrs class, from its field metadata)."""


@functools.cache
def get_converter() -> Converter:
    """The wire converter, built on first use (cattrs is imported only when the first record is
    read or written, which keeps `import connectwise_billing` cheap).

    Both directions come from the models' field metadata: structure hooks read each field from
    its wire name; unstructure hooks write it back there. It starts from
    [`base_converter`][connectwise_billing.convert.base_converter], as the JSON converter of
    reports does, with ConnectWise's forms: numbers stay `Decimal` (written as JSON numbers),
    datetimes are UTC with a `Z`.
    """
    converter = base_converter()
    converter.register_structure_hook_factory(attrs.has, _reader)
    converter.register_structure_hook(Reference, lambda value, _: parsers.reference(value))
    converter.register_unstructure_hook_factory(attrs.has, lambda cls: _writer(converter, cls))
    converter.register_unstructure_hook(Decimal, lambda value: value)
    converter.register_unstructure_hook(datetime, format_datetime)
    converter.register_unstructure_hook(date, _wire_date)
    return converter


def structure(record: Any, cls: type[T]) -> T:
    """One JSON record (already parsed) as a `cls` model.

    Raises:
        RecordError: a strict field cannot be used, or the record is not a JSON object.
    """
    return get_converter().structure(record, cls)


def unstructure(value: Any) -> Any:
    """A model or value in ConnectWise's JSON form: camelCase names (or the name a field
    declares), unset fields left out, `Decimal` kept for `dumps` to write as a number."""
    return get_converter().unstructure(value)


def patch_operations(model: type, values: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One `replace` operation per field of `model`, with its wire name as `path`."""
    return [
        {"op": "replace", "path": wire_name(model, name), "value": unstructure(value)}
        for name, value in values.items()
    ]
