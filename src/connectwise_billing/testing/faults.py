"""Faults the simulator can inject: scripted per request, or random with a seed.

```python
from connectwise_billing.testing import Fault, FakeConnectWise

fake = FakeConnectWise()
fake.faults.add(Fault.rate_limited(retry_after=2), method="GET", times=1)
fake.faults.add(Fault.drop_after_commit(), method="POST", path="/additions")
fake.faults.randomly(probability=0.2, seed=7)
```

| fault | what the client sees | was a write applied? |
|---|---|---|
| `rate_limited` | 429 with `Retry-After` and ConnectWise's 429 body | no |
| `server_error` | 500/502/503/504 with an error body | no |
| `html_page` | an HTML page (a proxy or maintenance screen) | no |
| `timeout` | the read times out | only with `after_commit=True` |
| `drop_before_commit` | the connection closes with no answer | no |
| `drop_after_commit` | the connection closes with no answer | yes (naive clients duplicate) |
| `latency` | the answer arrives `seconds` late | n/a |
"""

from __future__ import annotations

import random
import re
import threading
from collections.abc import Sequence
from typing import Final, Literal

import attrs

FaultKind = Literal[
    "rate_limited",
    "server_error",
    "html_page",
    "timeout",
    "drop_before_commit",
    "drop_after_commit",
    "latency",
]

ALL_FAULT_KINDS: Final[tuple[FaultKind, ...]] = (
    "rate_limited",
    "server_error",
    "html_page",
    "timeout",
    "drop_before_commit",
    "drop_after_commit",
)
"""Every kind that makes a request fail (latency only slows it down)."""


@attrs.frozen(slots=False)
class Fault:
    """One injected fault. Build with the class methods."""

    kind: FaultKind
    status: int = 503
    retry_after: float = 1.0
    seconds: float = 0.0
    after_commit: bool = False

    @classmethod
    def rate_limited(cls, retry_after: float = 1.0) -> Fault:
        """429 Too Many Requests with `Retry-After: <retry_after>`."""
        return cls("rate_limited", status=429, retry_after=retry_after)

    @classmethod
    def server_error(cls, status: int = 503) -> Fault:
        """A 5xx answer with a ConnectWise error body."""
        return cls("server_error", status=status)

    @classmethod
    def html_page(cls, status: int = 502) -> Fault:
        """An HTML page instead of JSON, as a proxy or maintenance page sends."""
        return cls("html_page", status=status)

    @classmethod
    def timeout(cls, *, after_commit: bool = False, seconds: float = 0.5) -> Fault:
        """No answer in time. In process the transport raises `httpx.ReadTimeout`; over HTTP
        the server holds the connection for `seconds` and then closes it."""
        return cls("timeout", seconds=seconds, after_commit=after_commit)

    @classmethod
    def drop_before_commit(cls) -> Fault:
        """The connection drops before a write is applied."""
        return cls("drop_before_commit")

    @classmethod
    def drop_after_commit(cls) -> Fault:
        """The write is applied, then the connection drops before the answer is sent."""
        return cls("drop_after_commit", after_commit=True)

    @classmethod
    def latency(cls, seconds: float) -> Fault:
        """Delay this answer by `seconds`."""
        return cls("latency", seconds=seconds)


@attrs.define
class _Rule:
    fault: Fault
    method: str | None
    path: re.Pattern[str] | None
    remaining: int | None

    def matches(self, method: str, path: str) -> bool:
        if self.remaining is not None and self.remaining <= 0:
            return False
        if self.method is not None and self.method != method:
            return False
        return self.path is None or self.path.search(path) is not None


class FaultPlan:
    """The faults a simulator injects, consulted once per request (thread-safe)."""

    def __init__(self) -> None:
        self._rules: list[_Rule] = []
        self._random: random.Random | None = None
        self._probability = 0.0
        self._kinds: Sequence[FaultKind] = ALL_FAULT_KINDS
        self._random_methods: frozenset[str] | None = None
        self._lock = threading.Lock()

    def add(
        self,
        fault: Fault,
        *,
        method: str | None = None,
        path: str | None = None,
        times: int | None = 1,
    ) -> None:
        """Inject `fault` into the next `times` requests (`None`: all) that match.

        Args:
            fault: What to do.
            method: Only requests with this HTTP method.
            path: Only requests whose path matches this regular expression (`search`).
            times: How many matching requests get the fault.
        """
        pattern = re.compile(path) if path else None
        with self._lock:
            self._rules.append(_Rule(fault, method and method.upper(), pattern, times))

    def randomly(
        self,
        probability: float,
        *,
        seed: int,
        kinds: Sequence[FaultKind] = ALL_FAULT_KINDS,
        methods: Sequence[str] | None = None,
    ) -> None:
        """Give each request (of `methods`, default all) a fault of a random kind with
        `probability`, reproducibly from `seed`."""
        if not 0 <= probability <= 1:
            raise ValueError(f"probability must be between 0 and 1, got {probability!r}")
        with self._lock:
            self._random = random.Random(seed)
            self._probability = probability
            self._kinds = tuple(kinds)
            self._random_methods = frozenset(m.upper() for m in methods) if methods else None

    def clear(self) -> None:
        """Remove every scripted and random fault."""
        with self._lock:
            self._rules.clear()
            self._random = None

    def next_fault(self, method: str, path: str) -> Fault | None:
        """The fault for this request, if any (consumes a scripted one)."""
        with self._lock:
            for rule in self._rules:
                if rule.matches(method, path):
                    if rule.remaining is not None:
                        rule.remaining -= 1
                    return rule.fault
            if self._random is None:
                return None
            if self._random_methods is not None and method not in self._random_methods:
                return None
            if self._random.random() >= self._probability:
                return None
            kind = self._random.choice(self._kinds)
            return _random_fault(kind, self._random)


def _random_fault(kind: FaultKind, rng: random.Random) -> Fault:
    if kind == "rate_limited":
        return Fault.rate_limited(retry_after=rng.choice((1.0, 2.0, 5.0)))
    if kind == "server_error":
        return Fault.server_error(rng.choice((500, 502, 503, 504)))
    if kind == "html_page":
        return Fault.html_page(rng.choice((502, 503)))
    if kind == "timeout":
        return Fault.timeout(after_commit=rng.random() < 0.5, seconds=0.05)
    if kind == "latency":
        return Fault.latency(rng.choice((0.01, 0.05)))
    return Fault(kind, after_commit=kind == "drop_after_commit")
