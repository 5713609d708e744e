"""A client sends through the limiter it is given (`rate_limiter=`) instead of its own."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from connectwise_billing import (
    AsyncConnectWiseClient,
    ConfigurationError,
    ConnectWiseClient,
    RateLimiter,
    RateLimiterError,
    RedisRateLimiter,
)
from connectwise_billing.client._ratelimit import rate_limit_key
from connectwise_billing.defaults import DEFAULT_RATE_LIMIT_PER_MINUTE
from tests.conftest import BASE_URL, CREDENTIALS, PRIVATE_KEY, Api

CLIENTS = [ConnectWiseClient, AsyncConnectWiseClient]


class Counting:
    """A limiter of one's own: lets everything through and counts it."""

    def __init__(self) -> None:
        self.taken: list[str] = []

    def acquire(self) -> None:
        self.taken.append("sync")

    async def acquire_async(self) -> None:
        self.taken.append("async")


class Broken:
    """A limiter whose store is down."""

    def __init__(self) -> None:
        self.calls = 0

    def acquire(self) -> None:
        self.calls += 1
        raise RateLimiterError("the rate limit in Redis could not be used: ConnectionError")

    async def acquire_async(self) -> None:
        self.acquire()


class Server:
    """Answers 503 first, then the agreement; records what reached it."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if len(self.requests) == 1:
            return httpx.Response(503, json={"code": "Unavailable", "message": "busy"})
        return httpx.Response(200, json={"id": 5})


def given(limiter: Any) -> dict[str, Any]:
    """Client settings with `limiter` (Api.run turns the client's own limiter off otherwise)."""
    return {"rate_limiter": limiter, "rate_limit_per_minute": DEFAULT_RATE_LIMIT_PER_MINUTE}


def test_every_attempt_passes_the_limiter_given(api: Api) -> None:
    limiter, server = Counting(), Server()
    api.run(lambda c: c.agreements.get(5), handler=server, **given(limiter))
    assert len(server.requests) == 2
    assert limiter.taken == [api.kind] * 2  # the request and its retry


@pytest.mark.parametrize("cls", CLIENTS)
def test_the_limiter_given_replaces_the_clients_own_and_outlives_with_options(cls: Any) -> None:
    limiter = RateLimiter(120)
    client = cls(BASE_URL, CREDENTIALS, rate_limiter=limiter)
    assert client.rate_limiter is limiter
    assert client.with_options(timeout=5).rate_limiter is limiter


@pytest.mark.parametrize("cls", CLIENTS)
@pytest.mark.parametrize("rate", [600, None])
def test_a_limiter_and_a_rate_of_ones_own_are_refused_together(cls: Any, rate: Any) -> None:
    with pytest.raises(ConfigurationError, match=rf"rate_limit_per_minute \(got {rate}\)"):
        cls(BASE_URL, CREDENTIALS, rate_limiter=Counting(), rate_limit_per_minute=rate)


@pytest.mark.parametrize("cls", CLIENTS)
def test_something_that_is_no_limiter_is_refused_by_type(cls: Any) -> None:
    with pytest.raises(ConfigurationError, match=r"acquire_async\(\).*got int"):
        cls(BASE_URL, CREDENTIALS, rate_limiter=950)


@pytest.mark.parametrize("cls", CLIENTS)
def test_a_shared_limiter_without_key_is_keyed_by_the_clients_tenant_and_member(cls: Any) -> None:
    import redis

    shared = RedisRateLimiter(redis.Redis(port=1), per_minute=600)
    client = cls(BASE_URL, CREDENTIALS, rate_limiter=shared)
    assert isinstance(client.rate_limiter, RedisRateLimiter)
    assert client.rate_limiter.key == rate_limit_key(CREDENTIALS)
    assert client.rate_limiter.per_minute == 600
    assert shared.key is None  # the limiter given may serve another tenant's client too
    assert client.with_options(timeout=5).rate_limiter is client.rate_limiter
    keyed = RedisRateLimiter(redis.Redis(port=1), key="billing:shared")
    assert cls(BASE_URL, CREDENTIALS, rate_limiter=keyed).rate_limiter is keyed


def test_a_limiter_that_fails_stops_the_request_before_it_is_sent(api: Api) -> None:
    limiter, server = Broken(), Server()
    with pytest.raises(RateLimiterError, match="could not be used") as caught:
        api.run(lambda c: c.agreements.get(5), handler=server, **given(limiter))
    assert server.requests == []
    assert limiter.calls == 1  # not retried: whether it may be is the retry policy's decision
    assert PRIVATE_KEY not in str(caught.value)
