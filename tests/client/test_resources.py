"""Resources declared once: the accessors a declaration gives both clients, per-call options,
page-level access, and a new resource added by one declaration plus its model."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import attrs
import httpx
import pytest

from connectwise_billing import (
    AsyncConnectWiseClient,
    ConnectWiseClient,
    InputError,
    Reference,
    RetryPolicy,
    ServerError,
)
from connectwise_billing.client import Page
from connectwise_billing.client._accessors import ChildResource, Resource
from connectwise_billing.client._async_accessors import AsyncChildResource, AsyncResource
from connectwise_billing.client._resource import ResourceSpec
from tests.client.test_client import ADDITION, UNAVAILABLE, Recorder, answer, paged_catalog, params
from tests.conftest import BASE_URL, CREDENTIALS, Api


def test_one_declaration_gives_each_client_its_accessor() -> None:
    with ConnectWiseClient(BASE_URL, CREDENTIALS) as client:
        assert isinstance(client.products, Resource)
        assert isinstance(client.additions, ChildResource)
        assert client.products is client.products  # made once per client
    client = AsyncConnectWiseClient(BASE_URL, CREDENTIALS)
    assert isinstance(client.agreements, AsyncResource)
    assert isinstance(client.additions, AsyncChildResource)


def test_iter_pages_gives_each_page_with_its_number(api: Api) -> None:
    recorder = Recorder(paged_catalog(2500, link=True))
    pages = api.run(lambda c: c.products.iter_pages(fields="identifier"), handler=recorder)
    assert [(page.number, len(page.items)) for page in pages] == [(1, 1000), (2, 1000), (3, 500)]
    assert all(isinstance(page, Page) for page in pages)
    assert pages[2].items[-1].id == 2500


def test_pages_are_fetched_only_as_they_are_asked_for() -> None:
    recorder = Recorder(paged_catalog(2500, link=True))
    with ConnectWiseClient(
        BASE_URL, CREDENTIALS, transport=httpx.MockTransport(recorder), rate_limit_per_minute=None
    ) as client:
        first = next(iter(client.products.iter_pages()))
    assert first.number == 1
    assert len(recorder.requests) == 1


def test_a_per_call_timeout_is_sent_with_that_request_only(api: Api) -> None:
    recorder = Recorder(answer(200, {"id": 5}))

    def both(client: Any) -> Any:
        if isinstance(client, AsyncConnectWiseClient):

            async def run() -> None:
                await client.agreements.get(5, timeout=3.5)
                await client.agreements.get(5)

            return run()
        client.agreements.get(5, timeout=3.5)
        client.agreements.get(5)
        return None

    api.run(both, handler=recorder, timeout=30.0)
    timeouts = [request.extensions["timeout"] for request in recorder.requests]
    assert timeouts[0] == {"connect": 3.5, "read": 3.5, "write": 3.5, "pool": 3.5}
    assert timeouts[1] == {"connect": 30.0, "read": 30.0, "write": 30.0, "pool": 30.0}


def test_a_per_call_retry_policy_wins_over_the_clients(api: Api) -> None:
    recorder = Recorder(UNAVAILABLE)
    with pytest.raises(ServerError):
        api.run(lambda c: c.agreements.get(5, retry=RetryPolicy.never()), handler=recorder)
    assert len(recorder.requests) == 1
    recorder = Recorder(UNAVAILABLE, UNAVAILABLE, answer(200, {"id": 5}))
    assert api.run(lambda c: c.agreements.get(5), handler=recorder).id == 5


def test_a_retry_hook_decides_for_the_client(api: Api) -> None:
    asked: list[str] = []

    def on(method: str, error: BaseException) -> bool:
        asked.append(f"{method} {type(error).__name__}")
        return False

    recorder = Recorder(UNAVAILABLE, answer(200, {"id": 5}))
    with pytest.raises(ServerError):
        api.run(lambda c: c.agreements.get(5), handler=recorder, retry=RetryPolicy(on=on))
    assert asked == ["GET ServerError"]
    assert len(recorder.requests) == 1


def test_with_options_shares_the_pool_and_closes_nothing() -> None:
    recorder = Recorder(UNAVAILABLE)
    http = httpx.Client(transport=httpx.MockTransport(recorder))
    client = ConnectWiseClient(BASE_URL, CREDENTIALS, http_client=http, rate_limit_per_minute=None)
    patient = client.with_options(retry=RetryPolicy.never(), timeout=2.0)
    with pytest.raises(ServerError):
        patient.agreements.get(5)
    assert len(recorder.requests) == 1
    assert recorder.requests[0].extensions["timeout"]["read"] == 2.0
    assert patient.products is not client.products
    patient.close()
    assert not http.is_closed
    assert client.retry == RetryPolicy()  # the original is unchanged
    http.close()


def test_filters_are_keyword_arguments_checked_before_sending(api: Api) -> None:
    recorder = Recorder(answer(200, []))
    api.run(lambda c: c.agreements.list(company_id=7), handler=recorder)
    assert params(recorder.requests[0])["conditions"] == "company/id=7"
    with pytest.raises(InputError, match=r"unknown filter 'customer' \(filters: company_id\)"):
        api.run(lambda c: c.agreements.list(customer=7), handler=recorder)
    with pytest.raises(InputError, match="company_id must be a positive integer"):
        api.run(lambda c: c.agreements.list(company_id=-1), handler=recorder)
    with pytest.raises(InputError, match="agreements cannot be searched by text"):
        api.run(lambda c: c.agreements.search("x"), handler=recorder)
    assert len(recorder.requests) == 1


def test_only_writable_fields_can_be_updated(api: Api) -> None:
    recorder = Recorder(answer(200, ADDITION))
    with pytest.raises(InputError, match="ext_price cannot be changed"):
        api.run(lambda c: c.additions.update(5, 9, ext_price=3), handler=recorder)
    assert recorder.requests == []


@attrs.frozen(slots=False)
class Invoice:
    """A model for a resource the SDK does not ship: its fields read by the same rules."""

    id: int = attrs.field(metadata={"strict": True})
    invoice_number: str | None = None
    total: Decimal | None = attrs.field(default=None, metadata={"strict": True})
    company: Reference | None = None


class InvoicingClient(ConnectWiseClient):
    invoices = ResourceSpec("/finance/invoices", Invoice, filters={"company_id": "company/id"})


def test_a_read_only_resource_is_one_declaration_plus_its_model() -> None:
    recorder = Recorder(
        answer(200, [{"id": 3, "invoiceNumber": "INV-3", "total": 12.10, "balance": 1}])
    )
    transport = httpx.MockTransport(recorder)
    with InvoicingClient(BASE_URL, CREDENTIALS, transport=transport) as client:
        [invoice] = client.invoices.list(company_id=4)
    assert invoice == Invoice(3, "INV-3", Decimal("12.10"))
    request = recorder.requests[0]
    assert request.url.path.endswith("/finance/invoices")
    assert params(request)["conditions"] == "company/id=4"


def test_an_update_body_is_built_from_the_declaration(api: Api) -> None:
    recorder = Recorder(answer(200, ADDITION))
    api.run(lambda c: c.additions.update(5, 9, description="Gold"), handler=recorder)
    assert json.loads(recorder.requests[0].content) == [
        {"op": "replace", "path": "description", "value": "Gold"}
    ]
