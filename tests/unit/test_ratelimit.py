"""The client-side limiters: spacing at the configured rate, settings, keys and failures."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest
import redis

from connectwise_billing import (
    ConfigurationError,
    ConnectWiseBillingError,
    Credentials,
    RateLimiter,
    RateLimiterError,
    RedisRateLimiter,
)
from connectwise_billing.client._ratelimit import Limiter, rate_limit_key


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_requests_are_spaced_evenly() -> None:
    clock = Clock()
    limiter = RateLimiter(600, clock=clock)  # one every 0.1 s
    waits = [limiter.reserve() for _ in range(4)]
    assert waits == pytest.approx([0.0, 0.1, 0.2, 0.3])


def test_quiet_time_is_not_banked_beyond_the_burst() -> None:
    clock = Clock()
    limiter = RateLimiter(600, burst=3, clock=clock)
    clock.now += 60  # a long quiet spell
    waits = [limiter.reserve() for _ in range(5)]
    assert waits == pytest.approx([0.0, 0.0, 0.0, 0.1, 0.2])


def test_after_waiting_the_next_slot_is_free() -> None:
    clock = Clock()
    limiter = RateLimiter(60, clock=clock)
    assert limiter.reserve() == 0.0
    clock.now += 1.0
    assert limiter.reserve() == 0.0
    assert limiter.reserve() == pytest.approx(1.0)


def test_sustained_rate_never_exceeds_the_limit() -> None:
    clock = Clock()
    limiter = RateLimiter(950, burst=5, clock=clock)
    starts = []
    for _ in range(2000):
        clock.now += limiter.reserve()
        starts.append(clock.now)
    # In any 60-second window at most 950 + burst requests start.
    j = 0
    for i, start in enumerate(starts):
        while starts[j] < start - 60:
            j += 1
        assert i - j + 1 <= 955


@pytest.mark.parametrize(
    ("rate", "burst", "named"),
    [(0, 1, "0"), (-5, 1, "-5"), (float("inf"), 1, "inf"), (float("nan"), 1, "nan"), (10, 0, "0")],
)
def test_bad_settings_are_refused(rate: float, burst: int, named: str) -> None:
    with pytest.raises(ConfigurationError, match=f"got {named}$"):
        RateLimiter(rate, burst=burst)


# --- the limiter shared through Redis: what needs no Redis server ------------------------------


MEMBER = Credentials("Acme", "pubkey", "pRiVaTe-KeY-do-not-log-4711", "8d1c5d9e-0000-4000-8000-1")


def nowhere(kind: str = "redis.Redis") -> Any:
    """A Redis client whose server refuses at once, never tried again (redis-py retries with
    backoff by default)."""
    import redis.asyncio
    import redis.asyncio.retry
    import redis.retry
    from redis.backoff import NoBackoff

    if kind == "redis.Redis":
        return redis.Redis(port=1, retry=redis.retry.Retry(NoBackoff(), 0))
    return redis.asyncio.Redis(port=1, retry=redis.asyncio.retry.Retry(NoBackoff(), 0))


@pytest.mark.parametrize("rate", [0, -5, float("nan"), float("inf"), "950", True, None])
def test_a_shared_rate_that_is_no_positive_finite_number_is_refused_by_value(rate: object) -> None:
    with pytest.raises(ConfigurationError, match=re.escape(repr(rate))):
        RedisRateLimiter(nowhere(), per_minute=rate)  # type: ignore[arg-type]


@pytest.mark.parametrize("key", ["", "  ", 5])
def test_a_key_that_is_no_text_is_refused(key: object) -> None:
    with pytest.raises(ConfigurationError, match="key must be a non-empty string"):
        RedisRateLimiter(nowhere(), key=key)  # type: ignore[arg-type]


def test_something_that_is_no_redis_client_is_refused_by_type() -> None:
    with pytest.raises(ConfigurationError, match="needs a redis-py client, got str"):
        RedisRateLimiter("redis://127.0.0.1:6379/0")


@pytest.mark.parametrize(("rate", "burst"), [(950, 15), (6000, 100), (60, 1), (0.5, 1)])
def test_a_burst_is_at_most_one_seconds_worth(rate: float, burst: int) -> None:
    assert RedisRateLimiter(nowhere(), per_minute=rate).burst == burst


def test_the_default_key_names_the_tenant_and_member_but_no_secret() -> None:
    key = rate_limit_key(MEMBER)
    assert key.startswith("connectwise-billing:rate:acme:")
    assert rate_limit_key(Credentials(" ACME ", "pubkey", "other", "x")) == key  # the tenant
    assert rate_limit_key(Credentials("acme", "pubkey2", MEMBER.private_key, "x")) != key
    for secret in (*MEMBER.secrets(), MEMBER.public_key):
        assert secret not in key


def test_a_limiter_without_key_is_keyed_by_credentials_and_shows_no_secret() -> None:
    shared = RedisRateLimiter(nowhere(), per_minute=600)
    keyed = shared.for_credentials(MEMBER)
    assert (shared.key, keyed.key) == (None, rate_limit_key(MEMBER))
    assert keyed.redis is shared.redis and keyed.per_minute == 600
    given = RedisRateLimiter(nowhere(), key="billing:eu")
    assert given.for_credentials(MEMBER) is given  # a key given is kept
    assert repr(keyed) == f"RedisRateLimiter(per_minute=600, key={keyed.key!r})"
    assert MEMBER.private_key not in repr(keyed)


def test_a_limiter_without_key_cannot_be_used_alone() -> None:
    with pytest.raises(ConfigurationError, match="has no key"):
        RedisRateLimiter(nowhere()).acquire()


def test_an_asyncio_redis_client_is_refused_by_the_sync_limiter() -> None:
    limiter = RedisRateLimiter(nowhere("redis.asyncio.Redis"), key="k")
    with pytest.raises(ConfigurationError, match="asyncio Redis client"):
        limiter.acquire()


def test_redis_unreachable_is_a_rate_limiter_error() -> None:
    limiter = RedisRateLimiter(nowhere()).for_credentials(MEMBER)
    with pytest.raises(RateLimiterError, match="could not be used: ConnectionError") as caught:
        limiter.acquire()
    assert isinstance(caught.value, ConnectWiseBillingError)
    assert isinstance(caught.value.__cause__, redis.ConnectionError)
    assert limiter.key is not None and limiter.key in str(caught.value)


@pytest.mark.parametrize("kind", ["redis.Redis", "redis.asyncio.Redis"])
def test_redis_unreachable_is_a_rate_limiter_error_for_asyncio(kind: str) -> None:
    limiter = RedisRateLimiter(nowhere(kind), key="k")
    with pytest.raises(RateLimiterError, match="could not be used: ConnectionError"):
        asyncio.run(limiter.acquire_async())


def test_both_limiters_are_limiters() -> None:
    assert isinstance(RateLimiter(60), Limiter)
    assert isinstance(RedisRateLimiter(nowhere()), Limiter)
    assert not isinstance(object(), Limiter)
