"""Sync benchmark: `async_sync_all` over 500 agreements against the simulator at 100 ms latency,
and the memory of a 5,000-agreement run, sync against async.

    python benchmarks/bench_sync.py

Prints, against the targets of the issue "Applier and sync":
- requests made vs the minimum (one additions read per agreement, one request per write, the
  batched agreement reads): target <= minimum x 1.05;
- with the client's rate limiter off: wall time vs `requests x latency / concurrency`:
  target <= ideal x 1.3;
- with the simulator limiting to R requests per minute and the client's limiter just under it:
  achieved requests per minute vs R, and the 429s received: target >= 0.9 R with zero 429s;
- peak memory growth per agreement of `async_sync_all` no higher than `sync_all`'s, over 5,000
  agreements (its workers take agreements one after another: no task per agreement up front).
"""

from __future__ import annotations

import asyncio
import gc
import random
import time
import tracemalloc
from datetime import date
from decimal import Decimal

from connectwise_billing import (
    AsyncConnectWiseClient,
    CompanyUsage,
    ConnectWiseClient,
    Plan,
    PlanMapping,
    RetryPolicy,
    SyncReport,
    async_sync_all,
    sync_all,
)
from connectwise_billing.sync.connectwise import id_chunks
from connectwise_billing.testing import FakeConnectWise

AGREEMENTS = 500
PRODUCTS = 5
LATENCY = 0.1
CHANGING = 0.10
TODAY = date(2026, 11, 28)
URL = "https://cw.example/v2025_1/apis/3.0"


def build(
    seed: int = 1, agreements: int = AGREEMENTS
) -> tuple[FakeConnectWise, list[Plan], PlanMapping, list[CompanyUsage], int]:
    rng = random.Random(seed)
    fake = FakeConnectWise(seed=seed)
    fake.add_api_member()
    plans = [
        Plan(f"plan-{n}", f"Plan {n}", cost=Decimal(2), price=Decimal(5 + n))
        for n in range(PRODUCTS)
    ]
    mapping = PlanMapping(
        {
            plan.id: fake.add_product(f"MBX-{n}", price=plan.price, cost=plan.cost)
            for n, plan in enumerate(plans)
        }
    )
    usages = []
    changes = 0
    for number in range(agreements):
        company = fake.add_company(f"Company {number:03d}")
        agreement = fake.add_agreement(company)
        seats = {}
        for plan in plans:
            quantity = rng.randint(1, 40)
            fake.add_addition(agreement, mapping[plan.id], quantity)
            if rng.random() < CHANGING:
                quantity += 1
                changes += 1
            seats[plan.id] = quantity
        usages.append(CompanyUsage(agreement, seats, company=f"Company {number:03d}"))
    return fake, plans, mapping, usages, changes


async def run(
    fake: FakeConnectWise,
    plans: list[Plan],
    mapping: PlanMapping,
    usages: list[CompanyUsage],
    *,
    rate_limit: float | None,
    concurrency: int,
) -> tuple[SyncReport, float]:
    async with AsyncConnectWiseClient(
        URL,
        fake.credentials,
        transport=fake.async_transport(),
        rate_limit_per_minute=rate_limit,
        retry=RetryPolicy(max_attempts=10),
    ) as client:
        started = time.perf_counter()
        report = await async_sync_all(
            client, plans, mapping, usages, today=TODAY, concurrency=concurrency
        )
        return report, time.perf_counter() - started


def main() -> None:
    concurrency = 8
    fake, plans, mapping, usages, changes = build()
    fake.latency = LATENCY
    report, wall = asyncio.run(
        run(fake, plans, mapping, usages, rate_limit=None, concurrency=concurrency)
    )
    batches = len(id_chunks([u.agreement_id for u in usages]))
    minimum = AGREEMENTS + changes + batches + 1  # and one catalog read
    requests = len(fake.request_log)
    if not report.ok or report.applied != changes:
        print(report.summary())
    print(
        f"sync    {AGREEMENTS} agreements x {PRODUCTS} products, {changes} changes, latency {LATENCY * 1000:.0f} ms, concurrency {concurrency}"
    )
    print(
        f"        requests {requests} vs minimum {minimum} ({batches} agreement batches): ratio {requests / minimum:.3f} (target <= 1.05)"
    )
    ideal = requests * LATENCY / concurrency
    print(
        f"        limiter off: wall {wall:.2f} s vs ideal {ideal:.2f} s: ratio {wall / ideal:.2f} (target <= 1.3)"
    )

    limit = 6000.0
    fake, plans, mapping, usages, changes = build(seed=2)
    fake.latency = LATENCY
    fake.rate_limit_per_minute = limit
    report, wall = asyncio.run(
        run(fake, plans, mapping, usages, rate_limit=limit * 0.97, concurrency=32)
    )
    requests = len(fake.request_log)
    throttled = sum(1 for entry in fake.request_log if entry.status == 429)
    rate = requests / wall * 60
    print(
        f"        server limit R = {limit:,.0f}/min, client limiter {limit * 0.97:,.0f}/min, concurrency 32:"
    )
    print(
        f"        achieved {rate:,.0f} requests/min = {rate / limit:.2f} R (target >= 0.9), 429s received: {throttled} (target 0)"
    )
    if report.applied != changes:
        print(f"        note: {report.applied} of {changes} changes applied")


def peak_growth(kind: str, agreements: int) -> float:
    """Peak memory growth while one run syncs `agreements` agreements, in bytes per agreement
    (measured when the sync function returns: the event loop's own teardown is not the SDK's)."""
    fake, plans, mapping, usages, _ = build(seed=3, agreements=agreements)
    gc.collect()
    tracemalloc.start()
    base, _ = tracemalloc.get_traced_memory()
    if kind == "sync":
        with ConnectWiseClient(
            URL, fake.credentials, transport=fake.transport(), rate_limit_per_minute=None
        ) as client:
            report = sync_all(client, plans, mapping, usages, today=TODAY)
            _, peak = tracemalloc.get_traced_memory()
    else:

        async def main() -> tuple[SyncReport, int]:
            async with AsyncConnectWiseClient(
                URL, fake.credentials, transport=fake.async_transport(), rate_limit_per_minute=None
            ) as client:
                done = await async_sync_all(client, plans, mapping, usages, today=TODAY)
                return done, tracemalloc.get_traced_memory()[1]

        report, peak = asyncio.run(main())
    tracemalloc.stop()
    assert report.ok, report.summary()
    return (peak - base) / agreements


def bench_memory(agreements: int = 5_000) -> None:
    sync_growth = peak_growth("sync", agreements)
    async_growth = peak_growth("async", agreements)
    print(
        f"memory  {agreements:,} agreements x {PRODUCTS} products in process: peak growth per "
        f"agreement sync_all {sync_growth / 1024:.1f} KiB, async_sync_all "
        f"{async_growth / 1024:.1f} KiB: ratio {async_growth / sync_growth:.2f} (target <= 1)"
    )
    print(
        "        (both include what a run keeps: the simulator's request log and the report, "
        f"~{agreements * PRODUCTS:,} additions' worth)"
    )


if __name__ == "__main__":
    main()
    bench_memory()
