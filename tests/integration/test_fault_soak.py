"""Fault soak: 240 seeded schedules of random faults, with one, two or three syncs at once.

Every request may meet a 429, a 5xx, an HTML page, a redirect, a timeout, a connection dropped
before or after the write was committed, a write committed after the client gave up, a gateway
error after the backend applied, a write reads see only later, or a page listing a record twice.
The simulator and the SDK share a virtual clock: the settle waits take no real time.

After each schedule: no mapped product is billed twice; every report is true (each write it
calls applied is there; `unknown` only where a write's answer was really lost); and one clean
sync leaves ConnectWise exactly as the rules demand.

Schedules with syncs in separate processes (over HTTP, a `FileLock`) run in real time with zero
waits, so their faults are the instant ones: a write that becomes visible later than the settle
window can be created again by a run that starts after it; the settle window (10 s by default,
`RetryPolicy.settle_timeout`) is there to make that window small.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from connectwise_billing import SyncReport
from connectwise_billing.reconcile.diff import CancelAddition, CreateAddition, UpdateAddition
from connectwise_billing.testing import ALL_FAULT_KINDS, ExampleMSP, VirtualClock, build_example
from tests.integration.locking import at_once
from tests.integration.oracle import duplicates, still_to_do

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
                        path += f"/{op.addition_id}"
                    assert path in ambiguous_writes, f"unknown without a lost answer: {result}"
                if result.status != "applied":
                    continue
                addition = additions.get(result.addition_id or 0)
                assert addition is not None, f"claimed but not there: {result}"
                if isinstance(op, CreateAddition):
                    assert addition.product is not None and addition.product.id == op.product_id
                    assert addition.quantity == op.quantity
                elif isinstance(op, CancelAddition):
                    assert addition.cancelled_date is not None
                elif isinstance(op, UpdateAddition):
                    for field, (_, new) in op.changes.items():
                        assert getattr(addition, field) == new, f"{field} not written: {result}"


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
    failed_somewhere = {
        r.agreement_id for report in reports for r in report.agreement_reports if not r.ok
    }
    if seed % 3 == 0 and reports:  # a lone run names every agreement it left out of step
        assert set(still_to_do(example, TODAY)) <= failed_somewhere
    at_once(kind, example, 1, today=TODAY)
    assert still_to_do(example, TODAY) == {}
    assert duplicates(example) == []


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
