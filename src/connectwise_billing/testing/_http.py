"""The simulator's HTTP front: request log, faults, rate limit, auth, and response building."""

from __future__ import annotations

import base64
import binascii
import math
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final, Literal
from urllib.parse import unquote

import attrs
import httpx

from connectwise_billing.testing import _api
from connectwise_billing.testing._collections import ApiFailure
from connectwise_billing.testing._faults import Fault
from connectwise_billing.testing._format import MEDIA_TYPE, dumps, loads
from connectwise_billing.testing._routes import route

if TYPE_CHECKING:
    from connectwise_billing.testing._fake import FakeConnectWise
    from connectwise_billing.testing._store import Member

_WRITE_METHODS: Final = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_GATEWAY_TITLES: Final = {502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Time-out"}
_HIDING_FAULTS: Final = frozenset({"commit_later", "slow_visibility"})


def _html_page(status: int) -> bytes:
    title = f"{status} {_GATEWAY_TITLES.get(status, 'Error')}"
    return (
        f"<!DOCTYPE html><html><head><title>{title}</title></head><body><h1>{title}</h1>"
        "<p>The proxy server received an invalid response.</p></body></html>"
    ).encode()


@attrs.frozen(slots=False)
class LoggedRequest:
    """One request the simulator received, and what it answered.

    `status` is `None` when no answer was sent (a dropped connection or a timeout); `fault`
    names the injected fault, if any. `api_path` is the path under `apis/3.0`. `applied` says
    whether a write changed the simulator's records, whatever the client was told. Only the
    names of the request headers are kept: the log never holds credentials.

    Attributes:
        method: The HTTP method.
        path: The URL path, as sent.
        api_path: The path under `apis/3.0` (`/finance/agreements/5/additions`).
        query: The query parameters.
        body: The JSON body, parsed (`None` without one).
        status: The status answered, or `None` when no answer was sent.
        fault: The injected fault, if any.
        header_names: The names of the request's headers (never their values).
        content_type: The request's `Content-Type`.
        response_body: The bytes answered.
        applied: Whether a write changed the simulator's records.
    """

    method: str
    path: str
    api_path: str
    query: Mapping[str, str]
    body: Any
    status: int | None
    fault: str | None
    header_names: frozenset[str] = frozenset()
    content_type: str | None = None
    response_body: bytes = b""
    applied: bool = False

    @property
    def is_write(self) -> bool:
        """POST, PUT, PATCH or DELETE."""
        return self.method in _WRITE_METHODS


@attrs.frozen(slots=False)
class Outcome:
    """What the transport or server does with a request: answer (after `delay`), or fail.

    Attributes:
        response: The answer, unless the request fails.
        failure: How it fails: the connection drops, or it times out.
        delay: Seconds before the answer (latency, a slow gateway).
        hold: How long the HTTP server keeps a timed-out connection open before closing it;
            in-process transports raise the timeout at once.
    """

    response: httpx.Response | None
    failure: Literal["drop", "timeout"] | None = None
    delay: float = 0.0
    hold: float = 0.0


class TokenBucket:
    """The server-side rate limit: `per_minute` requests, bursts of one second's worth."""

    def __init__(self, per_minute: float) -> None:
        self.per_minute = per_minute
        self.rate = per_minute / 60.0
        self.capacity = max(1.0, self.rate)
        self.tokens = self.capacity
        self.updated = time.monotonic()

    def take(self) -> float:
        """0 when a request may pass, else the seconds until one may."""
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.rate


def process(fake: FakeConnectWise, request: httpx.Request) -> Outcome:
    """Log, fault, throttle, authenticate and answer one request (the caller holds the lock)."""
    path = unquote(request.url.path)
    api_prefix = f"/{fake.codebase}apis/3.0"
    api_path = path[len(api_prefix) :] if path.startswith(api_prefix + "/") else path
    query = dict(request.url.params)
    body = _parse_body(request.content)
    fault = fake.faults.next_fault(request.method, api_path)
    delay = fake.latency + (fault.seconds if fault and fault.kind == "latency" else 0.0)
    version = _asked_version(request.headers.get("accept")) or fake.api_version

    applied = False
    echoed = fault is not None and fault.kind == "echo_headers"

    def log(status: int | None, response: httpx.Response | None = None) -> None:
        fake.request_log.append(
            LoggedRequest(
                method=request.method,
                path=path,
                api_path=api_path,
                query=query,
                body=body,
                status=status,
                fault=fault.kind if fault else None,
                header_names=frozenset(name.lower() for name in request.headers),
                content_type=response.headers.get("content-type") if response else None,
                # An echoing gateway's page holds the keys: the log keeps its promise.
                response_body=response.content if response and not echoed else b"",
                applied=applied,
            )
        )

    wait = fake.rate_limit.take() if fake.rate_limit else 0.0
    if wait:
        fault = Fault.rate_limited(retry_after=max(1, math.ceil(wait)))
    early = _fault_response(fake, fault, version, request)
    if early is not None:
        log(early.status_code, early)
        return Outcome(early, delay=delay)
    kind = fault.kind if fault else None
    failure: Literal["drop", "timeout"] = "timeout" if kind == "timeout" else "drop"
    if fault and kind in ("drop_before_commit", "timeout") and not fault.after_commit:
        log(None)
        return Outcome(None, failure, delay, fault.seconds)
    fake.visibility.delay = fault.seconds if fault and kind in _HIDING_FAULTS else 0.0
    stored = _altered(body, fault) if fault and kind == "altered_write" else body
    try:
        status, payload, headers = _dispatch(fake, request, path, api_path, query, stored, version)
    except ApiFailure as error:
        status, payload, headers = error.answer()
    finally:
        fake.visibility.delay = 0.0
    applied = request.method in _WRITE_METHODS and status < 400
    if kind == "duplicate_record" and isinstance(payload, list) and payload:
        payload = [*payload, payload[0]]
    response = _response(fake, status, payload, version, headers)
    if fault and kind in ("drop_after_commit", "timeout"):
        log(None)
        return Outcome(None, failure, delay, fault.seconds)
    if fault and kind == "commit_later":
        if fault.answer == "late":
            log(status, response)
            return Outcome(response, delay=delay + fault.seconds)
        log(None)
        late: Literal["drop", "timeout"] = "drop" if fault.answer == "drop" else "timeout"
        return Outcome(None, late, delay)
    if fault and kind == "gateway_error":
        response = _gateway_page(fault.status)
        log(response.status_code, response)
        return Outcome(response, delay=delay)
    log(status, response)
    return Outcome(response, delay=delay)


def _altered(body: Any, fault: Fault) -> Any:
    """A write's body with `fault.field` set to `fault.value`: what an `altered_write` stores."""
    if isinstance(body, dict):
        return {**body, str(fault.field): fault.value}
    if isinstance(body, list):
        return [
            {**op, "value": fault.value}
            if isinstance(op, dict) and op.get("path") == fault.field
            else op
            for op in body
        ]
    return body


def _gateway_page(status: int) -> httpx.Response:
    headers = {"Content-Type": "text/html; charset=utf-8"}
    return httpx.Response(status, content=_html_page(status), headers=headers)


def _fault_response(
    fake: FakeConnectWise, fault: Fault | None, version: str, request: httpx.Request
) -> httpx.Response | None:
    if fault is None:
        return None
    if fault.kind == "rate_limited":
        seconds = f"{fault.retry_after:g}"
        message = f"Too many requests. Please try again in {seconds} seconds."
        body = {"error": "ConnectWiseAPI", "message": message}
        return _response(fake, 429, body, version, {"Retry-After": seconds})
    if fault.kind == "server_error":
        body = {"code": "UnexpectedServerError", "message": "An unexpected server error occurred"}
        return _response(fake, fault.status, body, version)
    if fault.kind == "invalid":
        error = {"code": "InvalidField", "message": "The value is not valid", "field": "quantity"}
        invalid: dict[str, Any] = {
            "code": "InvalidObject",
            "message": "addition object is invalid",
            "errors": [{**error, "resource": "addition"}],
        }
        return _response(fake, fault.status, invalid, version)
    if fault.kind == "html_page" or (fault.kind == "gateway_error" and not fault.after_commit):
        return _gateway_page(fault.status)
    if fault.kind == "redirect":
        headers = {"Location": fault.location}
        return _response(fake, fault.status, [], version, headers)
    if fault.kind == "echo_headers":
        echoed = "\n".join(f"{name}: {value}" for name, value in request.headers.items())
        text = f"Bad Gateway. Request headers:\n{echoed}\nRequest: {request.method} {request.url}\n"
        content_type = {"Content-Type": "text/plain; charset=utf-8"}
        return httpx.Response(fault.status, content=text.encode(), headers=content_type)
    return None


def _response(
    fake: FakeConnectWise,
    status: int,
    payload: Any,
    version: str,
    headers: Mapping[str, str] | None = None,
) -> httpx.Response:
    all_headers = {
        "x-cw-request-id": fake.next_request_id(),
        "api-current-version": fake.api_version,
        **(headers or {}),
    }
    if payload is None:
        return httpx.Response(status, headers=all_headers)
    all_headers["Content-Type"] = f"{MEDIA_TYPE}; version={version}"
    return httpx.Response(status, content=dumps(payload), headers=all_headers)


def _authenticate(fake: FakeConnectWise, request: httpx.Request) -> Member:
    unauthorized = ApiFailure(401, "Unauthorized", "The credentials provided are invalid.")
    scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        raise unauthorized
    try:
        user, _, private_key = base64.b64decode(encoded, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        raise unauthorized from None
    company, _, public_key = user.partition("+")
    member = fake.member(public_key)
    if (
        member is None
        or company.lower() != fake.company_id.lower()
        or member.private_key != private_key
    ):
        raise unauthorized
    if not request.headers.get("clientid"):
        raise ApiFailure(401, "Unauthorized", "A clientId header is required on every request.")
    return member


def _dispatch(
    fake: FakeConnectWise,
    request: httpx.Request,
    path: str,
    api_path: str,
    query: Mapping[str, str],
    body: Any,
    version: str,
) -> _api.Answer:
    if path.lower().startswith("/login/companyinfo/") and request.method == "GET":
        return _companyinfo(fake, path.rsplit("/", 1)[-1], version)
    if api_path == path:
        raise ApiFailure(404, "NotFound", f"{path} was not found (check the codebase)")
    member = _authenticate(fake, request)
    for name in query:
        if name not in _api.QUERY_PARAMETERS:
            raise ApiFailure(400, "InvalidObject", f"unknown query parameter {name!r}")
    return route(fake, member, request, api_path, query, body)


def _companyinfo(fake: FakeConnectWise, company_id: str, version: str) -> _api.Answer:
    if company_id.lower() != fake.company_id.lower():
        raise ApiFailure(404, "NotFound", f"company {company_id!r} was not found")
    info = {
        "CompanyName": "Fake MSP",
        "Codebase": fake.codebase,
        "VersionCode": "v" + version,
        "VersionNumber": "v4.6.0",
        "CompanyID": fake.company_id,
        "IsCloud": False,
    }
    return 200, info, {}


def _parse_body(content: bytes) -> Any:
    if not content:
        return None
    try:
        return loads(content)
    except ValueError:
        return content.decode("utf-8", errors="replace")


def _asked_version(accept: str | None) -> str | None:
    for part in (accept or "").split(";"):
        name, _, value = part.strip().partition("=")
        if name.lower() == "version" and value:
            return value.strip()
    return None
