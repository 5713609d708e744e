"""Sync many agreements concurrently with the async client, and see when that is faster.

`async_sync_all(..., concurrency=8)` syncs up to eight agreements at a time, every request
through the client's one rate limiter. Under the default limit, 950 requests a minute (just
under ConnectWise's 1,000), the limiter lets one request start every 63 ms, so a run takes at
least its requests times 63 ms, however many agreements are in flight. When ConnectWise
answers within those 63 ms, one agreement at a time already sends at that pace: eight at a
time only queue at the limiter, and the run is no faster. The limit sets the pace.

Concurrency pays when the run is latency-bound: when the answers take longer than the
limiter's interval, because the site is distant or busy, or because a higher limit makes the
interval shorter. One agreement at a time then waits out every answer, while eight at a time
overlap those waits, until the limiter sets the pace again.

The example syncs the same companies four times, from the same start: with answers in 20 ms
and in 150 ms (the simulator's added latency), one agreement at a time and eight, all under
the default limit. It prints the report, then the four timings.
"""

import asyncio
import time

from connectwise_billing import AsyncConnectWiseClient, SyncPolicy, SyncReport, async_sync_all
from connectwise_billing.defaults import DEFAULT_RATE_LIMIT_PER_MINUTE
from connectwise_billing.testing import build_example

LATENCIES = (0.02, 0.15)
"""Seconds the simulator takes to answer: within the limiter's interval, and beyond it."""
CONCURRENCY = (1, 8)


async def timed_sync(latency: float, concurrency: int) -> tuple[SyncReport, float]:
    """One run, timed, against a fresh example MSP: the same seed gives the same data, so
    every run does the same work."""
    example = build_example(companies=8, seed=7)
    example.fake.latency = latency
    # The example MSP also holds three links only a person can mend (an agreement deleted,
    # one cancelled, a company the API member cannot see): a control panel re-links or
    # unlinks those, and a sync of them only reports so. They are left out here.
    to_relink = {example.deleted_agreement_id, example.cancelled_agreement_id}
    usages = [
        u
        for u in example.usages
        if u.agreement_id not in to_relink and u.company != example.hidden_company
    ]
    async with AsyncConnectWiseClient(
        "https://cw.example/v2025_1/apis/3.0",
        example.credentials,
        transport=example.fake.async_transport(),
        rate_limit_per_minute=DEFAULT_RATE_LIMIT_PER_MINUTE,
    ) as client:
        started = time.perf_counter()
        report = await async_sync_all(
            client,
            example.plans,
            example.mapping,
            usages,
            SyncPolicy(api_member="CloudPanelAPI"),
            concurrency=concurrency,
        )
        return report, time.perf_counter() - started


async def main() -> None:
    timings: dict[tuple[float, int], float] = {}
    for latency in LATENCIES:
        for concurrency in CONCURRENCY:
            report, timings[latency, concurrency] = await timed_sync(latency, concurrency)
    print(report.summary())
    interval = 60 / DEFAULT_RATE_LIMIT_PER_MINUTE
    # The first request starts at once; each one after it waits its interval.
    floor = (report.api_calls - 1) * interval
    print(
        f"\n{report.api_calls} requests a run; at {DEFAULT_RATE_LIMIT_PER_MINUTE} a minute (one "
        f"every {interval * 1000:.0f} ms) they take at least {floor:.1f} s"
    )
    for latency in LATENCIES:
        one, eight = (timings[latency, concurrency] for concurrency in CONCURRENCY)
        pace = "the limit sets the pace" if latency < interval else "8 at a time overlap the waits"
        print(
            f"answers in {latency * 1000:3.0f} ms: 1 at a time {one:.1f} s, "
            f"8 at a time {eight:.1f} s: {pace}"
        )


if __name__ == "__main__":
    asyncio.run(main())
