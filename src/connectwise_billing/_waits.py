"""Every wait of the SDK goes through here, so tests can switch them all off at once.

Retry backoff, `Retry-After`, the settle re-reads of a write whose answer was lost and the
client-side rate limiter all wait with [`sleep`][connectwise_billing._waits.sleep] or
[`asleep`][connectwise_billing._waits.asleep]. In testing mode
([`set_testing`][connectwise_billing._waits.set_testing], also
`connectwise_billing.testing.set_testing`) those waits take no time; with a clock, each moves
that clock instead, so a simulator on the same clock sees the time pass.

The library reads no environment variable: importing it changes nothing, and only
`set_testing()` (which a test can undo) turns waits off. The command line, an application of
its own, starts in testing mode when `CONNECTWISE_BILLING_TESTING=1`, so that tests of scripts
that run it need not wait. Never set it in production: backoff is what keeps a throttled client
from hammering ConnectWise.

Locks are not affected: they wait for other runs in real time.
"""

from __future__ import annotations

import threading
import time
from typing import Final, Protocol

import attrs

__all__ = [
    "TESTING_ENVIRONMENT_VARIABLE",
    "Clock",
    "TestingMode",
    "asleep",
    "is_testing",
    "set_testing",
    "sleep",
]

TESTING_ENVIRONMENT_VARIABLE: Final = "CONNECTWISE_BILLING_TESTING"
"""Set to `1` in the command line's environment to start it in testing mode (every wait zero);
the library itself never reads it."""


class Clock(Protocol):
    """A clock that waits by moving forward (`connectwise_billing.testing.VirtualClock`)."""

    def advance(self, seconds: float) -> None:
        """Move the clock forward by `seconds`."""


@attrs.define
class _Testing:
    enabled: bool = False
    clock: Clock | None = None


_testing = _Testing()
_testing_lock = threading.Lock()


class TestingMode:
    """What [`set_testing`][connectwise_billing._waits.set_testing] returns: the setting is
    already made; used as a context manager, it puts back the one before on exit.

    ```python
    from connectwise_billing.testing import is_testing, set_testing

    with set_testing(True):
        assert is_testing()
    assert not is_testing()
    ```
    """

    __test__ = False  # not a pytest test class, whatever its name

    def __init__(self, enabled: bool, clock: Clock | None) -> None:
        self._previous = (enabled, clock)

    def __enter__(self) -> None:
        return None

    def __exit__(self, *_: object) -> None:
        with _testing_lock:
            _testing.enabled, _testing.clock = self._previous


def set_testing(testing: bool = True, *, clock: Clock | None = None) -> TestingMode:
    """Turn every wait of the SDK off (`True`) or back on (`False`), process-wide.

    In testing mode, retry backoff, `Retry-After`, the settle re-reads' waits and the client-side
    rate limiter take no time; with `clock`, each wait advances that clock instead.

    Returns:
        A context manager that restores the previous setting on exit (as stamina's does);
        called plainly, the setting stays.
    """
    with _testing_lock:
        previous = TestingMode(_testing.enabled, _testing.clock)
        _testing.enabled = testing
        _testing.clock = clock if testing else None
    return previous


def is_testing() -> bool:
    """Whether [`set_testing`][connectwise_billing._waits.set_testing] turned waits off."""
    return _testing.enabled


def _passes_for_real(seconds: float) -> bool:
    """Whether a wait of `seconds` must really pass: not when there is none, nor in testing
    mode, where the virtual clock (if one is set) moves on instead."""
    if seconds <= 0:
        return False
    if _testing.enabled:
        if _testing.clock is not None:
            _testing.clock.advance(seconds)
        return False
    return True


def sleep(seconds: float) -> None:
    """Wait `seconds` (no time at all in testing mode)."""
    if _passes_for_real(seconds):
        time.sleep(seconds)


async def asleep(seconds: float) -> None:
    """The asyncio twin of [`sleep`][connectwise_billing._waits.sleep]."""
    if _passes_for_real(seconds):
        import asyncio

        await asyncio.sleep(seconds)
