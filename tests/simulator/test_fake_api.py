"""FakeConnectWise answers ConnectWise requests the way the documentation says ConnectWise does."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx
import pytest

from connectwise_billing import convert
from connectwise_billing.testing import FakeConnectWise

API = "https://cw.example/v2025_1/apis/3.0"


class Raw:
    """Plain httpx against the simulator, so tests control every byte that is sent."""

    def __init__(self, fake: FakeConnectWise) -> None:
        self.fake = fake
        creds = fake.credentials
        self.headers = {
            "Authorization": creds.authorization_header(),
            "clientId": creds.client_id,
            "Accept": "application/vnd.connectwise.com+json; version=2025.8",
        }
        self.http = httpx.Client(transport=fake.transport(), base_url=API)

    def __call__(self, method: str, path: str, body: Any = None, **kwargs: Any) -> httpx.Response:
        headers = {**self.headers, **kwargs.pop("headers", {})}
        content = None if body is None else convert.dumps(body)
        if content is not None:
            headers["Content-Type"] = "application/json"
        return self.http.request(method, path, content=content, headers=headers, **kwargs)


@pytest.fixture
def shop(fake: FakeConnectWise) -> dict[str, int]:
    ids = {
        "contoso": fake.add_company("Contoso Ltd"),
        "fabrikam": fake.add_company("Fabrikam Inc"),
        "gold": fake.add_product(
            "MBX-GOLD-50", price="8.00", cost="3.25", description="Gold 50 GB"
        ),
        "basic": fake.add_product("MBX-BASIC-10", price="4", cost="1.5", description="Basic 10 GB"),
    }
    ids["agreement"] = fake.add_agreement(ids["contoso"])
    ids["other"] = fake.add_agreement(ids["fabrikam"], "Managed Services")
    ids["addition"] = fake.add_addition(ids["agreement"], ids["gold"], 5)
    return ids


@pytest.fixture
def raw(fake: FakeConnectWise) -> Iterator[Raw]:
    client = Raw(fake)
    yield client
    client.http.close()


def body(response: httpx.Response) -> Any:
    return convert.loads(response.content)


# --- protocol -----------------------------------------------------------------------------


def test_media_type_request_id_and_omitted_nulls(raw: Raw, shop: dict[str, int]) -> None:
    response = raw(
        "GET",
        f"/finance/agreements/{shop['agreement']}",
        headers={"Accept": "application/vnd.connectwise.com+json; version=2024.1"},
    )
    assert response.status_code == 200
    assert (
        response.headers["content-type"] == "application/vnd.connectwise.com+json; version=2024.1"
    )
    assert response.headers["x-cw-request-id"]
    assert "endDate" not in body(response)  # null: omitted, as ConnectWise does


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"Authorization": None}, "credentials"),
        ({"Authorization": "Bearer abc"}, "credentials"),
        ({"Authorization": "Basic !!!"}, "credentials"),
        ({"clientId": None}, "clientId"),
    ],
)
def test_auth_failures_are_401(raw: Raw, change: dict[str, str | None], message: str) -> None:
    headers = {k: v for k, v in {**raw.headers, **change}.items() if v is not None}
    response = raw.http.get("/company/companies", headers=headers)
    assert response.status_code == 401
    assert body(response)["code"] == "Unauthorized"
    assert message in body(response)["message"]


@pytest.mark.parametrize(
    "user", ["other+{public}:{private}", "fakemsp+{public}:wrong", "fakemsp+nobody:{private}"]
)
def test_wrong_keys_or_company_are_401(raw: Raw, fake: FakeConnectWise, user: str) -> None:
    import base64

    creds = fake.credentials
    text = user.format(public=creds.public_key, private=creds.private_key)
    auth = "Basic " + base64.b64encode(text.encode()).decode()
    response = raw("GET", "/company/companies", headers={"Authorization": auth})
    assert response.status_code == 401


def test_companyinfo_reveals_the_codebase_without_auth(fake: FakeConnectWise) -> None:
    http = httpx.Client(transport=fake.transport())
    found = http.get("https://cw.example/login/companyinfo/FAKEMSP")
    assert found.status_code == 200
    assert found.json()["Codebase"] == "v2025_1/"
    assert http.get("https://cw.example/login/companyinfo/nobody").status_code == 404


def test_wrong_codebase_is_404(raw: Raw) -> None:
    response = raw.http.get(
        "https://cw.example/v2019_3/apis/3.0/company/companies", headers=raw.headers
    )
    assert response.status_code == 404


def test_unknown_query_parameter_is_400(raw: Raw) -> None:
    response = raw("GET", "/company/companies", params={"limit": "5"})
    assert response.status_code == 400
    assert "limit" in body(response)["message"]


# --- access -------------------------------------------------------------------------------


def test_member_sees_only_its_companies(fake: FakeConnectWise, shop: dict[str, int]) -> None:
    limited = fake.add_api_member(identifier="Limited", companies={shop["contoso"]})
    raw = Raw(fake)
    raw.headers["Authorization"] = limited.authorization_header()
    listed = body(raw("GET", "/finance/agreements"))
    assert [a["id"] for a in listed] == [shop["agreement"]]
    assert [c["id"] for c in body(raw("GET", "/company/companies"))] == [shop["contoso"]]
    assert raw("GET", f"/finance/agreements/{shop['other']}").status_code == 403
    assert raw("GET", f"/company/companies/{shop['fabrikam']}").status_code == 403
    forbidden = raw("GET", f"/finance/agreements/{shop['other']}/additions")
    assert forbidden.status_code == 403
    assert body(forbidden)["code"] == "Forbidden"
    assert raw("GET", "/finance/agreements/count").json() == {"count": 1}


def test_missing_records_are_404(raw: Raw, shop: dict[str, int]) -> None:
    assert raw("GET", "/finance/agreements/999999").status_code == 404
    assert raw("GET", "/finance/agreements/999999/additions").status_code == 404
    assert (
        raw("GET", f"/finance/agreements/{shop['agreement']}/additions/999999").status_code == 404
    )
    assert body(raw("GET", "/procurement/catalog/999999"))["code"] == "NotFound"


# --- conditions, fields, ordering, paging ----------------------------------------------------


@pytest.mark.parametrize(
    ("conditions", "names"),
    [
        ('name="contoso ltd"', ["Contoso Ltd"]),
        ('name contains "INC"', ["Fabrikam Inc"]),
        ('name like "Con*"', ["Contoso Ltd"]),
        ('name like "%kam%"', ["Fabrikam Inc"]),
        ('name not contains "Inc"', ["Contoso Ltd"]),
        ('name != "Contoso Ltd"', ["Fabrikam Inc"]),
        ("id in (1001, 1002)", ["Contoso Ltd", "Fabrikam Inc"]),
        ("id not in (1001)", ["Fabrikam Inc"]),
        ("id > 1001", ["Fabrikam Inc"]),
        ("id >= 1001 and id <= 1001", ["Contoso Ltd"]),
        ('id = 1002 or name = "Contoso Ltd" and id = 1', ["Fabrikam Inc"]),
        ('(id = 1002 or name = "Contoso Ltd") and id = 1001', ["Contoso Ltd"]),
        ("not (id = 1001)", ["Fabrikam Inc"]),
        ("deletedFlag = false", ["Contoso Ltd", "Fabrikam Inc"]),
        ("deletedFlag = true", []),
        ("website = null", ["Contoso Ltd", "Fabrikam Inc"]),
        ('status/name = "Active"', ["Contoso Ltd", "Fabrikam Inc"]),
        ("lastUpdated > [2000-01-01T00:00:00Z]", ["Contoso Ltd", "Fabrikam Inc"]),
        ("_info/lastUpdated < [2000-01-01T00:00:00Z]", []),
    ],
)
def test_conditions(raw: Raw, shop: dict[str, int], conditions: str, names: list[str]) -> None:
    assert shop["contoso"] == 1001
    response = raw("GET", "/company/companies", params={"conditions": conditions})
    assert response.status_code == 200, response.text
    assert [c["name"] for c in body(response)] == names


@pytest.mark.parametrize(
    "conditions",
    [
        'name = "unterminated',
        "name ==",
        "(id = 1",
        "id in 1",
        "noSuchField = 1",
        "id = [not a date]",
        "name contains",
    ],
)
def test_unparsable_conditions_are_400_with_an_error_body(
    raw: Raw, shop: dict[str, int], conditions: str
) -> None:
    response = raw("GET", "/company/companies", params={"conditions": conditions})
    assert response.status_code == 400
    assert body(response)["code"] == "InvalidObject"
    assert body(response)["message"].startswith("conditions are invalid")


def test_fields_trim_records_including_nested_ones(raw: Raw, shop: dict[str, int]) -> None:
    response = raw(
        "GET",
        f"/finance/agreements/{shop['agreement']}/additions",
        params={"fields": "id,product/id,quantity,_info/updatedBy"},
    )
    assert body(response) == [
        {
            "id": shop["addition"],
            "product": {"id": shop["gold"]},
            "quantity": 5,
            "_info": {"updatedBy": "Admin"},
        }
    ]


def many_companies(fake: FakeConnectWise, count: int) -> None:
    for number in range(count):
        fake.add_company(f"Company {number:03d}")


def test_default_page_size_is_25_with_link_header(raw: Raw, fake: FakeConnectWise) -> None:
    many_companies(fake, 60)
    first = raw("GET", "/company/companies", params={"orderBy": "name desc"})
    assert len(body(first)) == 25
    assert body(first)[0]["name"] == "Company 059"
    links = first.headers["link"]
    assert 'rel="next"' in links and 'rel="last"' in links and 'rel="prev"' not in links
    assert "page=3" in links.split(",")[-1]
    last = raw("GET", "/company/companies", params={"orderBy": "name desc", "page": "3"})
    assert len(body(last)) == 10
    assert 'rel="next"' not in last.headers["link"] and 'rel="prev"' in last.headers["link"]


def test_page_size_is_capped_at_1000(raw: Raw, fake: FakeConnectWise) -> None:
    many_companies(fake, 1005)
    response = raw("GET", "/company/companies", params={"pageSize": "5000"})
    assert len(body(response)) == 1000


def test_forward_only_paging(raw: Raw, fake: FakeConnectWise) -> None:
    many_companies(fake, 5)
    headers = {"pagination-type": "forward-only"}
    first = raw("GET", "/company/companies", params={"pageSize": "2"}, headers=headers)
    ids = [c["id"] for c in body(first)]
    next_link = first.headers["link"]
    assert f"pageId={ids[-1]}" in next_link and 'rel="next"' in next_link
    rest = raw(
        "GET",
        "/company/companies",
        params={"pageSize": "10", "pageId": str(ids[-1])},
        headers=headers,
    )
    assert [c["id"] for c in body(rest)] == [ids[-1] + 1, ids[-1] + 2, ids[-1] + 3]
    assert "link" not in rest.headers
    ordered = raw("GET", "/company/companies", params={"orderBy": "name"}, headers=headers)
    assert ordered.status_code == 400


def test_count(raw: Raw, shop: dict[str, int]) -> None:
    response = raw(
        "GET", "/procurement/catalog/count", params={"conditions": 'identifier contains "MBX"'}
    )
    assert body(response) == {"count": 2}


# --- writing additions ----------------------------------------------------------------------


def test_post_defaults_from_the_catalog_and_computes_fields(
    raw: Raw, fake: FakeConnectWise, shop: dict[str, int]
) -> None:
    response = raw(
        "POST",
        f"/finance/agreements/{shop['agreement']}/additions",
        {"product": {"identifier": "mbx-basic-10"}, "billCustomer": "Billable", "quantity": 3},
    )
    assert response.status_code == 201
    created = body(response)
    assert created["product"] == {"id": shop["basic"], "identifier": "MBX-BASIC-10"}
    assert (created["unitPrice"], created["unitCost"]) == (Decimal(4), Decimal("1.5"))
    assert created["extPrice"] == Decimal(12) and created["extCost"] == Decimal("4.5")
    assert created["margin"] == Decimal("7.5")
    assert created["description"] == "Basic 10 GB"
    assert created["agreementStatus"] == "Active"
    assert created["_info"]["updatedBy"] == "CloudPanelAPI"
    assert fake.get_addition(created["id"]).quantity == 3


@pytest.mark.parametrize(
    ("payload", "field", "code"),
    [
        ({"billCustomer": "Billable"}, "product", "Required"),
        ({"product": {"id": 1}}, "billCustomer", "Required"),
        ({"product": {"id": 424242}, "billCustomer": "Billable"}, "product", "NotFound"),
        ({"product": 5, "billCustomer": "Billable"}, "product", "InvalidField"),
        ({"product": {"id": 1}, "billCustomer": "Sometimes"}, "billCustomer", "InvalidField"),
        (
            {"product": {"id": 1}, "billCustomer": "Billable", "quantity": "3"},
            "quantity",
            "InvalidField",
        ),
        (
            {"product": {"id": 1}, "billCustomer": "Billable", "effectiveDate": "soon"},
            "effectiveDate",
            "InvalidField",
        ),
        (
            {"product": {"id": 1}, "billCustomer": "Billable", "colour": "red"},
            "colour",
            "UnknownField",
        ),
    ],
)
def test_invalid_posts_are_400_naming_the_field(
    raw: Raw, shop: dict[str, int], payload: dict[str, Any], field: str, code: str
) -> None:
    if payload.get("product") == {"id": 1}:
        payload = {**payload, "product": {"id": shop["gold"]}}
    response = raw("POST", f"/finance/agreements/{shop['agreement']}/additions", payload)
    assert response.status_code == 400
    [error] = body(response)["errors"]
    assert (error["field"], error["code"]) == (field, code)


def test_patch_replace_add_remove(raw: Raw, fake: FakeConnectWise, shop: dict[str, int]) -> None:
    path = f"/finance/agreements/{shop['agreement']}/additions/{shop['addition']}"
    operations = [
        {"op": "replace", "path": "quantity", "value": 7},
        {"op": "add", "path": "/unitPrice", "value": 7.5},
        {"op": "replace", "path": "cancelledDate", "value": "2026-12-31T00:00:00Z"},
        {"op": "remove", "path": "invoiceDescription"},
    ]
    response = raw("PATCH", path, operations)
    assert response.status_code == 200
    patched = body(response)
    assert patched["quantity"] == 7 and patched["unitPrice"] == Decimal("7.5")
    assert patched["extPrice"] == Decimal("52.5")
    assert "invoiceDescription" not in patched
    assert patched["_info"]["updatedBy"] == "CloudPanelAPI"
    stored = fake.get_addition(shop["addition"])
    assert stored.cancelled_date is not None and stored.cancelled_date.year == 2026


@pytest.mark.parametrize(
    ("operations", "status"),
    [
        ([{"op": "replace", "path": "product/id", "value": 3}], 400),
        ([{"op": "replace", "path": "Quantity", "value": 3}], 400),
        ([{"op": "replace", "path": "extPrice", "value": 3}], 400),
        ([{"op": "replace", "path": "shoeSize", "value": 3}], 400),
        ([{"op": "move", "path": "quantity", "value": 3}], 400),
        ([{"op": "replace", "path": "quantity"}], 400),
        ([{"op": "remove", "path": "billCustomer"}], 400),
        ({"op": "replace", "path": "quantity", "value": 3}, 400),
        ([], 400),
    ],
)
def test_bad_patches_are_refused(
    raw: Raw, fake: FakeConnectWise, shop: dict[str, int], operations: Any, status: int
) -> None:
    path = f"/finance/agreements/{shop['agreement']}/additions/{shop['addition']}"
    response = raw("PATCH", path, operations)
    assert response.status_code == status
    assert fake.get_addition(shop["addition"]).quantity == 5


def test_put_replaces_the_whole_record(
    raw: Raw, fake: FakeConnectWise, shop: dict[str, int]
) -> None:
    fake.edit_addition(shop["addition"], invoice_description="Custom text")
    path = f"/finance/agreements/{shop['agreement']}/additions/{shop['addition']}"
    response = raw(
        "PUT", path, {"product": {"id": shop["gold"]}, "billCustomer": "NoCharge", "quantity": 2}
    )
    assert response.status_code == 200
    replaced = fake.get_addition(shop["addition"])
    assert (replaced.quantity, replaced.bill_customer) == (2, "NoCharge")
    assert replaced.invoice_description == "Gold 50 GB"  # reset to the catalog default


def test_delete(raw: Raw, fake: FakeConnectWise, shop: dict[str, int]) -> None:
    path = f"/finance/agreements/{shop['agreement']}/additions/{shop['addition']}"
    assert raw("DELETE", path).status_code == 204
    assert fake.list_additions(shop["agreement"]) == []
    assert raw("DELETE", path).status_code == 404


def test_writes_to_a_cancelled_agreement_are_refused(
    raw: Raw, fake: FakeConnectWise, shop: dict[str, int]
) -> None:
    fake.cancel_agreement(shop["agreement"])
    base = f"/finance/agreements/{shop['agreement']}/additions"
    attempts = [
        raw("POST", base, {"product": {"id": shop["gold"]}, "billCustomer": "Billable"}),
        raw(
            "PATCH",
            f"{base}/{shop['addition']}",
            [{"op": "replace", "path": "quantity", "value": 1}],
        ),
        raw("DELETE", f"{base}/{shop['addition']}"),
    ]
    for response in attempts:
        assert response.status_code == 400
        assert body(response)["errors"][0]["code"] == "AgreementCancelled"
    assert raw("GET", base).status_code == 200  # reading is still fine
    assert fake.get_addition(shop["addition"]).quantity == 5


def test_other_collections_are_read_only_here(raw: Raw, shop: dict[str, int]) -> None:
    response = raw("POST", "/company/companies", {"identifier": "X", "name": "X"})
    assert response.status_code == 405


# --- the request log ------------------------------------------------------------------------


def test_request_log_keeps_what_tests_need_and_no_secret(
    raw: Raw, fake: FakeConnectWise, shop: dict[str, int]
) -> None:
    raw("GET", "/company/companies", params={"conditions": "id=1001"})
    raw(
        "PATCH",
        f"/finance/agreements/{shop['agreement']}/additions/{shop['addition']}",
        [{"op": "replace", "path": "quantity", "value": 6}],
    )
    first, second = fake.request_log
    assert (first.method, first.api_path, first.query, first.status) == (
        "GET",
        "/company/companies",
        {"conditions": "id=1001"},
        200,
    )
    assert second.is_write and second.body == [{"op": "replace", "path": "quantity", "value": 6}]
    assert fake.writes() == [second]
    assert fake.count_requests("GET") == 1 and fake.count_requests(path="/additions") == 1
    assert "authorization" in first.header_names
    assert fake.credentials.private_key not in repr(fake.request_log)
    assert json.dumps(first.query)  # plain data
