"""Coercion of caller-supplied money, quantities and dates, shared by every layer.

Money and quantities are `Decimal` end to end. Values a caller hands us are coerced here once,
with an [`InputError`][connectwise_billing.errors.InputError] that names the offending value
instead of a bare `decimal.InvalidOperation` from deep inside.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation

from connectwise_billing.errors import InputError


def as_decimal(value: object, what: str) -> Decimal:
    """`value` as a finite Decimal; `what` names it in the error.

    Floats go through `str()`, so `9.99` becomes `Decimal("9.99")` rather than the binary
    approximation `9.9900000000000002131628...`.
    """
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, bool):
        raise InputError(f"{what} must be a number, not the boolean {value!r}")
    elif isinstance(value, int | str | float):
        try:
            result = Decimal(str(value).strip() if isinstance(value, str) else str(value))
        except InvalidOperation:
            raise InputError(f"{what} must be a number, got {value!r}") from None
    else:
        raise InputError(f"{what} must be a number, got {type(value).__name__} {value!r}")
    if not result.is_finite():
        raise InputError(f"{what} must be a finite number, got {value!r}")
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
