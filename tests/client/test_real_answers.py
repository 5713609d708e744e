"""Real ConnectWise answers: odd metadata tolerated, bad money named, no endless paging.

The records under `corpus/` are shaped like what ConnectWise and other integrations' fixtures
show: documented examples, minimal records, and odd-but-seen values (a spaced or empty date, a
reference sent as a string, floats with noise, fields nobody modelled). Records with every field
of the schema are generated from the OpenAPI contract.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from decimal import Decimal
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import attrs
import httpx
import pytest

from connectwise_billing import (
    Addition,
    Agreement,
    Company,
    Product,
    Reference,
    UnexpectedResponseError,
    convert,
)
from connectwise_billing.client._wire import wire_name
from tests.conftest import Api

CORPUS = Path(__file__).parent / "corpus"
MODELS: dict[type, str] = {
    Product: "CatalogItem",
    Company: "Company",
    Agreement: "Agreement",
    Addition: "Addition",
}
JSON = {"content-type": "application/json"}
D = Decimal


@cache
def schemas() -> dict[str, Any]:
    text = resources.files("connectwise_billing.testing").joinpath("contract.json").read_text()
    return json.loads(text)["schemas"]  # type: ignore[no-any-return]


def get(model: type, record_id: int) -> Callable[[Any], Any]:
    """The public client call that reads one record of `model`."""
    if model is Addition:
        return lambda c: c.additions.get(314, record_id)
    resource = {Product: "products", Company: "companies", Agreement: "agreements"}[model]
    return lambda c: getattr(c, resource).get(record_id)


def answering(
    body: bytes, status: int = 200, **headers: str
) -> Callable[[httpx.Request], httpx.Response]:
    return lambda request: httpx.Response(status, content=body, headers={**JSON, **headers})


def model_fields(model: type) -> list[attrs.Attribute[Any]]:
    return [f for f in attrs.fields(model) if not f.metadata.get("unparsed")]


# --- wire names -------------------------------------------------------------------------


@pytest.mark.parametrize("model", list(MODELS), ids=lambda m: m.__name__)
def test_every_model_field_reads_a_field_the_schema_has(model: type) -> None:
    properties = schemas()[MODELS[model]]["properties"]
    for field in model_fields(model):
        wire = wire_name(model, field.name)
        top = wire.split("/")[0]
        assert top in properties, f"{model.__name__}.{field.name} reads {wire!r}: not in the schema"
        reference = properties[top].get("$ref")
        if reference is not None and field.type in (Reference | None, "Reference | None"):
            target = schemas()[reference.rsplit("/", 1)[-1]]["properties"]
            assert "id" in target, f"{model.__name__}.{field.name}: {reference} has no id"


def example(schema: dict[str, Any], name: str, depth: int = 0) -> Any:
    """A plausible value for a schema: what a maximal record carries in that field."""
    if "$ref" in schema:
        target = schemas()[schema["$ref"].rsplit("/", 1)[-1]]
        if depth > 1:
            return {"id": 3}
        return {key: example(value, key, depth + 1) for key, value in target["properties"].items()}
    kinds = schema.get("type", "object")
    kind = next(k for k in kinds if k != "null") if isinstance(kinds, list) else kinds
    if "enum" in schema:
        return schema["enum"][0]
    if kind == "integer":
        return 7
    if kind == "number":
        return D("12.50")
    if kind == "boolean":
        return True
    if kind == "array":
        return [example(schema.get("items", {}), name, depth + 1)]
    if kind == "string":
        return "2026-01-31T00:00:00Z" if schema.get("format") == "date-time" else f"{name} text"
    return {}


@pytest.mark.parametrize("model", list(MODELS), ids=lambda m: m.__name__)
def test_a_record_with_every_field_of_the_schema_parses_whole(api: Api, model: type) -> None:
    schema = schemas()[MODELS[model]]
    record = {key: example(value, key) for key, value in schema["properties"].items()}
    record["id"] = 5
    if "_info" in record:
        record["_info"] = {"lastUpdated": "2026-02-03T04:05:06Z", "updatedBy": "CloudPanelAPI"}
    parsed = api.run(get(model, 5), handler=answering(convert.dumps(record)))
    assert parsed.unparsed == {}
    empty = [f.name for f in model_fields(model) if getattr(parsed, f.name) is None]
    assert empty == []


# --- the corpus ---------------------------------------------------------------------------


CORPUS_CASES: list[tuple[str, type, dict[str, Any], dict[str, Any]]] = [
    (
        "addition-documented.json",
        Addition,
        {
            "id": 1205,
            "product": Reference(731, "O365-E3"),
            "quantity": D("25.0"),
            "unit_price": D("20.0"),
            "unit_cost": D("16.799999999999997"),  # the noise is what ConnectWise sent: kept
            "ext_cost": D("419.99999999999994"),
            "agreement_id": 314,
            "updated_by": "CloudPanelAPI",
        },
        {},
    ),
    (
        "addition-minimal.json",
        Addition,
        {"id": 77, "product": Reference(731), "quantity": None, "bill_customer": "Billable"},
        {},
    ),
    (
        "addition-odd.json",
        Addition,
        {
            "quantity": D(3),
            "unit_price": D("7.50"),
            "unit_cost": D(4),
            "effective_date": None,
            "taxable_flag": None,
            "agreement_id": None,
            "ext_price": None,
            "last_updated": None,
            "updated_by": None,
        },
        {
            "effectiveDate": "",
            "taxableFlag": "false",
            "invoiceDescription": 12345,
            "agreementId": "314",
            "extPrice": "N/A",
            "extCost": {"amount": 12},
            "agreementStatus": ["Active"],
            "_info/lastUpdated": "2015-12-24T22: 08: 22Z",
            "_info/updatedBy": 42,
        },
    ),
    (
        "agreement-documented.json",
        Agreement,
        {
            "company": Reference(250, "Contoso", "Contoso Ltd"),
            "customer_po": "PO-2021-0042",
            "no_ending_date_flag": True,
            "agreement_status": "Active",
        },
        {},
    ),
    (
        "agreement-odd.json",
        Agreement,
        {"type": None, "start_date": None, "billing_cycle": None, "bill_amount": None},
        {
            "type": "Hosted Email",
            "startDate": "",
            "billingCycle": "Monthly",
            "billAmount": "12,50",
            "customerPO": 4711,
            "_info/lastUpdated": "yesterday",
        },
    ),
    (
        "company-fixture.json",
        Company,
        {"name": "Test Company", "status": None, "types": None, "last_updated": None},
        {
            "status": "Active",
            "types": "Client",
            "phoneNumber": 8135551234,
            "deletedFlag": "false",
            "_info/lastUpdated": "2015-12-24T22: 08: 22Z",
        },
    ),
    (
        "company-documented.json",
        Company,
        {
            "status": Reference(1, None, "Active"),
            "types": (Reference(1, None, "Client"), Reference(5, None, "Partner")),
            "country": Reference(1, "US", "United States"),
        },
        {},
    ),
    (
        "catalog-item-odd.json",
        Product,
        {"price": D("20.0"), "cost": D("16.8"), "inactive": False, "type": None},
        {
            "type": "Non-Inventory",
            "recurringFlag": "yes",
            "recurringRevenue": "",
            "_info/lastUpdated": "2022-02-29T10:00:00Z",
        },
    ),
]


@pytest.mark.parametrize(
    ("name", "model", "expected", "unparsed"), CORPUS_CASES, ids=[c[0] for c in CORPUS_CASES]
)
def test_corpus_records_parse_through_the_client(
    api: Api, name: str, model: type, expected: dict[str, Any], unparsed: dict[str, Any]
) -> None:
    body = (CORPUS / name).read_bytes()
    record_id = json.loads(body)["id"]
    parsed = api.run(get(model, record_id), handler=answering(body))
    assert {field: getattr(parsed, field) for field in expected} == expected
    assert dict(parsed.unparsed) == unparsed


def test_a_mixed_page_fails_only_its_bad_record(api: Api, caplog: pytest.LogCaptureFixture) -> None:
    good = json.loads((CORPUS / "catalog-item-odd.json").read_bytes())
    page = [good, {**good, "id": 732, "price": "abc"}, {**good, "id": 733}]
    body = convert.dumps(page)
    with caplog.at_level(logging.WARNING, logger="connectwise_billing"):
        products = api.run(lambda c: c.products.list(), handler=answering(body))
    assert [p.id for p in products] == [731, 733]
    assert "left out of the listing: product 732: price 'abc' is not a number" in caplog.text
    with pytest.raises(UnexpectedResponseError) as caught:
        api.run(lambda c: c.products.search("o365", strict=True), handler=answering(body))
    assert caught.value.message == "product 732: price 'abc' is not a number"
    assert (caught.value.record, caught.value.field, caught.value.value) == (
        "product 732",
        "price",
        "abc",
    )


# --- strict fields: every bad value named ---------------------------------------------------

ADDITION = b'"id": 77, "product": {"id": 731}, "billCustomer": "Billable"'
AGREEMENT = b'"id": 314, "company": {"id": 250}, "agreementStatus": "Active"'
PRODUCT = b'"id": 731, "price": 20.0, "cost": 16.8'

STRICT: list[tuple[type, bytes, bytes, str]] = [
    (Addition, ADDITION, b'"unitPrice": ""', "addition 77 on agreement 314: unitPrice '' is not a number"),
    (Addition, ADDITION, b'"unitPrice": "7,50"', "addition 77 on agreement 314: unitPrice '7,50' is not a number"),
    (Addition, ADDITION, b'"unitCost": NaN', "addition 77 on agreement 314: unitCost NaN is not a finite number"),
    (Addition, ADDITION, b'"quantity": "sNaN"', "addition 77 on agreement 314: quantity 'sNaN' is not a finite number"),
    (Addition, ADDITION, b'"quantity": Infinity', "addition 77 on agreement 314: quantity Infinity is not a finite number"),
    (Addition, ADDITION, b'"quantity": 1e1000000', "addition 77 on agreement 314: quantity 1E+1000000 is out of range"),
    (Addition, ADDITION, b'"quantity": -3', "addition 77 on agreement 314: quantity -3 is negative"),
    (Addition, ADDITION, b'"quantity": true', "addition 77 on agreement 314: quantity true is not a number"),
    (Addition, ADDITION, b'"cancelledDate": ""', "addition 77 on agreement 314: cancelledDate '' is not a date and time"),
    (Addition, ADDITION, b'"cancelledDate": "2026-13-01T00:00:00Z"', "addition 77 on agreement 314: cancelledDate '2026-13-01T00:00:00Z' is not a date and time"),
    (Addition, b'"id": 77, "billCustomer": "Billable"', b'"product": "O365-E3"', "addition 77 on agreement 314: product 'O365-E3' is not a reference"),
    (Addition, b'"id": 77, "billCustomer": "Billable"', b'"product": {"identifier": "O365-E3"}', "addition 77 on agreement 314: product {'identifier': 'O365-E3'} has no id"),
    (Addition, b'"product": {"id": 731}', b'"id": 77, "billCustomer": 1', "addition 77 on agreement 314: billCustomer 1 is not text"),
    (Addition, b'"product": {"id": 731}', b'"id": "77"', "addition '77' on agreement 314: id '77' is not a record id"),
    (Agreement, AGREEMENT, b'"cancelledFlag": "no"', "agreement 314: cancelledFlag 'no' is not true or false"),
    (Agreement, AGREEMENT, b'"noEndingDateFlag": 1', "agreement 314: noEndingDateFlag 1 is not true or false"),
    (Agreement, AGREEMENT, b'"endDate": "soon"', "agreement 314: endDate 'soon' is not a date and time"),
    (Agreement, b'"id": 314', b'"company": {"name": "Contoso"}', "agreement 314: company {'name': 'Contoso'} has no id"),
    (Agreement, b'"id": 314', b'"agreementStatus": {"name": "Active"}', "agreement 314: agreementStatus {'name': 'Active'} is not text"),
    (Product, PRODUCT, b'"inactiveFlag": "N"', "product 731: inactiveFlag 'N' is not true or false"),
    (Product, b'"id": 731, "cost": 1', b'"price": "abc"', "product 731: price 'abc' is not a number"),
    (Product, b'"id": 731, "price": 1', b'"cost": -Infinity', "product 731: cost -Infinity is not a finite number"),
]  # fmt: skip


@pytest.mark.parametrize(("model", "base", "bad", "message"), STRICT, ids=[s[3] for s in STRICT])
def test_a_strict_field_that_cannot_be_used_is_named(
    api: Api, model: type, base: bytes, bad: bytes, message: str
) -> None:
    body = b"{" + base + b", " + bad + b"}"
    record_id = 77 if model is Addition else 314 if model is Agreement else 731
    with pytest.raises(UnexpectedResponseError) as caught:
        api.run(get(model, record_id), handler=answering(body))
    assert caught.value.message == message
    assert str(caught.value).startswith(message + " (in the answer to GET ")


# --- bodies that are not records ---------------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "got"),
    [
        (httpx.Response(204), "got no content"),
        (httpx.Response(200, content=b"", headers=JSON), "got no content"),
        (httpx.Response(200, content=b"null", headers=JSON), "got no content"),
        (httpx.Response(200, content=b'{"id": 1}', headers=JSON), "got a JSON object {'id': 1}"),
        (httpx.Response(200, content=b'"none"', headers=JSON), "got a JSON string 'none'"),
    ],
    ids=["204", "empty-200", "null", "object", "string"],
)
def test_a_list_answer_that_is_no_list_is_a_typed_error(
    api: Api, answer: httpx.Response, got: str
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(answer.status_code, content=answer.content, headers=answer.headers)

    with pytest.raises(UnexpectedResponseError) as caught:
        api.run(lambda c: c.additions.list(314), handler=handler)
    assert caught.value.message.startswith(f"expected a JSON list of Addition records, {got}")


def test_a_record_answer_that_is_no_record_is_a_typed_error(api: Api) -> None:
    with pytest.raises(UnexpectedResponseError) as caught:
        api.run(lambda c: c.agreements.get(314), handler=answering(b"null"))
    assert caught.value.message == "agreement 314: record null is not a JSON object"


# --- paging that never ends -------------------------------------------------------------------


class Inventor:
    """A server whose `Link` always has a next page, with records it makes up as it goes."""

    def __init__(self, count: int, page: int = 2) -> None:
        self.count, self.page, self.requests = count, page, 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        if request.url.path.endswith("/count"):
            return httpx.Response(200, json={"count": self.count})
        after = int(request.url.params.get("pageId", 0))
        records = [{"id": after + n, "product": {"id": 1}} for n in range(1, self.page + 1)]
        last = records[-1]["id"]
        link = f'<https://x/apis/3.0/finance/agreements/5/additions?pageId={last}>; rel="next"'
        return httpx.Response(200, json=records, headers={"link": link})


def test_a_server_inventing_pages_is_stopped_by_its_own_count(api: Api) -> None:
    inventor = Inventor(count=30)  # 15 pages of 2, yet the Link never ends
    with pytest.raises(UnexpectedResponseError, match="runs past 16 pages"):
        api.run(lambda c: c.additions.list(5, page_size=2), handler=inventor)
    assert inventor.requests == 16 + 1  # the pages it may have, and the count


def test_a_next_link_alternating_between_two_pages_is_stopped(api: Api) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        after = int(request.url.params.get("pageId", 0))
        following = 4 if after == 2 else 2
        link = f'<https://x/apis/3.0/c?pageId={following}>; rel="next"'
        return httpx.Response(
            200, json=[{"id": after + 1}, {"id": after + 2}], headers={"link": link}
        )

    with pytest.raises(UnexpectedResponseError, match="points back at 2, read before"):
        api.run(lambda c: c.companies.list(page_size=2), handler=handler)


def test_memory_stays_flat_while_an_endless_listing_is_detected() -> None:
    import gc
    import tracemalloc

    from connectwise_billing import ConnectWiseClient
    from tests.conftest import BASE_URL, CREDENTIALS

    def peak(count: int) -> int:
        client = ConnectWiseClient(
            BASE_URL,
            CREDENTIALS,
            transport=httpx.MockTransport(Inventor(count=count, page=100)),
            rate_limit_per_minute=None,
        )
        gc.collect()
        tracemalloc.start()
        with pytest.raises(UnexpectedResponseError):
            for _ in client.additions.iter(5, page_size=100):
                pass
        _, top = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        client.close()
        return top

    # Stopped after 11 and after 201 pages: twenty times the records, the same memory
    # (within what the garbage collector's timing makes it vary).
    short, long = peak(count=1_000), peak(count=20_000)
    assert long < short * 3
