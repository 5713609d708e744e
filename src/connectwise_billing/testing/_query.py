"""The simulator's parser and evaluator for ConnectWise `conditions` strings.

Grammar (keywords case-insensitive, `and` binds tighter than `or`):

    expression := conjunction ("or" conjunction)*
    conjunction := term ("and" term)*
    term       := "(" expression ")" | "not" term | comparison
    comparison := field operator value
    operator   := = | != | < | <= | > | >= | contains | like | in | not contains | not like | not in
    value      := "string" | number | [datetime] | true | false | null | "(" value ("," value)* ")"
    field      := name ("/" name)*

String comparisons ignore case, as SQL Server's default collation does. `like` accepts both `*`
and `%` as wildcards: the Developer Guide documents `*`, third-party guides use `%`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any, Final

from connectwise_billing.testing._format import moment

Predicate = Callable[[Mapping[str, Any]], bool]


class ConditionSyntaxError(ValueError):
    """The conditions string cannot be parsed; the message says where."""


_TOKEN: Final = re.compile(
    r"""\s*(?:
        (?P<string>"[^"]*")
      | (?P<datetime>\[[^\]]*\])
      | (?P<number>-?\d+(?:\.\d+)?)
      | (?P<op><=|>=|!=|=|<|>)
      | (?P<punct>[(),])
      | (?P<word>[A-Za-z_][A-Za-z0-9_/]*)
    )""",
    re.VERBOSE,
)
_WORD_OPERATORS: Final = frozenset({"contains", "like", "in"})


def _tokenize(text: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    position = 0
    while position < len(text):
        if text[position:].strip() == "":
            break
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            raise ConditionSyntaxError(
                f"unexpected character at position {position}: {text[position:][:20]!r}"
            )
        kind = match.lastgroup or ""
        tokens.append((kind, match.group(kind)))
        position = match.end()
    return tokens


class _Parser:
    def __init__(self, text: str, known_fields: frozenset[str] | None) -> None:
        self.text = text
        self.tokens = _tokenize(text)
        self.index = 0
        self.known_fields = known_fields

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        token = self.peek()
        if token is None:
            raise ConditionSyntaxError(f"unexpected end of conditions {self.text!r}")
        self.index += 1
        return token

    def keyword(self, *words: str) -> bool:
        token = self.peek()
        if token and token[0] == "word" and token[1].lower() in words:
            self.index += 1
            return True
        return False

    def parse(self) -> Predicate:
        predicate = self.expression()
        if self.peek() is not None:
            raise ConditionSyntaxError(f"unexpected {self.peek()[1]!r} in conditions")  # type: ignore[index]
        return predicate

    def expression(self) -> Predicate:
        parts = [self.conjunction()]
        while self.keyword("or"):
            parts.append(self.conjunction())
        return parts[0] if len(parts) == 1 else (lambda r: any(p(r) for p in parts))

    def conjunction(self) -> Predicate:
        parts = [self.term()]
        while self.keyword("and"):
            parts.append(self.term())
        return parts[0] if len(parts) == 1 else (lambda r: all(p(r) for p in parts))

    def term(self) -> Predicate:
        token = self.peek()
        if token == ("punct", "("):
            self.take()
            inner = self.expression()
            if self.take() != ("punct", ")"):
                raise ConditionSyntaxError("missing ')' in conditions")
            return inner
        if self.keyword("not"):
            negated = self.term()
            return lambda r: not negated(r)
        return self.comparison()

    def comparison(self) -> Predicate:
        kind, field = self.take()
        if kind != "word":
            raise ConditionSyntaxError(f"expected a field name, got {field!r}")
        root = field.split("/")[0]
        if self.known_fields is not None and root not in self.known_fields:
            raise ConditionSyntaxError(f"unknown field {field!r}")
        negate = self.keyword("not")
        kind, operator = self.take()
        if kind == "word" and operator.lower() in _WORD_OPERATORS:
            operator = operator.lower()
        elif kind != "op" or negate:
            raise ConditionSyntaxError(f"expected an operator after {field!r}, got {operator!r}")
        value = self.value_list() if operator == "in" else self.value()
        if field.lower() == "lastupdated":
            field = "_info/lastUpdated"  # ConnectWise's shorthand for the record's _info date
        test = _comparison(field, operator, value)
        return (lambda r: not test(r)) if negate else test

    def value(self) -> Any:
        kind, text = self.take()
        if kind == "string":
            return text[1:-1]
        if kind == "number":
            return Decimal(text)
        if kind == "datetime":
            try:
                return moment(text[1:-1])
            except ValueError:
                raise ConditionSyntaxError(f"bad datetime {text}") from None
        if kind == "word" and text.lower() in ("true", "false"):
            return text.lower() == "true"
        if kind == "word" and text.lower() == "null":
            return None
        raise ConditionSyntaxError(f"expected a value, got {text!r}")

    def value_list(self) -> list[Any]:
        if self.take() != ("punct", "("):
            raise ConditionSyntaxError("'in' needs a parenthesised list")
        values = [self.value()]
        while self.peek() == ("punct", ","):
            self.take()
            values.append(self.value())
        if self.take() != ("punct", ")"):
            raise ConditionSyntaxError("missing ')' after the 'in' list")
        return values


def field_value(record: Mapping[str, Any], path: str) -> Any:
    """`company/id` -> record["company"]["id"] (case-insensitive names; `None` when absent)."""
    value: Any = record
    for part in path.split("/"):
        if not isinstance(value, Mapping):
            return None
        if part in value:
            value = value[part]
            continue
        lowered = {key.lower(): key for key in value}
        key = lowered.get(part.lower())
        value = value[key] if key is not None else None
    return value


def _normalise(value: Any) -> Any:
    if isinstance(value, str):
        return value.lower()
    if isinstance(value, int | float) and not isinstance(value, bool):
        return Decimal(str(value))
    return value


def _coerce_like(stored: Any, wanted: Any) -> Any:
    # Stored datetimes are ISO strings; compare them as datetimes when the literal is one.
    if isinstance(wanted, datetime) and isinstance(stored, str):
        try:
            return moment(stored)
        except ValueError:
            return None
    return _normalise(stored)


def _like(pattern: str) -> re.Pattern[str]:
    parts = (re.escape(char) if char not in "*%" else ".*" for char in pattern)
    return re.compile("^" + "".join(parts) + "$", re.IGNORECASE | re.DOTALL)


def _comparison(field: str, operator: str, wanted: Any) -> Predicate:
    if operator == "contains":
        needle = str(wanted).lower()
        return lambda r: needle in str(field_value(r, field) or "").lower()
    if operator == "like":
        pattern = _like(str(wanted))
        return lambda r: bool(pattern.match(str(field_value(r, field) or "")))
    if operator == "in":
        options = [_normalise(v) for v in wanted]
        return lambda r: _coerce_like(field_value(r, field), wanted[0]) in options
    target = _normalise(wanted)

    def compare(record: Mapping[str, Any]) -> bool:
        stored = _coerce_like(field_value(record, field), wanted)
        if operator == "=":
            return bool(stored == target)
        if operator == "!=":
            return bool(stored != target)
        if stored is None or target is None:
            return False
        try:
            if operator == "<":
                return bool(stored < target)
            if operator == "<=":
                return bool(stored <= target)
            if operator == ">":
                return bool(stored > target)
            return bool(stored >= target)
        except TypeError:
            return False

    return compare


def parse_conditions(text: str, known_fields: frozenset[str] | None = None) -> Predicate:
    """Compile a conditions string into a predicate over JSON records.

    Raises:
        ConditionSyntaxError: the text does not parse, or names a field not in `known_fields`.
    """
    return _Parser(text, known_fields).parse()
