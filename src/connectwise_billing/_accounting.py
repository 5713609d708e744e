"""Count the HTTP requests made inside a block of code, and the time it spent throttled, in
threads and asyncio tasks alike.

```python
with count_requests() as counter:
    client.products.list()
print(counter.count)  # requests sent, retries included
```

Counters nest: a request counts for every enclosing counter. They follow `contextvars`, so a
counter opened inside an asyncio task counts that task's requests only, even when many tasks
share one client.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from contextvars import ContextVar


class RequestCounter:
    """How many HTTP requests (attempts, retries included) were sent while it was open."""

    __slots__ = ("count", "parent")

    def __init__(self, parent: RequestCounter | None = None) -> None:
        self.count = 0
        """Requests sent so far."""
        self.parent = parent
        """The counter open around this one, which counts the same requests."""

    def __repr__(self) -> str:
        return f"RequestCounter(count={self.count})"


_current: ContextVar[RequestCounter | None] = ContextVar(
    "connectwise_billing_request_counter", default=None
)


@contextlib.contextmanager
def count_requests() -> Iterator[RequestCounter]:
    """Count the requests sent in this block (and in tasks it starts)."""
    counter = RequestCounter(_current.get())
    token = _current.set(counter)
    try:
        yield counter
    finally:
        _current.reset(token)


def record_request() -> None:
    """Count one request for every open counter: the ConnectWise clients call it per attempt,
    and any billing backend per request it sends its PSA (it is
    `connectwise_billing.backend.record_request` too), for the reports' `api_calls`."""
    counter = _current.get()
    while counter is not None:
        counter.count += 1
        counter = counter.parent


class ThrottleMeter:
    """The seconds a run waited out 429s, against its budget (`RetryPolicy.throttle_budget`).

    Attributes:
        budget: Seconds of 429 waits the run may spend (`None`: no limit).
        spent: Seconds waited so far.
        exhausted: Why the budget ran out, once it did: the run stops with its report.
    """

    def __init__(self, budget: float | None) -> None:
        self.budget = budget
        self.spent = 0.0
        self.exhausted: str | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"ThrottleMeter(budget={self.budget!r}, spent={self.spent:g})"

    def spend(self, seconds: float) -> bool:
        """Book a wait for a 429; `False` (and `exhausted` set) when the budget does not cover
        it."""
        with self._lock:
            if self.budget is None:
                self.spent += seconds
                return True
            if self.exhausted is None and self.spent + seconds <= self.budget:
                self.spent += seconds
                return True
            self.exhausted = self.exhausted or (
                f"ConnectWise kept throttling: {self.spent:g} s of its {self.budget:g} s budget of "
                f"429 waits spent, and it asked for {seconds:g} s more"
            )
            return False


_meter: ContextVar[ThrottleMeter | None] = ContextVar(
    "connectwise_billing_throttle_meter", default=None
)


@contextlib.contextmanager
def throttle_budget(seconds: float | None) -> Iterator[ThrottleMeter]:
    """Meter the 429 waits of the requests sent in this block (and in tasks it starts)."""
    meter = ThrottleMeter(seconds)
    token = _meter.set(meter)
    try:
        yield meter
    finally:
        _meter.reset(token)


def current_meter() -> ThrottleMeter | None:
    """The meter of the block the caller runs in, if any."""
    return _meter.get()


def spend_throttle(seconds: float) -> bool:
    """Book a 429 wait on the open meter; `False` when its budget does not cover it (always
    `True` outside a metered block)."""
    meter = _meter.get()
    return meter is None or meter.spend(seconds)
