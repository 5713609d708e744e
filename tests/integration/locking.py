"""Helpers for tests that run several syncs at once."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable
from typing import Any

from connectwise_billing import (
    AsyncConnectWiseClient,
    ConnectWiseBillingError,
    ConnectWiseClient,
    SyncReport,
    async_sync_all,
    sync_all,
)
from connectwise_billing.locks import Lock
from connectwise_billing.testing import ExampleMSP

API_URL = "https://cw.example/v2025_1/apis/3.0"


class NoLock:
    """A lock that excludes nobody: how syncs behaved before they locked (the naive baseline)."""

    ttl = None

    def acquire(self, key: str, *, ttl: float | None = None, wait: float | None = None) -> str:
        return "anyone"

    def release(self, key: str, token: str) -> None:
        return None

    def renew(self, key: str, token: str, *, ttl: float | None = None) -> bool:
        return True

    async def acquire_async(
        self, key: str, *, ttl: float | None = None, wait: float | None = None
    ) -> str:
        return "anyone"

    async def release_async(self, key: str, token: str) -> None:
        return None

    async def renew_async(self, key: str, token: str, *, ttl: float | None = None) -> bool:
        return True


def at_once(
    kind: str,
    example: ExampleMSP,
    runs: int,
    make_lock: Callable[[], Lock | None] = lambda: None,
    *,
    may_fail: bool = False,
    **options: Any,
) -> list[SyncReport]:
    """`runs` syncs of the example started together: threads (`sync`) or asyncio tasks
    (`async`), each with its own client on the in-process simulator.

    With `may_fail`, a run that stops with an error (its first reads failed: it wrote
    nothing) is left out of the reports instead of failing the test."""
    tolerated = (ConnectWiseBillingError,) if may_fail else ()
    arguments = (example.plans, example.mapping, example.usages)
    client_options: dict[str, Any] = {"rate_limit_per_minute": None}
    if kind == "sync":
        reports: list[SyncReport | None] = [None] * runs
        start = threading.Barrier(runs)

        def one(index: int) -> None:
            transport = example.fake.transport()
            with ConnectWiseClient(
                API_URL, example.credentials, transport=transport, **client_options
            ) as client:
                start.wait()
                with contextlib.suppress(*tolerated):
                    reports[index] = sync_all(client, *arguments, lock=make_lock(), **options)

        threads = [threading.Thread(target=one, args=(i,)) for i in range(runs)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert may_fail or all(report is not None for report in reports)
        return [report for report in reports if report is not None]

    async def main() -> list[SyncReport]:
        async def one() -> SyncReport | None:
            async with AsyncConnectWiseClient(
                API_URL,
                example.credentials,
                transport=example.fake.async_transport(),
                **client_options,
            ) as client:
                with contextlib.suppress(*tolerated):
                    return await async_sync_all(client, *arguments, lock=make_lock(), **options)
                return None

        done = await asyncio.gather(*(one() for _ in range(runs)))
        assert may_fail or all(report is not None for report in done)
        return [report for report in done if report is not None]

    return asyncio.run(main())
