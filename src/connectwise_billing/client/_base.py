"""What the sync and the async client share: configuration, headers, the resources, reading
answers. Generic over the httpx client and transport it drives, as anthropic's base client is;
the twins add only sending, waiting and closing."""

from __future__ import annotations

import contextlib
import copy
import logging
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Self, TypeVar

import httpx

from connectwise_billing import convert
from connectwise_billing._accounting import record_request
from connectwise_billing._log import logger
from connectwise_billing._retry import RetryPolicy
from connectwise_billing._version import __version__
from connectwise_billing.client._api import (
    DEFAULT_TIMEOUT,
    REQUEST_ID_HEADER,
    ApiRequest,
    Timeout,
    describe_record,
    page_items,
    read_json,
    url_without_query,
)
from connectwise_billing.client._credentials import Credentials
from connectwise_billing.client._discovery import (
    base_url_from_companyinfo,
    checked_url,
    companyinfo_url,
)
from connectwise_billing.client._models import (
    Addition,
    Agreement,
    Company,
    NewAddition,
    Product,
)
from connectwise_billing.client._paging import M, PageWalk
from connectwise_billing.client._ratelimit import Limiter, RateLimiter, RedisRateLimiter
from connectwise_billing.client._resource import ChildResourceSpec, ResourceSpec
from connectwise_billing.client._wire import RecordError, get_converter
from connectwise_billing.client._writable import ADDITION_WRITABLE
from connectwise_billing.defaults import (
    DEFAULT_API_VERSION,
    DEFAULT_RATE_LIMIT_PER_MINUTE,
    MEDIA_TYPE,
)
from connectwise_billing.errors import (
    ConfigurationError,
    ConnectWiseBillingError,
    UnexpectedResponseError,
    redact_value,
)

if TYPE_CHECKING:
    from connectwise_billing.client._paging import Page

HttpT = TypeVar("HttpT", httpx.Client, httpx.AsyncClient)
TransportT = TypeVar("TransportT", httpx.BaseTransport, httpx.AsyncBaseTransport)

USER_AGENT = f"connectwise-billing/{__version__} python-httpx/{httpx.__version__}"


def _limiter(
    credentials: Credentials, per_minute: float | None, given: Limiter | None
) -> Limiter | None:
    """The limiter a client sends through: the one given (keyed by the client's tenant and
    API member when it is a `RedisRateLimiter` without a key), or its own at `per_minute`."""
    if given is None:
        return RateLimiter(per_minute) if per_minute is not None else None
    if not isinstance(given, Limiter):
        raise ConfigurationError(
            "rate_limiter must have acquire() and acquire_async() (a RateLimiter, a "
            f"RedisRateLimiter), got {type(given).__name__}"
        )
    if per_minute != DEFAULT_RATE_LIMIT_PER_MINUTE:
        raise ConfigurationError(
            f"pass either rate_limiter or rate_limit_per_minute (got {per_minute!r}), not "
            "both: the limiter given sets the rate"
        )
    if isinstance(given, RedisRateLimiter):
        return given.for_credentials(credentials)
    return given


def _shown_url(url: httpx.URL) -> str:
    """`url_without_query(url)`, cut from the URL's text (already normalised by httpx) rather
    than rebuilt and parsed again: every answer pays for it, a twentieth of the cost."""
    return str(url).partition("#")[0].partition("?")[0]


class BaseClient(Generic[HttpT, TransportT]):
    """Configuration, resources and answer reading shared by both clients (see
    [`ConnectWiseClient`][connectwise_billing.ConnectWiseClient] for the arguments)."""

    is_async: ClassVar[bool]
    """Whether the client's methods are awaited: which accessor a resource gives it."""

    # Each declaration is annotated with its own type so that the reference can say what the
    # attribute is on each client (scripts/griffe_reference.py reads `__get__`'s overloads).
    products: ResourceSpec[Product] = ResourceSpec(
        "/procurement/catalog", Product, search=("identifier", "description")
    )
    """The product catalog (`/procurement/catalog`), searched by identifier and description."""
    companies: ResourceSpec[Company] = ResourceSpec("/company/companies", Company, search=("name",))
    """Companies (`/company/companies`), searched by name."""
    agreements: ResourceSpec[Agreement] = ResourceSpec(
        "/finance/agreements", Agreement, filters={"company_id": "company/id"}
    )
    """Agreements (`/finance/agreements`); `company_id=` lists one company's."""
    additions: ChildResourceSpec[Addition, NewAddition] = ChildResourceSpec(
        "/finance/agreements/{}/additions",
        Addition,
        parent="agreement_id",
        new=NewAddition,
        writable=ADDITION_WRITABLE,
        strict=True,
    )
    """Additions of an agreement (`/finance/agreements/{agreement_id}/additions`): created with
    a [`NewAddition`][connectwise_billing.NewAddition], updated by the fields of
    [`ADDITION_WRITABLE`][connectwise_billing.client._writable.ADDITION_WRITABLE]. Listings are
    strict unless `strict=False`: an addition that cannot be read fails them."""

    def __init__(
        self,
        base_url: str | httpx.URL,
        credentials: Credentials,
        *,
        api_version: str = DEFAULT_API_VERSION,
        timeout: Timeout = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
        rate_limit_per_minute: float | None = DEFAULT_RATE_LIMIT_PER_MINUTE,
        rate_limiter: Limiter | None = None,
        transport: TransportT | None = None,
        http_client: HttpT | None = None,
    ) -> None:
        if not isinstance(credentials, Credentials):
            raise ConfigurationError(
                f"credentials must be a Credentials, got {type(credentials).__name__}"
            )
        if transport is not None and http_client is not None:
            raise ConfigurationError("pass either transport or http_client, not both")
        limiter = _limiter(credentials, rate_limit_per_minute, rate_limiter)
        url = checked_url(base_url, "base_url")
        self.base_url: str = str(url).rstrip("/")
        """The API's base URL, without a trailing slash."""
        self.credentials = credentials
        """The API member's credentials."""
        self.api_version = api_version
        """The API version sent in every `Accept` header."""
        self.timeout = timeout
        """The timeout of each request."""
        self.retry: RetryPolicy = retry if retry is not None else RetryPolicy()
        """The retry policy of each request."""
        self.rate_limiter: Limiter | None = limiter
        """The client-side rate limiter, shared by clients made with `with_options` (`None`:
        off): the `rate_limiter` given (a `RedisRateLimiter` without a key: its copy keyed by
        these credentials), or a `RateLimiter` at `rate_limit_per_minute`."""
        self._owns_http = http_client is None
        self._http: HttpT = http_client or self._new_http(transport, timeout)
        self._secrets = credentials.secrets()
        self._answered = False
        self._headers = {
            "Authorization": credentials.authorization_header(),
            "clientId": credentials.client_id,
            "Accept": f"{MEDIA_TYPE}; version={api_version}",
            "User-Agent": USER_AGENT,
        }

    @staticmethod
    def _new_http(transport: Any, timeout: Timeout) -> HttpT:
        raise NotImplementedError

    @classmethod
    def _discovery(
        cls, site_url: str, credentials: Credentials, kwargs: dict[str, Any]
    ) -> tuple[httpx.URL, HttpT, RetryPolicy]:
        """What `from_site` needs before its one request: the URL, the connection pool (the
        caller's `http_client`, or a new one) and the retry policy."""
        url = companyinfo_url(site_url, credentials.company_id)
        http = kwargs.get("http_client") or cls._new_http(
            kwargs.pop("transport", None), kwargs.get("timeout", DEFAULT_TIMEOUT)
        )
        return url, http, kwargs.get("retry") or RetryPolicy()

    @classmethod
    def _discovered(
        cls,
        site_url: str,
        credentials: Credentials,
        info: Any,
        http: HttpT,
        kwargs: dict[str, Any],
    ) -> Self:
        base_url = base_url_from_companyinfo(site_url, credentials.company_id, info)
        settings = {key: value for key, value in kwargs.items() if key != "http_client"}
        client = cls(base_url, credentials, http_client=http, **settings)
        client._owns_http = "http_client" not in kwargs
        return client

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(base_url={self.base_url!r}, "
            f"company_id={self.credentials.company_id!r}, api_version={self.api_version!r})"
        )

    def with_options(
        self, *, timeout: Timeout | None = None, retry: RetryPolicy | None = None
    ) -> Self:
        """A client that sends with this timeout and retry policy instead (`None`: keep).

        It shares this client's connection pool, rate limiter and credentials, and closing it
        closes nothing: `client.with_options(timeout=120).additions.list(5)`.
        """
        other = copy.copy(self)
        for name in self._resources():
            other.__dict__.pop(name, None)  # an accessor is bound to its client: made anew
        other._owns_http = False
        if timeout is not None:
            other.timeout = timeout
        if retry is not None:
            other.retry = retry
        return other

    @classmethod
    def _resources(cls) -> list[str]:
        return [
            name
            for klass in cls.__mro__
            for name, value in vars(klass).items()
            if isinstance(value, ResourceSpec | ChildResourceSpec)
        ]

    def _timeout(self, request: ApiRequest) -> Timeout:
        """The request's own timeout, or the client's."""
        timeout = request.options.timeout
        return self.timeout if timeout is None else timeout

    def _retry(self, request: ApiRequest) -> RetryPolicy:
        """The request's own retry policy, or the client's."""
        retry = request.options.retry
        return self.retry if retry is None else retry

    def _start_attempt(self, request: ApiRequest) -> dict[str, Any]:
        """Count the attempt and return the arguments for `httpx`'s `request()`."""
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
            "timeout": self._timeout(request),
        }
        if request.body is not None:
            headers["Content-Type"] = "application/json"
            arguments["content"] = convert.dumps(request.body)
        return arguments

    def _read(self, request: ApiRequest, response: httpx.Response, started: float) -> Any:
        if logger.isEnabledFor(logging.DEBUG):  # the header look-up costs more than the call
            logger.debug(
                "%s %s -> %d in %.1f ms (request id %s)",
                request.method,
                request.path,
                response.status_code,
                (time.perf_counter() - started) * 1000,
                response.headers.get(REQUEST_ID_HEADER, "-"),
            )
        self._answered = True
        return read_json(request.method, _shown_url(response.request.url), response, self._secrets)

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
    ) -> tuple[Page[M], ApiRequest | None]:
        """One page's records, and the request for the next page (`None` after the last).

        A record that cannot be used fails the listing when `strict`; otherwise it is left out,
        its error kept on the page (`left_out`) and named in a WARNING log record, and the
        others are returned.
        """
        from connectwise_billing.client._paging import Page

        records = page_items(request, response, data, model, self._secrets)
        read = get_converter().get_structure_hook(model)
        items: list[M] = []
        left_out: list[UnexpectedResponseError] = []
        for record in records:
            try:
                items.append(read(record, model))
            except RecordError as error:
                problem = self._record_error(request, response, model, record, error)
                if strict:
                    raise problem from None
                problem.redact(self._secrets)
                logger.warning("left out of the listing: %s", problem.message)
                left_out.append(problem)
        number = walk.pages
        following = walk.next_request(request, response.headers.get("link"), records)
        return Page(number, items, left_out), following
