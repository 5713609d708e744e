"""Exactly-once at the sync level: runs at once, answers that cannot be trusted, honest reports.

Each guarantee is first shown breakable: the simulator produces the fault and a sync without the
protection bills twice.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from connectwise_billing import (
    ConnectWiseBackend,
    ConnectWiseClient,
    InProcessLock,
    SyncPolicy,
    sync_all,
)
from connectwise_billing.locks import lock_key
from connectwise_billing.testing import ExampleMSP, Fault, VirtualClock, build_example
from tests.integration.conftest import API_URL, Syncer
from tests.integration.locking import NoLock, at_once
from tests.integration.oracle import duplicates, still_to_do, unreachable

TODAY = date(2026, 11, 28)
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def busy_site() -> ExampleMSP:
    """A small example MSP whose simulator answers after 2 ms, so that runs overlap."""
    example = build_example(12, seed=2)
    example.fake.latency = 0.002
    return example


def planned_writes(example: ExampleMSP) -> int:
    return sum(still_to_do(example, TODAY).values())


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_without_a_lock_two_syncs_at_once_bill_twice(kind: str, busy_site: ExampleMSP) -> None:
    """The fault the locks exist for: both runs see an addition missing and both create it."""
    busy_site.fake.latency = 0.05  # both read before either write lands (as below)
    at_once(kind, busy_site, 2, NoLock, today=TODAY)
    assert duplicates(busy_site) != []


@pytest.mark.parametrize("runs", [2, 3])
@pytest.mark.parametrize("kind", ["sync", "async"])
def test_syncs_at_once_in_one_process_never_bill_twice(
    kind: str, runs: int, busy_site: ExampleMSP
) -> None:
    writes = planned_writes(busy_site)
    reports = at_once(kind, busy_site, runs, today=TODAY)  # the default InProcessLock
    assert duplicates(busy_site) == []
    assert still_to_do(busy_site, TODAY) == {}
    assert sum(report.applied for report in reports) == writes  # each write made by one run
    assert len(busy_site.fake.writes()) == writes
    for report in reports:
        assert report.busy == 0 and report.failed == report.unknown == 0


def test_an_agreement_another_run_holds_is_busy_and_left_alone(
    quick_syncer: Syncer, example: ExampleMSP
) -> None:
    target = next(u for u in example.usages if u.agreement_id not in unreachable(example))
    with ConnectWiseClient(API_URL, example.credentials) as client:
        key = lock_key(ConnectWiseBackend(client).scope, target.agreement_id)
    assert key == f"connectwise-billing/connectwise/fakemsp/agreement/{target.agreement_id}"
    holder = InProcessLock()
    token = holder.acquire(key)
    try:
        report = quick_syncer.sync_all(
            example, example.usages, today=TODAY, lock=InProcessLock(wait=0)
        )
    finally:
        assert token is not None
        holder.release(key, token)
    [busy] = [r for r in report.agreement_reports if r.agreement_id == target.agreement_id]
    assert busy.status == "busy" and not busy.ok and not report.ok
    assert busy.error is not None and "another sync is working on this agreement" in busy.error
    assert report.busy == 1
    assert f"BUSY agreement {target.agreement_id}" in report.summary()
    # Read once, to plan it; never written, nor read again under a lock it did not get.
    touched = [
        e for e in example.fake.request_log if f"/agreements/{target.agreement_id}/" in e.api_path
    ]
    assert [e.method for e in touched] == ["GET"]
    others = [r for r in report.agreement_reports if r.status == "synced"]
    assert others and all(r.ok for r in others)


def test_a_dry_run_takes_no_lock(quick_syncer: Syncer, example: ExampleMSP) -> None:
    target = example.usages[0]
    with ConnectWiseClient(API_URL, example.credentials) as client:
        key = lock_key(ConnectWiseBackend(client).scope, target.agreement_id)
    holder = InProcessLock()
    token = holder.acquire(key)
    assert token is not None
    try:
        report = quick_syncer.sync_all(
            example, example.usages, today=TODAY, dry_run=True, lock=InProcessLock(wait=0)
        )
    finally:
        holder.release(key, token)
    assert report.busy == 0


def process_sync(url: str, lock: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.integration.sync_process", url, "12", "2", lock],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def two_processes_at_once(example: ExampleMSP, lock: str) -> list[dict[str, object]]:
    with example.fake.serve() as url:
        runs = [process_sync(url, lock) for _ in range(2)]
        for run in runs:
            assert run.stdout is not None and run.stdout.readline() == "ready\n"
        for run in runs:  # both are ready and waiting: start them together
            assert run.stdin is not None
            run.stdin.write("go\n")
            run.stdin.flush()
        outputs = [run.communicate(timeout=120) for run in runs]
    for run, (_, err) in zip(runs, outputs, strict=True):
        assert run.returncode == 0, err
    return [json.loads(out) for out, _ in outputs]


def test_without_a_lock_two_processes_at_once_bill_twice(busy_site: ExampleMSP) -> None:
    # Each run reads an agreement again just before writing it: the two runs bill twice when
    # both read before either write lands. Slower answers widen that window well beyond the
    # few milliseconds by which two processes may start apart on a loaded machine.
    busy_site.fake.latency = 0.05
    two_processes_at_once(busy_site, "none")
    assert duplicates(busy_site) != []


@pytest.mark.parametrize("lock", ["file", "redis"])
def test_two_processes_at_once_never_bill_twice(
    lock: str, busy_site: ExampleMSP, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    spec = f"file:{tmp_path}" if lock == "file" else f"redis:{request.getfixturevalue('redis_url')}"
    if lock == "redis":
        request.getfixturevalue("redis_client")  # an empty Redis
    writes = planned_writes(busy_site)
    totals = two_processes_at_once(busy_site, spec)
    assert duplicates(busy_site) == []
    assert still_to_do(busy_site, TODAY) == {}
    assert sum(int(t["applied"]) for t in totals) == writes  # type: ignore[call-overload]


# --- answers that cannot be trusted -----------------------------------------------------------


def victim(example: ExampleMSP, with_additions: bool = True) -> int:
    for usage in example.usages:
        if usage.agreement_id in unreachable(example):
            continue
        if not with_additions or example.fake.list_additions(usage.agreement_id):
            return usage.agreement_id
    raise AssertionError("the example has no such agreement")


def writes_to(example: ExampleMSP, agreement_id: int) -> list[object]:
    return [w for w in example.fake.writes() if f"/agreements/{agreement_id}/" in w.api_path]


@pytest.mark.parametrize("on_duplicates", ["skip", "merge"])
def test_a_page_that_lists_an_addition_twice_fails_the_agreement_and_writes_nothing(
    quick_syncer: Syncer, example: ExampleMSP, on_duplicates: str
) -> None:
    agreement = victim(example)
    example.fake.faults.add(
        Fault.duplicate_record(), method="GET", path=f"/agreements/{agreement}/additions$"
    )
    policy = SyncPolicy(on_duplicates=on_duplicates)  # type: ignore[arg-type]
    report = quick_syncer.sync_all(example, example.usages, policy, today=TODAY)
    [failed] = [r for r in report.agreement_reports if r.agreement_id == agreement]
    assert failed.status == "error" and not report.ok
    assert (
        failed.error is not None and "listed addition" in failed.error and "twice" in failed.error
    )
    assert writes_to(example, agreement) == []
    assert report.applied > 0  # the others synced


def test_an_addition_without_its_product_fails_the_agreement_and_writes_nothing(
    quick_syncer: Syncer, example: ExampleMSP
) -> None:
    agreement = victim(example)
    addition = example.fake.list_additions(agreement)[0]
    example.fake.set_raw(addition.id, product=None)
    report = quick_syncer.sync_all(example, example.usages, today=TODAY)
    [failed] = [r for r in report.agreement_reports if r.agreement_id == agreement]
    assert failed.error == f"addition {addition.id} came without its product id; nothing written"
    assert writes_to(example, agreement) == []
    assert report.applied > 0


def test_a_redirect_instead_of_additions_fails_the_agreement(
    quick_syncer: Syncer, example: ExampleMSP
) -> None:
    agreement = victim(example, with_additions=False)
    example.fake.faults.add(Fault.redirect(302), method="GET", path=f"/{agreement}/additions$")
    report = quick_syncer.sync_all(example, example.usages, today=TODAY)
    [failed] = [r for r in report.agreement_reports if r.agreement_id == agreement]
    assert (
        failed.error is not None and "redirect to https://login.example.net/login" in failed.error
    )
    assert writes_to(example, agreement) == []


def test_money_that_is_not_a_number_fails_the_agreement_and_writes_nothing(
    quick_syncer: Syncer, example: ExampleMSP
) -> None:
    agreement = victim(example)
    addition = example.fake.list_additions(agreement)[0]
    example.fake.set_raw(addition.id, unitPrice="")
    report = quick_syncer.sync_all(example, example.usages, today=TODAY)
    [failed] = [r for r in report.agreement_reports if r.agreement_id == agreement]
    assert failed.status == "error"
    assert writes_to(example, agreement) == []
    assert report.applied > 0


# --- honest reports ---------------------------------------------------------------------------


def in_step_with_gold(example: ExampleMSP, syncer: Syncer) -> tuple[int, int]:
    """Sync everything, then find an agreement with a Gold addition: (agreement, addition)."""
    syncer.sync_all(example, example.usages, today=TODAY)
    for usage in example.usages:
        for addition in example.fake.list_additions(usage.agreement_id):
            gold = addition.product and addition.product.id == example.mapping["gold-50"]
            if gold and addition.cancelled_date is None and addition.quantity:
                return usage.agreement_id, addition.id
    raise AssertionError("no Gold addition")


def test_a_product_billed_twice_makes_the_run_not_ok_and_says_how_much(
    quick_syncer: Syncer, example: ExampleMSP
) -> None:
    agreement, gold = in_step_with_gold(example, quick_syncer)
    original = example.fake.get_addition(gold)
    twin = example.fake.add_addition(
        agreement, example.mapping["gold-50"], 4, unit_price=original.unit_price
    )
    report = quick_syncer.sync_all(example, example.usages, today=TODAY)
    assert not report.ok and report.applied == 0  # on_duplicates="skip": nothing touched
    [flagged] = [r for r in report.agreement_reports if r.duplicates]
    [duplicate] = flagged.duplicates
    assert duplicate.addition_ids == (gold, twin)
    assert duplicate.billed_twice == 4 * original.unit_price  # type: ignore[operator]
    assert report.billed_twice == duplicate.billed_twice
    [problem] = flagged.billing_problems
    assert (problem.kind, problem.line_ids) == ("duplicate_lines", (gold, twin))
    assert f"2 active additions bill it ({gold}, {twin})" in problem.message
    assert f"DUPLICATE LINES agreement {agreement}" in report.summary()
    assert report.to_dict()["companies"][0] is not None
    data = next(
        a for c in report.to_dict()["companies"] for a in c["agreements"] if a["duplicates"]
    )
    assert data["duplicates"][0]["billed_twice"] == str(duplicate.billed_twice)


def test_merged_duplicates_converge_the_kept_line_is_synced_from_then_on(
    quick_syncer: Syncer, example: ExampleMSP
) -> None:
    """A merge cancels the extra line: read back, the agreement bills through one line (ok),
    and the next run syncs that line as usual."""
    agreement, gold = in_step_with_gold(example, quick_syncer)
    twin = example.fake.add_addition(agreement, example.mapping["gold-50"], 4)
    merge = SyncPolicy(on_duplicates="merge")
    found = quick_syncer.sync_all(example, example.usages, merge, today=TODAY)
    [merged] = [r for r in found.agreement_reports if r.agreement_id == agreement]
    assert [(r.operation.kind, r.line_id) for r in merged.results] == [("cancel", twin)]
    assert merged.ok and merged.billing is not None and merged.billing.problems == ()
    assert duplicates(example) == []
    usage = next(u for u in example.usages if u.agreement_id == agreement)
    more = usage._replace(seats={**usage.seats, "gold-50": usage.seats["gold-50"] + 3})
    again = quick_syncer.sync_all(example, [more], merge, today=TODAY)
    assert again.ok and [r.line_id for r in again.agreement_reports[0].results] == [gold]


def test_an_unsettled_write_is_reported_unknown_and_never_claimed(
    quick_syncer: Syncer, example: ExampleMSP, tmp_path: Path
) -> None:
    agreement = victim(example, with_additions=False)
    example.fake.faults.add(
        Fault.commit_later(60.0), method="POST", path=f"/{agreement}/additions$"
    )
    audit = tmp_path / "audit.jsonl"
    report = quick_syncer.sync_all(example, example.usages, today=TODAY, audit_log=audit)
    [agreement_report] = [r for r in report.agreement_reports if r.agreement_id == agreement]
    [unknown] = [r for r in agreement_report.results if r.status == "unknown"]
    assert report.unknown == 1 and not report.ok and not agreement_report.ok
    assert f"UNKNOWN agreement {agreement}" in report.summary()
    assert "1 unknown" in report.summary()
    # MRR after counts only what is known to be there.
    assert agreement_report.mrr_after == agreement_report.mrr_before + sum(
        (
            r.operation.quantity * r.operation.unit_price
            for r in agreement_report.results
            if r.status == "applied"
        ),  # type: ignore[union-attr]
        Decimal(0),
    )
    lines = [json.loads(line) for line in audit.read_text().splitlines()]
    lines = [line for line in lines if line["event"] == "outcome"]
    statuses = {(line["agreement_id"], line["plan_id"], line["status"]) for line in lines}
    assert (agreement, unknown.operation.plan_id, "unknown") in statuses
    assert all(line["status"] in ("applied", "unknown") for line in lines)


def test_the_audit_log_keeps_the_settled_outcome(
    quick_syncer: Syncer, example: ExampleMSP, tmp_path: Path
) -> None:
    agreement = victim(example, with_additions=False)
    example.fake.faults.add(
        Fault.drop_after_commit(), method="POST", path=f"/{agreement}/additions$"
    )
    audit = tmp_path / "audit.jsonl"
    report = quick_syncer.sync_all(example, example.usages, today=TODAY, audit_log=audit)
    lines = [json.loads(line) for line in audit.read_text().splitlines()]
    lines = [line for line in lines if line["event"] == "outcome"]
    first = next(line for line in lines if line["agreement_id"] == agreement)
    assert first["status"] == "applied"
    assert first["note"].startswith("confirmed by re-reading after")
    assert len(lines) == report.applied


def test_a_create_that_lands_late_is_settled_within_the_sync(
    quick_syncer: Syncer, example: ExampleMSP, clock: VirtualClock
) -> None:
    example.fake.time = clock
    agreement = victim(example, with_additions=False)
    example.fake.faults.add(Fault.commit_later(5.0), method="POST", path=f"/{agreement}/additions$")
    report = quick_syncer.sync_all(example, example.usages, today=TODAY)
    [settled] = [r for r in report.agreement_reports if r.agreement_id == agreement]
    assert settled.ok and settled.unknown == 0
    assert any(r.note and r.note.startswith("confirmed by re-reading") for r in settled.results)
    assert duplicates(example) == []
    assert clock.monotonic() >= 5.0


def test_sync_all_still_takes_a_client_and_a_lock(example: ExampleMSP) -> None:
    with ConnectWiseClient(
        API_URL, example.credentials, transport=example.fake.transport()
    ) as client:
        report = sync_all(
            client, example.plans, example.mapping, example.usages, today=TODAY, lock=NoLock()
        )
    assert report.applied > 0
