"""Run a sync on an interval, never two at once."""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable
from typing import Final, TypeVar

from connectwise_billing._log import logger
from connectwise_billing.errors import ConfigurationError

T = TypeVar("T")
"""What the scheduled function returns (a `SyncReport`, for a sync)."""

KEEP: Final = 10
"""How many results `run_every` keeps by default: a schedule runs for months."""


def run_every(
    interval: float,
    fn: Callable[[], T],
    *,
    stop: threading.Event | None = None,
    max_runs: int | None = None,
    clock: Callable[[], float] = time.monotonic,
    keep: int = KEEP,
    on_result: Callable[[T], None] | None = None,
) -> list[T]:
    """Call `fn` every `interval` seconds until `stop` is set (or `max_runs` runs are done).

    Runs start on a fixed schedule (`interval` apart, not `interval` after the previous run
    ended). A run still going when the next is due is never overlapped: the due runs are
    skipped, logged at WARNING, and the schedule picks up at the next tick. An exception from
    `fn` is logged and the schedule goes on: a failed sync must not stop the next one.

    Memory stays flat however long the schedule runs: only the last `keep` results are kept.
    Give `on_result` to see every result as it comes (to store or alert on it).

    Returns what the last `keep` runs returned, oldest first (runs that raised are left out).
    """
    if not interval > 0:
        raise ConfigurationError(f"interval must be positive, got {interval!r}")
    if isinstance(keep, bool) or not isinstance(keep, int) or keep < 0:
        raise ConfigurationError(f"keep must be a whole number >= 0, got {keep!r}")
    stop = stop or threading.Event()
    results: collections.deque[T] = collections.deque(maxlen=keep)
    runs = 0
    next_start = clock()
    while not stop.is_set() and (max_runs is None or runs < max_runs):
        runs += 1
        try:
            result = fn()
        except Exception:
            logger.exception("scheduled run %d failed", runs)
        else:
            results.append(result)
            if on_result is not None:
                on_result(result)
        next_start += interval
        now = clock()
        if now > next_start:
            missed = int((now - next_start) // interval) + 1
            logger.warning("a run overran the interval: %d scheduled run(s) skipped", missed)
            next_start += missed * interval
        if max_runs is not None and runs >= max_runs:
            break
        stop.wait(max(0.0, next_start - clock()))
    return list(results)
