"""Injected faults, the server-side rate limit, and serving over real HTTP on 127.0.0.1."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
from decimal import Decimal

import httpx
import pytest

from connectwise_billing import (
    APIConnectionError,
    APITimeoutError,
    ConnectWiseClient,
    NewAddition,
    RateLimitError,
    RetryPolicy,
    ServerError,
    UnexpectedResponseError,
)
from connectwise_billing.client import ApiRequest
from connectwise_billing.testing import ALL_FAULT_KINDS, FakeConnectWise, Fault, VirtualClock

API = "https://cw.example/v2025_1/apis/3.0"


@pytest.fixture
def seeded(fake: FakeConnectWise) -> tuple[int, int]:
    company = fake.add_company("Contoso Ltd")
    product = fake.add_product("MBX-GOLD-50", price="8", cost="3")
    return fake.add_agreement(company), product


def client_for(fake: FakeConnectWise, **kwargs: object) -> ConnectWiseClient:
    kwargs.setdefault("retry", RetryPolicy.never())
    kwargs.setdefault("rate_limit_per_minute", None)
    return ConnectWiseClient(API, fake.credentials, transport=fake.transport(), **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("fault", "error", "status"),
    [
        (Fault.rate_limited(retry_after=7), RateLimitError, 429),
        (Fault.server_error(502), ServerError, 502),
        (Fault.html_page(), ServerError, 502),
        (Fault.timeout(), APITimeoutError, None),
        (Fault.drop_before_commit(), APIConnectionError, None),
    ],
)
def test_scripted_faults_reach_the_client_as_connectwise_would_send_them(
    fake: FakeConnectWise, seeded: tuple[int, int], fault: Fault, error: type, status: int | None
) -> None:
    agreement, _ = seeded
    fake.faults.add(fault, method="GET", path="/finance/agreements")
    with client_for(fake) as client, pytest.raises(error) as caught:
        client.agreements.get(agreement)
    if isinstance(caught.value, RateLimitError):
        assert caught.value.retry_after == 7
        assert "try again in 7 seconds" in caught.value.message
    if fault.kind == "html_page":
        assert "text/html page titled '502 Bad Gateway'" in str(caught.value)
    assert fake.request_log[-1].status == status
    assert fake.request_log[-1].fault == fault.kind
    with client_for(fake) as client:
        assert client.agreements.get(agreement).id == agreement  # `times=1`: only once


def test_faults_match_method_and_path_and_count_down(
    fake: FakeConnectWise, seeded: tuple[int, int]
) -> None:
    agreement, _ = seeded
    fake.faults.add(Fault.server_error(503), method="POST", times=2)
    with client_for(fake, retry=RetryPolicy(wait=False)) as client:
        client.agreements.get(agreement)  # a GET: not matched
        for _ in range(2):
            with pytest.raises(ServerError):
                client.additions.create(agreement, NewAddition(seeded[1], 1))
        client.additions.create(agreement, NewAddition(seeded[1], 1))
    assert [e.status for e in fake.request_log] == [200, 503, 503, 201]


def test_drop_after_commit_applies_the_write_but_sends_nothing(
    fake: FakeConnectWise, seeded: tuple[int, int]
) -> None:
    agreement, product = seeded
    fake.faults.add(Fault.drop_after_commit(), method="POST")
    with client_for(fake) as client, pytest.raises(APIConnectionError) as caught:
        client.additions.create(agreement, NewAddition(product, 4))
    assert caught.value.request_sent
    [created] = fake.list_additions(agreement)
    assert created.quantity == 4  # the naive client now thinks nothing was created


def test_drop_before_commit_applies_nothing(fake: FakeConnectWise, seeded: tuple[int, int]) -> None:
    agreement, product = seeded
    fake.faults.add(Fault.drop_before_commit(), method="POST")
    with client_for(fake) as client, pytest.raises(APIConnectionError):
        client.additions.create(agreement, NewAddition(product, 4))
    assert fake.list_additions(agreement) == []


@pytest.mark.parametrize(("after_commit", "applied"), [(False, 0), (True, 1)])
def test_timeouts_before_and_after_commit(
    fake: FakeConnectWise, seeded: tuple[int, int], after_commit: bool, applied: int
) -> None:
    agreement, product = seeded
    fake.faults.add(Fault.timeout(after_commit=after_commit, seconds=0), method="POST")
    with client_for(fake) as client, pytest.raises(APITimeoutError):
        client.additions.create(agreement, NewAddition(product, 4))
    assert len(fake.list_additions(agreement)) == applied


def test_random_faults_are_reproducible_from_the_seed(seeded: tuple[int, int]) -> None:
    def run(seed: int) -> list[str | None]:
        fake = FakeConnectWise()
        fake.add_api_member()
        company = fake.add_company("X")
        agreement = fake.add_agreement(company)
        fake.faults.randomly(0.5, seed=seed, kinds=("rate_limited", "server_error"))
        with client_for(fake) as client:
            for _ in range(30):
                with contextlib.suppress(RateLimitError, ServerError):
                    client.agreements.get(agreement)
        return [entry.fault for entry in fake.request_log]

    first, again, other = run(3), run(3), run(4)
    assert first == again
    assert first != other
    assert {"rate_limited", "server_error", None} == set(first)


def test_random_faults_limited_to_methods(fake: FakeConnectWise, seeded: tuple[int, int]) -> None:
    fake.faults.randomly(1.0, seed=1, methods=["POST"])
    with client_for(fake) as client:
        client.agreements.get(seeded[0])
    assert fake.request_log[-1].fault is None
    fake.faults.clear()


def test_every_fault_kind_can_be_built_randomly() -> None:
    fake = FakeConnectWise()
    fake.add_api_member()
    for kind in ALL_FAULT_KINDS:
        fake.faults.clear()
        fake.faults.randomly(1.0, seed=1, kinds=[kind])
        fault = fake.faults.next_fault("GET", "/x")
        assert fault is not None and fault.kind == kind


def test_latency_delays_answers(fake: FakeConnectWise, seeded: tuple[int, int]) -> None:
    fake.faults.add(Fault.latency(0.2))
    outcome = fake.process(
        httpx.Request(
            "GET",
            f"{API}/finance/agreements",
            headers={"Authorization": fake.credentials.authorization_header(), "clientId": "x"},
        )
    )
    assert outcome.delay == pytest.approx(0.2)
    assert outcome.response is not None and outcome.response.status_code == 200


def test_server_rate_limit_answers_429_with_retry_after(
    fake: FakeConnectWise, seeded: tuple[int, int]
) -> None:
    fake.rate_limit_per_minute = 60  # one request per second, no burst
    with client_for(fake) as client:
        client.agreements.get(seeded[0])
        with pytest.raises(RateLimitError) as caught:
            client.agreements.get(seeded[0])
    assert caught.value.retry_after == 1
    assert caught.value.code == "ConnectWiseAPI"
    fake.rate_limit_per_minute = None
    assert fake.rate_limit_per_minute is None


# --- over real HTTP -----------------------------------------------------------------------


def test_serve_binds_loopback_only_and_stops_cleanly(
    fake: FakeConnectWise, seeded: tuple[int, int]
) -> None:
    agreement, product = seeded
    with fake.serve() as url:
        parsed = httpx.URL(url)
        assert parsed.host == "127.0.0.1"
        assert url.endswith("/v2025_1/apis/3.0")
        with ConnectWiseClient(url, fake.credentials, retry=RetryPolicy(wait=False)) as client:
            created = client.additions.create(agreement, NewAddition(product, 2, unit_price="9.10"))
            assert created.unit_price == Decimal("9.10")
            assert [a.id for a in client.additions.list(agreement)] == [created.id]
        port = parsed.port
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0  # nothing listens any more


def test_dropped_connections_over_http(fake: FakeConnectWise, seeded: tuple[int, int]) -> None:
    agreement, product = seeded
    fake.faults.add(Fault.drop_after_commit(), method="POST")
    fake.faults.add(Fault.timeout(seconds=0.5), method="GET")
    with (
        fake.serve() as url,
        ConnectWiseClient(url, fake.credentials, retry=RetryPolicy.never(), timeout=0.2) as client,
    ):
        with pytest.raises(APIConnectionError) as dropped:
            client.additions.create(agreement, NewAddition(product, 1))
        assert dropped.value.request_sent
        with pytest.raises(APITimeoutError):
            client.agreements.get(agreement)
    assert len(fake.list_additions(agreement)) == 1


def test_from_site_against_the_served_simulator(fake: FakeConnectWise) -> None:
    with fake.serve() as url:
        site = url.split("/v2025_1/")[0]
        with ConnectWiseClient.from_site(site, fake.credentials) as client:
            assert client.base_url == url
            assert client.companies.count() == 0


def test_html_instead_of_json_over_http(fake: FakeConnectWise, seeded: tuple[int, int]) -> None:
    fake.faults.add(Fault.html_page(status=200))
    with (
        fake.serve() as url,
        ConnectWiseClient(url, fake.credentials) as client,
        pytest.raises(UnexpectedResponseError, match="expected JSON, got text/html"),
    ):
        client.agreements.get(seeded[0])


def test_command_line_server() -> None:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "connectwise_billing.testing",
            "serve",
            "--port",
            "0",
            "--example",
            "--companies",
            "3",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline() for _ in range(4)]
        url = next(line.split()[-1] for line in lines if line.startswith("API base URL"))
        assert url.startswith("http://127.0.0.1:")
        deadline = time.monotonic() + 10
        while True:
            try:
                response = httpx.get(url.split("/v2025_1/")[0] + "/login/companyinfo/fakemsp")
                break
            except httpx.ConnectError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        assert response.json()["Codebase"] == "v2025_1/"
    finally:
        process.terminate()
        process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()


# --- faults that fool a naive client -------------------------------------------------------


@pytest.fixture
def timed(clock: VirtualClock) -> tuple[FakeConnectWise, int, int]:
    """A simulator on virtual time: (simulator, agreement, product)."""
    fake = FakeConnectWise(time_source=clock)
    fake.add_api_member()
    company = fake.add_company("Contoso Ltd")
    product = fake.add_product("MBX-GOLD-50", price="8", cost="3")
    return fake, fake.add_agreement(company), product


def test_commit_later_applies_the_write_but_reads_see_it_only_later(
    timed: tuple[FakeConnectWise, int, int], clock: VirtualClock
) -> None:
    fake, agreement, product = timed
    credentials = fake.credentials
    fake.faults.add(Fault.commit_later(1.5), method="POST")
    with ConnectWiseClient(API, credentials, transport=fake.transport()) as client:
        with pytest.raises(APITimeoutError):
            client.additions.create(agreement, NewAddition(product, 4))
        assert client.additions.list(agreement) == []
        assert len(fake.list_additions(agreement)) == 1  # the store has it
        clock.advance(1.0)
        assert client.additions.list(agreement) == []
        clock.advance(0.5)
        [seen] = client.additions.list(agreement)
        assert client.additions.get(agreement, seen.id).quantity == 4
    [post] = fake.writes()
    assert (post.status, post.applied, post.fault) == (None, True, "commit_later")


def test_a_late_answer_is_one_the_client_never_gets(
    timed: tuple[FakeConnectWise, int, int], clock: VirtualClock
) -> None:
    fake, agreement, product = timed
    credentials = fake.credentials
    fake.faults.add(Fault.commit_later(1.0, answer="late"), method="POST", times=2)
    with (
        ConnectWiseClient(API, credentials, transport=fake.transport(), timeout=0.3) as client,
        pytest.raises(APITimeoutError),
    ):
        client.additions.create(agreement, NewAddition(product, 4))
    assert clock.monotonic() == pytest.approx(0.3)  # the client waited its read timeout
    with ConnectWiseClient(API, credentials, transport=fake.transport(), timeout=5) as client:
        assert client.additions.create(agreement, NewAddition(product, 4)).quantity == 4


def test_a_late_commit_over_real_http(fake: FakeConnectWise, seeded: tuple[int, int]) -> None:
    """The server takes 0.3 s and the client gives up after 0.1 s: the write lands anyway."""
    agreement, product = seeded
    fake.faults.add(Fault.commit_later(0.3, answer="late"), method="POST")
    with (
        fake.serve() as url,
        ConnectWiseClient(url, fake.credentials, timeout=0.1) as client,
        pytest.raises(APITimeoutError),
    ):
        client.additions.create(agreement, NewAddition(product, 4))
    assert len(fake.list_additions(agreement)) == 1


@pytest.mark.parametrize(("after_commit", "applied"), [(True, 1), (False, 0)])
def test_a_gateway_error_after_or_before_the_backend_applied(
    fake: FakeConnectWise, seeded: tuple[int, int], after_commit: bool, applied: int
) -> None:
    agreement, product = seeded
    fake.faults.add(Fault.gateway_error(504, after_commit=after_commit), method="POST")
    with client_for(fake) as client, pytest.raises(ServerError) as caught:
        client.additions.create(agreement, NewAddition(product, 4))
    assert caught.value.status_code == 504 and not caught.value.has_error_body
    assert "504 Gateway Time-out" in str(caught.value)
    assert len(fake.list_additions(agreement)) == applied


def test_slow_visibility_answers_but_hides_the_write_for_a_while(
    timed: tuple[FakeConnectWise, int, int], clock: VirtualClock
) -> None:
    fake, agreement, product = timed
    credentials = fake.credentials
    with ConnectWiseClient(API, credentials, transport=fake.transport()) as client:
        created = client.additions.create(agreement, NewAddition(product, 4))
        fake.faults.add(Fault.slow_visibility(2.0), method="PATCH")
        client.additions.update(agreement, created.id, quantity=9)
        assert client.additions.get(agreement, created.id).quantity == 4  # the old version
        fake.faults.add(Fault.slow_visibility(2.0), method="DELETE")
        client.additions.delete(agreement, created.id)
        assert [a.quantity for a in client.additions.list(agreement)] == [4]
        fake.reveal()
        assert client.additions.list(agreement) == []


def test_duplicate_record_lists_the_first_record_twice(
    fake: FakeConnectWise, seeded: tuple[int, int]
) -> None:
    agreement, product = seeded
    fake.add_addition(agreement, product, 1)
    fake.add_addition(agreement, product, 2)
    fake.faults.add(Fault.duplicate_record(), method="GET")
    with client_for(fake) as client:
        ids = [a.id for a in client.additions.list(agreement)]
    assert len(ids) == 3 and ids[0] == ids[-1]


def test_redirect_answers_a_3xx_and_processes_nothing(
    fake: FakeConnectWise, seeded: tuple[int, int]
) -> None:
    agreement, product = seeded
    fake.faults.add(Fault.redirect(307), method="POST")
    with client_for(fake) as client, pytest.raises(UnexpectedResponseError, match="307"):
        client.additions.create(agreement, NewAddition(product, 4))
    assert fake.list_additions(agreement) == []
    assert fake.request_log[-1].status == 307


def test_set_raw_puts_unchecked_values_in_answers(
    fake: FakeConnectWise, seeded: tuple[int, int]
) -> None:
    agreement, product = seeded
    addition = fake.add_addition(agreement, product, 1)
    fake.set_raw(addition, unitPrice="", product=None)
    with client_for(fake) as client:
        [record] = client.request(ApiRequest("GET", f"/finance/agreements/{agreement}/additions"))
    assert record["unitPrice"] == "" and "product" not in record
    assert fake.off_contract


@pytest.mark.parametrize(
    ("spec", "fault", "rule"),
    [
        (
            "commit_later,seconds=1.5,answer=drop,method=POST,times=2",
            Fault.commit_later(1.5, answer="drop"),
            {"method": "POST", "times": 2},
        ),
        ("gateway_error,status=504", Fault.gateway_error(504), {}),
        (
            "redirect,path=/additions,times=all",
            Fault.redirect(),
            {"path": "/additions", "times": None},
        ),
        ("html_page,status=503", Fault.html_page(503), {}),
    ],
)
def test_faults_from_text(spec: str, fault: Fault, rule: dict[str, object]) -> None:
    assert Fault.parse(spec) == (fault, rule)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("meteor_strike", "unknown fault kind 'meteor_strike'"),
        ("gateway_error,status=bad", "status must be int"),
        ("gateway_error,after_commit=maybe", "after_commit must be true or false"),
        ("gateway_error,colour=red", "unknown fault setting 'colour'"),
        ("redirect,seconds=1", "redirect does not take seconds"),
        ("redirect,times", "must be key=value"),
    ],
)
def test_bad_fault_text_is_named(spec: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Fault.parse(spec)


def test_command_line_server_takes_faults() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "connectwise_billing.testing", "serve", "--fault", "nope"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 2
    assert "--fault nope: unknown fault kind 'nope'" in result.stderr


def test_a_write_seen_late_stays_in_its_own_collection(
    timed: tuple[FakeConnectWise, int, int],
) -> None:
    """While a change to an addition is unseen, reads of the addition show it as it was, and
    every other listing reads as before (the older version is the addition's, not theirs)."""
    fake, agreement, product = timed
    addition = fake.add_addition(agreement, product, 3)
    fake.faults.add(Fault.slow_visibility(5.0), method="PATCH")
    with ConnectWiseClient(API, fake.credentials, transport=fake.transport()) as client:
        client.additions.update(agreement, addition, quantity=4)
        assert [a.id for a in client.agreements.list()] == [agreement]
        assert [p.id for p in client.products.list()] == [product]
        assert [a.quantity for a in client.additions.list(agreement)] == [3]
