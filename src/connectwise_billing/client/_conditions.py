"""Build ConnectWise `conditions` strings that user text cannot change the meaning of.

ConnectWise filters lists with a small query language: `company/id=12 and name contains "Acme"`.
Pasting user text into it is an injection risk (`Acme" or id>0 or name="`), and how a double
quote inside a string literal is escaped is not documented. So values are formatted here:

- strings in double quotes; a value containing `"` or a backslash or a control character is
  refused with [`InputError`][connectwise_billing.errors.InputError] rather than guessed at;
- numbers bare (`Decimal` exactly), booleans `true`/`false`, `None` as `null`;
- datetimes as `[2026-01-31T00:00:00Z]` (dates as midnight UTC);
- `in` lists as `(1,2,3)`.

Field names are checked too (letters, digits, `_`, and `/` for references).

```python
from connectwise_billing import Field

cond = (Field("company/id") == 12) & Field("name").contains("Acme")
assert str(cond) == 'company/id=12 and name contains "Acme"'
```

Every resource method that takes `conditions` accepts a `Condition` or a raw string.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date, datetime
from decimal import Decimal
from typing import Final

import attrs

from connectwise_billing._values import as_utc_datetime, format_datetime
from connectwise_billing.errors import InputError

Value = str | int | Decimal | bool | date | datetime | None
"""A value a condition can compare a field with."""

_FIELD: Final = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(/[A-Za-z_][A-Za-z0-9_]*)*$")
_UNSAFE_TEXT: Final = re.compile(r'["\\\x00-\x1f\x7f]')


def format_value(value: Value) -> str:
    """A value as a ConnectWise condition literal.

    Raises:
        InputError: the value cannot be written safely (a string with a double quote, a
            backslash or a control character; a float; a non-finite Decimal).
    """
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise InputError(f"cannot use the non-finite number {value} in a condition")
        return format(value, "f")
    if isinstance(value, date):
        return f"[{format_datetime(as_utc_datetime(value, 'condition value'))}]"
    if isinstance(value, str):
        if _UNSAFE_TEXT.search(value):
            raise InputError(
                f"cannot use {value!r} in a condition: double quotes, backslashes and control "
                "characters cannot be escaped safely for ConnectWise"
            )
        return f'"{value}"'
    raise InputError(
        f"cannot use {type(value).__name__} {value!r} in a condition; "
        "use int, Decimal, str, bool, date or datetime"
    )


def _check_field(name: str) -> str:
    if not _FIELD.match(name):
        raise InputError(f"{name!r} is not a valid ConnectWise field name")
    return name


@attrs.frozen(slots=False)
class Condition:
    """A condition expression. Combine with `&` (and) and `|` (or); `str()` gives the text.

    Attributes:
        text: The condition, as sent in `conditions=`.
    """

    text: str

    def __and__(self, other: Condition) -> Condition:
        return Condition(f"{self.text} and {other.text}")

    def __or__(self, other: Condition) -> Condition:
        # Parenthesised when built, so a later `&` cannot bind into it.
        return Condition(f"({self.text} or {other.text})")

    def __str__(self) -> str:
        return self.text


@attrs.frozen(eq=False, slots=False)
class Field:
    """A field to compare: `Field("company/id") == 12`, `Field("name").contains("Acme")`.

    Attributes:
        name: The field's path in ConnectWise's names (`company/id`, `agreementStatus`).
    """

    name: str = attrs.field(converter=_check_field)

    def __hash__(self) -> int:
        return hash(self.name)

    def _compare(self, operator: str, value: Value) -> Condition:
        return Condition(f"{self.name}{operator}{format_value(value)}")

    def __eq__(self, value: object) -> Condition:  # type: ignore[override]
        return self._compare("=", value)  # type: ignore[arg-type]

    def __ne__(self, value: object) -> Condition:  # type: ignore[override]
        return self._compare("!=", value)  # type: ignore[arg-type]

    def __lt__(self, value: Value) -> Condition:
        return self._compare("<", value)

    def __le__(self, value: Value) -> Condition:
        return self._compare("<=", value)

    def __gt__(self, value: Value) -> Condition:
        return self._compare(">", value)

    def __ge__(self, value: Value) -> Condition:
        return self._compare(">=", value)

    def contains(self, text: str) -> Condition:
        """`name contains "text"`: a case-insensitive substring match."""
        return Condition(f"{self.name} contains {format_value(text)}")

    def in_(self, values: Iterable[Value]) -> Condition:
        """`id in (1,2,3)`. An empty list is refused: ConnectWise has no empty `in ()`."""
        items = [format_value(v) for v in values]
        if not items:
            raise InputError(f"{self.name} in (...) needs at least one value")
        return Condition(f"{self.name} in ({','.join(items)})")

    def not_in(self, values: Iterable[Value]) -> Condition:
        """`id not in (1,2,3)`."""
        items = [format_value(v) for v in values]
        if not items:
            raise InputError(f"{self.name} not in (...) needs at least one value")
        return Condition(f"{self.name} not in ({','.join(items)})")


def combine(*conditions: Condition | str | None) -> str | None:
    """Join conditions with `and`, skipping empty ones; raw strings are parenthesised as a unit."""
    present = [c for c in conditions if c]
    if len(present) <= 1:
        return str(present[0]) if present else None
    return " and ".join(f"({c})" if isinstance(c, str) else str(c) for c in present)
