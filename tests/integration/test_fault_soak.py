"""Fault soak: 240 seeded schedules of random faults, with one, two or three syncs at once; and
120 more against the in-memory ledger, a PSA that is not ConnectWise.

Every request may meet a 429, a 5xx, an HTML page, a redirect, a timeout, a connection dropped
before or after the write was committed, a write committed after the client gave up, a gateway
error after the backend applied, a write reads see only later, or a page listing a record twice.
The simulator and the SDK share a virtual clock: the settle waits take no real time.

After each schedule: no mapped product is billed twice; every report is true (each write it
calls applied is there; `unknown` only where a write's answer was really lost; an agreement is
ok only when its lines bill exactly what the usage says, and a lone run's agreement whose lines
bill right is ok unless its report says what it could not confirm); and one clean sync leaves
ConnectWise exactly as the rules demand.

Schedules with syncs in separate processes (over HTTP, a `FileLock`) run in real time with zero
waits, so their faults are the instant ones: a write that becomes visible later than the settle
window can be created again by a run that starts after it; the settle window (10 s by default,
`RetryPolicy.settle_timeout`) is there to make that window small.
"""

from __future__ import annotations

import asyncio
import json
import random
import subprocess
import sys
import threading
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from connectwise_billing import (
    CompanyUsage,
    OutcomeUnknownError,
    Plan,
    PlanMapping,
    SyncPolicy,
    SyncReport,
    async_sync_all,
    reconcile_all,
    sync_all,
)
from connectwise_billing.reconcile._diff import CancelAddition, CreateAddition, UpdateAddition
from connectwise_billing.testing import ALL_FAULT_KINDS, ExampleMSP, VirtualClock, build_example
from tests.integration.ledger import AsyncLedgerBackend, Ledger, LedgerBackend
from tests.integration.locking import NoLock, at_once
from tests.integration.oracle import bills_right, duplicates, still_to_do, unreachable

TODAY = date(2026, 11, 28)
ROOT = Path(__file__).resolve().parents[2]
AMBIGUOUS = frozenset(
    {
        "timeout",
        "drop_before_commit",
        "drop_after_commit",
        "commit_later",
        "gateway_error",
        "html_page",
        "redirect",
    }
)
"""Faults after which a write's outcome is unknown to the client (and a 502 or 504 with
ConnectWise's error body, or a gateway's 5xx that echoes the request)."""
INSTANT_KINDS = tuple(k for k in ALL_FAULT_KINDS if k not in ("commit_later", "slow_visibility"))


def assert_reports_are_true(example: ExampleMSP, reports: list[SyncReport]) -> None:
    additions = {a.id: a for a in example.fake.list_additions()}
    ambiguous_writes = {
        entry.api_path
        for entry in example.fake.request_log
        if entry.is_write
        and (
            entry.fault in AMBIGUOUS
            or (entry.fault == "server_error" and entry.status in (502, 504))
            or (entry.fault == "echo_headers" and (entry.status or 0) >= 500)
        )
    }
    for report in reports:
        for agreement in report.agreement_reports:
            for result in agreement.results:
                op = result.operation
                assert result.ok or result.error, "every failure says why"
                if result.status == "unknown":
                    path = f"/finance/agreements/{op.agreement_id}/additions"
                    if not isinstance(op, CreateAddition):
                        path += f"/{op.line_id}"
                    assert path in ambiguous_writes, f"unknown without a lost answer: {result}"
                if result.status != "applied":
                    continue
                addition = additions.get(result.line_id or 0)
                assert addition is not None, f"claimed but not there: {result}"
                if isinstance(op, CreateAddition):
                    assert addition.product is not None and addition.product.id == op.product_id
                    assert addition.quantity == op.quantity
                elif isinstance(op, CancelAddition):
                    assert addition.cancelled_date is not None
                elif isinstance(op, UpdateAddition):
                    for field, (_, new) in op.changes.items():
                        assert getattr(addition, field) == new, f"{field} not written: {result}"


UNCONFIRMED = ("unknown", "failed", "conflict")
"""Outcomes a report gives as the reason it cannot say the billing is right."""


def assert_ok_means_billed_right(
    example: ExampleMSP, reports: list[SyncReport], *, alone: bool
) -> None:
    """`ok` is a claim about money: an agreement reported ok bills exactly what its usage says
    (checked on the simulator's records, by the rules). For a run that had the site to itself,
    the converse too: an agreement that bills right is ok, or its report says why it could not
    confirm it (a read that failed, an outcome unknown, a write refused)."""
    usages = {usage.agreement_id: usage for usage in example.usages}
    gone = unreachable(example)
    for report in reports:
        for agreement in report.agreement_reports:
            usage = usages[agreement.agreement_id]
            if agreement.status == "skipped" or agreement.agreement_id in gone:
                continue
            right = bills_right(example, usage, TODAY)
            if agreement.ok:
                assert right, f"ok, but billed wrong: {agreement}"
            elif alone and right:
                said = agreement.status == "error" or agreement.billing is None
                said = said or any(r.status in UNCONFIRMED for r in agreement.results)
                assert said, f"billed right, not ok, and not saying why: {agreement}"


@pytest.mark.parametrize("seed", range(240))
def test_random_faults_and_runs_at_once_never_bill_twice(seed: int, clock: VirtualClock) -> None:
    example = build_example(16, seed=seed % 7, time_source=clock)
    example.fake.faults.randomly(0.2, seed=seed, kinds=ALL_FAULT_KINDS)
    kind = "async" if seed % 2 else "sync"
    # A run whose first reads fail stops before writing (ConnectWise unreachable, refusing it,
    # or answering what it never sends): its error is the whole report.
    reports = at_once(kind, example, 1 + seed % 3, today=TODAY, may_fail=True)
    example.fake.faults.clear()
    example.fake.reveal()

    assert duplicates(example) == []
    assert_reports_are_true(example, reports)
    assert_ok_means_billed_right(example, reports, alone=len(reports) == 1 and seed % 3 == 0)
    failed_somewhere = {
        r.agreement_id for report in reports for r in report.agreement_reports if not r.ok
    }
    if seed % 3 == 0 and reports:  # a lone run names every agreement it left out of step
        assert set(still_to_do(example, TODAY)) <= failed_somewhere
    [clean] = at_once(kind, example, 1, today=TODAY)
    assert still_to_do(example, TODAY) == {}
    assert duplicates(example) == []
    assert_ok_means_billed_right(example, [clean], alone=True)
    assert all(a.ok for a in clean.agreement_reports if a.agreement_id not in unreachable(example))


@pytest.mark.parametrize("seed", range(10))
def test_random_faults_and_processes_at_once_never_bill_twice(seed: int, tmp_path: Path) -> None:
    example = build_example(12, seed=seed % 7)
    example.fake.faults.randomly(0.15, seed=seed, kinds=INSTANT_KINDS)
    with example.fake.serve() as url:
        runs = [
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "tests.integration.sync_process",
                    url,
                    "12",
                    str(seed % 7),
                    f"file:{tmp_path}",
                ],
                cwd=ROOT,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(2 + seed % 2)
        ]
        for run in runs:
            assert run.stdout is not None and run.stdout.readline() == "ready\n"
        for run in runs:
            assert run.stdin is not None
            run.stdin.write("go\n")
            run.stdin.flush()
        outputs = [run.communicate(timeout=120) for run in runs]
    for run, (out, err) in zip(runs, outputs, strict=True):
        assert run.returncode == 0, err
        assert set(json.loads(out)) >= {"ok"} or "error" in json.loads(out)
    example.fake.faults.clear()
    assert duplicates(example) == []


# --- the same soak against a PSA that is not ConnectWise ------------------------------------

UNGUARDED = SyncPolicy(guardrails=None)
LEDGER_PLANS = (
    Plan("basic", "Basic 10 GB", cost=Decimal("1.50"), price=Decimal("4.00")),
    Plan("gold", "Gold 50 GB", cost=Decimal("3.25"), price=Decimal("8.00")),
    Plan("platinum", "Platinum 100 GB", cost=Decimal("5.00"), price=Decimal("12.50")),
)


def ledger_shop(seed: int, clock: VirtualClock) -> tuple[Ledger, PlanMapping, list[CompanyUsage]]:
    """Twelve agreements out of step in the usual ways (one closed), and their usage."""
    chance = random.Random(seed)
    ledger = Ledger(clock)
    mapping = PlanMapping(
        {plan.id: ledger.add_product(str(plan.price), str(plan.cost)) for plan in LEDGER_PLANS}
    )
    usages = []
    for number in range(12):
        agreement = ledger.add_agreement("closed" if number == 11 else "open")
        seats = {plan.id: chance.choice((0, 1, 5, 12)) for plan in LEDGER_PLANS}
        for plan_id, product in mapping.items():
            if chance.random() < 0.5:
                ledger.add_line(agreement, product, chance.choice((1, 3, seats[plan_id])))
        usages.append(CompanyUsage(agreement, seats, company=f"Company {number}"))
    return ledger, mapping, usages


def ledger_at_once(
    kind: str, ledger: Ledger, mapping: PlanMapping, usages: list[CompanyUsage], runs: int
) -> list[SyncReport]:
    """`runs` syncs through the ledger's backend, started together (threads or tasks). The soak
    is about the applier under faults: no guardrail holds the shop's changes."""
    arguments = (LEDGER_PLANS, mapping, usages, UNGUARDED)
    if kind == "sync":
        reports: list[SyncReport] = []
        start = threading.Barrier(runs)

        def one() -> None:
            start.wait()
            reports.append(sync_all(LedgerBackend(ledger), *arguments, today=TODAY))

        threads = [threading.Thread(target=one) for _ in range(runs)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return reports

    async def main() -> list[SyncReport]:
        backend = AsyncLedgerBackend(ledger)
        runs_ = (async_sync_all(backend, *arguments, today=TODAY) for _ in range(runs))
        return list(await asyncio.gather(*runs_))

    return asyncio.run(main())


def ledger_to_do(
    ledger: Ledger, mapping: PlanMapping, usages: list[CompanyUsage]
) -> dict[int, int]:
    """Agreement id -> operations a fresh reconcile of the ledger's lines still wants."""
    lines: dict[int, list[object]] = {}
    for line in ledger.stored():
        lines.setdefault(line.agreement_id, []).append(line)
    open_usages = [u for u in usages if ledger.agreements[u.agreement_id] == "open"]
    diffs = reconcile_all(LEDGER_PLANS, mapping, open_usages, lines, UNGUARDED, today=TODAY)  # type: ignore[arg-type]
    return {d.agreement_id: len(d.operations) for d in diffs if d.operations}


def ledger_duplicates(ledger: Ledger, mapping: PlanMapping) -> list[tuple[int, int]]:
    seen: dict[tuple[int, int], int] = {}
    for line in ledger.stored():
        if line.cancelled_date is None and line.product.id in mapping.product_ids:
            key = (line.agreement_id, line.product.id)
            seen[key] = seen.get(key, 0) + 1
    return sorted(key for key, count in seen.items() if count > 1)


@pytest.mark.parametrize("seed", range(120))
def test_random_ledger_faults_and_runs_at_once_never_bill_twice(
    seed: int, clock: VirtualClock
) -> None:
    ledger, mapping, usages = ledger_shop(seed % 7, clock)
    ledger.randomly(0.25, seed=seed)
    kind = "async" if seed % 2 else "sync"
    reports = ledger_at_once(kind, ledger, mapping, usages, 1 + seed % 3)
    ledger.clear()
    ledger.reveal()

    assert ledger_duplicates(ledger, mapping) == []
    lines = {line.id: line for line in ledger.stored()}
    for report in reports:
        for result in (r for a in report.agreement_reports for r in a.results):
            op = result.operation
            if result.status == "unknown":
                key = op.agreement_id if isinstance(op, CreateAddition) else op.line_id
                assert (op.kind, key) in ledger.lost, f"unknown without a lost answer: {result}"
            if result.status == "applied":
                line = lines.get(result.line_id or 0)
                assert line is not None, f"claimed but not there: {result}"
                if isinstance(op, CreateAddition):
                    assert (line.product.id, line.quantity) == (op.product_id, op.quantity)
    ledger_at_once(kind, ledger, mapping, usages, 1)
    assert ledger_to_do(ledger, mapping, usages) == {}
    assert ledger_duplicates(ledger, mapping) == []


def test_the_ledger_can_bill_twice_when_a_lost_create_is_sent_again(clock: VirtualClock) -> None:
    """The fault the soak throws at the applier, shown to catch a naive one: the create's answer
    is lost, a re-read shows nothing yet, so a naive applier creates again."""
    ledger, mapping, _ = ledger_shop(0, clock)
    backend = LedgerBackend(ledger)
    usage = CompanyUsage(ledger.add_agreement(), {"gold": 2})
    [create] = reconcile_all(LEDGER_PLANS, mapping, [usage], {}, today=TODAY)[0].creates
    ledger.fail("commit_later", "create", seconds=1.0)
    with pytest.raises(OutcomeUnknownError):
        backend.create_line(create)
    assert backend.read_lines(usage.agreement_id) == []
    backend.create_line(create)
    clock.advance(1.0)
    assert ledger_duplicates(ledger, mapping) == [(usage.agreement_id, mapping["gold"])]


@pytest.mark.parametrize(("lock", "billed_twice"), [(None, False), (NoLock(), True)])
def test_runs_at_once_on_the_ledger_are_kept_apart_by_the_lock(
    clock: VirtualClock, lock: NoLock | None, billed_twice: bool
) -> None:
    """Two async runs interleave at every call; creates that reads show only 3 s later. With
    the agreement's lock the second run reads after the first let go; without, both create."""
    ledger = Ledger(clock)
    mapping = PlanMapping({"gold": ledger.add_product("8.00", "3.25")})
    usage = CompanyUsage(ledger.add_agreement(), {"gold": 2})
    ledger.fail("visible_later", "create", seconds=3.0, times=2)

    async def main() -> list[SyncReport]:
        backend = AsyncLedgerBackend(ledger)
        runs = (
            async_sync_all(backend, LEDGER_PLANS, mapping, [usage], today=TODAY, lock=lock)
            for _ in range(2)
        )
        return list(await asyncio.gather(*runs))

    asyncio.run(main())
    ledger.reveal()
    assert bool(ledger_duplicates(ledger, mapping)) is billed_twice
