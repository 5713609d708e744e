"""The simulator's own JSON and time formats: what it reads from requests and writes in answers.

The simulator owns its representation instead of borrowing the SDK's: a test that compares the
SDK's reading with the simulator's writing then compares two implementations, not one with
itself. Numbers are exact (`Decimal` in, JSON numbers out); datetimes are ConnectWise's UTC form
with a `Z`.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Final

API_VERSION: Final = "2025.8"
"""The model version the simulator serves when a request does not ask for one."""
"""The model version served when a request does not ask for one."""
MEDIA_TYPE: Final = "application/vnd.connectwise.com+json"
_MARK: Final = "\u0000number:"
_MARKED: Final = re.compile(r'"\\u0000number:([^"\\]+)\\u0000"')


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def loads(data: bytes | str) -> Any:
    """A request body: non-integer numbers as exact `Decimal`; `NaN` and `Infinity`, which are
    not JSON, refused."""
    return json.loads(data, parse_float=Decimal, parse_constant=_no_constant)


def _number(value: Any) -> str:
    if isinstance(value, Decimal) and value.is_finite():
        return f"{_MARK}{value:f}\u0000"
    raise TypeError(f"cannot write {value!r} as JSON")


def dumps(value: Any) -> bytes:
    """An answer body: compact JSON with every `Decimal` written as the JSON number it is."""
    text = json.dumps(value, default=_number, ensure_ascii=False, separators=(",", ":"))
    return _MARKED.sub(lambda match: match.group(1), text).encode()


def timestamp(value: date | datetime) -> str:
    """ConnectWise's form of a moment: UTC, whole seconds, `Z` (a date is its midnight UTC)."""
    if not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day, tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def moment(text: str) -> datetime:
    """A timestamp as ConnectWise accepts it (ISO 8601; without a zone, UTC)."""
    parsed = datetime.fromisoformat(text)
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def amount(value: Decimal | int | str, what: str) -> Decimal:
    """A seeding argument as an exact number (`ValueError` naming `what` when it is not one)."""
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise ValueError(f"{what} must be a number, got {value!r}") from None
    if not number.is_finite():
        raise ValueError(f"{what} must be a finite number, got {value!r}")
    return number


def camel(name: str) -> str:
    """`unit_price` -> `unitPrice`: the simulator's field names, from Python's."""
    first, *rest = name.split("_")
    return first + "".join(part.capitalize() for part in rest)
