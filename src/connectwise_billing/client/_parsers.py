"""Parsers of single JSON values for the wire reader: each returns the field's value or raises
`Problem` saying what is wrong with the raw value. Chosen per model field from its type."""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal, InvalidOperation
from types import NoneType, UnionType
from typing import Any, Final, Union, cast, get_args, get_origin

import attrs

from connectwise_billing._values import out_of_range, parse_datetime
from connectwise_billing.client._models import Reference

_MAX_INTERNED: Final = 10_000


class Problem(ValueError):
    """A value a parser cannot use; the argument says why."""


def text(value: Any) -> str:
    if value.__class__ is str:
        return value
    raise Problem("is not text")


def flag(value: Any) -> bool:
    if value is True or value is False:
        return value
    raise Problem("is not true or false")


def integer(value: Any) -> int:
    if value.__class__ is int:
        return value
    raise Problem("is not a whole number")


def record_id(value: Any) -> int:
    if value.__class__ is int and value > 0:
        return value
    raise Problem("is not a record id")


def number(value: Any) -> Decimal:
    kind = value.__class__
    if kind is Decimal:
        number = cast(Decimal, value)
    elif kind is int:
        number = Decimal(value)
    elif kind is float:
        number = Decimal(repr(value))
    elif kind is str and value.strip():
        try:
            number = Decimal(value.strip())
        except InvalidOperation:
            raise Problem("is not a number") from None
    else:
        raise Problem("is not a number")
    if not number.is_finite():
        raise Problem("is not a finite number")
    problem = out_of_range(number)
    if problem:
        raise Problem(problem)
    return number


@attrs.frozen
class AtLeast:
    """The parser of a number that may not be below `minimum` (a quantity: zero or more)."""

    minimum: int

    def __call__(self, value: Any) -> Decimal:
        parsed = number(value)
        if parsed < self.minimum:
            raise Problem("is negative" if self.minimum == 0 else f"is below {self.minimum}")
        return parsed


def minimum_of(parse: Callable[[Any], Any]) -> int | None:
    """The least value a number parser accepts, if it has one."""
    return parse.minimum if isinstance(parse, AtLeast) else None


# Timestamps repeat heavily (effective dates on the 1st, batch updates share `lastUpdated`) and
# datetimes are immutable, so parsed values are shared.
cached_moment = functools.lru_cache(maxsize=4096)(parse_datetime)
"""`parse_datetime`, sharing the values parsed (it raises `ValueError` on a bad text)."""


def moment(value: Any) -> datetime:
    if value.__class__ is str:
        try:
            return cached_moment(value)
        except ValueError:
            pass
    raise Problem("is not a date and time")


def reference_parser() -> Callable[[Any], Reference]:
    # A page of additions points at a handful of products, companies and members again and
    # again; references are frozen, so equal ones are shared instead of rebuilt per record.
    interned: dict[tuple[Any, Any, Any], Reference] = {}

    def reference(value: Any) -> Reference:
        if value.__class__ is not dict:
            raise Problem("is not a reference")
        key = (value.get("id"), value.get("identifier"), value.get("name"))
        ref_id, identifier, name = key
        if ref_id is not None and ref_id.__class__ is not int:
            raise Problem("has an id that is not a whole number")
        if (identifier is not None and identifier.__class__ is not str) or (
            name is not None and name.__class__ is not str
        ):
            raise Problem("is not a reference")
        found = interned.get(key)
        if found is None:
            if len(interned) >= _MAX_INTERNED:
                interned.clear()
            found = interned[key] = Reference(ref_id, identifier, name)
        return found

    return reference


reference = reference_parser()


def reference_with_id(value: Any) -> Reference:
    found = reference(value)
    if found.id is None:
        raise Problem("has no id")
    return found


def references(value: Any) -> tuple[Reference, ...]:
    if value.__class__ is not list:
        raise Problem("is not a list of references")
    return tuple(reference(item) for item in value)


def optional_inner(annotation: Any) -> Any:
    if get_origin(annotation) in (Union, UnionType):
        inner = [arg for arg in get_args(annotation) if arg is not NoneType]
        if len(inner) == 1:
            return inner[0]
    return annotation


def parser_for(field: attrs.Attribute[Any]) -> Callable[[Any], Any]:
    inner = optional_inner(field.type)
    strict = bool(field.metadata.get("strict"))
    if field.name == "id":
        return record_id
    if inner is str:
        return text
    if inner is bool:
        return flag
    if inner is int:
        return integer
    if inner is Decimal:
        minimum = field.metadata.get("minimum")
        return number if minimum is None else AtLeast(minimum)
    if inner is datetime:
        return moment
    if inner is Reference:
        return reference_with_id if strict else reference
    if get_origin(inner) is tuple and get_args(inner)[0] is Reference:
        return references
    raise TypeError(f"no parser for {field.name}: {field.type!r}")  # a model the SDK got wrong
