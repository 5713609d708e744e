"""Which fields `update()` may change, and how each value is checked before anything is sent."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, Final

import attrs

from connectwise_billing._values import as_decimal, as_utc_datetime
from connectwise_billing.client._models import _check_bill_customer, _check_text
from connectwise_billing.errors import InputError

__all__ = ["ADDITION_WRITABLE", "Writable"]


@attrs.frozen(slots=False)
class Writable:
    """A field `update()` may change: how its value is checked, and whether `None` (sent as
    `null`) clears it.

    Attributes:
        coerce: `coerce(value, name)` returns the value to send, or raises `InputError` naming
            `name`.
        nullable: Whether `None` is allowed.
    """

    coerce: Callable[[Any, str], Any]
    nullable: bool = False


def _text(value: object, name: str) -> str:
    _check_text(value, name)
    return str(value)


def _bill_customer(value: object, name: str) -> str:
    text = _text(value, name)
    _check_bill_customer(text)
    return text


def _flag(value: object, name: str) -> bool:
    if not isinstance(value, bool):
        raise InputError(f"{name} must be True or False, got {value!r}")
    return value


ADDITION_WRITABLE: Final[Mapping[str, Writable]] = MappingProxyType(
    {
        "quantity": Writable(as_decimal),
        "unit_price": Writable(as_decimal),
        "unit_cost": Writable(as_decimal),
        "cancelled_date": Writable(as_utc_datetime, nullable=True),
        "effective_date": Writable(as_utc_datetime, nullable=True),
        "bill_customer": Writable(_bill_customer),
        "description": Writable(_text, nullable=True),
        "invoice_description": Writable(_text, nullable=True),
        "taxable_flag": Writable(_flag),
    }
)
"""The addition fields `client.additions.update()` may change, and how each is checked."""
