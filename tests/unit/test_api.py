"""Pure request/response handling: errors from bodies, paging decisions, URLs, credentials."""

from __future__ import annotations

import base64

import httpx
import pytest

from connectwise_billing import (
    AuthenticationError,
    BadRequestError,
    ConfigurationError,
    ConflictError,
    ConnectWiseAPIError,
    Credentials,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
    UnexpectedResponseError,
)
from connectwise_billing.client import site_of
from connectwise_billing.client._api import (
    ApiRequest,
    ListQuery,
    api_error,
    fields_param,
    parse_link_header,
    read_json,
)
from connectwise_billing.client._discovery import (
    api_host,
    base_url_from_companyinfo,
    checked_url,
    companyinfo_url,
)
from connectwise_billing.client._paging import PageWalk
from connectwise_billing.errors import InputError

URL = "https://api-na.myconnectwise.net/v2025_1/apis/3.0/finance/agreements/5"


def response(status: int, body: bytes = b"", **headers: str) -> httpx.Response:
    return httpx.Response(status, content=body, headers=headers, request=httpx.Request("GET", URL))


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, BadRequestError),
        (401, AuthenticationError),
        (403, PermissionDeniedError),
        (404, NotFoundError),
        (409, ConflictError),
        (429, RateLimitError),
        (500, ServerError),
        (502, ServerError),
        (503, ServerError),
        (504, ServerError),
        (405, ConnectWiseAPIError),
        (422, ConnectWiseAPIError),
    ],
)
def test_status_maps_to_exception_class(status: int, cls: type) -> None:
    error = api_error("GET", URL, response(status, b'{"code": "X", "message": "m"}'))
    assert type(error) is cls
    assert error.status_code == status


def test_connectwise_error_body_is_read_in_full() -> None:
    body = (
        b'{"code":"InvalidObject","message":"addition object is invalid","errors":[{"code":'
        b'"NotFound","message":"Product not found","resource":"addition","field":"product"}]}'
    )
    error = api_error("POST", URL, response(400, body, **{"x-cw-request-id": "req-42"}))
    assert isinstance(error, BadRequestError)
    assert (error.code, error.message, error.request_id) == (
        "InvalidObject",
        "addition object is invalid",
        "req-42",
    )
    assert error.errors[0].field == "product"
    assert str(error) == (
        f"POST {URL} -> 400 InvalidObject: addition object is invalid "
        "(product: Product not found) [request id req-42]"
    )


def test_rate_limit_body_and_retry_after() -> None:
    body = (
        b'{"error":"ConnectWiseAPI","message":"Too many requests. Please try again in 30 seconds."}'
    )
    error = api_error("GET", URL, response(429, body, **{"Retry-After": "12"}))
    assert isinstance(error, RateLimitError)
    assert error.code == "ConnectWiseAPI"
    assert error.retry_after == 12.0
    without_header = api_error("GET", URL, response(429, body))
    assert isinstance(without_header, RateLimitError)
    assert without_header.retry_after == 30.0


def test_html_error_page_is_described_not_parsed() -> None:
    page = b"<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>"
    error = api_error("GET", URL, response(502, page, **{"content-type": "text/html"}))
    assert isinstance(error, ServerError)
    assert "text/html page titled '502 Bad Gateway'" in error.message


def test_html_page_with_200_is_an_unexpected_response() -> None:
    page = b"<!DOCTYPE html><html><head><title>Sign in</title></head></html>"
    with pytest.raises(
        UnexpectedResponseError, match="expected JSON, got text/html page titled 'Sign in'"
    ):
        read_json("GET", URL, response(200, page, **{"content-type": "text/html"}))


def test_broken_json_is_an_unexpected_response() -> None:
    with pytest.raises(UnexpectedResponseError, match="not valid JSON"):
        read_json("GET", URL, response(200, b'{"id": 1', **{"content-type": "application/json"}))


def test_no_content() -> None:
    assert read_json("DELETE", URL, response(204)) is None


def test_link_header_parsing() -> None:
    header = (
        '<https://x/apis/3.0/company/companies?pageSize=2&page=2>; rel="next", '
        '<https://x/apis/3.0/company/companies?pageSize=2&page=9>; rel="last"'
    )
    assert parse_link_header(header) == {
        "next": "https://x/apis/3.0/company/companies?pageSize=2&page=2",
        "last": "https://x/apis/3.0/company/companies?pageSize=2&page=9",
    }
    assert parse_link_header(None) == {}


def test_forward_only_first_request() -> None:
    query = ListQuery.build("/company/companies", conditions='name contains "a"', fields="id,name")
    assert query.forward_only
    assert query.first == ApiRequest(
        "GET",
        "/company/companies",
        params=(("conditions", 'name contains "a"'), ("fields", "id,name"), ("pageSize", "1000")),
        headers=(("pagination-type", "forward-only"),),
    )


def test_next_page_follows_link_and_keeps_every_parameter() -> None:
    query = ListQuery.build("/c", conditions="x=1", page_size=2)
    link = '<https://x/c?pageId=77&pageSize=2&conditions=IGNORED>; rel="next"'
    following = query.next_request(query.first, link, [{"id": 1}, {"id": 77}])
    assert following is not None
    assert dict(following.params) == {"conditions": "x=1", "pageSize": "2", "pageId": "77"}
    assert following.headers == query.first.headers


def test_link_without_next_ends_the_scan() -> None:
    query = ListQuery.build("/c", page_size=2)
    assert query.next_request(query.first, '<https://x/c?page=1>; rel="first"', [{"id": 1}]) is None


def test_without_link_a_full_page_continues_from_the_last_id() -> None:
    query = ListQuery.build("/c", page_size=2)
    following = query.next_request(query.first, None, [{"id": 3}, {"id": 9}])
    assert following is not None and dict(following.params)["pageId"] == "9"
    assert query.next_request(query.first, None, [{"id": 3}]) is None


def test_numbered_pages_when_ordered() -> None:
    query = ListQuery.build("/c", order_by="name asc", page_size=2)
    assert not query.forward_only
    assert dict(query.first.params) == {"orderBy": "name asc", "pageSize": "2", "page": "1"}
    second = query.next_request(query.first, None, [{"id": 1}, {"id": 2}])
    assert second is not None and dict(second.params)["page"] == "2"


def test_a_server_that_repeats_the_same_page_is_stopped() -> None:
    walk = PageWalk(ListQuery.build("/c", page_size=2))
    second = walk.next_request(walk.query.first, None, [{"id": 1}, {"id": 2}])
    assert second is not None
    with pytest.raises(UnexpectedResponseError, match="lists records up to it again"):
        walk.next_request(second, None, [{"id": 1}, {"id": 2}])


def link(**params: object) -> str:
    query = "&".join(f"{k}={v}" for k, v in params.items())
    return f'<https://x/apis/3.0/c?{query}>; rel="next"'


def test_a_next_link_alternating_between_two_pages_is_stopped() -> None:
    walk = PageWalk(ListQuery.build("/c", page_size=2))
    second = walk.next_request(walk.query.first, link(pageId=2), [{"id": 1}, {"id": 2}])
    assert second is not None
    third = walk.next_request(second, link(pageId=4), [{"id": 3}, {"id": 4}])
    assert third is not None
    with pytest.raises(UnexpectedResponseError, match="points back at 2, read before"):
        walk.next_request(third, link(pageId=2), [{"id": 5}, {"id": 6}])


def test_a_numbered_cycle_of_any_length_is_stopped() -> None:
    walk = PageWalk(ListQuery.build("/c", order_by="name", page_size=1))
    request = walk.query.first
    for page in (2, 3, 4):
        following = walk.next_request(
            request, f'<https://x/c?page={page}>; rel="next"', [{"id": page}]
        )
        assert following is not None
        request = following
    with pytest.raises(UnexpectedResponseError, match="points back at 2, read before"):
        walk.next_request(request, '<https://x/c?page=2>; rel="next"', [{"id": 9}])


def test_numbered_pages_stop_at_the_last_page_the_server_announced() -> None:
    walk = PageWalk(ListQuery.build("/c", order_by="name", page_size=1))
    links = '<https://x/c?page=2>; rel="next", <https://x/c?page=2>; rel="last"'
    second = walk.next_request(walk.query.first, links, [{"id": 1}])
    assert second is not None
    with pytest.raises(UnexpectedResponseError, match="runs past 2 pages"):
        walk.next_request(second, '<https://x/c?page=3>; rel="next"', [{"id": 2}])


def test_an_empty_page_ends_a_listing_whatever_its_link_says() -> None:
    walk = PageWalk(ListQuery.build("/c", page_size=2))
    assert walk.next_request(walk.query.first, link(pageId=7), []) is None


def test_a_listing_may_not_outgrow_its_count_or_the_ceiling() -> None:
    walk = PageWalk(ListQuery.build("/c", page_size=2), max_pages=50)
    request, last_id = walk.query.first, 0
    while not walk.needs_count():
        items = [{"id": last_id + 1}, {"id": last_id + 2}]
        last_id += 2
        following = walk.next_request(request, link(pageId=last_id), items)
        assert following is not None
        request = following
    assert walk.query.count_request().path == "/c/count"
    walk.expect(21)  # 11 pages of 2, and one more for records added since

    def next_page() -> ApiRequest | None:
        nonlocal last_id
        items = [{"id": last_id + 1}, {"id": last_id + 2}]
        last_id += 2
        return walk.next_request(request, link(pageId=last_id), items)

    for _ in range(2):
        following = next_page()
        assert following is not None
        request = following
    with pytest.raises(UnexpectedResponseError, match="runs past 12 pages"):
        next_page()


@pytest.mark.parametrize("size", [0, 1001, True, "10"])
def test_page_size_is_checked(size: object) -> None:
    with pytest.raises(InputError, match="page_size"):
        ListQuery.build("/c", page_size=size)  # type: ignore[arg-type]


def test_fields_always_include_id() -> None:
    assert fields_param("quantity,product/id") == "id,quantity,product/id"
    assert fields_param(["id", "quantity"]) == "id,quantity"
    assert fields_param(None) is None


@pytest.mark.parametrize(
    ("site", "host"),
    [
        ("na.myconnectwise.net", "api-na.myconnectwise.net"),
        ("eu.myconnectwise.net", "api-eu.myconnectwise.net"),
        ("AU.MyConnectWise.net", "api-au.myconnectwise.net"),
        ("za.myconnectwise.net", "api-za.myconnectwise.net"),
        ("staging.connectwisedev.com", "api-staging.connectwisedev.com"),
        ("api-na.myconnectwise.net", "api-na.myconnectwise.net"),
        ("cw.example-msp.com", "cw.example-msp.com"),
    ],
)
def test_api_host_rule(site: str, host: str) -> None:
    assert api_host(site) == host


def test_base_url_from_companyinfo() -> None:
    info = {"Codebase": "v2025_1/", "CompanyName": "X", "IsCloud": True}
    assert (
        base_url_from_companyinfo("https://na.myconnectwise.net", "acme", info)
        == "https://api-na.myconnectwise.net/v2025_1/apis/3.0"
    )
    on_premise = {"Codebase": "v4_6_release/"}
    assert (
        base_url_from_companyinfo("cw.example-msp.com:8443", "acme", on_premise)
        == "https://cw.example-msp.com:8443/v4_6_release/apis/3.0"
    )


@pytest.mark.parametrize("info", [None, {}, {"Codebase": None}, {"Codebase": "../../etc"}, []])
def test_missing_codebase_is_a_clear_error(info: object) -> None:
    with pytest.raises(ConfigurationError, match="company id 'acme'"):
        base_url_from_companyinfo("https://na.myconnectwise.net", "acme", info)


def test_companyinfo_url_quotes_the_company_id() -> None:
    assert str(companyinfo_url("https://na.myconnectwise.net/", "a b/c")) == (
        "https://na.myconnectwise.net/login/companyinfo/a%20b%2Fc"
    )


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:8000/x", "http://localhost/x", "http://[::1]:9/x", "http://127.9.9.9/x"],
)
def test_plain_http_is_allowed_on_loopback(url: str) -> None:
    assert checked_url(url, "base_url").scheme == "http"


@pytest.mark.parametrize(
    "url", ["http://api-na.myconnectwise.net/x", "http://10.0.0.5/x", "ftp://x/y", "http://"]
)
def test_plain_http_elsewhere_is_refused(url: str) -> None:
    with pytest.raises(ConfigurationError, match="https"):
        checked_url(url, "base_url")


def test_credentials_build_the_basic_header_and_hide_secrets() -> None:
    creds = Credentials("acme", "pub", "s3cr3t", "client-guid")
    assert creds.authorization_header() == "Basic " + base64.b64encode(b"acme+pub:s3cr3t").decode()
    for text in (repr(creds), str(creds), repr([creds])):
        assert "s3cr3t" not in text
        assert "client-guid" not in text


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (("", "pub", "k", "c"), "company_id"),
        (("acme", "pu:b", "k", "c"), "public_key"),
        (("acme", "pub", "", "c"), "private_key"),
        (("acme", "pub", "k", " "), "client_id"),
    ],
)
def test_credentials_validation(args: tuple[str, str, str, str], named: str) -> None:
    with pytest.raises(ConfigurationError, match=named):
        Credentials(*args)


def test_credentials_from_env_never_shows_values() -> None:
    env = {"CW_PUBLIC_KEY": "pub", "CW_PRIVATE_KEY": "priv"}
    assert Credentials.from_env("acme", "cid", environ=env).private_key == "priv"
    with pytest.raises(ConfigurationError, match="CW_PRIVATE_KEY") as caught:
        Credentials.from_env("acme", "cid", environ={"CW_PUBLIC_KEY": "pub"})
    assert "pub" not in str(caught.value).replace("CW_PUBLIC_KEY", "")


@pytest.mark.parametrize(
    ("base_url", "site"),
    [
        ("https://api-na.myconnectwise.net/v2025_1/apis/3.0", "https://na.myconnectwise.net/"),
        ("https://API-EU.myconnectwise.net/v2025_1/apis/3.0/?x=1", "https://eu.myconnectwise.net/"),
        ("https://api-staging.connectwisedev.com/v2025_1/apis/3.0", "https://staging.connectwisedev.com/"),
        ("https://cw.example.com/v4_6_release/apis/3.0", "https://cw.example.com/"),
        ("https://api-cw.example.com/v4_6_release/apis/3.0", "https://api-cw.example.com/"),
        ("http://127.0.0.1:8080/v2025_1/apis/3.0", "http://127.0.0.1:8080/"),
    ],
)  # fmt: skip
def test_the_site_of_an_api_base_url_is_where_companyinfo_is_served(
    base_url: str, site: str
) -> None:
    """Cloud sites serve the API on an `api-` host and `/login/companyinfo` on the site's own:
    an on-premise host that happens to start with `api-` keeps it."""
    assert str(site_of(base_url)) == site
