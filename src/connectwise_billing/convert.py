"""JSON in and out, with exact numbers, through one cattrs converter.

- [`loads`][connectwise_billing.convert.loads] reads every JSON number that is not a whole
  number as a `Decimal`; [`dumps`][connectwise_billing.convert.dumps] writes `Decimal` as a
  JSON number. The standard library reads Decimals (`parse_float`) but cannot write them as
  numbers, and ConnectWise expects numbers, not strings.
- [`to_json`][connectwise_billing.convert.to_json] turns any SDK value (a diff, a report, an
  operation, a record) into JSON-ready data for reports, `--json` output and audit lines:
  `Decimal` as its exact string, dates in ISO 8601, records as their fields.
- [`json_converter`][connectwise_billing.convert.json_converter] is the converter behind
  `to_json`. The ConnectWise wire format
  ([`connectwise_billing.client._wire`][connectwise_billing.client._wire]) starts from the same
  [`base_converter`][connectwise_billing.convert.base_converter] and adds ConnectWise's names
  and its number and date forms.

cattrs is imported on first use: `import connectwise_billing.reconcile` stays cheap.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping, Set
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import attrs

if TYPE_CHECKING:
    from cattrs import Converter

__all__ = ["base_converter", "dumps", "json_converter", "loads", "to_json", "unique_keys"]

_dump_scalar = json.JSONEncoder(ensure_ascii=False, allow_nan=False).encode


class _Numbers(dict[str, Decimal]):
    """The `Decimal` of a JSON number's text, made once: a page of additions repeats the same
    few amounts, and a `Decimal` is immutable, so one object serves every occurrence. Bounded,
    so that a stream of distinct numbers does not grow it."""

    def __missing__(self, text: str) -> Decimal:
        if len(self) >= _NUMBERS_KEPT:
            self.clear()
        value = self[text] = Decimal(text)
        return value


_NUMBERS_KEPT = 4096
_numbers = _Numbers()


def loads(data: bytes | str) -> Any:
    """Parse JSON, keeping every non-integer number as an exact `Decimal` (the non-standard
    `NaN` and `Infinity` too, so that checks see them as numbers that are not finite)."""
    return json.loads(data, parse_float=_numbers.__getitem__, parse_constant=Decimal)


def unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """`json.loads(..., object_pairs_hook=unique_keys)`: an object that gives a key twice is
    refused (`ValueError`) instead of keeping the last value. In a file a person edits, a
    reviewer reads one value and the loader would apply the other.
    """
    table: dict[str, Any] = {}
    for key, value in pairs:
        if key in table:
            raise ValueError(f"the key {key!r} appears twice in one object")
        table[key] = value
    return table


def dumps(value: Any) -> bytes:
    """Compact UTF-8 JSON of JSON-like data; `Decimal` is written as a plain JSON number.

    Raises:
        ValueError: a `Decimal` that is not finite (JSON has no NaN or infinity).
    """
    return _encode(value).encode()


def _encode(value: Any) -> str:
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"cannot write the non-finite number {value} as JSON")
        return format(value, "f")
    if isinstance(value, Mapping):
        items = (f"{_dump_scalar(str(k))}:{_encode(v)}" for k, v in value.items())
        return "{" + ",".join(items) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(_encode(v) for v in value) + "]"
    return _dump_scalar(value)


def _is_named_tuple(cls: type) -> bool:
    return issubclass(cls, tuple) and hasattr(cls, "_fields")


def base_converter() -> Converter:
    """A new converter that unstructures by the runtime type of each value, so a field declared
    `Decimal | None`, or a tuple of operations of several kinds, needs no hook of its own:
    attrs records become dicts of their fields, named tuples dicts of theirs, other tuples and
    sets lists, and mapping keys text. The base of both the JSON and the wire converter."""
    from cattrs import Converter

    converter = Converter()

    def record(value: Any) -> dict[str, Any]:
        fields = attrs.fields(type(value))
        return {field.name: converter.unstructure(getattr(value, field.name)) for field in fields}

    def named_tuple(value: Any) -> dict[str, Any]:
        return {name: converter.unstructure(item) for name, item in value._asdict().items()}

    def mapping(value: Mapping[Any, Any]) -> dict[str, Any]:
        return {str(key): converter.unstructure(item) for key, item in value.items()}

    def sequence(value: Any) -> list[Any]:
        return [converter.unstructure(item) for item in value]

    # The hook registered last is asked first: a named tuple is a tuple, but becomes a dict.
    converter.register_unstructure_hook_func(attrs.has, record)
    converter.register_unstructure_hook_func(
        lambda cls: isinstance(cls, type) and issubclass(cls, Mapping), mapping
    )
    converter.register_unstructure_hook_func(
        lambda cls: isinstance(cls, type) and issubclass(cls, tuple | list | Set), sequence
    )
    converter.register_unstructure_hook_func(_is_named_tuple, named_tuple)
    return converter


@functools.cache
def json_converter() -> Converter:
    """The converter behind [`to_json`][connectwise_billing.convert.to_json]: the
    [`base_converter`][connectwise_billing.convert.base_converter] with `Decimal` as its exact
    string and dates and datetimes in ISO 8601."""
    converter = base_converter()
    converter.register_unstructure_hook(Decimal, str)
    converter.register_unstructure_hook(datetime, datetime.isoformat)
    converter.register_unstructure_hook(date, date.isoformat)
    return converter


def to_json(value: Any) -> Any:
    """`value` as JSON-ready data: `json.dumps(to_json(report))` always works, and no amount
    loses a digit (`Decimal("8.10")` becomes `"8.10"`)."""
    return json_converter().unstructure(value)
