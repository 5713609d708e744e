"""No record dropped in silence: additions' listings are strict, and a lenient listing keeps the
errors of the records it left out on its result (`left_out`)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest

from connectwise_billing import (
    AsyncConnectWiseClient,
    ConnectWiseClient,
    UnexpectedResponseError,
)
from connectwise_billing.client import Listing
from tests.client import streamed
from tests.conftest import BASE_URL, CREDENTIALS, PRIVATE_KEY, Api

JSON = {"content-type": "application/json"}
LINE = {"product": {"id": 731}, "billCustomer": "Billable", "quantity": 2, "unitPrice": 7.5}
BAD_PRICE = "addition 78 on agreement 314: unitPrice '' is not a number"


def additions(request: httpx.Request) -> httpx.Response:
    """Agreement 314's additions over two pages, one bad record on each: 78 has an empty price,
    80 a price an echoing gateway filled with the private key."""
    if request.url.params.get("pageId") == "78":
        page = [{**LINE, "id": 79}, {**LINE, "id": 80, "unitPrice": PRIVATE_KEY}]
        return httpx.Response(200, json=page, headers=JSON)
    link = f'<{BASE_URL}/finance/agreements/314/additions?pageId=78>; rel="next"'
    page = [{**LINE, "id": 77}, {**LINE, "id": 78, "unitPrice": ""}]
    return httpx.Response(200, json=page, headers={**JSON, "link": link})


def products(request: httpx.Request) -> httpx.Response:
    page = [{"id": 731, "price": 20}, {"id": 732, "price": "abc"}, {"id": 733, "price": 3}]
    return httpx.Response(200, json=page, headers=JSON)


def client_for(handler: Any) -> ConnectWiseClient:
    transport = httpx.MockTransport(handler)
    return ConnectWiseClient(BASE_URL, CREDENTIALS, transport=transport, rate_limit_per_minute=None)


def described(errors: list[UnexpectedResponseError]) -> list[tuple[str | None, str | None, Any]]:
    return [(error.record, error.field, error.value) for error in errors]


# --- additions: strict unless told otherwise ---------------------------------------------------


@pytest.mark.parametrize(
    "listing",
    [
        lambda c: c.additions.list(314),
        lambda c: streamed(c.additions.iter(314)),
        lambda c: c.additions.iter_pages(314),
    ],
    ids=["list", "iter", "iter_pages"],
)
def test_an_addition_that_cannot_be_read_fails_the_listing_by_default(
    api: Api, listing: Any
) -> None:
    with pytest.raises(UnexpectedResponseError) as caught:
        api.run(listing, handler=additions)
    assert caught.value.message == BAD_PRICE
    assert (caught.value.record, caught.value.field) == (
        "addition 78 on agreement 314",
        "unitPrice",
    )


def test_a_sum_of_additions_is_never_silently_short() -> None:
    with client_for(additions) as client, pytest.raises(UnexpectedResponseError, match=BAD_PRICE):
        sum(line.quantity or 0 for line in client.additions.iter(314))


def test_a_strict_error_shows_no_secret(api: Api) -> None:
    def only_the_secret(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=[{**LINE, "id": 80, "unitPrice": PRIVATE_KEY}])

    with pytest.raises(UnexpectedResponseError) as caught:
        api.run(lambda c: c.additions.list(314), handler=only_the_secret)
    assert PRIVATE_KEY not in str(caught.value)
    assert caught.value.value == "***"


def test_lenient_additions_return_the_others_and_what_they_left_out(api: Api) -> None:
    listed = api.run(lambda c: c.additions.list(314, strict=False), handler=additions)
    assert isinstance(listed, Listing)
    assert [line.id for line in listed] == [77, 79]
    assert isinstance(listed, list)
    assert listed == list(listed)
    assert described(listed.left_out) == [
        ("addition 78 on agreement 314", "unitPrice", ""),
        ("addition 80 on agreement 314", "unitPrice", "***"),
    ]
    assert listed.left_out[0].message == BAD_PRICE
    for error in listed.left_out:
        assert PRIVATE_KEY not in str(error)


def test_a_lenient_stream_gathers_what_it_left_out_as_it_goes() -> None:
    with client_for(additions) as client:
        records = client.additions.iter(314, strict=False)
        assert records.left_out == []  # nothing read yet
        assert next(records).id == 77
        assert described(records.left_out) == [("addition 78 on agreement 314", "unitPrice", "")]
        assert [line.id for line in records] == [79]
        assert [error.record for error in records.left_out] == [
            "addition 78 on agreement 314",
            "addition 80 on agreement 314",
        ]


def test_a_lenient_async_stream_gathers_what_it_left_out() -> None:
    async def read() -> tuple[list[int | None], list[str | None]]:
        transport = httpx.MockTransport(additions)
        async with AsyncConnectWiseClient(
            BASE_URL, CREDENTIALS, transport=transport, rate_limit_per_minute=None
        ) as client:
            records = client.additions.iter(314, strict=False)
            ids = [line.id async for line in records]
            return ids, [error.record for error in records.left_out]

    assert asyncio.run(read()) == (
        [77, 79],
        ["addition 78 on agreement 314", "addition 80 on agreement 314"],
    )


def test_lenient_pages_carry_their_own_left_out(api: Api) -> None:
    pages = api.run(lambda c: c.additions.iter_pages(314, strict=False), handler=additions)
    assert [[line.id for line in page.items] for page in pages] == [[77], [79]]
    assert [described(page.left_out) for page in pages] == [
        [("addition 78 on agreement 314", "unitPrice", "")],
        [("addition 80 on agreement 314", "unitPrice", "***")],
    ]


def test_a_stream_closed_early_asks_for_no_further_page() -> None:
    requests: list[httpx.Request] = []

    def recording(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return additions(request)

    with client_for(recording) as client:
        records = client.additions.iter(314, strict=False)
        next(records)
        records.close()
        assert list(records) == []
    assert len(requests) == 1


# --- the other resources: lenient unless told otherwise -----------------------------------------


@pytest.mark.parametrize(
    "listing",
    [lambda c: c.products.list(), lambda c: c.products.search("mbx")],
    ids=["list", "search"],
)
def test_other_listings_are_lenient_by_default_and_say_what_they_left_out(
    api: Api, listing: Any
) -> None:
    listed = api.run(listing, handler=products)
    assert [product.id for product in listed] == [731, 733]
    assert described(listed.left_out) == [("product 732", "price", "abc")]
    assert listed.left_out[0].message == "product 732: price 'abc' is not a number"


def test_other_listings_fail_when_asked_to_be_strict(api: Api) -> None:
    with pytest.raises(UnexpectedResponseError, match="product 732: price 'abc'"):
        api.run(lambda c: c.products.list(strict=True), handler=products)


def test_a_listing_that_read_every_record_left_nothing_out(api: Api) -> None:
    def good(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=json.dumps([{**LINE, "id": 77}]), headers=JSON)

    listed = api.run(lambda c: c.additions.list(314), handler=good)
    assert [line.id for line in listed] == [77]
    assert listed.left_out == []


def test_collecting_the_rest_of_a_stream_keeps_everything_it_left_out() -> None:
    with client_for(additions) as client:
        records = client.additions.iter(314, strict=False)
        assert next(records).id == 77
        rest = records.collect()
    assert [line.id for line in rest] == [79]
    assert [error.record for error in rest.left_out] == [
        "addition 78 on agreement 314",
        "addition 80 on agreement 314",
    ]
