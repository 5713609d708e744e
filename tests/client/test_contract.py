"""Every request the client can build is one ConnectWise's OpenAPI document allows."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest

from connectwise_billing import Field, NewAddition, convert
from tests import contract_check
from tests.client import streamed
from tests.conftest import BASE_URL, Api

API_PREFIX = httpx.URL(BASE_URL).path

EVERY_CALL: list[tuple[str, Any]] = [
    ("products.get", lambda c: c.products.get(1, fields="identifier,price")),
    (
        "products.iter",
        lambda c: streamed(c.products.iter(Field("inactiveFlag") == False, fields=["price"])),  # noqa: E712
    ),
    ("products.list ordered", lambda c: c.products.list(order_by="identifier desc", page_size=50)),
    ("products.count", lambda c: c.products.count('productClass="Agreement"')),
    ("products.search", lambda c: c.products.search("gold")),
    ("companies.get", lambda c: c.companies.get(2)),
    ("companies.list", lambda c: c.companies.list()),
    ("companies.count", lambda c: c.companies.count()),
    ("companies.search", lambda c: c.companies.search("Contoso")),
    ("agreements.get", lambda c: c.agreements.get(3)),
    ("agreements.list", lambda c: c.agreements.list(company_id=2, fields="name")),
    ("agreements.count", lambda c: c.agreements.count(Field("id").in_([1, 2, 3]))),
    ("additions.list", lambda c: c.additions.list(3, fields="quantity,product/id")),
    ("additions.get", lambda c: c.additions.get(3, 4)),
    ("additions.count", lambda c: c.additions.count(3)),
    (
        "additions.create minimal",
        lambda c: c.additions.create(3, NewAddition(5, 1)),
    ),
    (
        "additions.create full",
        lambda c: c.additions.create(
            3,
            NewAddition(
                5,
                Decimal("2"),
                unit_price=Decimal("12.10"),
                unit_cost=Decimal("4.50"),
                bill_customer="DoNotBill",
                effective_date=date(2026, 12, 1),
                description="d",
                invoice_description="i",
            ),
        ),
    ),
    (
        "additions.update every field",
        lambda c: c.additions.update(
            3,
            4,
            quantity=3,
            unit_price="1.10",
            unit_cost=1,
            cancelled_date=datetime(2026, 12, 31, tzinfo=UTC),
            effective_date=None,
            bill_customer="NoCharge",
            description=None,
            invoice_description="x",
            taxable_flag=True,
        ),
    ),
    ("additions.delete", lambda c: c.additions.delete(3, 4)),
]


def fake_answer(request: httpx.Request) -> httpx.Response:
    if request.method == "DELETE":
        return httpx.Response(204)
    if request.url.path.endswith("/count"):
        return httpx.Response(200, json={"count": 0})
    if request.method == "GET" and request.url.path.rsplit("/", 1)[-1].isdigit():
        return httpx.Response(200, json={"id": 1})
    if request.method == "GET":
        return httpx.Response(200, json=[])
    return httpx.Response(201 if request.method == "POST" else 200, json={"id": 1})


@pytest.mark.parametrize(("name", "call"), EVERY_CALL, ids=[name for name, _ in EVERY_CALL])
def test_request_is_allowed_by_the_contract(api: Api, name: str, call: Any) -> None:
    sent: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return fake_answer(request)

    api.run(call, handler=handler)
    assert sent, name
    for request in sent:
        api_path = request.url.path.removeprefix(API_PREFIX)
        body = convert.loads(request.content) if request.content else None
        problems = contract_check.request_errors(
            request.method,
            api_path,
            request.url.params.keys(),
            request.headers.keys(),
            body,
        )
        assert problems == []


def test_the_contract_file_is_up_to_date_with_the_shared_subset() -> None:
    source = contract_check.SHARED_SUBSET
    if not source.exists():
        pytest.skip("the shared OpenAPI subset is not next to this checkout")
    result = subprocess.run(
        [sys.executable, "scripts/build_contract.py", str(source), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_the_contract_catches_what_connectwise_would_refuse() -> None:
    assert contract_check.request_errors(
        "POST", "/finance/agreements/3/additions", [], ["clientId"], {"quantity": 1}
    )
    assert contract_check.request_errors(
        "GET", "/finance/agreements", ["limit"], ["clientId"], None
    )
    assert contract_check.request_errors("GET", "/finance/agreements", [], [], None)
    assert contract_check.request_errors("GET", "/finance/widgets", [], ["clientId"], None)
    bad_op = [{"op": "replace", "path": 5, "value": 1}]
    assert contract_check.request_errors(
        "PATCH", "/finance/agreements/3/additions/4", [], ["clientId"], bad_op
    )
