"""Count the HTTP requests made inside a block of code, in threads and asyncio tasks alike.

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
    """Count one request for every open counter (called by the clients per attempt)."""
    counter = _current.get()
    while counter is not None:
        counter.count += 1
        counter = counter.parent
