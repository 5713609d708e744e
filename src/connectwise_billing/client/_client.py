"""`ConnectWiseClient` and `AsyncConnectWiseClient`: twins over one shared base.

`_BaseClient` holds everything that is not I/O: configuration, headers, URL building, response
reading, logging. The twins add only sending, waiting and closing.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator, Iterator
from types import TracebackType
from typing import Any, Self, TypeVar

import httpx

from connectwise_billing import convert
from connectwise_billing._version import __version__
from connectwise_billing.client._protocol import (
    REQUEST_ID_HEADER,
    ApiRequest,
    ListQuery,
    PageWalk,
    describe_record,
    page_items,
    read_count,
    read_json,
    url_without_query,
)
from connectwise_billing.client.accounting import record_request
from connectwise_billing.client.credentials import Credentials
from connectwise_billing.client.discovery import (
    base_url_from_companyinfo,
    checked_url,
    companyinfo_url,
)
from connectwise_billing.client.ratelimit import RateLimiter
from connectwise_billing.client.resources import (
    Additions,
    Agreements,
    AsyncAdditions,
    AsyncAgreements,
    AsyncCompanies,
    AsyncProducts,
    Companies,
    Products,
)
from connectwise_billing.client.wire import RecordError, get_converter
from connectwise_billing.defaults import (
    DEFAULT_API_VERSION,
    DEFAULT_CONNECT_TIMEOUT_SECONDS,
    DEFAULT_RATE_LIMIT_PER_MINUTE,
    DEFAULT_TIMEOUT_SECONDS,
    LOGGER_NAME,
    MEDIA_TYPE,
)
from connectwise_billing.errors import (
    APIConnectionError,
    APITimeoutError,
    ConfigurationError,
    ConnectWiseBillingError,
    UnexpectedResponseError,
    redact_value,
)
from connectwise_billing.retry import (
    RetryPolicy,
    async_call_with_retries,
    call_with_retries,
)

logger = logging.getLogger(LOGGER_NAME)
M = TypeVar("M")

DEFAULT_TIMEOUT = httpx.Timeout(DEFAULT_TIMEOUT_SECONDS, connect=DEFAULT_CONNECT_TIMEOUT_SECONDS)
USER_AGENT = f"connectwise-billing/{__version__} python-httpx/{httpx.__version__}"
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


class _BaseClient:
    def __init__(
        self,
        base_url: str | httpx.URL,
        credentials: Credentials,
        *,
        api_version: str = DEFAULT_API_VERSION,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
        rate_limit_per_minute: float | None = DEFAULT_RATE_LIMIT_PER_MINUTE,
        transport: Any = None,
        http_client: Any = None,
    ) -> None:
        if not isinstance(credentials, Credentials):
            raise ConfigurationError(
                f"credentials must be a Credentials, got {type(credentials).__name__}"
            )
        if transport is not None and http_client is not None:
            raise ConfigurationError("pass either transport or http_client, not both")
        url = checked_url(base_url, "base_url")
        self.base_url = str(url).rstrip("/")
        self.credentials = credentials
        self.api_version = api_version
        self.timeout = timeout
        self.retry = retry if retry is not None else RetryPolicy()
        self.rate_limiter = (
            RateLimiter(rate_limit_per_minute) if rate_limit_per_minute is not None else None
        )
        self.requests_sent = 0
        """HTTP requests sent so far, retries included."""
        self._secrets = credentials.secrets()
        self._answered = False
        self._headers = {
            "Authorization": credentials.authorization_header(),
            "clientId": credentials.client_id,
            "Accept": f"{MEDIA_TYPE}; version={api_version}",
            "User-Agent": USER_AGENT,
        }

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(base_url={self.base_url!r}, "
            f"company_id={self.credentials.company_id!r}, api_version={self.api_version!r})"
        )

    def _start_attempt(self, request: ApiRequest) -> dict[str, Any]:
        """Count the attempt and return the arguments for `httpx`'s `request()`."""
        self.requests_sent += 1
        record_request()
        headers = dict(self._headers)
        headers.update(request.headers)
        arguments: dict[str, Any] = {
            "method": request.method,
            "url": self.base_url + request.path,
            "params": request.params,
            "headers": headers,
            # Whoever built the httpx client: a redirect must not carry the clientId and the
            # Authorization header to another host, nor pass for ConnectWise's answer.
            "follow_redirects": False,
        }
        if request.body is not None:
            headers["Content-Type"] = "application/json"
            arguments["content"] = convert.dumps(request.body)
        return arguments

    def _read(self, request: ApiRequest, response: httpx.Response, started: float) -> Any:
        logger.debug(
            "%s %s -> %d in %.1f ms (request id %s)",
            request.method,
            request.path,
            response.status_code,
            (time.perf_counter() - started) * 1000,
            response.headers.get(REQUEST_ID_HEADER, "-"),
        )
        self._answered = True
        url = url_without_query(response.request.url)
        return read_json(request.method, url, response, self._secrets)

    def _has_answered(self) -> bool:
        return self._answered

    @contextlib.contextmanager
    def _guarded(self) -> Iterator[None]:
        """Every error leaving the client with the secrets blanked out (an echoing gateway
        would otherwise put them into messages, logs and reports)."""
        try:
            yield
        except ConnectWiseBillingError as error:
            error.redact(self._secrets)
            raise

    def _record_error(
        self,
        request: ApiRequest,
        response: httpx.Response,
        model: type,
        record: Any,
        error: RecordError,
    ) -> UnexpectedResponseError:
        name = describe_record(request.path, model, record)
        # Blanked before `shown` cuts a long value short: no part of a secret may show.
        said = RecordError(error.field, redact_value(error.value, self._secrets), error.problem)
        return UnexpectedResponseError(
            f"{name}: {said}",
            status_code=response.status_code,
            method=request.method,
            url=url_without_query(response.request.url),
            record=name,
            field=error.field,
            value=error.value,
        )

    def _structure(
        self, request: ApiRequest, response: httpx.Response, data: Any, model: type[M]
    ) -> M:
        read = get_converter().get_structure_hook(model)
        try:
            return read(data, model)  # type: ignore[no-any-return]
        except RecordError as error:
            raise self._record_error(request, response, model, data, error) from None

    def _page(
        self,
        walk: PageWalk,
        request: ApiRequest,
        response: httpx.Response,
        data: Any,
        model: type[M],
        strict: bool,
    ) -> tuple[list[M], ApiRequest | None]:
        """One page's records, and the request for the next page (`None` after the last).

        A record that cannot be used fails the listing when `strict`; otherwise it is left out
        and named in a WARNING log record, and the others are returned.
        """
        records = page_items(request, response, data, model, self._secrets)
        read = get_converter().get_structure_hook(model)
        items: list[M] = []
        for record in records:
            try:
                items.append(read(record, model))
            except RecordError as error:
                problem = self._record_error(request, response, model, record, error)
                if strict:
                    raise problem from None
                problem.redact(self._secrets)
                logger.warning("left out of the listing: %s", problem.message)
        return items, walk.next_request(request, response.headers.get("link"), records)


class ConnectWiseClient(_BaseClient):
    """A synchronous ConnectWise Manage client.

    Args:
        base_url: The API root, `https://<api host>/<codebase>apis/3.0`. Use
            [`from_site`][connectwise_billing.ConnectWiseClient.from_site] to discover it.
            Plain `http://` is refused except on loopback addresses.
        credentials: The API member's [`Credentials`][connectwise_billing.Credentials].
        api_version: Model version sent in the `Accept` header.
        timeout: Seconds, or an `httpx.Timeout`.
        retry: The [`RetryPolicy`][connectwise_billing.RetryPolicy]; default `RetryPolicy()`.
        rate_limit_per_minute: Client-side ceiling shared by all requests of this client;
            `None` turns it off.
        transport: An `httpx` transport (for example `httpx.MockTransport` or the simulator's).
        http_client: An `httpx.Client` to use instead of creating one; it is not closed by
            `close()`.

    No request is made until a resource method is called. Use it as a context manager, or call
    `close()`, to release the pooled connection.
    """

    def __init__(
        self,
        base_url: str | httpx.URL,
        credentials: Credentials,
        *,
        api_version: str = DEFAULT_API_VERSION,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
        rate_limit_per_minute: float | None = DEFAULT_RATE_LIMIT_PER_MINUTE,
        transport: httpx.BaseTransport | None = None,
        http_client: httpx.Client | None = None,
    ) -> None:
        super().__init__(
            base_url,
            credentials,
            api_version=api_version,
            timeout=timeout,
            retry=retry,
            rate_limit_per_minute=rate_limit_per_minute,
            transport=transport,
            http_client=http_client,
        )
        self._owns_http = http_client is None
        self._http = http_client or httpx.Client(transport=transport, timeout=timeout)
        self.products = Products(self)
        """The product catalog: [`Products`][connectwise_billing.client.resources.Products]."""
        self.companies = Companies(self)
        """Companies: [`Companies`][connectwise_billing.client.resources.Companies]."""
        self.agreements = Agreements(self)
        """Agreements: [`Agreements`][connectwise_billing.client.resources.Agreements]."""
        self.additions = Additions(self)
        """Agreement additions: [`Additions`][connectwise_billing.client.resources.Additions]."""

    @classmethod
    def from_site(cls, site_url: str, credentials: Credentials, **kwargs: Any) -> ConnectWiseClient:
        """Discover the API base URL of a ConnectWise site and return a client for it.

        Makes one unauthenticated `GET <site_url>/login/companyinfo/<company_id>` to learn the
        codebase, applies the `api-` host rule for cloud sites (`na.myconnectwise.net` ->
        `api-na.myconnectwise.net`), and passes `kwargs` on to the constructor.
        """
        url = companyinfo_url(site_url, credentials.company_id)
        given: httpx.Client | None = kwargs.pop("http_client", None)
        transport = kwargs.pop("transport", None)
        # The discovery request and the client share one connection pool.
        http = given or httpx.Client(
            transport=transport, timeout=kwargs.get("timeout", DEFAULT_TIMEOUT)
        )
        try:
            retry = kwargs.get("retry") or RetryPolicy()
            info = call_with_retries(
                retry, "GET", url.path, _get_companyinfo, http, url, answered=lambda: False
            )
            base_url = base_url_from_companyinfo(site_url, credentials.company_id, info)
            client = cls(base_url, credentials, http_client=http, **kwargs)
        except BaseException:
            if given is None:
                http.close()
            raise
        client._owns_http = given is None
        return client

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
        return call_with_retries(
            self.retry,
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
        return self._read(request, response, started), response

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

    def paginate(self, query: ListQuery, model: type[M], *, strict: bool = False) -> Iterator[M]:
        """Stream the records of a list read page by page (lazily: nothing is sent until the
        first item is asked for). With `strict`, a record that cannot be used fails the listing;
        otherwise it is left out with a warning."""
        walk = PageWalk(query)
        request: ApiRequest | None = query.first
        while request is not None:
            with self._guarded():
                data, response = self._exchange(request)
                page, request = self._page(walk, request, response, data, model, strict)
                if request is not None and walk.needs_count():
                    count = query.count_request()
                    walk.expect(read_count(self._exchange(count)[0], count, self._secrets))
            # Let the raw page go before handing out models, and the models before the next
            # request: memory stays bounded by one page however long the scan.
            del data, response
            yield from page
            del page


class AsyncConnectWiseClient(_BaseClient):
    """The asyncio twin of [`ConnectWiseClient`][connectwise_billing.ConnectWiseClient].

    Same constructor, same resources; methods are awaited and `iter()` results are consumed
    with `async for`. Use `async with`, or `await client.aclose()`.
    """

    def __init__(
        self,
        base_url: str | httpx.URL,
        credentials: Credentials,
        *,
        api_version: str = DEFAULT_API_VERSION,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
        rate_limit_per_minute: float | None = DEFAULT_RATE_LIMIT_PER_MINUTE,
        transport: httpx.AsyncBaseTransport | None = None,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        super().__init__(
            base_url,
            credentials,
            api_version=api_version,
            timeout=timeout,
            retry=retry,
            rate_limit_per_minute=rate_limit_per_minute,
            transport=transport,
            http_client=http_client,
        )
        self._owns_http = http_client is None
        self._http = http_client or httpx.AsyncClient(transport=transport, timeout=timeout)
        self.products = AsyncProducts(self)
        """The product catalog (async)."""
        self.companies = AsyncCompanies(self)
        """Companies (async)."""
        self.agreements = AsyncAgreements(self)
        """Agreements (async)."""
        self.additions = AsyncAdditions(self)
        """Agreement additions (async)."""

    @classmethod
    async def from_site(
        cls, site_url: str, credentials: Credentials, **kwargs: Any
    ) -> AsyncConnectWiseClient:
        """Discover the API base URL of a site and return a client for it (see
        [`ConnectWiseClient.from_site`][connectwise_billing.ConnectWiseClient.from_site])."""
        url = companyinfo_url(site_url, credentials.company_id)
        given: httpx.AsyncClient | None = kwargs.pop("http_client", None)
        transport = kwargs.pop("transport", None)
        http = given or httpx.AsyncClient(
            transport=transport, timeout=kwargs.get("timeout", DEFAULT_TIMEOUT)
        )
        try:
            retry = kwargs.get("retry") or RetryPolicy()
            info = await async_call_with_retries(
                retry, "GET", url.path, _aget_companyinfo, http, url, answered=lambda: False
            )
            base_url = base_url_from_companyinfo(site_url, credentials.company_id, info)
            client = cls(base_url, credentials, http_client=http, **kwargs)
        except BaseException:
            if given is None:
                await http.aclose()
            raise
        client._owns_http = given is None
        return client

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
        return await async_call_with_retries(
            self.retry,
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
        return self._read(request, response, started), response

    async def count(self, request: ApiRequest) -> int:
        """Send a `/count` request; return the number."""
        with self._guarded():
            return read_count((await self._exchange(request))[0], request, self._secrets)

    async def fetch(self, request: ApiRequest, model: type[M]) -> M:
        """Send a request whose answer is one record and return it as `model`."""
        with self._guarded():
            data, response = await self._exchange(request)
            return self._structure(request, response, data, model)

    async def paginate(
        self, query: ListQuery, model: type[M], *, strict: bool = False
    ) -> AsyncIterator[M]:
        """Stream the records of a list read page by page, lazily (see the sync twin)."""
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
            for item in page:
                yield item
            del page


_DISCOVERY_HEADERS = {"Accept": "application/json", "User-Agent": USER_AGENT}


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
