"""JSON with exact numbers: JSON numbers are read as `Decimal` and `Decimal` is written as a number.

The standard library can read numbers as Decimal (`parse_float`) but cannot write them as JSON
numbers, and ConnectWise expects numbers, not strings. Our request bodies are small (an addition,
a list of patch operations), so a short recursive writer is enough.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

_dump_scalar = json.JSONEncoder(ensure_ascii=False, allow_nan=False).encode


def loads(data: bytes | str) -> Any:
    """Parse JSON, keeping every non-integer number as an exact `Decimal` (the non-standard
    `NaN` and `Infinity` too, so that checks see them as numbers that are not finite)."""
    return json.loads(data, parse_float=Decimal, parse_constant=Decimal)


def dumps(value: Any) -> bytes:
    """Serialise to compact UTF-8 JSON; `Decimal` is written as a plain JSON number."""
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


def to_jsonable(value: Any) -> Any:
    """A copy of `value` for reports: `Decimal` becomes its exact string, containers are copied."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    return value
