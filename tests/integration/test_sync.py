"""Syncing the example MSP against the simulator, in process and over real HTTP."""

from __future__ import annotations

import json
import logging
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from connectwise_billing import (
    CompanyUsage,
    SyncPolicy,
    count_requests,
    reconcile_agreement,
)
from connectwise_billing.runner._connectwise import NO_ACCESS, NOT_FOUND, id_chunks
from connectwise_billing.testing import ExampleMSP, Fault
from tests.integration.conftest import Syncer
from tests.integration.oracle import duplicates, still_to_do as _still_to_do, unreachable

TODAY = date(2026, 11, 28)
POLICY = SyncPolicy(api_member="CloudPanelAPI")


def still_to_do(example: ExampleMSP) -> dict[int, int]:
    return _still_to_do(example, TODAY, POLICY)


def test_full_sync_then_a_second_sync_makes_no_writes(syncer: Syncer, example: ExampleMSP) -> None:
    planned = syncer.sync_all(example, example.usages, POLICY, dry_run=True, today=TODAY)
    assert example.fake.writes() == []  # a dry run sends no write request
    assert planned.dry_run and planned.planned > 0 and planned.applied == 0

    first = syncer.sync_all(example, example.usages, POLICY, today=TODAY)
    assert first.applied == planned.planned
    assert first.failed == first.conflicts == 0
    assert len(example.fake.writes()) == first.applied
    assert (first.mrr_before, first.mrr_after) == (planned.mrr_before, planned.mrr_after)
    assert still_to_do(example) == {}
    assert duplicates(example) == []

    writes = len(example.fake.writes())
    second = syncer.sync_all(example, example.usages, POLICY, today=TODAY)
    assert len(example.fake.writes()) == writes
    assert second.applied == 0
    assert second.mrr_before == second.mrr_after == first.mrr_after


def test_deleted_forbidden_and_cancelled_agreements_are_reported_while_others_sync(
    syncer: Syncer, example: ExampleMSP
) -> None:
    report = syncer.sync_all(example, example.usages, POLICY, today=TODAY)
    by_id = {r.agreement_id: r for r in report.agreement_reports}
    deleted = by_id[example.deleted_agreement_id]  # type: ignore[index]
    assert (deleted.status, deleted.error) == ("error", NOT_FOUND)
    [hidden] = [r for r in report.agreement_reports if r.company == example.hidden_company]
    assert (hidden.status, hidden.error) == ("error", NO_ACCESS)
    cancelled = by_id[example.cancelled_agreement_id]  # type: ignore[index]
    assert cancelled.status == "skipped"
    [warning] = cancelled.warnings
    assert warning.startswith("the agreement is cancelled in ConnectWise; nothing written")
    # Its customer still uses seats, which nothing bills now: not ok, and said so.
    assert not cancelled.ok
    assert {p.kind for p in cancelled.billing_problems} == {"not_billed"}
    others = [r for r in report.agreement_reports if r.agreement_id not in unreachable(example)]
    assert all(r.status == "synced" and r.ok for r in others)
    assert not report.ok
    assert "ERROR agreement" in report.summary()
    # Nothing was written to the cancelled agreement's additions.
    assert not any(
        f"/agreements/{example.cancelled_agreement_id}/" in w.api_path
        for w in example.fake.writes()
    )


def test_seat_changes_send_exactly_the_expected_patches(
    quick_syncer: Syncer, example: ExampleMSP
) -> None:
    quick_syncer.sync_all(example, example.usages, POLICY, today=TODAY)
    target = next(
        u
        for u in example.usages
        if u.seats.get("gold-50", 0) > 0 and u.agreement_id not in unreachable(example)
    )
    [gold] = [
        a
        for a in example.fake.list_additions(target.agreement_id)
        if a.product and a.product.id == example.mapping["gold-50"]
    ]
    changed = target._replace(seats={**target.seats, "gold-50": target.seats["gold-50"] + 3})
    usages = [changed if u is target else u for u in example.usages]
    writes_before = len(example.fake.writes())
    report = quick_syncer.sync_all(example, usages, POLICY, today=TODAY)
    new_writes = example.fake.writes()[writes_before:]
    assert [(w.method, w.api_path, w.body) for w in new_writes] == [
        (
            "PATCH",
            f"/finance/agreements/{target.agreement_id}/additions/{gold.id}",
            [{"op": "replace", "path": "quantity", "value": target.seats["gold-50"] + 3}],
        )
    ]
    assert report.applied == 1
    assert example.fake.get_addition(gold.id).quantity == target.seats["gold-50"] + 3


def test_reads_are_batched_and_requests_stay_at_the_minimum(
    quick_syncer: Syncer, example: ExampleMSP
) -> None:
    report = quick_syncer.sync_all(example, example.usages, POLICY, today=TODAY)
    agreement_reads = example.fake.count_requests(
        "GET", "/finance/agreements"
    ) - example.fake.count_requests("GET", "/additions")
    readable = len(example.usages) - 2  # the deleted and the hidden agreement are read one by one
    additions_reads = example.fake.count_requests("GET", "/additions")
    # One batch, then the two that it did not return; then, for the deleted and the cancelled
    # agreement, their company's active agreements (what to link instead).
    assert agreement_reads == 1 + 2 + 2
    writing = sum(1 for r in report.agreement_reports if any(x.status != "held" for x in r.results))
    # One read per agreement (not the cancelled one) to plan it; where anything is written, one
    # more under its lock (is it still what was planned on?) and one after (the lines read
    # back, on which the billing is checked).
    assert additions_reads == readable - 1 + 2 * writing
    catalog_reads = example.fake.count_requests("GET", "/procurement/catalog")
    assert catalog_reads == 1  # the mapped products, checked before anything is written
    assert report.api_calls == catalog_reads + agreement_reads + additions_reads + report.applied
    for entry in example.fake.request_log:
        if entry.api_path.endswith("/additions") and entry.method == "GET":
            assert entry.query["fields"].startswith("id,product/id,")
            assert entry.query["pageSize"] == "1000"


def test_batches_keep_urls_short() -> None:
    chunks = id_chunks(list(range(1_000_000, 1_000_600)))
    assert len(chunks) > 1
    assert sum(len(chunk) for chunk in chunks) == 600
    from urllib.parse import quote

    assert all(len(quote(f"id in ({','.join(map(str, c))})")) <= 1500 for c in chunks)


def test_one_failing_agreement_does_not_stop_the_others(
    quick_syncer: Syncer, example: ExampleMSP
) -> None:
    victim = next(u for u in example.usages if u.agreement_id not in unreachable(example))
    example.fake.faults.add(
        Fault.server_error(500),
        method="GET",
        path=f"/agreements/{victim.agreement_id}/additions",
        times=None,
    )
    report = quick_syncer.sync_all(example, example.usages, POLICY, today=TODAY)
    failed = next(r for r in report.agreement_reports if r.agreement_id == victim.agreement_id)
    assert failed.status == "error"
    assert failed.error is not None and failed.error.startswith("could not read the additions")
    example.fake.faults.clear()
    assert set(still_to_do(example)) <= {victim.agreement_id}


def test_sync_company_with_two_agreements(syncer: Syncer, example: ExampleMSP) -> None:
    first = example.usages[0]
    [owner] = [a.company.id for a in example.fake.list_agreements() if a.id == first.agreement_id]
    other = example.fake.add_agreement(owner, "Archive Hosting")
    stale = example.fake.add_addition(other, example.mapping["gold-50"], 1)
    second = CompanyUsage(other, {"gold-50": 4}, company=first.company)
    report = syncer.sync_company(example, [first, second], POLICY, today=TODAY)
    assert (report.company, report.company_id) == (first.company, owner)
    assert [a.agreement_id for a in report.agreements] == sorted([first.agreement_id, other])
    assert report.ok
    assert report.api_calls >= 2
    assert first.agreement_id not in still_to_do(example)
    assert example.fake.get_addition(stale).quantity == 4
    data = report.to_dict()
    assert (data["company"], data["company_id"]) == (first.company, owner)
    json.dumps(data)  # JSON-ready


def test_sync_company_takes_a_single_usage(quick_syncer: Syncer, example: ExampleMSP) -> None:
    usage = example.usages[0]
    report = quick_syncer.sync_company(example, usage, POLICY, today=TODAY, dry_run=True)
    assert report.dry_run and report.company == usage.company
    assert example.fake.writes() == []


def test_bad_input_sends_nothing(quick_syncer: Syncer, example: ExampleMSP) -> None:
    bad = [*example.usages, CompanyUsage(999, {"gold-50": -1})]
    with pytest.raises(ValueError, match="must not be negative"):
        quick_syncer.sync_all(example, bad, POLICY, today=TODAY)
    assert example.fake.request_log == []


def test_audit_log_records_every_operation_and_no_secret(
    quick_syncer: Syncer, example: ExampleMSP, tmp_path: Path
) -> None:
    log = tmp_path / "audit.jsonl"
    report = quick_syncer.sync_all(example, example.usages, POLICY, today=TODAY, audit_log=log)
    everything = [json.loads(line) for line in log.read_text().splitlines()]
    intents = [line for line in everything if line["event"] == "intent"]
    lines = [line for line in everything if line["event"] == "outcome"]
    assert len(lines) == len(intents) == report.applied  # each write: before it, and after
    assert {line["write_id"] for line in lines} == {line["write_id"] for line in intents}
    assert {line["status"] for line in lines} == {"applied"}
    update = next(line for line in lines if line["operation"] == "update")
    assert set(update) >= {
        "time",
        "run_id",
        "agreement_id",
        "addition_id",
        "before",
        "after",
        "company",
    }
    assert update["before"] != update["after"]
    create = next(line for line in lines if line["operation"] == "create")
    assert create["before"] == {} and Decimal(create["after"]["quantity"]) > 0
    text = log.read_text()
    assert example.credentials.private_key not in text
    assert example.credentials.public_key not in text
    quick_syncer.sync_all(example, example.usages, POLICY, today=TODAY, audit_log=log)
    assert len(log.read_text().splitlines()) == len(everything)  # nothing to do: nothing added


def test_logging_levels(
    quick_syncer: Syncer, example: ExampleMSP, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="connectwise_billing"):
        quick_syncer.sync_all(example, example.usages, POLICY, today=TODAY)
    levels = {
        (r.levelname, r.getMessage().split(": ", 1)[1].split(" ")[0])
        for r in caplog.records
        if r.name == "connectwise_billing" and ": " in r.getMessage()
    }
    assert ("INFO", "applied") in levels
    assert ("WARNING", "unmapped") in levels
    assert ("ERROR", "agreement") in levels  # "agreement not found: ..."
    assert example.credentials.private_key not in caplog.text


def test_verify_before_write_refuses_to_overwrite_a_concurrent_edit(
    syncer: Syncer, example: ExampleMSP
) -> None:
    usage = next(
        u
        for u in example.usages
        if u.agreement_id not in unreachable(example) and u.seats.get("gold-50")
    )
    policy = SyncPolicy(verify_before_write=True)
    syncer.sync_all(example, example.usages, policy, today=TODAY)
    bumped = usage._replace(seats={**usage.seats, "gold-50": usage.seats["gold-50"] + 1})
    additions = example.fake.list_additions(usage.agreement_id)
    diff = reconcile_agreement(
        example.plans, example.mapping, bumped, additions, policy, today=TODAY
    )
    [update] = diff.updates
    example.fake.edit_addition(update.line_id, quantity=99)  # someone edits it meanwhile
    [result] = syncer.apply(example, diff, policy=policy)
    assert result.status == "conflict"
    assert result.error is not None and "quantity" in result.error
    assert example.fake.get_addition(update.line_id).quantity == 99


def test_manual_edits_are_reported_and_can_be_respected(
    quick_syncer: Syncer, example: ExampleMSP
) -> None:
    quick_syncer.sync_all(example, example.usages, POLICY, today=TODAY)
    usage = next(
        u
        for u in example.usages
        if u.agreement_id not in unreachable(example) and u.seats.get("gold-50")
    )
    [gold] = [
        a
        for a in example.fake.list_additions(usage.agreement_id)
        if a.product and a.product.id == example.mapping["gold-50"]
    ]
    example.fake.edit_addition(gold.id, unit_price=Decimal("1.00"), updated_by="jsmith")
    respect = SyncPolicy(api_member="CloudPanelAPI", respect_manual_edits=True)
    held = quick_syncer.sync_all(example, example.usages, respect, today=TODAY)
    assert held.applied == 0
    assert any("jsmith" in w and "left as edited" in w for w in held.warnings)
    # 1.00 back to 8.00 moves the price by 700%: a guardrail holds it until a person approves.
    guarded = quick_syncer.sync_all(example, example.usages, POLICY, today=TODAY)
    assert (guarded.applied, guarded.held) == (0, 1)
    overwrite = quick_syncer.sync_all(
        example, example.usages, POLICY, today=TODAY, approve=[usage.agreement_id]
    )
    assert overwrite.applied == 1
    assert any("jsmith" in w and "overwritten" in w for w in overwrite.warnings)
    assert example.fake.get_addition(gold.id).unit_price != Decimal("1.00")


def test_refresh_plan_prices(syncer: Syncer, example: ExampleMSP) -> None:
    gold_product = example.mapping["gold-50"]
    example.fake.catalog_item(gold_product)["price"] = Decimal("8.50")
    refreshed = syncer.refresh(example, example.plans)
    [change] = refreshed.changes
    assert (change.plan_id, change.field, change.old, change.new) == (
        "gold-50",
        "price",
        Decimal("8.00"),
        Decimal("8.50"),
    )
    plans = {plan.id: plan for plan in refreshed.plans}
    assert plans["gold-50"].price == Decimal("8.50")
    assert plans["archive-1tb"] == next(
        p for p in example.plans if p.id == "archive-1tb"
    )  # not mapped
    assert refreshed.missing_products == ()
    plans_again, changes, missing = refreshed
    assert (plans_again, changes, missing) == (
        refreshed.plans,
        refreshed.changes,
        refreshed.missing_products,
    )


def test_count_requests_is_per_agreement_even_when_concurrent(example: ExampleMSP) -> None:
    report = Syncer("async", False).sync_all(
        example, example.usages, POLICY, today=TODAY, concurrency=6
    )
    per_agreement = sum(r.api_calls for r in report.agreement_reports)
    # Plus the mapped products' check, the batched and the two single agreement look-ups, and
    # the re-link candidates of the deleted and the cancelled agreement.
    assert report.api_calls == per_agreement + 4 + 2
    with count_requests() as counter:
        Syncer("sync", False).sync_all(example, example.usages, POLICY, today=TODAY)
    writing = sum(1 for r in report.agreement_reports if any(x.status != "held" for x in r.results))
    # The second run only plans: no writes, and no read under a lock or back after writing.
    assert counter.count == report.api_calls - report.applied - 2 * writing


def test_concurrency_must_be_positive(example: ExampleMSP) -> None:
    with pytest.raises(ValueError, match="concurrency"):
        Syncer("async", False).sync_all(example, example.usages, POLICY, concurrency=0)
