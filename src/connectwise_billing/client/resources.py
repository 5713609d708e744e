"""Resources: the namespaces of a client (`client.products`, `client.additions`, ...).

Each method builds its request with a pure function of `_Endpoint` / `_additions_*` and hands it
to the client; the sync and async classes differ only in `await`.
"""

from __future__ import annotations

import builtins
from collections.abc import AsyncIterator, Iterator, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import attrs

from connectwise_billing.client import wire
from connectwise_billing.client._protocol import (
    ApiRequest,
    ListQuery,
    fields_param,
    positive_id,
)
from connectwise_billing.client.conditions import Condition, Field, combine
from connectwise_billing.client.models import (
    NOT_GIVEN,
    Addition,
    Agreement,
    Company,
    NewAddition,
    NotGiven,
    Product,
    addition_patch_values,
)
from connectwise_billing.defaults import DEFAULT_PAGE_SIZE
from connectwise_billing.errors import ConnectWiseBillingError, InputError, NotFoundError
from connectwise_billing.retry import write_outcome

if TYPE_CHECKING:
    from connectwise_billing.client._client import AsyncConnectWiseClient, ConnectWiseClient

M = TypeVar("M")
Conditions = Condition | str | None
"""A `Condition`, a raw condition string, or `None`."""
Fields = str | Sequence[str] | None
"""`fields=`: names to return (`"id,quantity,product/id"` or a list); `id` is always added."""


@attrs.frozen(slots=False)
class _Endpoint(Generic[M]):
    path: str
    model: type[M]

    def get(self, record_id: int, fields: Fields) -> ApiRequest:
        params = _fields_params(fields)
        return ApiRequest("GET", f"{self.path}/{positive_id(record_id, 'id')}", params=params)

    def query(
        self,
        conditions: Conditions,
        fields: Fields,
        order_by: str | None,
        page_size: int,
        *more: Conditions,
    ) -> ListQuery:
        return ListQuery.build(
            self.path,
            conditions=combine(conditions, *more),
            fields=fields_param(fields),
            order_by=order_by,
            page_size=page_size,
        )

    def count(self, conditions: Conditions) -> ApiRequest:
        text = combine(conditions)
        return ApiRequest(
            "GET", f"{self.path}/count", params=(("conditions", text),) if text else ()
        )


def _fields_params(fields: Fields) -> tuple[tuple[str, str], ...]:
    value = fields_param(fields)
    return (("fields", value),) if value else ()


def _search_text(text: str, what: str) -> str:
    if not isinstance(text, str) or not text.strip():
        raise InputError(f"{what} search text must be a non-empty string, got {text!r}")
    return text.strip()


def _product_search(text: str) -> Condition:
    term = _search_text(text, "product")
    return Field("identifier").contains(term) | Field("description").contains(term)


def _company_search(name: str) -> Condition:
    return Field("name").contains(_search_text(name, "company"))


def _company_condition(company_id: int | None) -> Condition | None:
    if company_id is None:
        return None
    return Field("company/id") == positive_id(company_id, "company_id")


_PRODUCTS = _Endpoint("/procurement/catalog", Product)
_COMPANIES = _Endpoint("/company/companies", Company)
_AGREEMENTS = _Endpoint("/finance/agreements", Agreement)


def _additions(agreement_id: int) -> _Endpoint[Addition]:
    return _Endpoint(
        f"/finance/agreements/{positive_id(agreement_id, 'agreement_id')}/additions", Addition
    )


def _create_addition(agreement_id: int, addition: NewAddition) -> ApiRequest:
    if not isinstance(addition, NewAddition):
        raise InputError(f"create() takes a NewAddition, got {type(addition).__name__}")
    body = wire.unstructure(addition)
    return ApiRequest("POST", _additions(agreement_id).path, body=body)


def _update_addition(agreement_id: int, addition_id: int, fields: dict[str, Any]) -> ApiRequest:
    path = f"{_additions(agreement_id).path}/{positive_id(addition_id, 'addition_id')}"
    operations = wire.patch_operations(Addition, addition_patch_values(fields))
    return ApiRequest("PATCH", path, body=operations)


def _delete_addition(agreement_id: int, addition_id: int) -> ApiRequest:
    path = f"{_additions(agreement_id).path}/{positive_id(addition_id, 'addition_id')}"
    return ApiRequest("DELETE", path)


class _Resource(Generic[M]):
    _endpoint: _Endpoint[M]

    def __init__(self, client: ConnectWiseClient) -> None:
        self._client = client

    def get(self, id: int, *, fields: Fields = None) -> M:
        """One record by id. Raises `NotFoundError` if there is none."""
        return self._client.fetch(self._endpoint.get(id, fields), self._endpoint.model)

    def iter(
        self,
        conditions: Conditions = None,
        *,
        fields: Fields = None,
        order_by: str | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
        strict: bool = False,
    ) -> Iterator[M]:
        """Stream every matching record, page by page (forward-only paging unless `order_by`)."""
        query = self._endpoint.query(conditions, fields, order_by, page_size)
        return self._client.paginate(query, self._endpoint.model, strict=strict)

    def list(
        self,
        conditions: Conditions = None,
        *,
        fields: Fields = None,
        order_by: str | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
        strict: bool = False,
    ) -> builtins.list[M]:
        """Every matching record, as a list."""
        return builtins.list(
            self.iter(
                conditions, fields=fields, order_by=order_by, page_size=page_size, strict=strict
            )
        )

    def count(self, conditions: Conditions = None) -> int:
        """How many records match."""
        request = self._endpoint.count(conditions)
        return self._client.count(request)


class _AsyncResource(Generic[M]):
    _endpoint: _Endpoint[M]

    def __init__(self, client: AsyncConnectWiseClient) -> None:
        self._client = client

    async def get(self, id: int, *, fields: Fields = None) -> M:
        """One record by id. Raises `NotFoundError` if there is none."""
        return await self._client.fetch(self._endpoint.get(id, fields), self._endpoint.model)

    def iter(
        self,
        conditions: Conditions = None,
        *,
        fields: Fields = None,
        order_by: str | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
        strict: bool = False,
    ) -> AsyncIterator[M]:
        """Stream every matching record (`async for`), page by page."""
        query = self._endpoint.query(conditions, fields, order_by, page_size)
        return self._client.paginate(query, self._endpoint.model, strict=strict)

    async def list(
        self,
        conditions: Conditions = None,
        *,
        fields: Fields = None,
        order_by: str | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
        strict: bool = False,
    ) -> builtins.list[M]:
        """Every matching record, as a list."""
        iterator = self.iter(
            conditions, fields=fields, order_by=order_by, page_size=page_size, strict=strict
        )
        return [item async for item in iterator]

    async def count(self, conditions: Conditions = None) -> int:
        """How many records match."""
        request = self._endpoint.count(conditions)
        return await self._client.count(request)


class Products(_Resource[Product]):
    """The product catalog (`/procurement/catalog`)."""

    _endpoint = _PRODUCTS

    def search(self, text: str, *, strict: bool = False) -> builtins.list[Product]:
        """Products whose identifier or description contains `text` (case-insensitive)."""
        return self.list(_product_search(text), order_by="identifier", strict=strict)


class AsyncProducts(_AsyncResource[Product]):
    """The product catalog (`/procurement/catalog`), async."""

    _endpoint = _PRODUCTS

    async def search(self, text: str, *, strict: bool = False) -> builtins.list[Product]:
        """Products whose identifier or description contains `text` (case-insensitive)."""
        return await self.list(_product_search(text), order_by="identifier", strict=strict)


class Companies(_Resource[Company]):
    """Companies (`/company/companies`)."""

    _endpoint = _COMPANIES

    def search(self, name: str, *, strict: bool = False) -> builtins.list[Company]:
        """Companies whose name contains `name` (case-insensitive)."""
        return self.list(_company_search(name), order_by="name", strict=strict)


class AsyncCompanies(_AsyncResource[Company]):
    """Companies (`/company/companies`), async."""

    _endpoint = _COMPANIES

    async def search(self, name: str, *, strict: bool = False) -> builtins.list[Company]:
        """Companies whose name contains `name` (case-insensitive)."""
        return await self.list(_company_search(name), order_by="name", strict=strict)


class Agreements(_Resource[Agreement]):
    """Agreements (`/finance/agreements`)."""

    _endpoint = _AGREEMENTS

    def iter(
        self,
        conditions: Conditions = None,
        *,
        company_id: int | None = None,
        fields: Fields = None,
        order_by: str | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
        strict: bool = False,
    ) -> Iterator[Agreement]:
        """Stream agreements, optionally only those of `company_id`."""
        query = self._endpoint.query(
            conditions, fields, order_by, page_size, _company_condition(company_id)
        )
        return self._client.paginate(query, Agreement, strict=strict)

    def list(
        self,
        conditions: Conditions = None,
        *,
        company_id: int | None = None,
        fields: Fields = None,
        order_by: str | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
        strict: bool = False,
    ) -> builtins.list[Agreement]:
        """Agreements as a list, optionally only those of `company_id`."""
        return builtins.list(
            self.iter(
                conditions,
                company_id=company_id,
                fields=fields,
                order_by=order_by,
                page_size=page_size,
                strict=strict,
            )
        )


class AsyncAgreements(_AsyncResource[Agreement]):
    """Agreements (`/finance/agreements`), async."""

    _endpoint = _AGREEMENTS

    def iter(
        self,
        conditions: Conditions = None,
        *,
        company_id: int | None = None,
        fields: Fields = None,
        order_by: str | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
        strict: bool = False,
    ) -> AsyncIterator[Agreement]:
        """Stream agreements, optionally only those of `company_id`."""
        query = self._endpoint.query(
            conditions, fields, order_by, page_size, _company_condition(company_id)
        )
        return self._client.paginate(query, Agreement, strict=strict)

    async def list(
        self,
        conditions: Conditions = None,
        *,
        company_id: int | None = None,
        fields: Fields = None,
        order_by: str | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
        strict: bool = False,
    ) -> builtins.list[Agreement]:
        """Agreements as a list, optionally only those of `company_id`."""
        iterator = self.iter(
            conditions,
            company_id=company_id,
            fields=fields,
            order_by=order_by,
            page_size=page_size,
            strict=strict,
        )
        return [item async for item in iterator]


Money = Decimal | int | str
When = date | datetime


class Additions:
    """Additions of an agreement (`/finance/agreements/{agreement_id}/additions`)."""

    def __init__(self, client: ConnectWiseClient) -> None:
        self._client = client

    def iter(
        self,
        agreement_id: int,
        conditions: Conditions = None,
        *,
        fields: Fields = None,
        order_by: str | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
        strict: bool = False,
    ) -> Iterator[Addition]:
        """Stream an agreement's additions, page by page."""
        query = _additions(agreement_id).query(conditions, fields, order_by, page_size)
        return self._client.paginate(query, Addition, strict=strict)

    def list(
        self,
        agreement_id: int,
        conditions: Conditions = None,
        *,
        fields: Fields = None,
        order_by: str | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
        strict: bool = False,
    ) -> builtins.list[Addition]:
        """An agreement's additions, as a list."""
        return builtins.list(
            self.iter(
                agreement_id,
                conditions,
                fields=fields,
                order_by=order_by,
                page_size=page_size,
                strict=strict,
            )
        )

    def get(self, agreement_id: int, addition_id: int, *, fields: Fields = None) -> Addition:
        """One addition. Raises `NotFoundError` if there is none."""
        return self._client.fetch(_additions(agreement_id).get(addition_id, fields), Addition)

    def count(self, agreement_id: int, conditions: Conditions = None) -> int:
        """How many of the agreement's additions match."""
        request = _additions(agreement_id).count(conditions)
        return self._client.count(request)

    def create(self, agreement_id: int, addition: NewAddition) -> Addition:
        """POST a new addition; return it as ConnectWise stored it.

        Never retried after the request may have reached the server (see
        [`RetryPolicy`][connectwise_billing.RetryPolicy]): a blind retry could bill twice.
        """
        return self._client.fetch(_create_addition(agreement_id, addition), Addition)

    def update(
        self,
        agreement_id: int,
        addition_id: int,
        *,
        quantity: Money | NotGiven = NOT_GIVEN,
        unit_price: Money | NotGiven = NOT_GIVEN,
        unit_cost: Money | NotGiven = NOT_GIVEN,
        cancelled_date: When | NotGiven | None = NOT_GIVEN,
        effective_date: When | NotGiven | None = NOT_GIVEN,
        bill_customer: str | NotGiven = NOT_GIVEN,
        description: str | NotGiven | None = NOT_GIVEN,
        invoice_description: str | NotGiven | None = NOT_GIVEN,
        taxable_flag: bool | NotGiven = NOT_GIVEN,
    ) -> Addition:
        """PATCH the given fields (one `replace` operation each, nothing else); return the result.

        `None` clears a date or description. At least one field must be given.
        """
        fields = {
            "quantity": quantity,
            "unit_price": unit_price,
            "unit_cost": unit_cost,
            "cancelled_date": cancelled_date,
            "effective_date": effective_date,
            "bill_customer": bill_customer,
            "description": description,
            "invoice_description": invoice_description,
            "taxable_flag": taxable_flag,
        }
        request = _update_addition(agreement_id, addition_id, fields)
        return self._client.fetch(request, Addition)

    def delete(self, agreement_id: int, addition_id: int) -> None:
        """DELETE an addition. Prefer cancelling (`update(cancelled_date=...)`): ConnectWise keeps
        the billing history of cancelled additions.

        A DELETE whose answer was lost is settled by reading the addition: gone means deleted.
        """
        try:
            self._client.request(_delete_addition(agreement_id, addition_id))
        except ConnectWiseBillingError as error:
            if write_outcome(error) != "unknown":
                raise
            try:
                self.get(agreement_id, addition_id, fields="id")
            except NotFoundError:
                return
            raise


class AsyncAdditions:
    """Additions of an agreement, async."""

    def __init__(self, client: AsyncConnectWiseClient) -> None:
        self._client = client

    def iter(
        self,
        agreement_id: int,
        conditions: Conditions = None,
        *,
        fields: Fields = None,
        order_by: str | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
        strict: bool = False,
    ) -> AsyncIterator[Addition]:
        """Stream an agreement's additions (`async for`), page by page."""
        query = _additions(agreement_id).query(conditions, fields, order_by, page_size)
        return self._client.paginate(query, Addition, strict=strict)

    async def list(
        self,
        agreement_id: int,
        conditions: Conditions = None,
        *,
        fields: Fields = None,
        order_by: str | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
        strict: bool = False,
    ) -> builtins.list[Addition]:
        """An agreement's additions, as a list."""
        iterator = self.iter(
            agreement_id,
            conditions,
            fields=fields,
            order_by=order_by,
            page_size=page_size,
            strict=strict,
        )
        return [item async for item in iterator]

    async def get(self, agreement_id: int, addition_id: int, *, fields: Fields = None) -> Addition:
        """One addition. Raises `NotFoundError` if there is none."""
        return await self._client.fetch(_additions(agreement_id).get(addition_id, fields), Addition)

    async def count(self, agreement_id: int, conditions: Conditions = None) -> int:
        """How many of the agreement's additions match."""
        request = _additions(agreement_id).count(conditions)
        return await self._client.count(request)

    async def create(self, agreement_id: int, addition: NewAddition) -> Addition:
        """POST a new addition; never retried after it may have reached the server."""
        return await self._client.fetch(_create_addition(agreement_id, addition), Addition)

    async def update(
        self,
        agreement_id: int,
        addition_id: int,
        *,
        quantity: Money | NotGiven = NOT_GIVEN,
        unit_price: Money | NotGiven = NOT_GIVEN,
        unit_cost: Money | NotGiven = NOT_GIVEN,
        cancelled_date: When | NotGiven | None = NOT_GIVEN,
        effective_date: When | NotGiven | None = NOT_GIVEN,
        bill_customer: str | NotGiven = NOT_GIVEN,
        description: str | NotGiven | None = NOT_GIVEN,
        invoice_description: str | NotGiven | None = NOT_GIVEN,
        taxable_flag: bool | NotGiven = NOT_GIVEN,
    ) -> Addition:
        """PATCH the given fields (one `replace` operation each); return the result."""
        fields = {
            "quantity": quantity,
            "unit_price": unit_price,
            "unit_cost": unit_cost,
            "cancelled_date": cancelled_date,
            "effective_date": effective_date,
            "bill_customer": bill_customer,
            "description": description,
            "invoice_description": invoice_description,
            "taxable_flag": taxable_flag,
        }
        request = _update_addition(agreement_id, addition_id, fields)
        return await self._client.fetch(request, Addition)

    async def delete(self, agreement_id: int, addition_id: int) -> None:
        """DELETE an addition (prefer cancelling it); a lost answer is settled by reading."""
        try:
            await self._client.request(_delete_addition(agreement_id, addition_id))
        except ConnectWiseBillingError as error:
            if write_outcome(error) != "unknown":
                raise
            try:
                await self.get(agreement_id, addition_id, fields="id")
            except NotFoundError:
                return
            raise
