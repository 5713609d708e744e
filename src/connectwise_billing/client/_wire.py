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

from connectwise_billing._values import MAX_MAGNITUDE, format_datetime, shown_json
from connectwise_billing.client import _parsers as parsers
from connectwise_billing.client._models import (
    NOTHING_UNPARSED,
    Addition,
    Agreement,
    Company,
    Product,
    Reference,
)
from connectwise_billing.convert import base_converter

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


# Straight-line code for the common case, generated per model: the checks of the usual raw
# values inline (a text's class; a Decimal's class and range, compared against constants; a
# timestamp through the shared cache), a call per other field or unusual value, and the
# instance's dict made from a prepared one (a frozen attrs __init__ would set each field through
# object.__setattr__). Any exception sends the record to the field-by-field reader, which names
# the problem or tolerates it: the fast path accepts only what the parsers accept.
_RAISE_UNLESS: Final[Mapping[Callable[[Any], Any], str]] = {
    parsers.text: "x.__class__ is str",
    parsers.flag: "x is True or x is False",
    parsers.integer: "x.__class__ is int",
    parsers.record_id: "x.__class__ is int and x > 0",
}
"""Parsers whose whole check is one condition: a raw value that fails it is a problem."""

_IN_RANGE: Final = "x.__class__ is Dec and {floor} x < HI and (TINY <= x or x <= NTINY or not x)"
"""A JSON number read as a finite Decimal of a sane size (`values.out_of_range`), not below
its floor: used as is. A NaN raises on comparison; an infinity or another type goes to the
parser, which says what is wrong with it."""
_WHOLE_IN_RANGE: Final = "x.__class__ is int and {floor} x < HI"
"""A JSON whole number (`12`: ConnectWise, and the simulator, write whole amounts so) of a
sane size, not below its floor: made a Decimal."""

_CONSTANTS: Final = {
    "Dec": Decimal,
    "HI": Decimal(10) ** (MAX_MAGNITUDE + 1),
    "NHI": -(Decimal(10) ** (MAX_MAGNITUDE + 1)),
    "TINY": Decimal(10) ** -MAX_MAGNITUDE,
    "NTINY": -(Decimal(10) ** -MAX_MAGNITUDE),
    "moment": parsers.cached_moment,
}


def _field_lines(field: _Field, parse: str, indent: str) -> list[str]:
    """The lines that check the raw value `x` of one present field and leave its value in `x`."""
    check = _RAISE_UNLESS.get(field.parse)
    if check is not None:
        return [f"{indent}if not ({check}): raise TypeError"]
    minimum = parsers.minimum_of(field.parse)
    if field.parse is parsers.number or (minimum is not None and minimum >= 0):
        floor = "NHI <" if minimum is None else f"{minimum!r} <="
        return [
            f"{indent}if {_IN_RANGE.format(floor=floor)}: pass",
            f"{indent}elif {_WHOLE_IN_RANGE.format(floor=floor)}: x = Dec(x)",
            f"{indent}else: x = {parse}(x)",
        ]
    if field.parse is parsers.moment:
        return [f"{indent}x = moment(x) if x.__class__ is str else {parse}(x)"]
    return [f"{indent}x = {parse}(x)"]


def _fast_reader(
    cls: type[T], fields: list[_Field], careful: Callable[[Any], T]
) -> Callable[[Any, Any], T]:
    template: dict[str, Any] = {field.name: None for field in fields}
    if _keeps_unparsed(cls):
        template["unparsed"] = NOTHING_UNPARSED
    names: dict[str, Any] = {
        **_CONSTANTS,
        "D": template,
        "new": object.__new__,
        "C": cls,
        "careful": careful,
    }
    top: list[str] = []
    info: list[str] = []  # the fields read inside the `_info` block
    for index, field in enumerate(fields):
        parse = f"p{index}"
        names[parse] = field.parse
        if field.name == "id":  # required: a record without one is a problem
            top += ["x = o['id']", *_field_lines(field, parse, ""), "v['id'] = x"]
        elif len(field.path) == 2 and field.path[0] == "_info":
            info += [f"x = i.get({field.path[1]!r})", "if x is not None:"]
            info += [*_field_lines(field, parse, "    "), f"    v[{field.name!r}] = x"]
        else:
            top += [f"x = o.get({field.wire!r})", "if x is not None:"]
            top += [*_field_lines(field, parse, "    "), f"    v[{field.name!r}] = x"]
    if info:
        top += [
            "i = o.get('_info')",
            "if i is not None:",
            "    if i.__class__ is not dict: raise TypeError",
        ]
        top += [f"    {line}" for line in info]
    body = ["v = D.copy()", *top, "r = new(C)", "r.__dict__.update(v)", "return r"]
    lines = [
        "def read(o, _=None):",
        "    try:",
        *(f"        {line}" for line in body),
        "    except Exception:",
        "        return careful(o)",
    ]
    exec("\n".join(lines), names)  # noqa: S102 - our own code, generated from the model
    return cast("Callable[[Any, Any], T]", names["read"])


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
    """The structure hook of `cls`: the generated reader, falling back to the careful one."""
    fields = _fields_of(cls)
    return _fast_reader(cls, fields, _careful_reader(cls, fields))


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
