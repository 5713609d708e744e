"""`ConnectWiseClient` and `AsyncConnectWiseClient`: twins over one generic base.

`BaseClient` holds everything that is not I/O: configuration, headers, resources, reading
answers. The twins add only sending, waiting and closing.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from types import TracebackType
from typing import Any, Final, Self

import httpx

from connectwise_billing._retry import async_call_with_retries, call_with_retries
from connectwise_billing.client._api import ApiRequest, ListQuery, Timeout, read_count, read_json
from connectwise_billing.client._base import USER_AGENT, BaseClient
from connectwise_billing.client._credentials import Credentials
from connectwise_billing.client._discovery import unknown_company
from connectwise_billing.client._paging import (
    AsyncListingIterator,
    ListingIterator,
    M,
    Page,
    PageWalk,
)
from connectwise_billing.errors import APIConnectionError, APITimeoutError, NotFoundError

_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
_DISCOVERY_HEADERS = {"Accept": "application/json", "User-Agent": USER_AGENT}


class ConnectWiseClient(BaseClient[httpx.Client, httpx.BaseTransport]):
    """A synchronous ConnectWise Manage client.

    Args:
        base_url: The API root, `https://<api host>/<codebase>apis/3.0`. Use
            [`from_site`][connectwise_billing.ConnectWiseClient.from_site] to discover it.
            Plain `http://` is refused except on loopback addresses.
        credentials: The API member's [`Credentials`][connectwise_billing.Credentials].
        api_version: Model version sent in the `Accept` header.
        timeout: Seconds, or an `httpx.Timeout`, for every request (a method's own `timeout=`
            wins).
        retry: The [`RetryPolicy`][connectwise_billing.RetryPolicy]; default `RetryPolicy()`
            (a method's own `retry=` wins).
        rate_limit_per_minute: Client-side ceiling shared by all requests of this client;
            `None` turns it off.
        rate_limiter: A limiter to send through instead of the client's own
            ([`Limiter`][connectwise_billing.client._ratelimit.Limiter]): a
            [`RedisRateLimiter`][connectwise_billing.client._ratelimit.RedisRateLimiter] shares
            one limit between the workers of a job queue (without a `key`, keyed by this
            client's tenant and API member), a
            [`RateLimiter`][connectwise_billing.client._ratelimit.RateLimiter] between the
            clients of one process. It sets the rate: passing `rate_limit_per_minute` too is a
            `ConfigurationError`.
        transport: An `httpx` transport (for example `httpx.MockTransport` or the simulator's).
        http_client: An `httpx.Client` to use instead of creating one; it is not closed by
            `close()`.

    No request is made until a resource method is called. Use it as a context manager, or call
    `close()`, to release the pooled connection.
    """

    is_async = False

    @staticmethod
    def _new_http(transport: Any, timeout: Timeout) -> httpx.Client:
        return httpx.Client(transport=transport, timeout=timeout)

    @classmethod
    def from_site(cls, site_url: str, credentials: Credentials, **kwargs: Any) -> Self:
        """Discover the API base URL of a ConnectWise site and return a client for it.

        Makes one unauthenticated `GET <site_url>/login/companyinfo/<company_id>` to learn the
        codebase, applies the `api-` host rule for cloud sites (`na.myconnectwise.net` ->
        `api-na.myconnectwise.net`), and passes `kwargs` on to the constructor; the discovery
        request and the client share one connection pool.
        """
        url, http, retry = cls._discovery(site_url, credentials, kwargs)
        try:
            try:
                info = call_with_retries(
                    retry, "GET", url.path, _get_companyinfo, http, url, answered=lambda: False
                )
            except NotFoundError:
                raise unknown_company(site_url, credentials.company_id) from None
            return cls._discovered(site_url, credentials, info, http, kwargs)
        except BaseException:
            if "http_client" not in kwargs:
                http.close()
            raise

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection pool (unless the `http_client` was passed in)."""
        if self._owns_http:
            self._http.close()

    def request(self, request: ApiRequest) -> Any:
        """Send one request with retries and rate limiting; return its parsed JSON."""
        with self._guarded():
            return self._exchange(request)[0]

    def _exchange(self, request: ApiRequest) -> tuple[Any, httpx.Response]:
        policy = self._retry(request)
        return call_with_retries(
            policy,
            request.method,
            request.path,
            self._send_once,
            request,
            answered=self._has_answered,
        )

    def _send_once(self, request: ApiRequest) -> tuple[Any, httpx.Response]:
        if self.rate_limiter is not None:
            self.rate_limiter.acquire()
        started = time.perf_counter()
        try:
            response = self._http.request(**self._start_attempt(request))
        except httpx.TransportError as error:
            raise connection_error(request.method, self.base_url + request.path, error) from error
        return self._read(request, released(response), started), response

    def count(self, request: ApiRequest) -> int:
        """Send a `/count` request; return the number."""
        with self._guarded():
            return read_count(self._exchange(request)[0], request, self._secrets)

    def fetch(self, request: ApiRequest, model: type[M]) -> M:
        """Send a request whose answer is one record and return it as `model`.

        Raises:
            UnexpectedResponseError: the record cannot be used (naming the field and value).
        """
        with self._guarded():
            data, response = self._exchange(request)
            return self._structure(request, response, data, model)

    def pages(self, query: ListQuery, model: type[M], *, strict: bool = False) -> Iterator[Page[M]]:
        """Stream the pages of a list read (lazily: nothing is sent until the first page is
        asked for). With `strict`, a record that cannot be used fails the listing; otherwise it
        is left out, its error on the page's `left_out`, with a warning."""
        walk = PageWalk(query)
        request: ApiRequest | None = query.first
        while request is not None:
            with self._guarded():
                data, response = self._exchange(request)
                page, request = self._page(walk, request, response, data, model, strict)
                if request is not None and walk.needs_count():
                    count = query.count_request()
                    walk.expect(read_count(self._exchange(count)[0], count, self._secrets))
            # Let the raw page go before handing out the records, and the records before the
            # next request: memory stays bounded by one page however long the scan.
            del data, response
            yield page
            del page

    def paginate(
        self, query: ListQuery, model: type[M], *, strict: bool = False
    ) -> ListingIterator[M]:
        """Stream the records of a list read, page by page (see `pages`); the records left out
        gather in its `left_out`."""
        return ListingIterator(self.pages(query, model, strict=strict))


class AsyncConnectWiseClient(BaseClient[httpx.AsyncClient, httpx.AsyncBaseTransport]):
    """The asyncio twin of [`ConnectWiseClient`][connectwise_billing.ConnectWiseClient].

    Same constructor, same resources; methods are awaited and `iter()` results are consumed
    with `async for`. Use `async with`, or `await client.aclose()`.
    """

    is_async = True

    @staticmethod
    def _new_http(transport: Any, timeout: Timeout) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=transport, timeout=timeout)

    @classmethod
    async def from_site(cls, site_url: str, credentials: Credentials, **kwargs: Any) -> Self:
        """Discover the API base URL of a site and return a client for it (see
        [`ConnectWiseClient.from_site`][connectwise_billing.ConnectWiseClient.from_site])."""
        url, http, retry = cls._discovery(site_url, credentials, kwargs)
        try:
            try:
                info = await async_call_with_retries(
                    retry, "GET", url.path, _aget_companyinfo, http, url, answered=lambda: False
                )
            except NotFoundError:
                raise unknown_company(site_url, credentials.company_id) from None
            return cls._discovered(site_url, credentials, info, http, kwargs)
        except BaseException:
            if "http_client" not in kwargs:
                await http.aclose()
            raise

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool (unless the `http_client` was passed in)."""
        if self._owns_http:
            await self._http.aclose()

    async def request(self, request: ApiRequest) -> Any:
        """Send one request with retries and rate limiting; return its parsed JSON."""
        with self._guarded():
            return (await self._exchange(request))[0]

    async def _exchange(self, request: ApiRequest) -> tuple[Any, httpx.Response]:
        policy = self._retry(request)
        return await async_call_with_retries(
            policy,
            request.method,
            request.path,
            self._send_once,
            request,
            answered=self._has_answered,
        )

    async def _send_once(self, request: ApiRequest) -> tuple[Any, httpx.Response]:
        if self.rate_limiter is not None:
            await self.rate_limiter.acquire_async()
        started = time.perf_counter()
        try:
            response = await self._http.request(**self._start_attempt(request))
        except httpx.TransportError as error:
            raise connection_error(request.method, self.base_url + request.path, error) from error
        return self._read(request, released(response), started), response

    async def count(self, request: ApiRequest) -> int:
        """Send a `/count` request; return the number."""
        with self._guarded():
            return read_count((await self._exchange(request))[0], request, self._secrets)

    async def fetch(self, request: ApiRequest, model: type[M]) -> M:
        """Send a request whose answer is one record and return it as `model`."""
        with self._guarded():
            data, response = await self._exchange(request)
            return self._structure(request, response, data, model)

    async def pages(
        self, query: ListQuery, model: type[M], *, strict: bool = False
    ) -> AsyncIterator[Page[M]]:
        """Stream the pages of a list read, lazily (see the sync twin)."""
        walk = PageWalk(query)
        request: ApiRequest | None = query.first
        while request is not None:
            with self._guarded():
                data, response = await self._exchange(request)
                page, request = self._page(walk, request, response, data, model, strict)
                if request is not None and walk.needs_count():
                    count = query.count_request()
                    total = (await self._exchange(count))[0]
                    walk.expect(read_count(total, count, self._secrets))
            del data, response
            yield page
            del page

    def paginate(
        self, query: ListQuery, model: type[M], *, strict: bool = False
    ) -> AsyncListingIterator[M]:
        """Stream the records of a list read, page by page (see `pages`); the records left out
        gather in its `left_out`."""
        return AsyncListingIterator(self.pages(query, model, strict=strict))


_READ: Final = httpx.ByteStream(b"")


def released(response: httpx.Response) -> httpx.Response:
    """`response`, read and closed, without its stream: httpx binds a response and its stream
    to each other, a cycle only the cyclic garbage collector frees. Freed by reference counting
    instead, a listing's memory stays bounded by the page in hand."""
    response.stream = _READ
    return response


def connection_error(method: str, url: str, error: httpx.TransportError) -> APIConnectionError:
    """Our exception for an httpx transport failure; says whether the request may have been sent."""
    kind = APITimeoutError if isinstance(error, httpx.TimeoutException) else APIConnectionError
    sent = not isinstance(error, _NOT_SENT)
    return kind(f"{type(error).__name__}: {error}", method=method, url=url, request_sent=sent)


def _get_companyinfo(http: httpx.Client, url: httpx.URL) -> Any:
    try:
        response = http.get(url, headers=_DISCOVERY_HEADERS, follow_redirects=False)
    except httpx.TransportError as error:
        raise connection_error("GET", str(url), error) from error
    return read_json("GET", str(url), response)


async def _aget_companyinfo(http: httpx.AsyncClient, url: httpx.URL) -> Any:
    try:
        response = await http.get(url, headers=_DISCOVERY_HEADERS, follow_redirects=False)
    except httpx.TransportError as error:
        raise connection_error("GET", str(url), error) from error
    return read_json("GET", str(url), response)
