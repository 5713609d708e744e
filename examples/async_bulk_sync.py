"""Sync many agreements concurrently with the async client.

Thirty companies against the simulator with 50 ms of latency per request: agreements are synced
eight at a time, all under the client's shared rate limiter, which keeps the run under
ConnectWise's limit of 1,000 requests a minute (the default, 950, as here).
"""

import asyncio
import time

from connectwise_billing import AsyncConnectWiseClient, SyncPolicy, async_sync_all
from connectwise_billing.testing import build_example


async def main() -> None:
    example = build_example(companies=30, seed=7)
    example.fake.latency = 0.05
    async with AsyncConnectWiseClient(
        "https://cw.example/v2025_1/apis/3.0",
        example.credentials,
        transport=example.fake.async_transport(),
        rate_limit_per_minute=950,
    ) as client:
        started = time.perf_counter()
        report = await async_sync_all(
            client,
            example.plans,
            example.mapping,
            example.usages,
            SyncPolicy(api_member="CloudPanelAPI"),
            concurrency=8,
        )
    print(report.summary())
    print(f"{report.api_calls} requests in {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    asyncio.run(main())
