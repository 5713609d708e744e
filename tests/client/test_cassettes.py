"""The client's wire format, pinned by vcrpy cassettes recorded against the simulator.

Replayed offline on every run (`--record-mode=none`): a change to what the client sends
(method, path, query or body) no longer matches the cassette and fails the test. Re-record
with `make cassettes`, which serves `FakeConnectWise` on 127.0.0.1 and rewrites the files;
`Authorization` and `clientId` are scrubbed before anything is written.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from connectwise_billing import (
    BadRequestError,
    ConnectWiseClient,
    Credentials,
    NewAddition,
    NotFoundError,
    ServerError,
)
from connectwise_billing.testing import FakeConnectWise, Fault, vcr_config as secret_free
from tests.conftest import PRIVATE_KEY, Api, Call

CASSETTES = Path(__file__).parent / "cassettes"
STABLE_SITE = "http://127.0.0.1:8089"
_SERVED_SITE = re.compile(r"http://127\.0\.0\.1:\d+")
REPLAY_CREDENTIALS = Credentials("fakemsp", "cassette-public", PRIVATE_KEY, "cassette-client")


def _stable_request(request: Any) -> Any:
    request.uri = _SERVED_SITE.sub(STABLE_SITE, request.uri)
    return request


def _stable_response(response: dict[str, Any]) -> dict[str, Any]:
    headers = response.get("headers", {})
    for name in list(headers):
        if name.lower() == "link":
            headers[name] = [_SERVED_SITE.sub(STABLE_SITE, value) for value in headers[name]]
    return response


@pytest.fixture(scope="module")
def vcr_cassette_dir() -> str:
    return str(CASSETTES)


@pytest.fixture(scope="module")
def vcr_config() -> dict[str, Any]:
    config = secret_free(
        _seeded_site()[0].credentials, match_on=["method", "path", "query", "body"]
    )
    config["filter_headers"].append("host")
    scrub_request, scrub_response = (
        config["before_record_request"],
        config["before_record_response"],
    )
    config["before_record_request"] = lambda request: _stable_request(scrub_request(request))
    config["before_record_response"] = lambda response: _stable_response(scrub_response(response))
    return config


def _seeded_site() -> tuple[FakeConnectWise, dict[str, int]]:
    fake = FakeConnectWise(seed=7, clock=lambda: datetime(2026, 11, 1, 9, 30, tzinfo=UTC))
    fake.add_api_member(identifier="CloudPanelAPI")
    contoso = fake.add_company("Contoso Ltd")
    gold = fake.add_product("MBX-GOLD-50", price="8.00", cost="3.25", description="Gold 50 GB")
    fake.add_product("MBX-BASIC-10", price="4.00", cost="1.50", description="Basic 10 GB")
    for number in range(5):
        fake.add_product(f"EXTRA-{number}", price="1", cost="0.5")
    agreement = fake.add_agreement(contoso)
    return fake, {"company": contoso, "gold": gold, "agreement": agreement}


@contextmanager
def site(record_mode: str) -> Iterator[tuple[str, Credentials, dict[str, int]]]:
    """The simulator over HTTP while recording; just its stable URL while replaying."""
    fake, ids = _seeded_site()
    if record_mode == "none":
        yield f"{STABLE_SITE}/{fake.codebase}apis/3.0", REPLAY_CREDENTIALS, ids
        return
    with fake.serve() as url:
        yield url, fake.credentials, ids


def flow(call: Call, ids: dict[str, int]) -> dict[str, Any]:
    """The client's main flows, one step per call; the same for the sync and async client."""
    agreement = ids["agreement"]
    products = call(lambda c: c.products.list(page_size=3))
    gold = call(lambda c: c.products.search("gold"))
    companies = call(lambda c: c.companies.search("contoso"))
    agreements = call(lambda c: c.agreements.list(company_id=ids["company"]))
    new = NewAddition(ids["gold"], 3, unit_price=Decimal("7.50"))
    created = call(lambda c: c.additions.create(agreement, new))
    updated = call(lambda c: c.additions.update(agreement, created.id, quantity=4))
    listed = call(lambda c: c.additions.list(agreement, fields="quantity,product/id"))
    count = call(lambda c: c.additions.count(agreement))
    call(lambda c: c.additions.delete(agreement, created.id))
    with pytest.raises(NotFoundError):
        call(lambda c: c.additions.get(agreement, created.id))
    with pytest.raises(BadRequestError) as bad:
        call(lambda c: c.additions.create(agreement, NewAddition(999999, 1)))
    return {
        "products": [p.identifier for p in products],
        "gold": [p.id for p in gold],
        "companies": [c.name for c in companies],
        "agreements": [a.id for a in agreements],
        "created": (created.quantity, created.unit_price, created.unit_cost),
        "updated": (updated.quantity, updated.ext_price),
        "listed": [(a.quantity, a.product.id if a.product else None) for a in listed],
        "count": count,
        "bad": bad.value.errors[0].field,
    }


def expected(ids: dict[str, int]) -> dict[str, Any]:
    return {
        "products": ["MBX-GOLD-50", "MBX-BASIC-10"] + [f"EXTRA-{n}" for n in range(5)],
        "gold": [ids["gold"]],
        "companies": ["Contoso Ltd"],
        "agreements": [ids["agreement"]],
        "created": (Decimal(3), Decimal("7.50"), Decimal("3.25")),
        "updated": (Decimal(4), Decimal("30.00")),
        "listed": [(Decimal(4), ids["gold"])],
        "count": 1,
        "bad": "product",
    }


@pytest.mark.vcr
def test_client_wire_format(api: Api, record_mode: str, vcr: Any) -> None:
    with site(record_mode) as (url, credentials, ids), api.session(url, credentials) as call:
        assert flow(call, ids) == expected(ids)
    assert record_mode != "none" or vcr.all_played


def test_cassettes_hold_no_secret() -> None:
    files = sorted(CASSETTES.glob("*.yaml"))
    assert files, "no cassettes recorded: run `make cassettes`"
    for path in files:
        text = path.read_text().lower()
        assert "authorization" not in text, path
        assert "clientid" not in text, path
        assert "fakeprivate" not in text and PRIVATE_KEY.lower() not in text, path


def test_vcr_config_keeps_every_secret_out_of_a_recorded_cassette(tmp_path: Path) -> None:
    """Recorded for real against the simulator, an echoing gateway included, then grepped."""
    import vcr

    fake, ids = _seeded_site()
    credentials = fake.credentials
    fake.faults.add(Fault.echo_headers(), method="GET", path="/company/companies", times=None)
    cassette = tmp_path / "recorded.yaml"
    recorder = vcr.VCR(**secret_free(credentials), record_mode="all")
    with (
        fake.serve() as url,
        recorder.use_cassette(str(cassette)),
        ConnectWiseClient(url, credentials) as client,
    ):
        client.products.search("gold")
        with pytest.raises(ServerError):
            client.companies.search("contoso")
        client.additions.create(ids["agreement"], NewAddition(ids["gold"], 2))
    text = cassette.read_text()
    assert "Bad Gateway. Request headers:" in text  # the echo was recorded, scrubbed
    for secret in (*credentials.secrets(), credentials.public_key):
        assert secret not in text
    assert "authorization: Basic ***" in text  # the echoed header, its value blanked
