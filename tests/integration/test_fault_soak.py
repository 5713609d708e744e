"""Fault soak: 200 seeded random fault schedules, and a sync never duplicates an addition.

Every request may meet a 429, a 5xx, an HTML page, a timeout, or a connection dropped before or
after the write was committed. Waits are zero. After each run the simulator's state is either
what the control panel wants, or the report names every agreement where it is not.
"""

from __future__ import annotations

from datetime import date

import pytest

from connectwise_billing import SyncPolicy, SyncReport, reconcile
from connectwise_billing.testing import ALL_FAULT_KINDS, ExampleMSP, build_example
from tests.integration.conftest import Syncer

TODAY = date(2026, 11, 28)
SEEDS = range(200)


def active_duplicates(example: ExampleMSP) -> list[tuple[int | None, int | None]]:
    counts: dict[tuple[int | None, int | None], int] = {}
    for addition in example.fake.list_additions():
        product = addition.product.id if addition.product else None
        if addition.cancelled_date is None and product in example.mapping.product_ids:
            key = (addition.agreement_id, product)
            counts[key] = counts.get(key, 0) + 1
    return [key for key, count in counts.items() if count > 1]


def agreements_not_in_step(example: ExampleMSP, report: SyncReport) -> set[int]:
    reachable = {
        r.agreement_id for r in report.agreement_reports if r.status in ("synced", "error")
    }
    by_agreement: dict[int, list[object]] = {}
    for addition in example.fake.list_additions():
        by_agreement.setdefault(addition.agreement_id or 0, []).append(addition)
    usages = [
        u
        for u in example.usages
        if u.agreement_id in reachable
        and u.agreement_id != example.deleted_agreement_id
        and u.company != example.hidden_company
    ]
    diffs = reconcile(
        example.plans, example.mapping, usages, by_agreement, SyncPolicy(), today=TODAY
    )  # type: ignore[arg-type]
    return {diff.agreement_id for diff in diffs if diff.operations}


@pytest.mark.parametrize("seed", SEEDS)
def test_random_faults_never_duplicate_and_never_hide_a_failure(seed: int) -> None:
    example = build_example(20, seed=seed % 7)
    example.fake.faults.randomly(0.25, seed=seed, kinds=ALL_FAULT_KINDS)
    syncer = Syncer("async" if seed % 4 == 0 else "sync", over_http=False)
    report = syncer.sync_all(example, example.usages, SyncPolicy(), today=TODAY)
    example.fake.faults.clear()

    assert active_duplicates(example) == []
    failed_somewhere = {r.agreement_id for r in report.agreement_reports if not r.ok}
    assert agreements_not_in_step(example, report) <= failed_somewhere
    for agreement in report.agreement_reports:
        for result in agreement.results:
            assert result.ok or result.error  # every failure says why
