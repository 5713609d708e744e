"""The applier, one fault at a time: creates are never repeated blindly."""

from __future__ import annotations

import logging
import threading
from datetime import date
from decimal import Decimal

import pytest

from connectwise_billing import (
    AgreementDiff,
    CompanyUsage,
    Plan,
    PlanMapping,
    SyncPolicy,
    reconcile_agreement,
    run_every,
)
from connectwise_billing.testing import ExampleMSP, FakeConnectWise, Fault
from tests.integration.conftest import Syncer

TODAY = date(2026, 11, 28)
GOLD = Plan("gold", "Gold 50 GB", cost=Decimal("3.25"), price=Decimal("8.00"))


@pytest.fixture
def site() -> tuple[ExampleMSP, AgreementDiff]:
    """One agreement with no additions, and the diff that creates a Gold addition for it."""
    fake = FakeConnectWise(seed=3)
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


def test_a_create_whose_answer_was_lost_is_confirmed_not_repeated(
    quick_syncer: Syncer, site: tuple[ExampleMSP, AgreementDiff]
) -> None:
    example, diff = site
    example.fake.faults.add(Fault.drop_after_commit(), method="POST")
    [result] = quick_syncer.apply(example, diff)
    assert result.status == "applied"
    assert result.note is not None and result.note.startswith("confirmed by re-reading")
    [created] = example.fake.list_additions(diff.agreement_id)
    assert result.addition_id == created.id
    assert posts(example.fake) == 1


@pytest.mark.parametrize(
    "fault",
    [Fault.drop_before_commit(), Fault.timeout(), Fault.server_error(503), Fault.html_page()],
)
def test_a_create_that_did_not_land_is_tried_again(
    quick_syncer: Syncer, site: tuple[ExampleMSP, AgreementDiff], fault: Fault
) -> None:
    example, diff = site
    example.fake.faults.add(fault, method="POST")
    [result] = quick_syncer.apply(example, diff)
    assert result.status == "applied"
    assert result.note == "landed after 1 failed attempt(s)"
    assert len(example.fake.list_additions(diff.agreement_id)) == 1
    assert posts(example.fake) == 2


def test_a_create_refused_by_connectwise_is_not_repeated(
    quick_syncer: Syncer, site: tuple[ExampleMSP, AgreementDiff]
) -> None:
    example, diff = site
    example.fake.cancel_agreement(diff.agreement_id)  # writes now answer 400
    [result] = quick_syncer.apply(example, diff)
    assert result.status == "failed"
    assert (result.error is not None and "AgreementCancelled" in result.error) or "cancelled" in (
        result.error or ""
    )
    assert posts(example.fake) == 1


def test_when_the_outcome_cannot_be_learned_nothing_more_is_sent(
    quick_syncer: Syncer, site: tuple[ExampleMSP, AgreementDiff]
) -> None:
    example, diff = site
    example.fake.faults.add(Fault.drop_after_commit(), method="POST")
    example.fake.faults.add(Fault.server_error(503), method="GET", times=None)
    [result] = quick_syncer.apply(example, diff)
    assert result.status == "failed"
    assert result.error is not None and result.error.startswith("outcome unknown")
    assert posts(example.fake) == 1
    assert len(example.fake.list_additions(diff.agreement_id)) == 1  # the next sync will see it


def test_a_create_that_never_lands_gives_up(
    quick_syncer: Syncer, site: tuple[ExampleMSP, AgreementDiff]
) -> None:
    example, diff = site
    example.fake.faults.add(Fault.drop_before_commit(), method="POST", times=None)
    [result] = quick_syncer.apply(example, diff)
    assert result.status == "failed"
    assert result.error is not None and result.error.startswith("did not land after 3 attempts")
    assert example.fake.list_additions(diff.agreement_id) == []


def test_dry_run_skips_everything(
    quick_syncer: Syncer, site: tuple[ExampleMSP, AgreementDiff]
) -> None:
    example, diff = site
    results = quick_syncer.apply(example, diff, dry_run=True)
    assert [r.status for r in results] == ["skipped"]
    assert example.fake.request_log == []


def test_an_update_of_a_vanished_addition_fails_cleanly(
    quick_syncer: Syncer, site: tuple[ExampleMSP, AgreementDiff]
) -> None:
    example, _ = site
    usage = example.usages[0]
    addition = example.fake.add_addition(usage.agreement_id, example.mapping["gold"], 3)
    diff = reconcile_agreement(
        [GOLD], example.mapping, usage, example.fake.list_additions(usage.agreement_id), today=TODAY
    )
    example.fake.remove_addition(addition)
    [result] = quick_syncer.apply(example, diff)
    assert (result.status, result.error) == ("failed", "the addition no longer exists")


def test_verify_before_write_applies_when_nothing_changed(
    quick_syncer: Syncer, site: tuple[ExampleMSP, AgreementDiff]
) -> None:
    example, _ = site
    usage = example.usages[0]
    example.fake.add_addition(usage.agreement_id, example.mapping["gold"], 3)
    additions = example.fake.list_additions(usage.agreement_id)
    diff = reconcile_agreement(
        [GOLD], example.mapping, usage, additions, SyncPolicy(verify_before_write=True), today=TODAY
    )
    [result] = quick_syncer.apply(example, diff)
    assert result.status == "applied"
    assert example.fake.count_requests("GET") == 1  # the re-read


class FakeClock:
    """A clock, and a stop event whose waits move the clock instead of sleeping."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def is_set(self) -> bool:
        return False

    def wait(self, seconds: float) -> bool:
        self.now += seconds
        return False


def test_run_every_never_overlaps_and_skips_missed_runs(caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock()
    starts: list[float] = []

    def slow_sync() -> int:
        starts.append(clock.now)
        clock.now += 0.025 if len(starts) == 2 else 0.001  # the second run overruns 2.5 ticks
        return len(starts)

    with caplog.at_level(logging.WARNING, logger="connectwise_billing"):
        results = run_every(0.01, slow_sync, max_runs=4, clock=clock, stop=clock)  # type: ignore[arg-type]
    assert results == [1, 2, 3, 4]
    # Runs start on the 0.01 grid; the second (at 0.01) ran until 0.035, so the runs due at
    # 0.02 and 0.03 were skipped and the third started at 0.04.
    assert starts == pytest.approx([0.0, 0.01, 0.04, 0.05])
    assert "2 scheduled run(s) skipped" in caplog.text


def test_run_every_survives_a_failing_run_and_stops_on_request(
    caplog: pytest.LogCaptureFixture,
) -> None:
    stop = threading.Event()
    calls: list[int] = []

    def flaky() -> int:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("ConnectWise was down")
        stop.set()
        return len(calls)

    with caplog.at_level(logging.ERROR, logger="connectwise_billing"):
        assert run_every(0.001, flaky, stop=stop) == [2]
    assert "scheduled run 1 failed" in caplog.text


def test_run_every_checks_its_interval() -> None:
    with pytest.raises(ValueError, match="interval"):
        run_every(0, lambda: None)
