"""The client against `httpx.MockTransport`, the same table for the sync and the async client."""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Callable
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest

from connectwise_billing import (
    NOT_GIVEN,
    APIConnectionError,
    APITimeoutError,
    AsyncConnectWiseClient,
    AuthenticationError,
    BadRequestError,
    ConfigurationError,
    ConflictError,
    ConnectWiseAPIError,
    ConnectWiseClient,
    Field,
    InputError,
    NewAddition,
    NotFoundError,
    PermissionDeniedError,
    RateLimiter,
    RateLimitError,
    RetryPolicy,
    ServerError,
    UnexpectedResponseError,
)
from tests.client import streamed
from tests.conftest import BASE_URL, CREDENTIALS, PRIVATE_KEY, Api

Handler = Callable[[httpx.Request], httpx.Response]
JSON = {"content-type": "application/vnd.connectwise.com+json; version=2025.8"}


def answer(status: int = 200, body: Any = None, **headers: str) -> httpx.Response:
    content = b"" if body is None else json.dumps(body).encode()
    return httpx.Response(status, content=content, headers={**JSON, **headers})


class Recorder:
    """A MockTransport handler that records requests and plays scripted answers."""

    def __init__(self, *answers: httpx.Response | Exception | Handler) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        item = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(item, Exception):
            raise item
        if isinstance(item, httpx.Response):
            # A fresh copy: a response's stream belongs to the client that read it.
            return httpx.Response(item.status_code, content=item.content, headers=item.headers)
        return item(request)


def params(request: httpx.Request) -> dict[str, str]:
    return dict(parse_qsl(request.url.query.decode()))


# --- construction -------------------------------------------------------------------------


@pytest.mark.parametrize("cls", [ConnectWiseClient, AsyncConnectWiseClient])
def test_plain_http_is_refused_off_loopback(cls: type) -> None:
    with pytest.raises(ConfigurationError, match="https"):
        cls("http://api-na.myconnectwise.net/v2025_1/apis/3.0", CREDENTIALS)


@pytest.mark.parametrize("cls", [ConnectWiseClient, AsyncConnectWiseClient])
def test_transport_and_http_client_are_exclusive(cls: type) -> None:
    with pytest.raises(ConfigurationError, match="either"):
        cls(
            BASE_URL,
            CREDENTIALS,
            transport=httpx.MockTransport(Recorder(answer())),
            http_client=object(),
        )


def test_construction_makes_no_request() -> None:
    recorder = Recorder(answer(200, []))
    client = ConnectWiseClient(BASE_URL, CREDENTIALS, transport=httpx.MockTransport(recorder))
    client.additions.iter(5)  # lazy: nothing until the first item is asked for
    assert recorder.requests == []
    client.close()


def test_repr_names_no_secret() -> None:
    client = ConnectWiseClient(BASE_URL, CREDENTIALS)
    assert PRIVATE_KEY not in repr(client)
    assert CREDENTIALS.client_id not in repr(client)
    assert repr(client) == (
        f"ConnectWiseClient(base_url='{BASE_URL}', company_id='acme', api_version='2025.8')"
    )
    client.close()


def test_default_rate_limit_is_just_under_connectwise_ceiling() -> None:
    client = ConnectWiseClient(BASE_URL, CREDENTIALS)
    assert client.rate_limiter is not None
    assert 900 <= client.rate_limiter.per_minute < 1000
    assert ConnectWiseClient(BASE_URL, CREDENTIALS, rate_limit_per_minute=None).rate_limiter is None


# --- headers ------------------------------------------------------------------------------


def test_every_request_carries_auth_client_id_version_and_user_agent(api: Api) -> None:
    recorder = Recorder(answer(200, {"id": 7}))
    api.run(lambda c: c.products.get(7), handler=recorder, api_version="2024.1")
    headers = recorder.requests[0].headers
    expected = base64.b64encode(f"acme+pubkey:{PRIVATE_KEY}".encode()).decode()
    assert headers["authorization"] == f"Basic {expected}"
    assert headers["clientid"] == CREDENTIALS.client_id
    assert headers["accept"] == "application/vnd.connectwise.com+json; version=2024.1"
    assert headers["user-agent"].startswith("connectwise-billing/")
    assert str(recorder.requests[0].url) == f"{BASE_URL}/procurement/catalog/7"


# --- reading ------------------------------------------------------------------------------


def paged_catalog(total: int, *, link: bool) -> Handler:
    """A catalog of `total` items served forward-only, as ConnectWise pages it."""

    def handle(request: httpx.Request) -> httpx.Response:
        query = params(request)
        assert request.headers["pagination-type"] == "forward-only"
        size = int(query["pageSize"])
        after = int(query.get("pageId", 0))
        items = [
            {"id": i, "identifier": f"P{i}", "price": 1.5} for i in range(after + 1, total + 1)
        ]
        page = items[:size]
        headers = {}
        if link and len(items) > size:
            nxt = httpx.URL(str(request.url)).copy_merge_params({"pageId": page[-1]["id"]})
            headers["Link"] = f'<{nxt}>; rel="next"'
        return answer(200, page, **headers)

    return handle


@pytest.mark.parametrize("link", [True, False], ids=["link-header", "no-link-header"])
def test_iter_streams_2500_items_over_three_pages_keeping_parameters(api: Api, link: bool) -> None:
    recorder = Recorder(paged_catalog(2500, link=link))
    fields = ["identifier", "price"]
    products = api.run(
        lambda c: streamed(c.products.iter(Field("price") > 1, fields=fields)), handler=recorder
    )
    assert [p.id for p in products] == list(range(1, 2501))
    assert products[0].price == Decimal("1.5")
    assert fields == ["identifier", "price"]  # the caller's arguments are not changed
    assert len(recorder.requests) == 3
    for request in recorder.requests:
        query = params(request)
        assert query["conditions"] == "price>1"
        assert query["fields"] == "id,identifier,price"
        assert query["pageSize"] == "1000"
    assert [params(r).get("pageId") for r in recorder.requests] == [None, "1000", "2000"]


def test_order_by_uses_numbered_pages(api: Api) -> None:
    def handle(request: httpx.Request) -> httpx.Response:
        assert "pagination-type" not in request.headers
        page = int(params(request)["page"])
        data = [{"id": i} for i in range(1, 6)][(page - 1) * 2 : page * 2]
        return answer(200, data)

    recorder = Recorder(handle)
    companies = api.run(
        lambda c: streamed(c.companies.iter(order_by="name", page_size=2)), handler=recorder
    )
    assert [c.id for c in companies] == [1, 2, 3, 4, 5]
    assert [params(r)["page"] for r in recorder.requests] == ["1", "2", "3"]
    assert all(params(r)["orderBy"] == "name" for r in recorder.requests)


def test_agreements_by_company_and_search_conditions(api: Api) -> None:
    recorder = Recorder(answer(200, []))
    api.run(
        lambda c: c.agreements.list('agreementStatus="Active"', company_id=12), handler=recorder
    )
    api.run(lambda c: c.products.search("gold"), handler=recorder)
    api.run(lambda c: c.companies.search("Contoso"), handler=recorder)
    assert (
        params(recorder.requests[0])["conditions"] == '(agreementStatus="Active") and company/id=12'
    )
    assert params(recorder.requests[1])["conditions"] == (
        '(identifier contains "gold" or description contains "gold")'
    )
    assert params(recorder.requests[2])["conditions"] == 'name contains "Contoso"'


def test_search_refuses_text_that_would_break_out_of_quotes(api: Api) -> None:
    recorder = Recorder(answer(200, []))
    with pytest.raises(InputError, match="cannot use"):
        api.run(lambda c: c.companies.search('x" or name contains "'), handler=recorder)
    assert recorder.requests == []


def test_count(api: Api) -> None:
    recorder = Recorder(answer(200, {"count": 42}))
    assert api.run(lambda c: c.additions.count(5, Field("quantity") > 0), handler=recorder) == 42
    assert recorder.requests[0].url.path.endswith("/finance/agreements/5/additions/count")


def test_a_record_that_does_not_fit_the_model_is_an_unexpected_response(api: Api) -> None:
    recorder = Recorder(answer(200, {"quantity": 3}))
    with pytest.raises(UnexpectedResponseError) as caught:
        api.run(lambda c: c.additions.get(5, 9), handler=recorder)
    assert caught.value.message == "addition 9 on agreement 5: id is missing"
    assert (caught.value.record, caught.value.field) == ("addition 9 on agreement 5", "id")


@pytest.mark.parametrize("bad", [0, -1, True, "5"])
def test_ids_are_checked_before_sending(api: Api, bad: object) -> None:
    recorder = Recorder(answer(200, {}))
    with pytest.raises(InputError, match="positive integer"):
        api.run(lambda c: c.additions.get(bad, 1), handler=recorder)
    assert recorder.requests == []


# --- writing ------------------------------------------------------------------------------

ADDITION = {"id": 9, "product": {"id": 17}, "quantity": 3, "billCustomer": "Billable"}


def test_create_posts_only_the_given_fields(api: Api) -> None:
    recorder = Recorder(answer(201, ADDITION))
    created = api.run(
        lambda c: c.additions.create(5, NewAddition(17, 3, unit_price=Decimal("12.10"))),
        handler=recorder,
    )
    assert created.id == 9
    request = recorder.requests[0]
    assert request.method == "POST"
    assert request.headers["content-type"] == "application/json"
    assert request.content == (
        b'{"product":{"id":17},"quantity":3,"unitPrice":12.10,"billCustomer":"Billable"}'
    )


def test_update_sends_one_replace_per_given_field_and_nothing_else(api: Api) -> None:
    recorder = Recorder(answer(200, ADDITION))
    api.run(
        lambda c: c.additions.update(5, 9, quantity=4, unit_price="8.50", cancelled_date=None),
        handler=recorder,
    )
    request = recorder.requests[0]
    assert request.method == "PATCH"
    assert request.url.path.endswith("/finance/agreements/5/additions/9")
    assert json.loads(request.content) == [
        {"op": "replace", "path": "quantity", "value": 4},
        {"op": "replace", "path": "unitPrice", "value": 8.5},
        {"op": "replace", "path": "cancelledDate", "value": None},
    ]
    assert b'"value":8.50' in request.content


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "at least one field"),
        ({"quantity": NOT_GIVEN}, "at least one field"),
        ({"quantity": None}, "quantity cannot be set to None"),
        ({"unit_price": "free"}, "unit_price must be a number"),
        ({"bill_customer": "Maybe"}, "'Maybe'"),
        ({"taxable_flag": "yes"}, "taxable_flag"),
    ],
)
def test_bad_updates_are_refused_before_sending(
    api: Api, kwargs: dict[str, Any], message: str
) -> None:
    recorder = Recorder(answer(200, ADDITION))
    with pytest.raises(InputError, match=message):
        api.run(lambda c: c.additions.update(5, 9, **kwargs), handler=recorder)
    assert recorder.requests == []


def test_create_refuses_anything_but_a_new_addition(api: Api) -> None:
    recorder = Recorder(answer(201, ADDITION))
    with pytest.raises(InputError, match="NewAddition"):
        api.run(lambda c: c.additions.create(5, {"product": {"id": 1}}), handler=recorder)
    assert recorder.requests == []


def test_delete(api: Api) -> None:
    recorder = Recorder(httpx.Response(204))
    assert api.run(lambda c: c.additions.delete(5, 9), handler=recorder) is None
    assert recorder.requests[0].method == "DELETE"


def test_a_delete_whose_answer_was_lost_is_settled_by_reading(api: Api) -> None:
    gone = answer(404, {"code": "NotFound", "message": "Addition with id 9 was not found"})
    recorder = Recorder(httpx.RemoteProtocolError("dropped"), gone)
    assert api.run(lambda c: c.additions.delete(5, 9), handler=recorder) is None
    assert [r.method for r in recorder.requests] == ["DELETE", "GET"]


def test_a_delete_that_did_not_land_still_raises(api: Api) -> None:
    recorder = Recorder(httpx.ReadTimeout("slow"), answer(200, ADDITION))
    with pytest.raises(APIConnectionError):
        api.run(lambda c: c.additions.delete(5, 9), handler=recorder)
    assert [r.method for r in recorder.requests] == ["DELETE", "GET"]


# --- errors -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, BadRequestError),
        (401, AuthenticationError),
        (403, PermissionDeniedError),
        (404, NotFoundError),
        (409, ConflictError),
        (418, ConnectWiseAPIError),
        (429, RateLimitError),
        (500, ServerError),
        (503, ServerError),
    ],
)
def test_status_to_exception(api: Api, status: int, cls: type) -> None:
    body = {"code": "Code", "message": "went wrong", "errors": None}
    recorder = Recorder(answer(status, body, **{"x-cw-request-id": "rid-1"}))
    with pytest.raises(cls) as caught:
        api.run(lambda c: c.agreements.get(5), handler=recorder, retry=RetryPolicy.never())
    error = caught.value
    assert type(error) is cls
    assert (error.status_code, error.code, error.message) == (status, "Code", "went wrong")
    assert (error.method, error.url, error.request_id) == (
        "GET",
        f"{BASE_URL}/finance/agreements/5",
        "rid-1",
    )


def test_error_url_has_no_query_string(api: Api) -> None:
    recorder = Recorder(answer(400, {"code": "InvalidObject", "message": "bad conditions"}))
    with pytest.raises(BadRequestError) as caught:
        api.run(lambda c: c.companies.list('name contains "secret-ish"'), handler=recorder)
    assert caught.value.url == f"{BASE_URL}/company/companies"


@pytest.mark.parametrize(
    ("failure", "cls", "sent"),
    [
        (httpx.ConnectError("refused"), APIConnectionError, False),
        (httpx.ConnectTimeout("slow"), APITimeoutError, False),
        (httpx.ReadTimeout("slow"), APITimeoutError, True),
        (httpx.RemoteProtocolError("dropped"), APIConnectionError, True),
    ],
)
def test_transport_errors_are_wrapped(api: Api, failure: Exception, cls: type, sent: bool) -> None:
    recorder = Recorder(failure)
    with pytest.raises(cls) as caught:
        api.run(lambda c: c.agreements.get(5), handler=recorder, retry=RetryPolicy.never())
    assert type(caught.value) is cls
    assert caught.value.request_sent is sent
    assert isinstance(caught.value.__cause__, httpx.TransportError)


# --- retries ------------------------------------------------------------------------------

UNAVAILABLE = answer(503, {"code": "Unavailable", "message": "try later"})
THROTTLED = answer(
    429, {"error": "ConnectWiseAPI", "message": "Too many requests."}, **{"Retry-After": "2"}
)


@pytest.mark.parametrize(
    ("script", "requests"),
    [
        ([UNAVAILABLE, UNAVAILABLE, answer(200, {"id": 5})], 3),
        ([THROTTLED, answer(200, {"id": 5})], 2),
        ([httpx.ReadTimeout("slow"), answer(200, {"id": 5})], 2),
        ([httpx.RemoteProtocolError("dropped"), answer(200, {"id": 5})], 2),
        ([answer(500, {"code": "x", "message": "y"}), answer(200, {"id": 5})], 2),
    ],
)
def test_get_is_retried_until_it_succeeds(api: Api, script: list[Any], requests: int) -> None:
    recorder = Recorder(*script)
    assert api.run(lambda c: c.agreements.get(5), handler=recorder).id == 5
    assert len(recorder.requests) == requests


def test_retries_stop_after_max_attempts_with_the_last_error(api: Api) -> None:
    recorder = Recorder(UNAVAILABLE)
    with pytest.raises(ServerError):
        api.run(
            lambda c: c.agreements.get(5),
            handler=recorder,
            retry=RetryPolicy(max_attempts=3, wait=False),
        )
    assert len(recorder.requests) == 3


def test_client_errors_are_not_retried(api: Api) -> None:
    recorder = Recorder(answer(404, {"code": "NotFound", "message": "gone"}))
    with pytest.raises(NotFoundError):
        api.run(lambda c: c.agreements.get(5), handler=recorder)
    assert len(recorder.requests) == 1


WRITES = {
    "POST": lambda c: c.additions.create(5, NewAddition(17, 3)),
    "PATCH": lambda c: c.additions.update(5, 9, quantity=1),
}


@pytest.mark.parametrize("method", sorted(WRITES))
@pytest.mark.parametrize(
    "failure",
    [
        UNAVAILABLE,
        answer(500, {"code": "x", "message": "y"}),
        httpx.Response(502, content=b"<html><title>502 Bad Gateway</title></html>"),
        httpx.ReadTimeout("slow"),
        httpx.RemoteProtocolError("dropped"),
    ],
)
def test_a_write_is_never_sent_again_once_it_may_have_been_applied(
    api: Api, method: str, failure: Any
) -> None:
    recorder = Recorder(failure, answer(201, ADDITION))
    with pytest.raises((ServerError, APIConnectionError)):
        api.run(WRITES[method], handler=recorder)
    assert len(recorder.requests) == 1


@pytest.mark.parametrize("failure", [THROTTLED, httpx.ConnectError("refused")])
def test_post_is_retried_when_it_provably_was_not_applied(api: Api, failure: Any) -> None:
    recorder = Recorder(failure, answer(201, ADDITION))
    assert api.run(lambda c: c.additions.create(5, NewAddition(17, 3)), handler=recorder).id == 9
    assert len(recorder.requests) == 2


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_a_redirect_is_never_followed_nor_taken_for_an_answer(api: Api, status: int) -> None:
    recorder = Recorder(answer(status, [], Location="https://login.example.net/?next=x"))
    with pytest.raises(UnexpectedResponseError, match=r"redirect to https://login\.example\.net/"):
        api.run(lambda c: c.additions.list(5), handler=recorder)
    assert len(recorder.requests) == 1


def test_retry_waits_honour_retry_after_and_are_logged(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    recorder = Recorder(THROTTLED, answer(200, {"id": 5}))
    with caplog.at_level(logging.WARNING, logger="connectwise_billing"):
        api.run(lambda c: c.agreements.get(5), handler=recorder)
    [record] = [r for r in caplog.records if r.name == "connectwise_billing"]
    assert record.levelno == logging.WARNING
    assert record.getMessage() == (
        "retrying GET /finance/agreements/5 in 2.00 s (attempt 2 of 5): 429 Too Many Requests"
    )


def test_total_time_budget_stops_retries_whose_wait_would_overrun(api: Api) -> None:
    slow = answer(429, {"error": "ConnectWiseAPI", "message": "x"}, **{"Retry-After": "60"})
    recorder = Recorder(slow, answer(200, {"id": 5}))
    with pytest.raises(RateLimitError) as caught:
        api.run(
            lambda c: c.agreements.get(5),
            handler=recorder,
            retry=RetryPolicy(total_timeout=30, wait=False),
        )
    assert caught.value.retry_after == 60
    assert len(recorder.requests) == 1


# --- rate limiting ------------------------------------------------------------------------


def test_every_attempt_passes_the_shared_rate_limiter(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    taken: list[str] = []
    monkeypatch.setattr(RateLimiter, "acquire", lambda self: taken.append("sync"))

    async def acquire_async(self: RateLimiter) -> None:
        taken.append("async")

    monkeypatch.setattr(RateLimiter, "acquire_async", acquire_async)
    recorder = Recorder(UNAVAILABLE, answer(200, {"id": 5}), answer(200, {"id": 6}))

    def two_gets(client: Any) -> Any:
        if api.kind == "sync":
            return [client.agreements.get(5), client.agreements.get(6)]

        async def both() -> Any:
            return [await client.agreements.get(5), await client.agreements.get(6)]

        return both()

    api.run(two_gets, handler=recorder, rate_limit_per_minute=120)
    assert taken == [api.kind] * 3  # two requests, one of them retried


# --- discovery ----------------------------------------------------------------------------


def companyinfo(request: httpx.Request) -> httpx.Response:
    if request.url.path == "/login/companyinfo/acme":
        assert "authorization" not in request.headers  # discovery is unauthenticated
        return httpx.Response(
            200, json={"Codebase": "v2025_1/", "CompanyName": "Acme", "IsCloud": True}
        )
    return answer(200, {"id": 1, "name": "Contoso"})


def test_from_site_discovers_codebase_and_api_host(api: Api) -> None:
    recorder = Recorder(companyinfo)

    def discover_and_read() -> Any:
        transport = httpx.MockTransport(recorder)
        if api.kind == "sync":
            with ConnectWiseClient.from_site(
                "https://na.myconnectwise.net", CREDENTIALS, transport=transport
            ) as client:
                return client.base_url, client.companies.get(1).name

        async def main() -> Any:
            client = await AsyncConnectWiseClient.from_site(
                "https://na.myconnectwise.net", CREDENTIALS, transport=transport
            )
            async with client:
                return client.base_url, (await client.companies.get(1)).name

        import asyncio

        return asyncio.run(main())

    assert discover_and_read() == ("https://api-na.myconnectwise.net/v2025_1/apis/3.0", "Contoso")
    assert [str(r.url) for r in recorder.requests] == [
        "https://na.myconnectwise.net/login/companyinfo/acme",
        "https://api-na.myconnectwise.net/v2025_1/apis/3.0/company/companies/1",
    ]


def test_from_site_with_unknown_company_is_a_clear_error() -> None:
    transport = httpx.MockTransport(lambda r: httpx.Response(200, json=None))
    with pytest.raises(ConfigurationError, match="did not return a codebase for company id 'acme'"):
        ConnectWiseClient.from_site("na.myconnectwise.net", CREDENTIALS, transport=transport)


# --- secrets ------------------------------------------------------------------------------


def test_secrets_never_reach_logs_or_errors(api: Api, caplog: pytest.LogCaptureFixture) -> None:
    recorder = Recorder(
        UNAVAILABLE,
        answer(200, [ADDITION]),
        answer(401, {"code": "Unauthorized", "message": "bad keys"}),
    )
    token = base64.b64encode(f"acme+pubkey:{PRIVATE_KEY}".encode()).decode()
    errors: list[str] = []
    with caplog.at_level(logging.DEBUG):
        api.run(lambda c: c.additions.list(5), handler=recorder)
        try:
            api.run(lambda c: c.agreements.get(1), handler=recorder)
        except AuthenticationError as error:
            errors += [str(error), repr(error), repr(error.__dict__)]
    assert "GET /finance/agreements/5/additions -> 200" in caplog.text  # DEBUG lines were captured
    for text in [caplog.text, *errors]:
        assert PRIVATE_KEY not in text
        assert token not in text
        assert CREDENTIALS.client_id not in text
