"""One rate limit per tenant across workers: processes sharing a `RedisRateLimiter` on a real
`redis-server` stay under the limit together, counted where the requests arrive.

The workers wait in real time (a rate is time), at a rate high enough for the tests to take
seconds and low enough for a busy machine to keep up with three times it: 1,200 requests per
minute, 20 a second, bursts of 20.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from connectwise_billing import RedisRateLimiter
from connectwise_billing._waits import TESTING_ENVIRONMENT_VARIABLE
from connectwise_billing.testing import FakeConnectWise, set_testing

ROOT = Path(__file__).resolve().parents[2]
PER_MINUTE = 1200
PER_WORKER = 30
WORKERS = 3
WINDOW = 1.0  # seconds
BURST = PER_MINUTE // 60  # one second's worth, as the limiter has it
IN_FLIGHT = WORKERS
"""What a window may hold beyond the slots in it: a worker sends one request at a time, so at
most one request per worker has its slot before the window and arrives within it (late: a
worker descheduled between its slot and sending)."""
LIMIT = PER_MINUTE / 60 * WINDOW + BURST + IN_FLIGHT


class Tenant(FakeConnectWise):
    """The simulator, noting when each request reaches it."""

    def __init__(self) -> None:
        super().__init__(seed=7)
        self.arrivals: list[float] = []

    def process(self, request: httpx.Request) -> Any:
        self.arrivals.append(time.monotonic())
        return super().process(request)


def busiest(arrivals: list[float], window: float) -> int:
    """The most arrivals in any `window` seconds."""
    times = sorted(arrivals)
    most = start = 0
    for end, moment in enumerate(times):
        while times[start] <= moment - window:
            start += 1
        most = max(most, end - start + 1)
    return most


def run_workers(limiters: list[str]) -> Tenant:
    """One worker process per limiter spec, started together against one served simulator;
    returns the simulator once every worker is done."""
    tenant = Tenant()
    credentials = tenant.add_api_member()
    keys = json.dumps(
        {
            "company_id": credentials.company_id,
            "public_key": credentials.public_key,
            "private_key": credentials.private_key,
            "client_id": credentials.client_id,
        }
    )
    environment = {k: v for k, v in os.environ.items() if k != TESTING_ENVIRONMENT_VARIABLE}
    rate = [str(PER_MINUTE), str(PER_WORKER)]
    with tenant.serve() as url:
        workers = [
            subprocess.Popen(
                [sys.executable, "-m", "tests.integration.rate_worker", url, keys, limiter, *rate],
                cwd=ROOT,
                env=environment,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
            for limiter in limiters
        ]
        for worker in workers:
            assert worker.stdout is not None and worker.stdout.readline() == "ready\n"
        for worker in workers:
            assert worker.stdin is not None
            worker.stdin.write("go\n")
            worker.stdin.flush()
        outputs = [worker.communicate(timeout=60)[0] for worker in workers]
    assert [worker.returncode for worker in workers] == [0] * len(workers)
    assert outputs == ["done\n"] * len(workers)
    assert len(tenant.arrivals) == PER_WORKER * len(workers)
    assert {entry.status for entry in tenant.request_log} == {200}
    return tenant


def test_three_workers_sharing_the_limiter_stay_under_it_together(
    redis_url: str, redis_client: Any
) -> None:
    # A sync client, an async one calling redis.Redis from a thread, one on redis.asyncio.
    kinds = ("sync", "async", "async-redis")
    tenant = run_workers([f"{kind}:{redis_url}" for kind in kinds])
    assert busiest(tenant.arrivals, WINDOW) <= LIMIT
    # Not a slow test passing for being slow: the three together ran at the limit.
    assert busiest(tenant.arrivals, WINDOW) >= PER_MINUTE / 60 * WINDOW


def test_three_workers_each_with_its_own_limiter_exceed_it_together(redis_client: Any) -> None:
    tenant = run_workers(["local"] * WORKERS)  # the naive setup: each process counts its own
    assert busiest(tenant.arrivals, WINDOW) > LIMIT


def test_slots_are_booked_on_one_timeline_in_redis(redis_url: str, redis_client: Any) -> None:
    import redis.asyncio

    limiter = RedisRateLimiter(redis_client, per_minute=120, key="tenant")  # 0.5 s, bursts of 2
    booked: list[int] = []

    def reserve() -> float:
        wait = limiter.reserve()
        booked.append(int(redis_client.get("tenant")))
        return wait

    waits = [reserve() for _ in range(4)]
    assert waits[:2] == [0.0, 0.0]
    assert 0 < waits[2] <= 0.5
    assert waits[3] - waits[2] == pytest.approx(0.5, abs=0.1)

    async def from_asyncio() -> list[float]:
        connection = redis.asyncio.Redis.from_url(redis_url)
        on_asyncio = RedisRateLimiter(connection, per_minute=120, key="tenant")
        through_a_thread = await limiter.reserve_async()
        booked.append(int(redis_client.get("tenant")))
        on_an_asyncio_client = await on_asyncio.reserve_async()
        booked.append(int(redis_client.get("tenant")))
        await connection.aclose()
        return [through_a_thread, on_an_asyncio_client]

    waits += asyncio.run(from_asyncio())
    assert [later - sooner for sooner, later in itertools.pairwise(waits[2:])] == pytest.approx(
        [0.5] * 3, abs=0.1
    )
    # Every slot half a second after the one before, whichever client booked it.
    assert [later - sooner for sooner, later in itertools.pairwise(booked)] == [500_000] * 5
    # The key lives until its last slot has passed, then frees itself: idle tenants leave none.
    assert 0 < redis_client.pttl("tenant") <= 3000


def test_in_testing_mode_slots_are_booked_but_not_waited_for(redis_client: Any) -> None:
    set_testing(True)
    limiter = RedisRateLimiter(redis_client, per_minute=60, key="tenant")  # one a second
    started = time.monotonic()
    for _ in range(5):
        limiter.acquire()
    assert time.monotonic() - started < 1  # five seconds of slots
    assert 4 < limiter.reserve() <= 5
