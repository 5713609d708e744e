"""The applier against ConnectWise's own failures, one at a time: each way an HTTP answer can be
lost, refused or faked is classified right, and every write is sent once.

The contract every backend keeps (ConnectWise's and the in-memory ledger's) is in
`test_applier.py`; this file adds what only HTTP has: drops, timeouts, gateways' 502/504 pages,
redirects, throttling, a 200 that did not apply. The simulator runs on a virtual clock shared
with the SDK's waits, so "commits 1 s later" takes no real time.
"""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal

import httpx
import pytest

from connectwise_billing import (
    AgreementDiff,
    APITimeoutError,
    CompanyUsage,
    ConnectWiseClient,
    NewAddition,
    Plan,
    PlanMapping,
    SyncPolicy,
    apply_diff,
    reconcile_agreement,
)
from connectwise_billing.testing import ExampleMSP, FakeConnectWise, Fault, VirtualClock
from tests.integration.conftest import API_URL, Syncer

TODAY = date(2026, 11, 28)
GOLD = Plan("gold", "Gold 50 GB", cost=Decimal("3.25"), price=Decimal("8.00"))


@pytest.fixture
def site(clock: VirtualClock) -> tuple[ExampleMSP, AgreementDiff]:
    """One agreement with no additions, and the diff that creates a Gold addition for it."""
    fake = FakeConnectWise(seed=3, time_source=clock)
    credentials = fake.add_api_member()
    company = fake.add_company("Contoso Ltd")
    product = fake.add_product("MBX-GOLD-50", price="8.00", cost="3.25")
    agreement = fake.add_agreement(company)
    mapping = PlanMapping({"gold": product})
    usage = CompanyUsage(agreement, {"gold": 12}, company="Contoso Ltd")
    example = ExampleMSP(fake, credentials, (GOLD,), mapping, (usage,), None, None, None)
    diff = reconcile_agreement([GOLD], mapping, usage, [], today=TODAY)
    return example, diff


def posts(fake: FakeConnectWise) -> int:
    return fake.count_requests("POST")


def diff_now(
    example: ExampleMSP, usage: CompanyUsage | None = None, **policy: object
) -> AgreementDiff:
    """What a sync would do now (the next sync's diff)."""
    usage = usage or example.usages[0]
    additions = example.fake.list_additions(usage.agreement_id)
    return reconcile_agreement(
        example.plans,
        example.mapping,
        usage,
        additions,
        SyncPolicy(**policy),
        today=TODAY,  # type: ignore[arg-type]
    )


def test_the_simulator_commits_a_create_after_the_client_gave_up(
    site: tuple[ExampleMSP, AgreementDiff], clock: VirtualClock
) -> None:
    """The fault a create-then-check-then-create-again applier falls for: billed twice."""
    example, diff = site
    example.fake.faults.add(Fault.commit_later(1.0), method="POST")
    gold = NewAddition(example.mapping["gold"], 12)
    with ConnectWiseClient(
        API_URL, example.credentials, transport=example.fake.transport()
    ) as client:
        with pytest.raises(APITimeoutError):
            client.additions.create(diff.agreement_id, gold)
        assert client.additions.list(diff.agreement_id) == []  # an immediate re-read: nothing
        client.additions.create(diff.agreement_id, gold)  # so a naive applier creates again
    clock.advance(1.0)
    assert len(example.fake.list_additions(diff.agreement_id)) == 2


@pytest.mark.parametrize(
    "fault",
    [
        Fault.drop_after_commit(),
        Fault.timeout(after_commit=True),
        Fault.commit_later(1.0),
        Fault.commit_later(5.0, answer="drop"),
        Fault.gateway_error(502),
        Fault.gateway_error(504),
    ],
    ids=lambda f: f"{f.kind}-{f.status}-{f.seconds}",
)
def test_a_create_that_landed_is_confirmed_by_reading_and_never_sent_again(
    quick_syncer: Syncer, site: tuple[ExampleMSP, AgreementDiff], fault: Fault
) -> None:
    example, diff = site
    example.fake.faults.add(fault, method="POST")
    [result] = quick_syncer.apply(example, diff)
    assert result.status == "applied"
    assert result.note is not None and result.note.startswith("confirmed by re-reading")
    [created] = example.fake.list_additions(diff.agreement_id)
    assert result.line_id == created.id
    assert posts(example.fake) == 1
    assert diff_now(example).is_empty


@pytest.mark.parametrize(
    "fault",
    [
        Fault.drop_before_commit(),
        Fault.timeout(),
        Fault.gateway_error(502, after_commit=False),
        Fault.html_page(503),
        Fault.redirect(302),
    ],
    ids=lambda f: f"{f.kind}-{f.status}",
)
def test_a_create_whose_outcome_cannot_be_learned_is_unknown_and_left_to_the_next_sync(
    quick_syncer: Syncer, site: tuple[ExampleMSP, AgreementDiff], fault: Fault
) -> None:
    example, diff = site
    example.fake.faults.add(fault, method="POST")
    [result] = quick_syncer.apply(example, diff)
    assert result.status == "unknown" and not result.ok
    assert result.error is not None and result.error.startswith("outcome unknown:")
    assert "6 re-read(s) did not show it" in result.error  # now, then every 2 s for 10 s
    assert posts(example.fake) == 1
    assert example.fake.list_additions(diff.agreement_id) == []
    [next_result] = quick_syncer.apply(example, diff_now(example))
    assert next_result.status == "applied"
    assert len(example.fake.list_additions(diff.agreement_id)) == 1


@pytest.mark.parametrize("status", [500, 503])
def test_a_create_connectwise_refused_is_failed_and_not_sent_again(
    quick_syncer: Syncer, site: tuple[ExampleMSP, AgreementDiff], status: int
) -> None:
    example, diff = site
    example.fake.faults.add(Fault.server_error(status), method="POST")
    [result] = quick_syncer.apply(example, diff)
    assert result.status == "failed"
    assert result.error is not None and "UnexpectedServerError" in result.error
    assert posts(example.fake) == 1
    assert example.fake.list_additions(diff.agreement_id) == []


def test_a_throttled_create_is_sent_again(
    quick_syncer: Syncer, site: tuple[ExampleMSP, AgreementDiff]
) -> None:
    example, diff = site
    example.fake.faults.add(Fault.rate_limited(retry_after=5), method="POST")
    [result] = quick_syncer.apply(example, diff)
    assert result.status == "applied"
    assert posts(example.fake) == 2
    assert len(example.fake.list_additions(diff.agreement_id)) == 1


def test_a_create_refused_for_a_cancelled_agreement_is_failed(
    quick_syncer: Syncer, site: tuple[ExampleMSP, AgreementDiff]
) -> None:
    example, diff = site
    example.fake.cancel_agreement(diff.agreement_id)  # writes now answer 400
    [result] = quick_syncer.apply(example, diff)
    assert result.status == "failed"
    assert result.error is not None and "agreement 1003 is cancelled" in result.error
    assert posts(example.fake) == 1


@pytest.fixture
def stale(site: tuple[ExampleMSP, AgreementDiff]) -> tuple[ExampleMSP, AgreementDiff]:
    """The agreement with a Gold addition of 3 seats, and the diff that makes it 12."""
    example, _ = site
    usage = example.usages[0]
    example.fake.add_addition(usage.agreement_id, example.mapping["gold"], 3)
    return example, diff_now(example)


@pytest.mark.parametrize(
    "fault",
    [Fault.drop_after_commit(), Fault.gateway_error(502), Fault.commit_later(1.0)],
    ids=lambda f: f.kind,
)
def test_an_update_that_landed_before_its_answer_was_lost_is_applied(
    quick_syncer: Syncer, stale: tuple[ExampleMSP, AgreementDiff], fault: Fault
) -> None:
    example, diff = stale
    [update] = diff.updates
    example.fake.faults.add(fault, method="PATCH")
    [result] = quick_syncer.apply(example, diff)
    assert result.status == "applied"
    assert result.note is not None and result.note.startswith("confirmed by re-reading")
    assert example.fake.count_requests("PATCH") == 1
    assert example.fake.get_addition(update.line_id).quantity == 12


def test_a_cancel_that_landed_before_its_answer_was_lost_is_applied(
    quick_syncer: Syncer, site: tuple[ExampleMSP, AgreementDiff]
) -> None:
    example, _ = site
    usage = CompanyUsage(example.usages[0].agreement_id, {"gold": 0}, company="Contoso Ltd")
    addition = example.fake.add_addition(usage.agreement_id, example.mapping["gold"], 3)
    diff = diff_now(example, usage, on_zero="cancel", guardrails=None)
    example.fake.faults.add(Fault.gateway_error(504), method="PATCH")
    [result] = quick_syncer.apply(example, diff)
    assert result.status == "applied"
    assert example.fake.get_addition(addition).cancelled_date is not None


@pytest.mark.parametrize(
    "fault",
    [Fault.drop_before_commit(), Fault.html_page(503), Fault.server_error(503)],
    ids=lambda f: f"{f.kind}-{f.status}",
)
def test_an_update_that_did_not_land_is_sent_again_and_heals_in_the_run(
    quick_syncer: Syncer, stale: tuple[ExampleMSP, AgreementDiff], fault: Fault
) -> None:
    """An update replaces fields: once a read shows it did not land, a second copy is safe."""
    example, diff = stale
    [update] = diff.updates
    example.fake.faults.add(fault, method="PATCH")
    [result] = quick_syncer.apply(example, diff)
    assert result.status == "applied"
    assert example.fake.count_requests("PATCH") == 2
    assert example.fake.get_addition(update.line_id).quantity == 12
    assert diff_now(example).is_empty


def test_a_cancel_that_did_not_land_is_sent_again(
    quick_syncer: Syncer, site: tuple[ExampleMSP, AgreementDiff]
) -> None:
    example, _ = site
    usage = CompanyUsage(example.usages[0].agreement_id, {"gold": 0}, company="Contoso Ltd")
    addition = example.fake.add_addition(usage.agreement_id, example.mapping["gold"], 3)
    diff = diff_now(example, usage, on_zero="cancel", guardrails=None)
    example.fake.faults.add(Fault.gateway_error(502, after_commit=False), method="PATCH")
    [result] = quick_syncer.apply(example, diff)
    assert result.status == "applied"
    assert example.fake.count_requests("PATCH") == 2
    assert example.fake.get_addition(addition).cancelled_date is not None


def test_an_update_is_sent_again_at_most_max_attempts_times(
    quick_syncer: Syncer, stale: tuple[ExampleMSP, AgreementDiff]
) -> None:
    example, diff = stale
    [update] = diff.updates
    example.fake.faults.add(Fault.server_error(503), method="PATCH", times=None)
    [result] = quick_syncer.apply(example, diff)
    assert result.status == "failed"
    assert result.error is not None
    assert "a re-read shows it did not land (sent 5 times)" in result.error
    assert example.fake.count_requests("PATCH") == 5  # RetryPolicy.max_attempts
    assert example.fake.get_addition(update.line_id).quantity == 3


def test_an_update_whose_outcome_cannot_be_learned_is_unknown_and_not_sent_again(
    quick_syncer: Syncer, stale: tuple[ExampleMSP, AgreementDiff]
) -> None:
    example, diff = stale
    example.fake.faults.add(Fault.drop_before_commit(), method="PATCH")
    example.fake.faults.add(Fault.server_error(503), method="GET", times=None)
    [result] = quick_syncer.apply(example, diff)
    assert result.status == "unknown"
    assert example.fake.count_requests("PATCH") == 1


def test_an_update_connectwise_refused_is_failed_and_not_sent_again(
    quick_syncer: Syncer, stale: tuple[ExampleMSP, AgreementDiff]
) -> None:
    example, diff = stale
    example.fake.cancel_agreement(diff.agreement_id)  # writes now answer 400
    [result] = quick_syncer.apply(example, diff)
    assert result.status == "failed"
    assert result.error is not None and "is cancelled" in result.error
    assert example.fake.count_requests("PATCH") == 1


def test_an_update_answered_200_without_being_applied_is_failed(
    stale: tuple[ExampleMSP, AgreementDiff],
) -> None:
    """A server (or a proxy) that says 200 to a PATCH and returns the addition unchanged."""
    example, diff = stale
    [update] = diff.updates
    unchanged = {"id": update.line_id, "quantity": 3, "product": {"id": update.product_id}}

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=unchanged)

    with ConnectWiseClient(
        API_URL, example.credentials, transport=httpx.MockTransport(handler)
    ) as client:
        [result] = apply_diff(client, diff)
    assert result.status == "failed"
    assert result.error == (
        "ConnectWise answered the update, but the addition it returned shows quantity 3"
    )


def test_results_are_json_ready(
    quick_syncer: Syncer, site: tuple[ExampleMSP, AgreementDiff]
) -> None:
    example, diff = site
    example.fake.faults.add(Fault.drop_before_commit(), method="POST")
    [result] = quick_syncer.apply(example, diff)
    assert json.dumps({"status": result.status, "error": result.error})
