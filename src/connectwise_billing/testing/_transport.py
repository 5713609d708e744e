"""httpx transports that hand requests to a `FakeConnectWise` in process."""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx

from connectwise_billing.testing._clock import RealTime

if TYPE_CHECKING:
    from connectwise_billing.testing._fake import FakeConnectWise
    from connectwise_billing.testing._http import Outcome


def _read_timeout(request: httpx.Request) -> float | None:
    timeout = request.extensions.get("timeout") or {}
    value = timeout.get("read") if isinstance(timeout, dict) else None
    return float(value) if isinstance(value, int | float) else None


def _wait(outcome: Outcome, request: httpx.Request) -> tuple[float, bool]:
    """How long the answer takes, and whether the client's read timeout runs out first (an
    answer later than the timeout is one the client never gets)."""
    limit = _read_timeout(request)
    if outcome.response is not None and limit is not None and outcome.delay > limit:
        return limit, True
    return outcome.delay, False


def _deliver(outcome: Outcome, request: httpx.Request, timed_out: bool) -> httpx.Response:
    if outcome.failure == "timeout" or timed_out:
        raise httpx.ReadTimeout("simulated read timeout", request=request)
    if outcome.failure == "drop":
        raise httpx.RemoteProtocolError(
            "Server disconnected without sending a response.", request=request
        )
    assert outcome.response is not None  # noqa: S101 - an Outcome has a response or a failure
    return outcome.response


class SyncFakeTransport(httpx.BaseTransport):
    """Answers from the simulator; delays pass on the simulator's `time_source`."""

    def __init__(self, fake: FakeConnectWise) -> None:
        self._fake = fake

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request.read()
        outcome = self._fake.process(request)
        delay, timed_out = _wait(outcome, request)
        self._fake.time.sleep(delay)
        return _deliver(outcome, request, timed_out)


class AsyncFakeTransport(httpx.AsyncBaseTransport):
    """Answers from the simulator; real delays are an `asyncio.sleep`, so concurrent requests
    overlap; virtual ones advance the simulator's clock."""

    def __init__(self, fake: FakeConnectWise) -> None:
        self._fake = fake

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        import asyncio

        await request.aread()
        outcome = self._fake.process(request)
        delay, timed_out = _wait(outcome, request)
        if isinstance(self._fake.time, RealTime):
            if delay > 0:
                await asyncio.sleep(delay)
        else:
            self._fake.time.sleep(delay)
        return _deliver(outcome, request, timed_out)
