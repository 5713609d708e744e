"""Secrets stay secret: refused URLs, no redirects, and values blanked wherever they appear."""

from __future__ import annotations

import httpx
import pytest

from connectwise_billing import (
    AsyncConnectWiseClient,
    BadRequestError,
    ConfigurationError,
    ConnectWiseClient,
    ServerError,
    UnexpectedResponseError,
)
from tests.conftest import BASE_URL, CREDENTIALS, PRIVATE_KEY, Api

TOKEN = CREDENTIALS.authorization_header().removeprefix("Basic ")
SECRETS = (PRIVATE_KEY, TOKEN, CREDENTIALS.client_id)


@pytest.mark.parametrize("cls", [ConnectWiseClient, AsyncConnectWiseClient])
@pytest.mark.parametrize(
    ("url", "message"),
    [
        (
            "https://admin:hunter2@api-na.myconnectwise.net/v2025_1/apis/3.0",
            "user name or password",
        ),
        ("https://admin@api-na.myconnectwise.net/v2025_1/apis/3.0", "user name or password"),
        ("https://api-na.myconnectwise.net/v2025_1/apis/3.0?company=x", "query string or fragment"),
        ("https://api-na.myconnectwise.net/v2025_1/apis/3.0#top", "query string or fragment"),
        ("https://api-na.myconnectwise.net/v2025_1/apis/3.0?", "query string or fragment"),
    ],
)
def test_urls_that_would_misdirect_credentials_are_refused(
    cls: type, url: str, message: str
) -> None:
    with pytest.raises(ConfigurationError, match=message) as caught:
        cls(url, CREDENTIALS)
    assert "hunter2" not in str(caught.value)


def test_a_site_url_with_a_password_is_refused_before_any_request() -> None:
    requests: list[httpx.Request] = []
    transport = httpx.MockTransport(lambda r: requests.append(r) or httpx.Response(500))
    with pytest.raises(ConfigurationError, match="user name or password") as caught:
        ConnectWiseClient.from_site(
            "https://me:hunter2@na.myconnectwise.net", CREDENTIALS, transport=transport
        )
    assert "hunter2" not in str(caught.value)
    assert requests == []


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_redirects_are_never_followed_even_by_a_callers_client(kind: str) -> None:
    """A caller's httpx client that follows redirects would carry the clientId elsewhere."""
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url.host))
        if request.url.host == "collector.example":
            return httpx.Response(200, json=[])
        return httpx.Response(302, headers={"Location": "https://collector.example/steal"})

    transport = httpx.MockTransport(handler)
    if kind == "sync":
        with (
            httpx.Client(transport=transport, follow_redirects=True) as http,
            ConnectWiseClient(
                BASE_URL, CREDENTIALS, http_client=http, rate_limit_per_minute=None
            ) as client,
            pytest.raises(
                UnexpectedResponseError, match=r"redirect to https://collector\.example/steal"
            ),
        ):
            client.companies.list()
    else:
        import asyncio

        async def main() -> None:
            async with httpx.AsyncClient(transport=transport, follow_redirects=True) as http:
                client = AsyncConnectWiseClient(
                    BASE_URL, CREDENTIALS, http_client=http, rate_limit_per_minute=None
                )
                with pytest.raises(UnexpectedResponseError, match="not followed"):
                    await client.companies.list()

        asyncio.run(main())
    assert seen == ["api-na.myconnectwise.net"]


def echo(request: httpx.Request) -> str:
    return "; ".join(f"{k}: {v}" for k, v in request.headers.items())


def test_an_echoing_gateway_leaves_no_secret_in_an_error(api: Api) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(502, text=f"upstream refused {request.method} with {echo(request)}")

    with pytest.raises(ServerError) as caught:
        api.run(lambda c: c.companies.get(5), handler=handler)
    error = caught.value
    assert "***" in str(error)
    for text in (str(error), repr(error), error.message):
        assert not any(secret in text for secret in SECRETS)


def test_connectwise_error_bodies_echoing_headers_are_blanked(api: Api) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            400,
            json={
                "code": "InvalidObject",
                "message": f"bad request: {echo(request)}",
                "errors": [
                    {
                        "code": "Invalid",
                        "message": f"clientId {request.headers['clientid']} is not allowed",
                        "field": "quantity",
                        "details": request.headers["authorization"],
                    }
                ],
            },
        )

    with pytest.raises(BadRequestError) as caught:
        api.run(lambda c: c.additions.update(5, 9, quantity=1), handler=handler)
    error = caught.value
    texts = [str(error), repr(error), error.message, *(str(e) for e in error.errors)]
    for text in texts:
        assert not any(secret in text for secret in SECRETS), text
    assert error.errors[0].details == "Basic ***"


def test_a_record_value_holding_a_secret_is_blanked(api: Api) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        body = {"id": 9, "product": {"id": 1}, "unitPrice": request.headers["authorization"]}
        return httpx.Response(200, json=body)

    with pytest.raises(UnexpectedResponseError) as caught:
        api.run(lambda c: c.additions.get(5, 9), handler=handler)
    assert (
        caught.value.message == "addition 9 on agreement 5: unitPrice 'Basic ***' is not a number"
    )
    assert caught.value.value == "Basic ***"


def test_repr_of_client_and_credentials_show_no_secret() -> None:
    client = ConnectWiseClient(BASE_URL, CREDENTIALS)
    texts = [repr(client), str(client), repr(CREDENTIALS), str(CREDENTIALS)]
    client.close()
    for text in texts:
        assert not any(secret in text for secret in SECRETS), text
