"""The job-queue deployment (examples/rq_jobs.py): real RQ workers, real Redis, overlapping jobs."""

from __future__ import annotations

import os
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.conftest import load_file
from tests.integration.oracle import duplicates

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "rq_jobs.py"


@pytest.fixture
def rq_jobs() -> ModuleType:
    pytest.importorskip("rq")
    return load_file(EXAMPLE)


def test_overlapping_jobs_on_three_workers_never_bill_twice(
    rq_jobs: ModuleType, redis_url: str, redis_client: Any, tmp_path: Path
) -> None:
    from rq import Queue

    example = rq_jobs.demo_example()
    queue = Queue(rq_jobs.QUEUE, connection=redis_client)
    with example.fake.serve() as api_url:
        config, usage = rq_jobs.demo_files(tmp_path, example, api_url)
        # The worst case: every company's scheduled job with an "Update Now" right behind it,
        # so that three workers take both jobs of a company at once.
        scheduled, pressed = [], []
        for company in rq_jobs.companies(config, usage):
            scheduled.append(rq_jobs.enqueue_update_now(queue, config, usage, company))
            pressed.append(rq_jobs.enqueue_update_now(queue, config, usage, company))
        environment = {
            **os.environ,
            "CW_PUBLIC_KEY": example.credentials.public_key,
            "CW_PRIVATE_KEY": example.credentials.private_key,
            "BILLING_REDIS_URL": redis_url,
        }
        rq_jobs.run_workers(redis_url, 3, environment, scheduled + pressed)
    jobs = scheduled + pressed
    for job in jobs:
        job.refresh()
    assert [job.get_status() for job in jobs] == ["finished"] * len(jobs)
    assert duplicates(example) == []
    reports = [job.return_value() for job in jobs]
    assert sum(r["applied"] for r in reports) > 0
    assert all(r["ok"] for r in reports)  # the example's own data makes a healthy run
    assert all(r["busy"] == 0 for r in reports)  # the second job waited, then found it in step
    overlapping = [
        (first, second)
        for first, second in zip(scheduled, pressed, strict=True)
        if max(first.started_at, second.started_at) < min(first.ended_at, second.ended_at)
    ]
    assert overlapping  # two jobs of one company really did run at the same time
