"""Time for the simulator and the SDK in tests: real, or virtual time that moves only on request.

```python
from connectwise_billing.testing import FakeConnectWise, VirtualClock, set_testing

clock = VirtualClock()
fake = FakeConnectWise(time_source=clock)  # delays of injected faults run on this clock
set_testing(True, clock=clock)  # every SDK wait (backoff, settle) moves the clock instead
```
"""

from __future__ import annotations

import threading
import time
from typing import Protocol


class TimeSource(Protocol):
    """What the simulator needs of time: a monotonic reading and a way to wait."""

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back."""

    def sleep(self, seconds: float) -> None:
        """Let `seconds` pass."""


class RealTime:
    """The real clock: `time.monotonic` and `time.sleep`."""

    def monotonic(self) -> float:
        """`time.monotonic()`."""
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        """`time.sleep(seconds)`."""
        if seconds > 0:
            time.sleep(seconds)

    def __repr__(self) -> str:
        return "RealTime()"


class VirtualClock:
    """A clock that moves only when told to: `advance()`, or `sleep()`, which returns at once.

    Share one between a simulator (`FakeConnectWise(time_source=clock)`) and the SDK
    (`set_testing(True, clock=clock)`): a write the simulator makes visible "1 s later" becomes
    visible once the SDK's settle waits have added up to 1 s, without a real second passing.
    Safe to share between threads.
    """

    def __init__(self, start: float = 0.0) -> None:
        self._now = start
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"VirtualClock(now={self.monotonic():g})"

    def monotonic(self) -> float:
        """The clock's current reading, in seconds."""
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> None:
        """Move the clock forward by `seconds` (negative values are ignored)."""
        if seconds > 0:
            with self._lock:
                self._now += seconds

    def sleep(self, seconds: float) -> None:
        """Advance the clock by `seconds` and return at once."""
        self.advance(seconds)
