"""The sync client's resource accessors, made by the declarations in
[`connectwise_billing.client._resource`][connectwise_billing.client._resource]: each method
builds its request with the declaration and hands it to the client.

The async client's accessors are generated from this file (`make generate`)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Generic

from connectwise_billing._flow import run
from connectwise_billing._retry import RetryPolicy
from connectwise_billing.client._api import RequestOptions, Timeout
from connectwise_billing.client._paging import Listing, ListingIterator, M, N, Page
from connectwise_billing.defaults import DEFAULT_PAGE_SIZE

# scripts/gen_async_accessors.py writes async_accessors.py from this file by substituting words:
# a method that calls the client's `fetch` or `count`, `collect()` or `self.list` becomes a
# coroutine that awaits them. tests/unit/test_generated_accessors.py fails when the twin is stale.

if TYPE_CHECKING:
    from connectwise_billing.client._client import ConnectWiseClient
    from connectwise_billing.client._resource import (
        ChildResourceSpec,
        Conditions,
        Fields,
        ResourceSpec,
    )

__all__ = ["ChildResource", "Resource"]


class Resource(Generic[M]):
    """A top-level resource on the sync client: `client.products`, `client.agreements`, ...

    Listings take the resource's declared filters as keyword arguments
    (`client.agreements.list(company_id=5)`).
    """

    def __init__(self, client: ConnectWiseClient, spec: ResourceSpec[M]) -> None:
        self._client = client
        self._spec = spec

    def get(
        self,
        id: int,
        *,
        fields: Fields = None,
        timeout: Timeout | None = None,
        retry: RetryPolicy | None = None,
    ) -> M:
        """One record by id. Raises `NotFoundError` if there is none."""
        request = self._spec.get((), id, fields, RequestOptions(timeout, retry))
        return self._client.fetch(request, self._spec.model)

    def iter_pages(
        self,
        conditions: Conditions = None,
        *,
        fields: Fields = None,
        order_by: str | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
        strict: bool | None = None,
        timeout: Timeout | None = None,
        retry: RetryPolicy | None = None,
        **filters: Any,
    ) -> Iterator[Page[M]]:
        """Stream the matching records a page at a time (lazily: nothing is sent until the first
        page is asked for).

        With `strict`, a record that cannot be used fails the listing with an
        `UnexpectedResponseError` naming it; otherwise it is left out, with its error on the
        page's `left_out` and a warning in the log. `None`: the resource's own (strict for
        additions, lenient for the others)."""
        query = self._spec.query(
            (), conditions, filters, fields, order_by, page_size, RequestOptions(timeout, retry)
        )
        return self._client.pages(query, self._spec.model, strict=self._spec.is_strict(strict))

    def iter(
        self,
        conditions: Conditions = None,
        *,
        fields: Fields = None,
        order_by: str | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
        strict: bool | None = None,
        timeout: Timeout | None = None,
        retry: RetryPolicy | None = None,
        **filters: Any,
    ) -> ListingIterator[M]:
        """Stream every matching record (forward-only paging unless `order_by`); the records
        left out gather in its `left_out` as it goes (see `iter_pages` for `strict`)."""
        pages = self.iter_pages(
            conditions, fields=fields, order_by=order_by, page_size=page_size, strict=strict,
            timeout=timeout, retry=retry, **filters,
        )  # fmt: skip
        return ListingIterator(pages)

    def list(
        self,
        conditions: Conditions = None,
        *,
        fields: Fields = None,
        order_by: str | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
        strict: bool | None = None,
        timeout: Timeout | None = None,
        retry: RetryPolicy | None = None,
        **filters: Any,
    ) -> Listing[M]:
        """Every matching record, as a list, with the records left out in its `left_out`
        (see `iter_pages` for `strict`)."""
        records = self.iter(
            conditions, fields=fields, order_by=order_by, page_size=page_size, strict=strict,
            timeout=timeout, retry=retry, **filters,
        )  # fmt: skip
        return records.collect()

    def count(
        self,
        conditions: Conditions = None,
        *,
        timeout: Timeout | None = None,
        retry: RetryPolicy | None = None,
        **filters: Any,
    ) -> int:
        """How many records match."""
        request = self._spec.count((), conditions, filters, RequestOptions(timeout, retry))
        return self._client.count(request)

    def search(
        self,
        text: str,
        *,
        strict: bool | None = None,
        timeout: Timeout | None = None,
        retry: RetryPolicy | None = None,
    ) -> Listing[M]:
        """Records whose searched fields contain `text` (case-insensitive), in the order of the
        first of them (see `iter_pages` for `strict`)."""
        condition = self._spec.search_condition(text)
        order = self._spec.search[0]
        return self.list(condition, order_by=order, strict=strict, timeout=timeout, retry=retry)


class ChildResource(Generic[M, N]):
    """A resource under a parent record on the sync client: `client.additions`.

    Every method takes the parent's id first (`client.additions.list(agreement_id)`).
    """

    def __init__(self, client: ConnectWiseClient, spec: ChildResourceSpec[M, N]) -> None:
        self._client = client
        self._spec = spec

    def get(
        self,
        parent_id: int,
        id: int,
        *,
        fields: Fields = None,
        timeout: Timeout | None = None,
        retry: RetryPolicy | None = None,
    ) -> M:
        """One record by its parent's id and its own. Raises `NotFoundError` if there is none."""
        parents = self._spec.parents(parent_id)
        request = self._spec.get(parents, id, fields, RequestOptions(timeout, retry))
        return self._client.fetch(request, self._spec.model)

    def iter_pages(
        self,
        parent_id: int,
        conditions: Conditions = None,
        *,
        fields: Fields = None,
        order_by: str | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
        strict: bool | None = None,
        timeout: Timeout | None = None,
        retry: RetryPolicy | None = None,
        **filters: Any,
    ) -> Iterator[Page[M]]:
        """Stream the parent's matching records a page at a time (as `Resource.iter_pages`;
        additions are strict unless `strict=False`)."""
        query = self._spec.query(
            self._spec.parents(parent_id), conditions, filters, fields, order_by, page_size,
            RequestOptions(timeout, retry),
        )  # fmt: skip
        return self._client.pages(query, self._spec.model, strict=self._spec.is_strict(strict))

    def iter(
        self,
        parent_id: int,
        conditions: Conditions = None,
        *,
        fields: Fields = None,
        order_by: str | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
        strict: bool | None = None,
        timeout: Timeout | None = None,
        retry: RetryPolicy | None = None,
        **filters: Any,
    ) -> ListingIterator[M]:
        """Stream the parent's matching records; with `strict=False`, the records left out
        gather in its `left_out` as it goes."""
        pages = self.iter_pages(
            parent_id, conditions, fields=fields, order_by=order_by, page_size=page_size,
            strict=strict, timeout=timeout, retry=retry, **filters,
        )  # fmt: skip
        return ListingIterator(pages)

    def list(
        self,
        parent_id: int,
        conditions: Conditions = None,
        *,
        fields: Fields = None,
        order_by: str | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
        strict: bool | None = None,
        timeout: Timeout | None = None,
        retry: RetryPolicy | None = None,
        **filters: Any,
    ) -> Listing[M]:
        """The parent's matching records, as a list; with `strict=False`, the records left out
        are in its `left_out`."""
        records = self.iter(
            parent_id, conditions, fields=fields, order_by=order_by, page_size=page_size,
            strict=strict, timeout=timeout, retry=retry, **filters,
        )  # fmt: skip
        return records.collect()

    def count(
        self,
        parent_id: int,
        conditions: Conditions = None,
        *,
        timeout: Timeout | None = None,
        retry: RetryPolicy | None = None,
        **filters: Any,
    ) -> int:
        """How many of the parent's records match."""
        parents = self._spec.parents(parent_id)
        request = self._spec.count(parents, conditions, filters, RequestOptions(timeout, retry))
        return self._client.count(request)

    def create(
        self,
        parent_id: int,
        record: N,
        *,
        timeout: Timeout | None = None,
        retry: RetryPolicy | None = None,
    ) -> M:
        """POST a new record; return it as ConnectWise stored it.

        Never retried after the request may have reached the server (see
        [`RetryPolicy`][connectwise_billing.RetryPolicy]): a blind retry could bill twice.
        """
        request = self._spec.create(parent_id, record, RequestOptions(timeout, retry))
        return self._client.fetch(request, self._spec.model)

    def update(
        self,
        parent_id: int,
        id: int,
        *,
        timeout: Timeout | None = None,
        retry: RetryPolicy | None = None,
        **fields: Any,
    ) -> M:
        """PATCH the given fields (one `replace` operation each, nothing else); return the
        record as ConnectWise answered it.

        Only the declared writable fields may be given; each value is checked before anything
        is sent (`quantity="lots"` is an `InputError` naming it). `None` clears a field that
        may be cleared (a date, a description).
        """
        request = self._spec.update(parent_id, id, fields, RequestOptions(timeout, retry))
        return self._client.fetch(request, self._spec.model)

    def delete(
        self,
        parent_id: int,
        id: int,
        *,
        timeout: Timeout | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        """DELETE a record. For additions, prefer cancelling (`update(cancelled_date=...)`):
        ConnectWise keeps the billing history of cancelled additions.

        A DELETE whose answer was lost is settled by reading the record: gone means deleted.
        """
        run(self._client, self._spec.delete_flow(parent_id, id, RequestOptions(timeout, retry)))
