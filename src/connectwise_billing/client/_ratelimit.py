"""Client-side rate limiting shared by every request of a client, or of every worker.

ConnectWise throttles API members that send "over 1,000 requests per minute" with HTTP 429.
A sync that runs into the limit wastes the `Retry-After` wait; one that stays far below it wastes
time. The limiters space requests evenly at the configured rate (a GCRA, the "virtual
scheduling" form of a token bucket), so a large sync runs at the ceiling without crossing it.

- [`RateLimiter`][connectwise_billing.client._ratelimit.RateLimiter], every client's default,
  counts the requests of one process.
- [`RedisRateLimiter`][connectwise_billing.client._ratelimit.RedisRateLimiter] counts the
  requests of every process that shares a Redis: the workers of a job queue on any number of
  hosts stay under one limit per tenant and API member (`pip install
  'connectwise-billing[redis]'`).

Each implements [`Limiter`][connectwise_billing.client._ratelimit.Limiter], all a client asks
of a limiter (`ConnectWiseClient(..., rate_limiter=...)`).

Both wait through [`sleep`][connectwise_billing._waits.sleep]: in testing mode they book their
slots but do not wait for them.
"""

from __future__ import annotations

import copy
import hashlib
import inspect
import math
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final, Protocol, runtime_checkable

from connectwise_billing._waits import asleep, sleep
from connectwise_billing.defaults import DEFAULT_RATE_LIMIT_PER_MINUTE
from connectwise_billing.errors import ConfigurationError, RateLimiterError

if TYPE_CHECKING:
    from connectwise_billing.client._credentials import Credentials

__all__ = [
    "REDIS_BURST_SECONDS",
    "REDIS_RATE_PREFIX",
    "Limiter",
    "RateLimiter",
    "RedisRateLimiter",
    "rate_limit_key",
]

REDIS_RATE_PREFIX: Final = "connectwise-billing:rate:"
"""What the key of a `RedisRateLimiter` keyed by its client starts with."""
REDIS_BURST_SECONDS: Final = 1.0
"""How many seconds' worth of requests a `RedisRateLimiter` lets start back to back after a
quiet spell: in any 60 seconds at most `per_minute` requests and one second's worth more
(965 at the default 950, under ConnectWise's 1,000)."""


@runtime_checkable
class Limiter(Protocol):
    """What a client asks of a rate limiter: to wait before each attempt of each request until
    it may start.

    [`RateLimiter`][connectwise_billing.client._ratelimit.RateLimiter] and
    [`RedisRateLimiter`][connectwise_billing.client._ratelimit.RedisRateLimiter] implement it;
    so can your own (a limit kept in a database, a gateway's quota). A limiter that cannot
    decide (its store is down) raises a
    [`ConnectWiseBillingError`][connectwise_billing.errors.ConnectWiseBillingError], best a
    [`RateLimiterError`][connectwise_billing.errors.RateLimiterError]: the request is then not
    sent.
    """

    def acquire(self) -> None:
        """Block the calling thread until a request may start."""

    async def acquire_async(self) -> None:
        """Wait, without blocking the event loop, until a request may start."""


def _checked_rate(per_minute: object) -> float:
    if (
        isinstance(per_minute, bool)
        or not isinstance(per_minute, int | float)
        or not math.isfinite(per_minute)
        or per_minute <= 0
    ):
        raise ConfigurationError(
            f"rate limit must be a positive, finite number of requests per minute, "
            f"got {per_minute!r}"
        )
    return float(per_minute)


class RateLimiter:
    """Let at most `per_minute` requests start per minute, evenly spaced, in this process.

    Args:
        per_minute: Requests per minute.
        burst: Requests that may start back to back after a quiet spell. `1` spaces every
            request by `60 / per_minute` seconds.
        clock: Monotonic clock in seconds (injectable for tests).

    Raises:
        ConfigurationError: `per_minute` is not a positive finite number, or `burst` is below 1.

    One limiter is safe to share between threads and between asyncio tasks. The workers of a
    job queue are processes: each would have its own, and together they would send several
    times the rate; give them a
    [`RedisRateLimiter`][connectwise_billing.client._ratelimit.RedisRateLimiter] instead.
    """

    def __init__(
        self, per_minute: float, *, burst: int = 1, clock: Callable[[], float] = time.monotonic
    ) -> None:
        _checked_rate(per_minute)
        if burst < 1:
            raise ConfigurationError(f"rate limit burst must be at least 1, got {burst!r}")
        self.per_minute = per_minute
        """Requests per minute."""
        self.burst = burst
        """Requests that may start back to back after a quiet spell."""
        self._interval = 60.0 / per_minute
        self._tolerance = self._interval * (burst - 1)
        self._clock = clock
        self._theoretical_arrival = 0.0
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"RateLimiter(per_minute={self.per_minute!r}, burst={self.burst!r})"

    def reserve(self) -> float:
        """Book the next slot; return how many seconds to wait before using it."""
        with self._lock:
            now = self._clock()
            arrival = max(self._theoretical_arrival, now)
            self._theoretical_arrival = arrival + self._interval
            return max(0.0, arrival - self._tolerance - now)

    def acquire(self) -> None:
        """Block the calling thread until a request may start."""
        sleep(self.reserve())

    async def acquire_async(self) -> None:
        """Wait (without blocking the event loop) until a request may start."""
        await asleep(self.reserve())


def rate_limit_key(credentials: Credentials) -> str:
    """The Redis key of the limit of one tenant and API member:
    `connectwise-billing:rate:<company id>:<hash of the public key>`.

    The company id is case-folded, as ConnectWise's login takes it in any case; the public key
    is hashed (SHA-256, 16 hex digits), which keeps the key short and the API member's name
    out of Redis. The private key has no part in it.
    """
    company = credentials.company_id.strip().casefold()
    member = hashlib.sha256(credentials.public_key.encode()).hexdigest()[:16]
    return f"{REDIS_RATE_PREFIX}{company}:{member}"


# The GCRA of `RateLimiter.reserve`, kept in Redis and timed by the Redis server's clock, so
# that processes on hosts whose clocks disagree book from one timeline. KEYS[1] holds the
# theoretical arrival time in microseconds; ARGV[1] is the interval between requests and
# ARGV[2] the burst tolerance, both in microseconds. Returns the microseconds to wait. The key
# expires once its time has passed: an idle tenant leaves nothing behind.
_RESERVE_SCRIPT: Final = """
local clock = redis.call("time")
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local interval = tonumber(ARGV[1])
local arrival = tonumber(redis.call("get", KEYS[1])) or now
if arrival < now then
    arrival = now
end
local booked = arrival + interval
redis.call("set", KEYS[1], string.format("%.0f", booked), "px", math.ceil((booked - now) / 1000))
return math.max(0, arrival - tonumber(ARGV[2]) - now)
"""


class RedisRateLimiter:
    """Let at most `per_minute` requests start per minute, evenly spaced, across every process
    that shares the Redis: the workers of a job queue, syncs on several hosts.

    Each slot is booked by one Lua script run atomically in Redis on the Redis server's clock
    (`TIME`), so workers on hosts whose clocks disagree still share one timeline. After a
    quiet spell, [`REDIS_BURST_SECONDS`][connectwise_billing.client._ratelimit.REDIS_BURST_SECONDS]
    worth of requests may start back to back (`burst`); then they are spaced by
    `60 / per_minute` seconds, whichever worker sends them. Give one to each worker's client:
    `ConnectWiseClient(base_url, credentials, rate_limiter=RedisRateLimiter(redis_client))`
    (the guide "Run syncs on a job queue" shows a whole deployment).

    Args:
        redis_client: A redis-py client: `redis.Redis` for
            [`ConnectWiseClient`][connectwise_billing.ConnectWiseClient] (the
            [`AsyncConnectWiseClient`][connectwise_billing.AsyncConnectWiseClient] calls it from
            a thread), or `redis.asyncio.Redis` for the async client only.
        per_minute: Requests per minute for everyone who shares the key.
        key: The Redis key the limit is kept under. `None` (the default): the client it is
            given to keys it by its tenant and API member
            ([`rate_limit_key`][connectwise_billing.client._ratelimit.rate_limit_key]), so every
            worker with the same credentials shares one limit; the client keeps that keyed copy
            as its `rate_limiter`.

    Raises:
        ConfigurationError: `redis_client` is not a redis-py client, `per_minute` is not a
            positive finite number, or `key` is not a non-empty string.

    Waiting for a slot that was booked takes no time in testing mode, as every wait of the SDK.
    Install the extra: `pip install 'connectwise-billing[redis]'`; the server must be Redis 5
    or later (a script that reads the time and writes).
    """

    def __init__(
        self,
        redis_client: Any,
        *,
        per_minute: float = DEFAULT_RATE_LIMIT_PER_MINUTE,
        key: str | None = None,
    ) -> None:
        if not callable(getattr(redis_client, "register_script", None)):
            raise ConfigurationError(
                f"RedisRateLimiter needs a redis-py client, got {type(redis_client).__name__}"
            )
        rate = _checked_rate(per_minute)
        if key is not None and (not isinstance(key, str) or not key.strip()):
            raise ConfigurationError(
                f"RedisRateLimiter key must be a non-empty string, got {key!r}"
            )
        self.redis = redis_client
        """The Redis client the limit is kept in."""
        self.per_minute = per_minute
        """Requests per minute for everyone who shares the key."""
        self.key = key
        """The Redis key of the limit; `None` until a client keys it by its credentials."""
        self.burst: int = max(1, math.floor(rate * REDIS_BURST_SECONDS / 60))
        """Requests that may start back to back after a quiet spell."""
        # Whole microseconds, rounded up: the rate kept is never above the one configured.
        self._interval = max(1, math.ceil(60_000_000 / rate))
        self._tolerance = self._interval * (self.burst - 1)
        self._is_async = inspect.iscoroutinefunction(getattr(redis_client, "execute_command", None))
        self._script = redis_client.register_script(_RESERVE_SCRIPT)

    def __repr__(self) -> str:
        return f"RedisRateLimiter(per_minute={self.per_minute!r}, key={self.key!r})"

    def for_credentials(self, credentials: Credentials) -> RedisRateLimiter:
        """This limiter keyed by the tenant and API member of `credentials`: itself when it has
        a key, else a copy on the same Redis with
        [`rate_limit_key`][connectwise_billing.client._ratelimit.rate_limit_key]`(credentials)`.
        A client calls it with its own credentials when it is given the limiter."""
        if self.key is not None:
            return self
        keyed = copy.copy(self)
        keyed.key = rate_limit_key(credentials)
        return keyed

    def _arguments(self) -> tuple[list[str], list[int]]:
        if self.key is None:
            raise ConfigurationError(
                "this RedisRateLimiter has no key: give it key=, or give it to a client "
                "(rate_limiter=), which keys it by its tenant and API member"
            )
        return [self.key], [self._interval, self._tolerance]

    def _failed(self, error: Exception) -> RateLimiterError:
        return RateLimiterError(
            f"the rate limit in Redis (key {self.key!r}) could not be used: "
            f"{type(error).__name__}: {error}"
        )

    def reserve(self) -> float:
        """Book the next slot; return how many seconds to wait before using it.

        Raises:
            RateLimiterError: Redis failed, timed out or cannot be reached.
            ConfigurationError: the limiter has no key, or an asyncio Redis client.
        """
        from redis.exceptions import RedisError

        if self._is_async:
            raise ConfigurationError(
                "this RedisRateLimiter has an asyncio Redis client: give it to an "
                "AsyncConnectWiseClient, or give ConnectWiseClient a redis.Redis"
            )
        keys, arguments = self._arguments()
        try:
            waited = self._script(keys=keys, args=arguments)
        except RedisError as error:
            raise self._failed(error) from error
        return int(waited) / 1_000_000

    async def reserve_async(self) -> float:
        """The asyncio twin of `reserve`: a sync Redis client is called from a thread, so the
        event loop never waits for Redis.

        Raises:
            RateLimiterError: Redis failed, timed out or cannot be reached.
            ConfigurationError: the limiter has no key.
        """
        import asyncio

        from redis.exceptions import RedisError

        keys, arguments = self._arguments()
        try:
            if self._is_async:
                waited = await self._script(keys=keys, args=arguments)
            else:
                waited = await asyncio.to_thread(self._script, keys=keys, args=arguments)
        except RedisError as error:
            raise self._failed(error) from error
        return int(waited) / 1_000_000

    def acquire(self) -> None:
        """Block the calling thread until a request may start.

        Raises:
            RateLimiterError: Redis failed, timed out or cannot be reached.
        """
        sleep(self.reserve())

    async def acquire_async(self) -> None:
        """Wait (without blocking the event loop) until a request may start.

        Raises:
            RateLimiterError: Redis failed, timed out or cannot be reached.
        """
        await asleep(await self.reserve_async())
