"""The one place that maps ConnectWise JSON to models and back.

A single cattrs converter:

- camelCase keys <-> snake_case fields, with the few irregular names listed in `_RENAMES`;
- `_info.lastUpdated` / `_info.updatedBy` lifted into `last_updated` / `updated_by`;
- `Decimal` from JSON numbers (the JSON layer already parses non-integers as Decimal);
- ISO datetimes with `Z` into aware datetimes;
- unknown keys ignored, absent keys left at their `None` default.

Writing is the other direction: request bodies omit unset (`None`) fields.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from datetime import datetime
from decimal import Decimal
from types import NoneType, UnionType
from typing import TYPE_CHECKING, Any, Final, TypeVar, Union, cast, get_args, get_origin

import attrs

from connectwise_billing._values import format_datetime, parse_datetime
from connectwise_billing.client.models import Addition, NewAddition, Product, Reference

if TYPE_CHECKING:
    from cattrs import Converter

T = TypeVar("T")

_RENAMES: Final[Mapping[type, Mapping[str, str]]] = {
    Product: {"inactive": "inactiveFlag", "connectwise_id": "connectWiseID"},
}
_MAX_INTERNED: Final = 10_000


def camel_case(name: str) -> str:
    """`unit_price` -> `unitPrice`."""
    first, *rest = name.split("_")
    return first + "".join(part.capitalize() for part in rest)


def wire_name(cls: type, field: str) -> str:
    """The JSON key ConnectWise uses for `cls.field`."""
    return _RENAMES.get(cls, {}).get(field) or camel_case(field)


def _structure_decimal(value: Any, _: Any) -> Decimal | None:
    # JSON numbers already arrive as Decimal (non-integers) or int; None passes through so the
    # same hook serves `Decimal | None` without an extra call per field.
    if value.__class__ is Decimal or value is None:
        return value
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise TypeError(f"expected a number, got {value!r}")
    return Decimal(value)


# Timestamps repeat heavily (effective dates on the 1st, batch updates share `lastUpdated`) and
# datetimes are immutable, so parsed values are shared.
_cached_datetime = functools.lru_cache(maxsize=4096)(parse_datetime)


def _structure_datetime(value: Any, _: Any) -> datetime | None:
    return None if value is None else _cached_datetime(value)


_NONE_AWARE_HOOKS: Final[Mapping[type, Callable[[Any, Any], Any]]] = {
    Decimal: _structure_decimal,
    datetime: _structure_datetime,
}


def _is_optional(tp: Any) -> bool:
    args = get_args(tp)
    return get_origin(tp) in (Union, UnionType) and len(args) == 2 and NoneType in args


def _optional_structure_factory(converter: Converter) -> Callable[[Any], Callable[[Any, Any], Any]]:
    # cattrs' generic Optional handling dominates parse time; every model field is optional, so
    # each gets a direct hook. JSON already delivers str, bool and int, so those pass through as is.
    def factory(tp: Any) -> Callable[[Any, Any], Any]:
        inner = next(arg for arg in get_args(tp) if arg is not NoneType)
        if inner in (str, bool, int):
            return lambda value, _: value
        if inner in _NONE_AWARE_HOOKS:
            return _NONE_AWARE_HOOKS[inner]
        hook = converter.get_structure_hook(inner)

        def structure_optional(value: Any, _: Any) -> Any:
            return None if value is None else hook(value, inner)

        return structure_optional

    return factory


def _info_value(key: str, parse: Callable[[Any], Any]) -> Callable[[Any, Any], Any]:
    def structure_info_value(info: Any, _: Any) -> Any:
        value = info.get(key) if info else None
        return None if value is None else parse(value)

    return structure_info_value


def _model_structure_factory(converter: Converter) -> Callable[[type[T]], Callable[[Any, Any], T]]:
    from cattrs.gen import make_dict_structure_fn, override

    # Fields read from the record's `_info` block rather than from a key of their own.
    info_overrides = {
        "last_updated": override(
            rename="_info", struct_hook=_info_value("lastUpdated", _cached_datetime)
        ),
        "updated_by": override(rename="_info", struct_hook=_info_value("updatedBy", str)),
    }

    def factory(cls: type[T]) -> Callable[[Any, Any], T]:
        overrides: dict[str, Any] = {
            field.name: info_overrides.get(field.name)
            or override(rename=wire_name(cls, field.name))
            for field in attrs.fields(cast("type[attrs.AttrsInstance]", cls))
        }
        return make_dict_structure_fn(
            cls, converter, _cattrs_detailed_validation=False, **overrides
        )

    return factory


def _reference_structure_hook() -> Callable[[Any, Any], Reference]:
    # A page of additions points at a handful of products, companies and members again and
    # again; references are frozen, so equal ones are shared instead of rebuilt per record.
    interned: dict[tuple[Any, Any, Any], Reference] = {}

    def structure_reference(value: Any, _: Any) -> Reference:
        key = (value.get("id"), value.get("identifier"), value.get("name"))
        found = interned.get(key)
        if found is None:
            found = interned[key] = Reference(*key)
            if len(interned) > _MAX_INTERNED:
                interned.clear()
        return found

    return structure_reference


def _unstructure_new_addition(new: NewAddition) -> dict[str, Any]:
    body: dict[str, Any] = {
        "product": {"id": new.product_id},
        "quantity": new.quantity,
        "billCustomer": new.bill_customer,
    }
    optional = {
        "unitPrice": new.unit_price,
        "unitCost": new.unit_cost,
        "effectiveDate": new.effective_date and format_datetime(new.effective_date),
        "description": new.description,
        "invoiceDescription": new.invoice_description,
    }
    body.update((key, value) for key, value in optional.items() if value is not None)
    return body


@functools.cache
def get_converter() -> Converter:
    """The converter, built on first use: cattrs is imported only when the first record is
    read or written, which keeps `import connectwise_billing` cheap."""
    from cattrs import Converter

    converter = Converter(forbid_extra_keys=False)
    converter.register_structure_hook(Decimal, _structure_decimal)
    converter.register_structure_hook(datetime, _structure_datetime)
    converter.register_unstructure_hook(datetime, format_datetime)
    converter.register_unstructure_hook(Decimal, lambda value: value)
    converter.register_unstructure_hook(NewAddition, _unstructure_new_addition)
    converter.register_structure_hook_factory(attrs.has, _model_structure_factory(converter))
    converter.register_structure_hook(Reference, _reference_structure_hook())
    converter.register_structure_hook_factory(_is_optional, _optional_structure_factory(converter))
    return converter


def structure(record: Any, cls: type[T]) -> T:
    """One JSON record (already parsed) as a `cls` model."""
    return get_converter().structure(record, cls)


def unstructure(value: Any) -> Any:
    """A model or value as JSON-ready data (request bodies omit unset fields)."""
    return get_converter().unstructure(value)


def patch_operations(values: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One `replace` operation per field, with ConnectWise's top-level field name as `path`."""
    return [
        {"op": "replace", "path": wire_name(Addition, name), "value": unstructure(value)}
        for name, value in values.items()
    ]
