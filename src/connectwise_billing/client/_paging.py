"""How a listing walks its pages, and where it must stop.

ConnectWise pages with `Link` headers (forward-only `pageId` paging, or numbered pages with
`orderBy`). A server, or a proxy in between, can get paging wrong: a link back to a page read
before, a `pageId` that does not advance, a listing that never ends. `PageWalk` turns each of
these into an [`UnexpectedResponseError`][connectwise_billing.UnexpectedResponseError]: never an
endless loop, never a record counted twice.
"""

from __future__ import annotations

from collections.abc import (
    AsyncGenerator,
    AsyncIterator,
    Generator,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from typing import Any, Final, Generic, Self, TypeVar
from urllib.parse import parse_qsl, urlsplit

import attrs

from connectwise_billing.client._api import ApiRequest, ListQuery, parse_link_header
from connectwise_billing.errors import UnexpectedResponseError

__all__ = [
    "COUNT_CHECK_PAGES",
    "MAX_PAGES",
    "AsyncListingIterator",
    "Listing",
    "ListingIterator",
    "M",
    "N",
    "Page",
    "PageWalk",
]

M = TypeVar("M")
"""The model a resource's records are read into: [`Product`][connectwise_billing.Product] for
`client.products`, [`Addition`][connectwise_billing.Addition] for `client.additions`, ..."""
N = TypeVar("N")
"""The model a new record is written from: [`NewAddition`][connectwise_billing.NewAddition] for
`client.additions`."""


@attrs.frozen(slots=False)
class Page(Generic[M]):
    """One page of a listing (see `iter_pages`).

    Attributes:
        number: 1 for the first page.
        items: The page's records (those that could be used; see `strict`).
        left_out: Why each record of the page that could not be used was left out of `items`
            (a lenient listing; a strict one raises instead): an
            [`UnexpectedResponseError`][connectwise_billing.UnexpectedResponseError] naming the
            record, the field and the value.
    """

    number: int
    items: list[M]
    left_out: list[UnexpectedResponseError] = attrs.field(factory=list)


class Listing(list[M]):
    """The records of a listing (what `list()` and `search()` return): a list, with the
    records that could not be used beside it.

    Args:
        items: The records.
        left_out: The errors of the records left out.

    Attributes:
        left_out: Why each record that could not be used was left out (a lenient listing; a
            strict one raises instead): an
            [`UnexpectedResponseError`][connectwise_billing.UnexpectedResponseError] naming the
            record, the field and the value. Empty when every record was read.
    """

    def __init__(
        self, items: Iterable[M] = (), left_out: Iterable[UnexpectedResponseError] = ()
    ) -> None:
        super().__init__(items)
        self.left_out: list[UnexpectedResponseError] = list(left_out)


class ListingIterator(Iterator[M]):
    """The records of a listing streamed page by page (what `iter()` returns): nothing is sent
    until the first record is asked for, and memory holds about one page.

    Args:
        pages: The listing's pages.

    Attributes:
        left_out: Why each record that could not be used was left out, as far as the listing
            has been read (see [`Listing`][connectwise_billing.client._paging.Listing]).
    """

    def __init__(self, pages: Iterator[Page[M]]) -> None:
        self.left_out: list[UnexpectedResponseError] = []
        self._pages = pages
        self._items: Iterator[M] = iter(())

    def __iter__(self) -> Self:
        return self

    def __next__(self) -> M:
        while True:
            try:
                return next(self._items)
            except StopIteration:
                pass
            # The page read is let go before the next one is asked for: one page in memory.
            self._items = iter(())
            page = next(self._pages)
            self.left_out += page.left_out
            self._items = iter(page.items)

    def collect(self) -> Listing[M]:
        """Read the listing to its end: the records not read yet, as a
        [`Listing`][connectwise_billing.client._paging.Listing] whose `left_out` holds every
        record the listing left out."""
        listing = Listing(self._items)  # what is left of the page in hand, then page by page
        self._items = iter(())
        for page in self._pages:
            self.left_out += page.left_out
            listing += page.items
        listing.left_out += self.left_out  # complete only once the listing is read
        return listing

    def close(self) -> None:
        """Stop the listing: no further page is asked for."""
        self._items = iter(())
        if isinstance(self._pages, Generator):
            self._pages.close()


class AsyncListingIterator(AsyncIterator[M]):
    """The asyncio twin of [`ListingIterator`][connectwise_billing.client._paging.ListingIterator]
    (what the async client's `iter()` returns), read with `async for`.

    Args:
        pages: The listing's pages.

    Attributes:
        left_out: Why each record that could not be used was left out, as far as the listing
            has been read.
    """

    def __init__(self, pages: AsyncIterator[Page[M]]) -> None:
        self.left_out: list[UnexpectedResponseError] = []
        self._pages = pages
        self._items: Iterator[M] = iter(())

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> M:
        while True:
            try:
                return next(self._items)
            except StopIteration:
                pass
            self._items = iter(())
            page = await anext(self._pages)
            self.left_out += page.left_out
            self._items = iter(page.items)

    async def collect(self) -> Listing[M]:
        """Read the listing to its end (see
        [`ListingIterator.collect`][connectwise_billing.client._paging.ListingIterator.collect])."""
        listing = Listing(self._items)
        self._items = iter(())
        async for page in self._pages:
            self.left_out += page.left_out
            listing += page.items
        listing.left_out += self.left_out
        return listing

    async def aclose(self) -> None:
        """Stop the listing: no further page is asked for."""
        self._items = iter(())
        if isinstance(self._pages, AsyncGenerator):
            await self._pages.aclose()


MAX_PAGES: Final = 10_000
"""The most pages one listing may have (10 million records at ConnectWise's 1,000 a page)."""
COUNT_CHECK_PAGES: Final = 10
"""After this many pages, a listing asks `/count` how many records there are, and stops with an
error when the pages run past what that count allows (a server inventing pages)."""


class PageWalk:
    """One listing's paging: where it has been and how far it may go.

    A listing that comes back to a page it read (`Link` alternating between two page ids, or
    any longer cycle), goes back (`pageId` not increasing), repeats records it read, or runs
    past `MAX_PAGES`, or past the pages its `/count` allows, is an `UnexpectedResponseError`:
    never an endless loop. Only the paging keys are kept, so memory stays flat.
    """

    def __init__(self, query: ListQuery, max_pages: int = MAX_PAGES) -> None:
        self.query = query
        """The listing."""
        self.limit = max_pages
        """The most pages it may read."""
        self.pages = 1
        """Pages read so far."""
        self._seen = {self._key(query.first)}

    @staticmethod
    def _key(request: ApiRequest) -> str:
        params = dict(request.params)
        return params.get("pageId") or params.get("page") or "first"

    def _fail(self, request: ApiRequest, problem: str) -> UnexpectedResponseError:
        return UnexpectedResponseError(
            f"{problem}; the listing was stopped after {self.pages} page(s)",
            status_code=200,
            method=request.method,
            url=request.path,
        )

    def next_request(
        self, current: ApiRequest, link_header: str | None, items: Sequence[Any]
    ) -> ApiRequest | None:
        """The request for the page after `current`, or `None` when it was the last."""
        if not items:
            return None  # an empty page ends a listing, whatever its Link says
        after = dict(current.params).get("pageId")
        if self.query.forward_only and after is not None:
            found = (item.get("id") for item in items if isinstance(item, Mapping))
            ids = [known for known in found if isinstance(known, int)]
            if ids and min(ids) <= int(after):
                raise self._fail(current, f"the page after id {after} lists records up to it again")
        last = parse_link_header(link_header).get("last")
        last_page = dict(parse_qsl(urlsplit(last).query)).get("page") if last else None
        if last_page and last_page.isdigit():
            self.limit = min(self.limit, int(last_page))
        following = self.query.next_request(current, link_header, items)
        if following is None:
            return None
        key = self._key(following)
        if key in self._seen:
            raise self._fail(current, f"the next page link points back at {key}, read before")
        then = dict(following.params).get("pageId")
        if after and then and not (then.isdigit() and int(then) > int(after)):
            raise self._fail(current, f"the next page id {then} does not come after {after}")
        self._seen.add(key)
        self.pages += 1
        if self.pages > self.limit:
            raise self._fail(current, f"the listing runs past {self.limit} pages")
        return following

    def needs_count(self) -> bool:
        """Whether to ask `/count` now (once, after `COUNT_CHECK_PAGES` pages)."""
        return self.pages == COUNT_CHECK_PAGES

    def expect(self, count: int) -> None:
        """Allow only the pages `count` records fill (and one more, for records added since)."""
        pages = -(-count // self.query.page_size) + 1
        self.limit = min(self.limit, max(pages, COUNT_CHECK_PAGES))
