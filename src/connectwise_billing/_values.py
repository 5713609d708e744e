"""Coercion of caller-supplied money, quantities and dates, shared by every layer.

Money and quantities are `Decimal` end to end. Values a caller hands us are coerced here once,
with an [`InputError`][connectwise_billing.errors.InputError] that names the offending value
instead of a bare `decimal.InvalidOperation` from deep inside.
"""

from __future__ import annotations

import unicodedata
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Final

from connectwise_billing.errors import InputError

MAX_MAGNITUDE: Final = 12
"""Amounts the SDK reads lie within 10**-12 and 10**13 (or are zero): nothing ConnectWise stores
is larger, and a value like `1e1000000` would make every sum over it overflow."""
MAX_DIGITS: Final = 15
"""Significant digits an amount the SDK writes may have: ConnectWise keeps quantities, prices and
costs as doubles, which hold 15 decimal digits exactly; a longer value would read back as
another number."""


def out_of_range(number: Decimal) -> str | None:
    """Why a finite amount lies outside what the SDK reads (see `MAX_MAGNITUDE`), or `None`."""
    if number and not -MAX_MAGNITUDE <= number.adjusted() <= MAX_MAGNITUDE:
        return "is out of range"
    return None


def unwritable(number: Decimal) -> str | None:
    """Why a finite amount cannot be written and read back as itself, or `None`: it must be
    below 10**13, at least 10**-12 unless it is zero, and have at most 15 significant digits."""
    if not number:
        return None
    if number.adjusted() > MAX_MAGNITUDE:
        return "is too large (it must be below 10000000000000)"
    if number.adjusted() < -MAX_MAGNITUDE:
        return "is too small (a non-zero amount must be at least 0.000000000001)"
    if len(number.normalize().as_tuple().digits) > MAX_DIGITS:
        return f"has more than {MAX_DIGITS} significant digits, which ConnectWise cannot store"
    return None


def shown(value: Any, limit: int = 60) -> str:
    """A value as a message shows it: numbers as written (`-3.25`, not `Decimal('-3.25')`),
    text quoted, long values cut short."""
    plain = isinstance(value, int | Decimal | float) and not isinstance(value, bool)
    text = str(value) if plain else repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def shown_text(value: Any, limit: int = 60) -> str:
    """Text as a message shows it where lookalikes matter (plan ids, seat counts): as `shown`,
    followed by its spelling in escapes when it holds anything but ASCII. A plan id `gold`
    typed with a Cyrillic o is shown followed by `('g\\u043eld')`, a full-width 3 by
    `('\\uff13')`: two names that look the same on screen can be told apart. Anything but text
    is shown as `shown` shows it."""
    text = shown(value, limit)
    if not isinstance(value, str) or value.isascii():
        return text
    escaped = ascii(value)
    if escaped == repr(value):  # `repr` escaped it already (a line separator, say)
        return text
    return f"{text} ({escaped if len(escaped) <= limit else escaped[: limit - 3] + '...'})"


def normalize_text(text: str) -> str:
    """`text` in Unicode NFC, the one form plan ids and names are kept and compared in: `café`
    typed as one code point and as `e` followed by a combining accent name the same plan."""
    return unicodedata.normalize("NFC", text)


def shown_json(value: Any, limit: int = 60) -> str:
    """A value from a JSON answer as a message shows it: as `shown`, with JSON's `null`,
    `true` and `false`."""
    if value is None or isinstance(value, bool):
        return {None: "null", True: "true", False: "false"}[value]
    return shown(value, limit)


def as_decimal(value: object, what: str) -> Decimal:
    """`value` as a finite Decimal; `what` names it in the error.

    Floats go through `str()`, so `9.99` becomes `Decimal("9.99")` rather than the binary
    approximation `9.9900000000000002131628...`.
    """
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, bool):
        raise InputError(f"{what} must be a number, not the boolean {shown(value)}")
    elif isinstance(value, int | str | float):
        try:
            result = Decimal(str(value).strip() if isinstance(value, str) else str(value))
        except InvalidOperation:
            raise InputError(f"{what} must be a number, got {shown(value)}") from None
    else:
        raise InputError(f"{what} must be a number, got {type(value).__name__} {shown(value)}")
    if not result.is_finite():
        raise InputError(f"{what} must be a finite number, got {shown(value)}")
    problem = unwritable(result)
    if problem:
        raise InputError(f"{what} {problem}, got {shown(value)}")
    return result


def as_utc_datetime(value: object, what: str) -> datetime:
    """`value` (a `date` or a timezone-aware `datetime`) as an aware UTC datetime.

    A `date` means midnight UTC of that day. A naive `datetime` is refused: guessing its zone could
    move an effective date across a billing-period boundary.
    """
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise InputError(f"{what} must be timezone-aware, got naive {value.isoformat()}")
        return value.astimezone(UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    raise InputError(f"{what} must be a date or datetime, got {type(value).__name__} {value!r}")


def format_datetime(value: datetime) -> str:
    """ConnectWise's datetime form: UTC, whole seconds, `Z` suffix."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_datetime(text: str) -> datetime:
    """Parse an ISO 8601 datetime as ConnectWise sends it; naive values are taken as UTC."""
    parsed = datetime.fromisoformat(text)
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
