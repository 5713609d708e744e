"""httpx transports that hand requests to a `FakeConnectWise` in process."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import httpx

if TYPE_CHECKING:
    from connectwise_billing.testing._http import Outcome
    from connectwise_billing.testing.fake import FakeConnectWise


def _deliver(outcome: Outcome, request: httpx.Request) -> httpx.Response:
    if outcome.failure == "timeout":
        raise httpx.ReadTimeout("simulated read timeout", request=request)
    if outcome.failure == "drop":
        raise httpx.RemoteProtocolError(
            "Server disconnected without sending a response.", request=request
        )
    assert outcome.response is not None  # noqa: S101 - an Outcome has a response or a failure
    return outcome.response


class SyncFakeTransport(httpx.BaseTransport):
    """Answers from the simulator; latency is a real `time.sleep`."""

    def __init__(self, fake: FakeConnectWise) -> None:
        self._fake = fake

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request.read()
        outcome = self._fake.process(request)
        if outcome.delay:
            time.sleep(outcome.delay)
        return _deliver(outcome, request)


class AsyncFakeTransport(httpx.AsyncBaseTransport):
    """Answers from the simulator; latency is an `asyncio.sleep`, so concurrent requests overlap."""

    def __init__(self, fake: FakeConnectWise) -> None:
        self._fake = fake

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        import asyncio

        await request.aread()
        outcome = self._fake.process(request)
        if outcome.delay:
            await asyncio.sleep(outcome.delay)
        return _deliver(outcome, request)
