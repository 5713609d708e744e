"""Resources, declared once: a declaration on the client gives its sync and async accessors.

```python
class _Client:  # the shared base of ConnectWiseClient and AsyncConnectWiseClient
    products: ResourceSpec[Product] = ResourceSpec(
        "/procurement/catalog", Product, search=("identifier", "description")
    )
    additions: ChildResourceSpec[Addition, NewAddition] = ChildResourceSpec(
        "/finance/agreements/{}/additions", Addition, parent="agreement_id",
        new=NewAddition, writable=ADDITION_WRITABLE, strict=True,
    )
```

`client.products` is then a [`Resource`][connectwise_billing.client._accessors.Resource] on a
`ConnectWiseClient` and an
[`AsyncResource`][connectwise_billing.client._async_accessors.AsyncResource] on an
`AsyncConnectWiseClient`; mypy knows which, from the overloads of `__get__`, and the reference
shows it from the same overloads (the annotation gives them the model). A read-only resource
(invoices, contacts) is one declaration plus its model; a writable one adds its writable
fields. A resource whose records are summed (additions) declares its listings strict: a record
that cannot be read fails them, unless a call passes `strict=False`.

Every request is built by the declaration (pure, shared); the accessors only hand it to their
client. Every method takes per-call `timeout=` and `retry=`, as in anthropic's SDK.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Generic, Self, overload

import attrs

from connectwise_billing._flow import Flow, ask
from connectwise_billing._retry import write_outcome
from connectwise_billing.client import _wire as wire
from connectwise_billing.client._accessors import ChildResource, Resource
from connectwise_billing.client._api import (
    ApiRequest,
    ListQuery,
    RequestOptions,
    fields_param,
    positive_id,
)
from connectwise_billing.client._async_accessors import AsyncChildResource, AsyncResource
from connectwise_billing.client._calls import Call, Fetch, Send
from connectwise_billing.client._conditions import Condition, Field, combine
from connectwise_billing.client._models import NOT_GIVEN
from connectwise_billing.client._paging import M, N
from connectwise_billing.client._writable import Writable
from connectwise_billing.errors import ConnectWiseBillingError, InputError, NotFoundError

if TYPE_CHECKING:
    from connectwise_billing.client._client import AsyncConnectWiseClient, ConnectWiseClient

__all__ = ["ChildResourceSpec", "Conditions", "Fields", "ResourceSpec", "Writable"]

Conditions = Condition | str | None
"""A `Condition`, a raw condition string, or `None`."""
Fields = str | Sequence[str] | None
"""`fields=`: names to return (`"id,quantity,product/id"` or a list); `id` is always added."""


def _fields_params(fields: Fields) -> tuple[tuple[str, str], ...]:
    value = fields_param(fields)
    return (("fields", value),) if value else ()


@attrs.frozen(slots=False)
class _Declaration(Generic[M]):
    """What every resource declares; builds its requests (pure: no I/O)."""

    path: str
    """The path under the API's base URL (`/procurement/catalog`); `{}` stands for the parent's
    id."""
    model: type[M]
    """The model records are read into."""
    filters: Mapping[str, str] = attrs.field(factory=dict, kw_only=True)
    """Keyword filters of listings: argument name -> ConnectWise field (`company_id` ->
    `company/id`)."""
    strict: bool = attrs.field(default=False, kw_only=True)
    """Whether a record that cannot be used fails a listing unless the call says otherwise
    (`strict=`). Additions are strict: a script that sums them never gets a wrong total."""
    name: str = attrs.field(default="", kw_only=True)
    """The attribute it is declared as on the client (`products`), set by Python."""

    def __set_name__(self, owner: type, name: str) -> None:
        object.__setattr__(self, "name", name)

    def is_strict(self, strict: bool | None) -> bool:
        """A listing's strictness: the call's `strict=`, else the resource's."""
        return self.strict if strict is None else strict

    def where(self, parents: tuple[int, ...]) -> str:
        return self.path.format(*parents) if parents else self.path

    def conditions(self, conditions: Conditions, filters: Mapping[str, Any]) -> str | None:
        """`conditions` and the `filters` (`company_id=5` -> `company/id = 5`), combined."""
        more: list[Conditions] = []
        for key, value in filters.items():
            field = self.filters.get(key)
            if field is None:
                known = ", ".join(sorted(self.filters)) or "none"
                raise InputError(
                    f"{self.name}: unknown filter {key!r} (filters: {known}); "
                    "use conditions= for anything else"
                )
            if value is not None:
                checked = positive_id(value, key) if key.endswith("_id") else value
                more.append(Field(field) == checked)
        return combine(conditions, *more)

    def get(
        self, parents: tuple[int, ...], record_id: int, fields: Fields, options: RequestOptions
    ) -> ApiRequest:
        path = f"{self.where(parents)}/{positive_id(record_id, 'id')}"
        return ApiRequest("GET", path, params=_fields_params(fields), options=options)

    def query(
        self,
        parents: tuple[int, ...],
        conditions: Conditions,
        filters: Mapping[str, Any],
        fields: Fields,
        order_by: str | None,
        page_size: int,
        options: RequestOptions,
    ) -> ListQuery:
        return ListQuery.build(
            self.where(parents),
            conditions=self.conditions(conditions, filters),
            fields=fields_param(fields),
            order_by=order_by,
            page_size=page_size,
            options=options,
        )

    def count(
        self,
        parents: tuple[int, ...],
        conditions: Conditions,
        filters: Mapping[str, Any],
        options: RequestOptions,
    ) -> ApiRequest:
        text = self.conditions(conditions, filters)
        params = (("conditions", text),) if text else ()
        return ApiRequest("GET", f"{self.where(parents)}/count", params=params, options=options)


@attrs.frozen(slots=False)
class ResourceSpec(_Declaration[M], Generic[M]):
    """A top-level resource: its path, its model, the filters its listings take as keyword
    arguments (`company_id=` -> `company/id`), and the fields a text search looks in.

    Declared on the client's shared base, it is the client's attribute: a
    [`Resource`][connectwise_billing.client._accessors.Resource] on the sync client, an
    [`AsyncResource`][connectwise_billing.client._async_accessors.AsyncResource] on the
    async one.
    """

    search: tuple[str, ...] = attrs.field(default=(), kw_only=True)
    """The fields `search(text)` looks in (`identifier`, `description`)."""

    def search_condition(self, text: str) -> Condition:
        if not self.search:
            raise InputError(f"{self.name} cannot be searched by text; use conditions=")
        if not isinstance(text, str) or not text.strip():
            raise InputError(f"{self.name} search text must be a non-empty string, got {text!r}")
        first, *more = (Field(name).contains(text.strip()) for name in self.search)
        for condition in more:
            first = first | condition
        return first

    @overload
    def __get__(self, client: None, owner: type) -> Self: ...
    @overload
    def __get__(self, client: ConnectWiseClient, owner: type) -> Resource[M]: ...
    @overload
    def __get__(self, client: AsyncConnectWiseClient, owner: type) -> AsyncResource[M]: ...
    def __get__(self, client: Any, owner: type) -> Any:
        if client is None:
            return self
        accessor = (AsyncResource if client.is_async else Resource)(client, self)
        client.__dict__[self.name] = accessor  # built once per client
        return accessor


@attrs.frozen(slots=False)
class ChildResourceSpec(_Declaration[M], Generic[M, N]):
    """A resource under a parent record (`/finance/agreements/{agreement_id}/additions`): its
    methods take the parent's id first. `new` is the model `create()` takes; `writable` the
    fields `update()` may change (empty: read-only).
    """

    parent: str = attrs.field(default="parent_id", kw_only=True)
    """The name of the parent's id, the first argument of every method (`agreement_id`)."""
    new: type[N] | None = attrs.field(default=None, kw_only=True)
    """The model `create()` takes (`None`: records cannot be created)."""
    writable: Mapping[str, Writable] = attrs.field(factory=dict, kw_only=True)
    """The fields `update()` may change, by model field name (empty: read-only)."""

    def parents(self, parent_id: int) -> tuple[int, ...]:
        return (positive_id(parent_id, self.parent),)

    def create(self, parent_id: int, record: N, options: RequestOptions) -> ApiRequest:
        if self.new is None or not isinstance(record, self.new):
            wanted = self.new.__name__ if self.new else "nothing: it is read-only"
            raise InputError(f"{self.name}.create() takes {wanted}, got {type(record).__name__}")
        path = self.where(self.parents(parent_id))
        return ApiRequest("POST", path, body=wire.unstructure(record), options=options)

    def update(
        self, parent_id: int, record_id: int, fields: Mapping[str, Any], options: RequestOptions
    ) -> ApiRequest:
        """A PATCH of the given fields, each checked by its `Writable` before anything is sent."""
        values: dict[str, Any] = {}
        for name, value in fields.items():
            if value is NOT_GIVEN:
                continue
            rule = self.writable.get(name)
            if rule is None:
                known = ", ".join(self.writable) or "none: it is read-only"
                raise InputError(
                    f"{self.name}.update(): {name} cannot be changed (fields: {known})"
                )
            if value is None and not rule.nullable:
                raise InputError(f"{name} cannot be set to None")
            values[name] = None if value is None else rule.coerce(value, name)
        if not values:
            raise InputError("update() needs at least one field to change")
        path = f"{self.where(self.parents(parent_id))}/{positive_id(record_id, 'id')}"
        body = wire.patch_operations(self.model, values)
        return ApiRequest("PATCH", path, body=body, options=options)

    def delete_flow(
        self, parent_id: int, record_id: int, options: RequestOptions
    ) -> Flow[Call[Any], None]:
        """DELETE, and a DELETE whose answer was lost settled by reading: gone means deleted."""
        path = f"{self.where(self.parents(parent_id))}/{positive_id(record_id, 'id')}"
        try:
            yield from ask(Send(ApiRequest("DELETE", path, options=options)))
        except ConnectWiseBillingError as error:
            if write_outcome(error) != "unknown":
                raise
            try:
                get = self.get(self.parents(parent_id), record_id, "id", options)
                yield from ask(Fetch(get, self.model))
            except NotFoundError:
                return
            raise

    @overload
    def __get__(self, client: None, owner: type) -> Self: ...
    @overload
    def __get__(self, client: ConnectWiseClient, owner: type) -> ChildResource[M, N]: ...
    @overload
    def __get__(self, client: AsyncConnectWiseClient, owner: type) -> AsyncChildResource[M, N]: ...
    def __get__(self, client: Any, owner: type) -> Any:
        if client is None:
            return self
        accessor = (AsyncChildResource if client.is_async else ChildResource)(client, self)
        client.__dict__[self.name] = accessor
        return accessor
