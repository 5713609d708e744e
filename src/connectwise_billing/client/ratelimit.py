"""Client-side rate limiting shared by every request of a client.

ConnectWise throttles API members that send "over 1,000 requests per minute" with HTTP 429.
A sync that runs into the limit wastes the `Retry-After` wait; one that stays far below it wastes
time. The limiter spaces requests evenly at the configured rate (a GCRA, the "virtual
scheduling" form of a token bucket), so a large sync runs at the ceiling without crossing it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from connectwise_billing.errors import ConfigurationError
from connectwise_billing.waits import asleep, sleep


class RateLimiter:
    """Let at most `per_minute` requests start per minute, evenly spaced.

    Args:
        per_minute: Requests per minute.
        burst: Requests that may start back to back after a quiet spell. `1` spaces every
            request by `60 / per_minute` seconds.
        clock: Monotonic clock in seconds (injectable for tests).

    One limiter is safe to share between threads and between asyncio tasks.
    """

    def __init__(
        self, per_minute: float, *, burst: int = 1, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if not per_minute > 0:
            raise ConfigurationError(f"rate limit must be positive, got {per_minute!r}")
        if burst < 1:
            raise ConfigurationError(f"rate limit burst must be at least 1, got {burst!r}")
        self.per_minute = per_minute
        self.burst = burst
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
