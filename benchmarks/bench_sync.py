"""Sync benchmark: `async_sync_all` over 500 agreements against the simulator at 100 ms latency,
the SDK's overhead against a bare httpx client at 50 ms, and the memory of a 5,000-agreement
run, sync against async.

    python benchmarks/bench_sync.py [requests|overhead|memory] [--rounds N]

Prints, against the targets of the issue "Applier and sync":
- requests made vs the minimum (one additions read per agreement, one request per write, the
  batched agreement reads): target <= minimum x 1.05;
- with the client's rate limiter off: wall time vs `requests x latency / concurrency`:
  target <= ideal x 1.3;
- with the simulator limiting to R requests per minute and the client's limiter just under it:
  achieved requests per minute vs R, and the 429s received: target >= 0.9 R with zero 429s;
- peak memory growth per agreement of `async_sync_all` no higher than `sync_all`'s, over 5,000
  agreements (its workers take agreements one after another: no task per agreement up front).

and against the target of the design issue (overhead): the wall time of `async_sync_all` at
concurrency 8, rate limiter off, against a bare `httpx.AsyncClient` sending exactly the same
requests (method, URL, headers, body, in the order the sync sent them) from 8 tasks: target
<= 1.10. Both run against the simulator served over HTTP on 127.0.0.1, in a process of its own
(the server's work does not share this process's interpreter), answering after 50 ms, built
anew for each run from the same seed. The figure is the ratio of the best runs of each, over
rounds that alternate the two (a shared machine's noise slows runs, it never speeds one up).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import multiprocessing
import random
import statistics
import time
import tracemalloc
from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from multiprocessing.connection import Connection

import httpx

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
from connectwise_billing.runner._connectwise import id_chunks
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


OVERHEAD_LATENCY = 0.05
OVERHEAD_CONCURRENCY = 8
OVERHEAD_TARGET = 1.10
Sent = tuple[str, str, bytes, list[tuple[str, str]]]
"""One request as it went out: method, path with query string, body, headers."""


def serve_simulator(seed: int, latency: float, conn: Connection) -> None:
    """In a process of its own: serve the scenario of `seed` over HTTP until told to stop; then
    say how many requests came, and how many were refused."""
    fake, *_ = build(seed)
    fake.latency = latency
    with fake.serve() as url:
        conn.send(url)
        conn.recv()
        refused = sum(1 for entry in fake.request_log if (entry.status or 0) >= 400)
        conn.send((len(fake.request_log), refused))


class SimulatorProcess:
    """The simulator of `seed`, fresh, over HTTP in a child process (`url`; `stop()`)."""

    def __init__(self, seed: int, latency: float) -> None:
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self._process = context.Process(
            target=serve_simulator, args=(seed, latency, child), daemon=True
        )
        self._process.start()
        self.url: str = self._conn.recv()
        self.origin = str(httpx.URL(self.url).copy_with(raw_path=b"/"))[:-1]

    def stop(self) -> tuple[int, int]:
        self._conn.send("stop")
        answered: tuple[int, int] = self._conn.recv()
        self._process.join()
        return answered


class Recording(httpx.AsyncBaseTransport):
    """httpx's own transport, keeping each request as it goes out."""

    def __init__(self) -> None:
        self.sent: list[Sent] = []
        self._inner = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        headers = [
            (name, value)
            for name, value in request.headers.multi_items()
            if name.lower() not in ("host", "content-length")  # httpx writes them itself
        ]
        self.sent.append((request.method, request.url.raw_path.decode(), request.content, headers))
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


async def sdk_run(url: str, seed: int, transport: httpx.AsyncBaseTransport | None = None) -> float:
    """The wall time of `async_sync_all` over the scenario of `seed`."""
    fake, plans, mapping, usages, changes = build(seed)
    async with AsyncConnectWiseClient(
        url, fake.credentials, transport=transport, rate_limit_per_minute=None
    ) as client:
        started = time.perf_counter()
        report = await async_sync_all(
            client, plans, mapping, usages, today=TODAY, concurrency=OVERHEAD_CONCURRENCY
        )
        wall = time.perf_counter() - started
    assert report.ok, report.summary()
    assert report.applied == changes, report.summary()
    return wall


async def bare_run(origin: str, sent: Sequence[Sent]) -> float:
    """The wall time of a bare httpx client sending `sent` from 8 tasks, each taking the next
    request when its answer is in (the answers read, not parsed)."""
    async with httpx.AsyncClient(base_url=origin, timeout=30) as http:
        pending = iter(sent)

        async def worker() -> None:
            for method, target, content, headers in pending:
                answer = await http.request(method, target, content=content, headers=headers)
                assert answer.status_code < 400, (method, target, answer.status_code)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(OVERHEAD_CONCURRENCY)))
        return time.perf_counter() - started


def bench_overhead(rounds: int = 5, seed: int = 1) -> None:
    server = SimulatorProcess(seed, OVERHEAD_LATENCY)
    recording = Recording()
    asyncio.run(sdk_run(server.url, seed, recording))
    answered = server.stop()
    sent = recording.sent
    assert answered == (len(sent), 0), answered
    sdk_walls, bare_walls = [], []
    for _ in range(rounds):
        server = SimulatorProcess(seed, OVERHEAD_LATENCY)
        sdk_walls.append(asyncio.run(sdk_run(server.url, seed)))
        assert server.stop() == (len(sent), 0)
        server = SimulatorProcess(seed, OVERHEAD_LATENCY)
        bare_walls.append(asyncio.run(bare_run(server.origin, sent)))
        assert server.stop() == (len(sent), 0)
    ratio = min(sdk_walls) / min(bare_walls)
    pairs = statistics.median(s / b for s, b in zip(sdk_walls, bare_walls, strict=True))
    ideal = len(sent) * OVERHEAD_LATENCY / OVERHEAD_CONCURRENCY
    print(
        f"overhead {AGREEMENTS} agreements, {len(sent)} requests over HTTP at "
        f"{OVERHEAD_LATENCY * 1000:.0f} ms, concurrency {OVERHEAD_CONCURRENCY}, limiter off, "
        f"best of {rounds}:"
    )
    print(
        f"        async_sync_all {min(sdk_walls):.2f} s vs bare httpx {min(bare_walls):.2f} s "
        f"(ideal {ideal:.2f} s): ratio {ratio:.3f} (target <= {OVERHEAD_TARGET}: "
        f"{'met' if ratio <= OVERHEAD_TARGET else 'NOT met'}); median of the rounds' ratios "
        f"{pairs:.3f}"
    )


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
    parser = argparse.ArgumentParser(description="Sync benchmarks (all by default).")
    parser.add_argument("parts", nargs="*", help="requests, overhead, memory")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of the overhead benchmark")
    arguments = parser.parse_args()
    parts = arguments.parts or ["requests", "overhead", "memory"]
    if set(parts) - {"requests", "overhead", "memory"}:
        parser.error(f"unknown part in {parts}: choose from requests, overhead, memory")
    if "requests" in parts:
        main()
    if "overhead" in parts:
        bench_overhead(arguments.rounds)
    if "memory" in parts:
        bench_memory()
