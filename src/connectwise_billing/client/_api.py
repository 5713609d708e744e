"""Everything about a ConnectWise exchange that is not I/O.

Building a request and reading a response (or the error it carries) are pure functions here; the
sync and the async client differ only in the line that sends. Paging is in
[`connectwise_billing.client._paging`][connectwise_billing.client._paging].
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any, Final
from urllib.parse import parse_qsl, urlsplit

import attrs
import httpx

from connectwise_billing import convert
from connectwise_billing._retry import RetryPolicy, parse_retry_after
from connectwise_billing._values import shown_json
from connectwise_billing.defaults import DEFAULT_CONNECT_TIMEOUT_SECONDS, DEFAULT_TIMEOUT_SECONDS
from connectwise_billing.errors import (
    ConnectWiseAPIError,
    FieldError,
    InputError,
    RateLimitError,
    UnexpectedResponseError,
    error_class_for,
    redact,
    redact_value,
)

REQUEST_ID_HEADER: Final = "x-cw-request-id"
MAX_PAGE_SIZE: Final = 1000
"""The largest `pageSize` ConnectWise accepts."""
_TITLE: Final = re.compile(r"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)
_LINK: Final = re.compile(r'<([^>]*)>\s*;\s*rel="?([A-Za-z]+)"?')


Timeout = float | httpx.Timeout
"""Seconds, or an `httpx.Timeout` (connect, read, write and pool apart)."""

DEFAULT_TIMEOUT: Final = httpx.Timeout(
    DEFAULT_TIMEOUT_SECONDS, connect=DEFAULT_CONNECT_TIMEOUT_SECONDS
)
"""A client's timeout unless it is given one: 30 s for each request, 10 s to connect."""


@attrs.frozen(slots=False)
class RequestOptions:
    """Settings of one request that differ from its client's (`None`: the client's).

    Attributes:
        timeout: Seconds, or an `httpx.Timeout`.
        retry: The [`RetryPolicy`][connectwise_billing.RetryPolicy] for this request.
    """

    timeout: Timeout | None = None
    retry: RetryPolicy | None = None

    def over(self, defaults: RequestOptions) -> RequestOptions:
        """These options, with `defaults` where these leave a setting to the client."""
        return RequestOptions(
            timeout=self.timeout if self.timeout is not None else defaults.timeout,
            retry=self.retry if self.retry is not None else defaults.retry,
        )


NO_OPTIONS: Final = RequestOptions()
"""Options that leave every setting to the client."""


@attrs.frozen(slots=False)
class ApiRequest:
    """One request to the ConnectWise API, before it is sent.

    `path` is relative to the client's base URL (`/finance/agreements/5/additions`); `params` are
    query parameters in order; `body` is JSON-ready data (Decimal allowed); `options` are the
    request's own timeout and retry policy, if any.

    Attributes:
        method: `GET`, `POST`, `PATCH`, `PUT` or `DELETE`.
        path: Relative to the client's base URL (`/finance/agreements/5/additions`).
        params: Query parameters, in order.
        body: JSON-ready data (`Decimal` allowed), or `None`.
        headers: Extra headers, in order.
        options: The request's own timeout and retry policy (`NO_OPTIONS`: the client's).
    """

    method: str
    path: str
    params: tuple[tuple[str, str], ...] = ()
    body: Any = None
    headers: tuple[tuple[str, str], ...] = ()
    options: RequestOptions = NO_OPTIONS

    def with_params(self, **updates: str) -> ApiRequest:
        """A copy with these query parameters set (replacing existing values)."""
        kept = tuple((k, v) for k, v in self.params if k not in updates)
        return attrs.evolve(self, params=kept + tuple(updates.items()))


def positive_id(value: object, what: str) -> int:
    """`value` if it is a positive integer id, else an `InputError` naming it."""
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise InputError(f"{what} must be a positive integer, got {value!r}")
    return value


def fields_param(fields: str | Sequence[str] | None) -> str | None:
    """The `fields` query value, always including `id` (paging and models rely on it)."""
    if fields is None:
        return None
    names = [f.strip() for f in (fields.split(",") if isinstance(fields, str) else fields)]
    names = [n for n in names if n]
    if "id" not in names:
        names.insert(0, "id")
    return ",".join(names)


def page_size_param(page_size: int) -> str:
    """Validate a page size against ConnectWise's range 1..1000."""
    if isinstance(page_size, bool) or not isinstance(page_size, int):
        raise InputError(f"page_size must be an integer, got {page_size!r}")
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        raise InputError(f"page_size must be between 1 and {MAX_PAGE_SIZE}, got {page_size}")
    return str(page_size)


def url_without_query(url: httpx.URL) -> str:
    """The URL as it may appear in errors and logs: no query string."""
    return str(url.copy_with(query=None, fragment=None))


def describe_body(response: httpx.Response, limit: int = 200, secrets: Sequence[str] = ()) -> str:
    """What came back, in a sentence: content type, an HTML title, the start of the text.

    `secrets` are blanked out before the text is cut short, so that no part of one is shown.
    """
    content_type = response.headers.get("content-type", "no content type").split(";")[0]
    text = redact(response.content[:4096].decode("utf-8", errors="replace"), secrets)
    title = _TITLE.search(text)
    if title:
        return f"{content_type} page titled {' '.join(title.group(1).split())!r}"
    snippet = " ".join(text.split())[:limit]
    return f"{content_type} body {snippet!r}" if snippet else f"an empty {content_type} body"


_JSON_START: Final = re.compile(rb"\s*[{\[]")
"""A body that opens like JSON (matched in place: `lstrip()` would copy a whole page)."""


def _looks_like_json(response: httpx.Response) -> bool:
    content_type = response.headers.get("content-type", "")
    return "json" in content_type or _JSON_START.match(response.content) is not None


def api_error(
    method: str, url: str, response: httpx.Response, secrets: Sequence[str] = ()
) -> ConnectWiseAPIError:
    """The exception for an error response, read from ConnectWise's error body if it has one."""
    status = response.status_code
    request_id = response.headers.get(REQUEST_ID_HEADER)
    code: str | None = None
    message = f"HTTP {status} with {describe_body(response, secrets=secrets)}"
    errors: list[FieldError] = []
    body: Any = None
    has_error_body = False
    if _looks_like_json(response):
        try:
            body = convert.loads(response.content)
        except ValueError:
            body = None
    if isinstance(body, Mapping):
        # The 429 body has its own shape: {"error": "ConnectWiseAPI", "message": "..."}.
        has_error_body = isinstance(body.get("code"), str)
        code = _text(body.get("code")) or _text(body.get("error"))
        message = _text(body.get("message")) or message
        errors.extend(
            FieldError(*(_text(item.get(name)) for name in FieldError._fields))
            for item in body.get("errors") or ()
            if isinstance(item, Mapping)
        )
    cls = error_class_for(status)
    common: dict[str, Any] = {
        "status_code": status,
        "method": method,
        "url": url,
        "code": code,
        "errors": errors,
        "request_id": request_id,
        "has_error_body": has_error_body,
    }
    if cls is RateLimitError:
        retry_after = parse_retry_after(response.headers.get("retry-after"), message=message)
        return RateLimitError(message, retry_after=retry_after, **common)
    return cls(message, **common)


def _redirect_target(location: str | None) -> str:
    try:
        where = httpx.URL(location or "")
    except httpx.InvalidURL:
        return ""
    shown = f"{where.scheme}://{where.host}{where.path}" if where.host else where.path
    return f" to {shown}" if shown else ""


def _text(value: object) -> str | None:
    return None if value is None else str(value)


def read_json(method: str, url: str, response: httpx.Response, secrets: Sequence[str] = ()) -> Any:
    """The JSON body of a response, or the right exception for it.

    Error statuses raise the matching `ConnectWiseAPIError` subclass; a redirect (3xx, never
    followed) and a 2xx that is not JSON (an HTML page from a proxy or a login screen) raise
    `UnexpectedResponseError` saying what came back. `204 No Content` gives `None`.
    """
    if response.status_code >= 400:
        raise api_error(method, url, response, secrets)
    if response.status_code >= 300:
        target = _redirect_target(response.headers.get("location"))
        raise UnexpectedResponseError(
            f"answered with a redirect{target}, which is not followed "
            "(ConnectWise does not redirect API calls; check the URL and any proxy in between)",
            status_code=response.status_code,
            method=method,
            url=url,
        )
    content = response.content
    if response.status_code == 204 or not content or content.isspace():  # no copy of a page
        return None
    if not _looks_like_json(response):
        raise UnexpectedResponseError(
            f"expected JSON, got {describe_body(response, secrets=secrets)}",
            status_code=response.status_code,
            method=method,
            url=url,
        )
    try:
        return convert.loads(response.content)
    except ValueError:
        raise UnexpectedResponseError(
            f"the body is not valid JSON: {describe_body(response, secrets=secrets)}",
            status_code=response.status_code,
            method=method,
            url=url,
        ) from None


def parse_link_header(value: str | None) -> dict[str, str]:
    """RFC 5988 `Link` header -> {rel: url}."""
    if not value:
        return {}
    return {rel.lower(): url for url, rel in _LINK.findall(value)}


@attrs.frozen(slots=False)
class ListQuery:
    """A paged list read, and the rule for its next page.

    Without `orderBy` the scan uses ConnectWise's forward-only paging (`pagination-type:
    forward-only`, `pageId`), which the Developer Guide recommends for full scans; with `orderBy`
    it uses numbered pages. Every page repeats every query parameter of the first.

    Attributes:
        first: The request for the first page.
        page_size: Records per page.
        forward_only: Whether pages follow `pageId` (no `orderBy`) rather than page numbers.
    """

    first: ApiRequest
    page_size: int
    forward_only: bool

    @classmethod
    def build(
        cls,
        path: str,
        *,
        conditions: str | None = None,
        fields: str | None = None,
        order_by: str | None = None,
        page_size: int = MAX_PAGE_SIZE,
        extra: Mapping[str, str] | None = None,
        options: RequestOptions = NO_OPTIONS,
    ) -> ListQuery:
        """The first request of a list read with these parameters."""
        params: list[tuple[str, str]] = []
        if conditions:
            params.append(("conditions", conditions))
        params.extend((extra or {}).items())
        if fields:
            params.append(("fields", fields))
        if order_by:
            params.append(("orderBy", order_by))
        params.append(("pageSize", page_size_param(page_size)))
        forward_only = not order_by
        headers = (("pagination-type", "forward-only"),) if forward_only else ()
        if not forward_only:
            params.append(("page", "1"))
        first = ApiRequest("GET", path, params=tuple(params), headers=headers, options=options)
        return cls(first=first, page_size=page_size, forward_only=forward_only)

    def next_request(
        self, current: ApiRequest, link_header: str | None, items: Sequence[Any]
    ) -> ApiRequest | None:
        """The request for the page after `current`, or `None` when it was the last.

        The server's `Link: <...>; rel="next"` decides when it sent one; only its paging
        parameters are taken, so our own parameters are kept as they were. Without a `Link`
        header a short page ends the scan.
        """
        links = parse_link_header(link_header)
        if link_header:
            if "next" not in links:
                return None
            paging = {
                k: v for k, v in parse_qsl(urlsplit(links["next"]).query) if k in ("page", "pageId")
            }
            if not paging:
                return None
            following = current.with_params(**paging)
        elif len(items) < self.page_size:
            return None
        elif self.forward_only:
            last = items[-1].get("id") if isinstance(items[-1], Mapping) else None
            if not isinstance(last, int):
                return None
            following = current.with_params(pageId=str(last))
        else:
            page = int(dict(current.params).get("page", "1"))
            following = current.with_params(page=str(page + 1))
        return following

    def count_request(self) -> ApiRequest:
        """The `/count` request for the same records."""
        conditions = dict(self.first.params).get("conditions")
        params = (("conditions", conditions),) if conditions else ()
        return ApiRequest(
            "GET", f"{self.first.path}/count", params=params, options=self.first.options
        )


def read_count(data: Any, request: ApiRequest, secrets: Sequence[str] = ()) -> int:
    """The number in a `/count` answer (`{"count": 12}`)."""
    count = data.get("count") if isinstance(data, Mapping) else None
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise UnexpectedResponseError(
            "expected {'count': <a whole number>}, got " + shown_json(redact_value(data, secrets)),
            status_code=200,
            method=request.method,
            url=request.path,
        )
    return count


_ADDITIONS_PATH: Final = re.compile(r"/finance/agreements/(\d+)/additions")
_RECORD_PATH: Final = re.compile(r"/(\d+)$")


def describe_record(path: str, model: type, record: Any) -> str:
    """How an error names a record: `addition 77 on agreement 314`, `product 17` (the id the
    record gives, else the one its URL asked for)."""
    noun = model.__name__.lower()
    asked = _RECORD_PATH.search(path)
    record_id = record.get("id") if isinstance(record, Mapping) else None
    if record_id is None and asked is not None:
        record_id = int(asked.group(1))
    if isinstance(record_id, int) and not isinstance(record_id, bool):
        text = f"{noun} {record_id}"
    elif record_id is None:
        text = f"a{'n' if noun[0] in 'aeiou' else ''} {noun} without an id"
    else:
        text = f"{noun} {shown_json(record_id)}"
    parent = _ADDITIONS_PATH.search(path)
    if parent is not None and noun == "addition":
        text += f" on agreement {parent.group(1)}"
    return text


def page_items(
    request: ApiRequest,
    response: httpx.Response,
    data: Any,
    model: type,
    secrets: Sequence[str] = (),
) -> list[Any]:
    """The records of a list answer, or an error saying what came back instead (`secrets`
    blanked out before it is cut short)."""
    if isinstance(data, list):
        return data
    kinds = {dict: "object", str: "string", bool: "boolean", int: "number", Decimal: "number"}
    kind = kinds.get(type(data), "value")
    said = shown_json(redact_value(data, secrets))
    got = "no content" if data is None else f"a JSON {kind} {said}"
    raise UnexpectedResponseError(
        f"expected a JSON list of {model.__name__} records, got {got}",
        status_code=response.status_code,
        method=request.method,
        url=url_without_query(response.request.url),
    )
