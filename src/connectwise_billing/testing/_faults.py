"""Faults the simulator can inject: scripted per request, or random with a seed.

```python
from connectwise_billing.testing import Fault, FakeConnectWise

fake = FakeConnectWise()
fake.faults.add(Fault.rate_limited(retry_after=2), method="GET", times=1)
fake.faults.add(Fault.drop_after_commit(), method="POST", path="/additions")
fake.faults.add(Fault.commit_later(seconds=1.0), method="POST")
fake.faults.randomly(probability=0.2, seed=7)
```

| fault | what the client sees | was a write applied? |
|---|---|---|
| `rate_limited` | 429 with `Retry-After` and ConnectWise's 429 body | no |
| `server_error` | 500/502/503/504 with ConnectWise's error body | no |
| `html_page` | an HTML page (a proxy or maintenance screen) | no |
| `timeout` | the read times out | only with `after_commit=True` |
| `drop_before_commit` | the connection closes with no answer | no |
| `drop_after_commit` | the connection closes with no answer | yes (naive clients duplicate) |
| `commit_later` | no answer in time (see `answer`) | yes, seen `seconds` later |
| `gateway_error` | a gateway's 502/504 HTML page | with `after_commit=True` (the default) |
| `slow_visibility` | a normal answer | yes, seen `seconds` later |
| `duplicate_record` | a list page that lists its first record twice | n/a (reads) |
| `redirect` | a 3xx to another host, with a `[]` body | no |
| `echo_headers` | a debugging gateway's 502 that echoes the request's headers, keys included | no |
| `latency` | the answer arrives `seconds` late | n/a |
| `altered_write` | a normal answer, showing what was stored | yes, `field` set to `value` |
| `invalid` | 400 with ConnectWise's `InvalidObject` body (the content refused) | no |

Time (`seconds`) is the simulator's `time_source`: real time by default, or a
[`VirtualClock`][connectwise_billing.testing.VirtualClock] that tests move forward.

From the command line, `python -m connectwise_billing.testing serve --fault SPEC` adds a fault:
`SPEC` is the kind, then `key=value` settings separated by commas, e.g.
`commit_later,seconds=1,answer=timeout,method=POST,times=1` (see
[`FaultPlan.add_spec`][connectwise_billing.testing.FaultPlan.add_spec]).
"""

from __future__ import annotations

import random
import re
import threading
from collections.abc import Sequence
from typing import Any, Final, Literal, get_args

import attrs

FaultKind = Literal[
    "rate_limited",
    "server_error",
    "html_page",
    "timeout",
    "drop_before_commit",
    "drop_after_commit",
    "commit_later",
    "gateway_error",
    "slow_visibility",
    "duplicate_record",
    "redirect",
    "echo_headers",
    "latency",
    "altered_write",
    "invalid",
]
"""What a `Fault` does; each kind has a class method that builds it."""
Answer = Literal["timeout", "drop", "late"]
"""How a `commit_later` write is answered: it times out, the connection drops, or the answer
comes late."""
LOGIN_PAGE: Final = "https://login.example.net/login"
"""Where a `redirect` fault points by default: another host's login page."""

ALL_FAULT_KINDS: Final[tuple[FaultKind, ...]] = tuple(
    kind for kind in get_args(FaultKind) if kind not in ("latency", "altered_write", "invalid")
)
"""Every kind that makes a request fail or misbehave (latency only slows it down; an altered
write is a PSA that stores other values, and an invalid one a refusal of what was sent: both
scripted by a test, never random)."""


@attrs.frozen(slots=False)
class Fault:
    """One injected fault. Build with the class methods.

    Attributes:
        kind: What goes wrong (see `FaultKind`).
        status: The HTTP status answered, for faults that answer one.
        retry_after: The `Retry-After` seconds of a `rate_limit` fault.
        seconds: How long a `slow` or `commit_later` fault waits.
        after_commit: Whether the fault strikes after the write was applied (the client is told
            something went wrong although it did not).
        answer: What the client hears of a write committed later (see `commit_later`).
    """

    kind: FaultKind
    status: int = 503
    retry_after: float = 1.0
    seconds: float = 0.0
    after_commit: bool = False
    answer: Answer = "timeout"
    location: str = LOGIN_PAGE
    """Where a `redirect` points: another host, as a login page or a misconfigured proxy does."""
    field: str | None = None
    """The wire name of the field an `altered_write` stores otherwise (`unitPrice`)."""
    value: Any = None
    """What an `altered_write` stores in `field` instead of what was sent."""

    @classmethod
    def rate_limited(cls, retry_after: float = 1.0) -> Fault:
        """429 Too Many Requests with `Retry-After: <retry_after>`."""
        return cls("rate_limited", status=429, retry_after=retry_after)

    @classmethod
    def server_error(cls, status: int = 503) -> Fault:
        """A 5xx answer with a ConnectWise error body."""
        return cls("server_error", status=status)

    @classmethod
    def invalid(cls) -> Fault:
        """A 400 with ConnectWise's `InvalidObject` body: the content refused, nothing applied."""
        return cls("invalid", status=400)

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
    def commit_later(cls, seconds: float = 1.0, *, answer: Answer = "timeout") -> Fault:
        """A write ConnectWise commits after the client gave up: applied, but visible to reads
        only `seconds` later; the answer times out (`"timeout"`), is dropped (`"drop"`), or
        comes `seconds` late (`"late"`: a client whose read timeout is shorter times out)."""
        return cls("commit_later", seconds=seconds, after_commit=True, answer=answer)

    @classmethod
    def gateway_error(cls, status: int = 502, *, after_commit: bool = True) -> Fault:
        """A gateway in front of ConnectWise answers `status` (an HTML page, no ConnectWise
        error body), by default after the backend applied the write."""
        return cls("gateway_error", status=status, after_commit=after_commit)

    @classmethod
    def slow_visibility(cls, seconds: float) -> Fault:
        """The write is applied and answered, but reads see it only `seconds` later."""
        return cls("slow_visibility", seconds=seconds, after_commit=True)

    @classmethod
    def duplicate_record(cls) -> Fault:
        """A list answer that lists its first record twice."""
        return cls("duplicate_record", status=200)

    @classmethod
    def redirect(cls, status: int = 302, *, location: str | None = None) -> Fault:
        """A redirect (3xx) to another host, with a `[]` JSON body, and nothing processed."""
        return cls("redirect", status=status, location=location or LOGIN_PAGE)

    @classmethod
    def echo_headers(cls, status: int = 502) -> Fault:
        """A misconfigured gateway whose error page echoes the request, headers and all: the
        `Authorization` header and the clientId come back in the body."""
        return cls("echo_headers", status=status)

    @classmethod
    def latency(cls, seconds: float) -> Fault:
        """Delay this answer by `seconds`."""
        return cls("latency", seconds=seconds)

    @classmethod
    def altered_write(cls, field: str, value: Any) -> Fault:
        """A write applied with `field` (a wire name, `unitPrice`) set to `value` instead of
        what was sent, as a PSA does that applies a default or rounds; the answer shows the
        record as stored."""
        return cls("altered_write", after_commit=True, field=field, value=value)

    @classmethod
    def parse(cls, spec: str) -> tuple[Fault, dict[str, Any]]:
        """A fault from `kind,key=value,...`, and the `FaultPlan.add` settings it names
        (`method`, `path`, `times`; `times=all` for every match).

        Raises:
            ValueError: an unknown kind or setting, or a value of the wrong type.
        """
        kind, *settings = [part.strip() for part in spec.split(",") if part.strip()] or [""]
        build = getattr(cls, kind, None) if kind in _SPEC_KINDS else None
        if build is None:
            raise ValueError(f"unknown fault kind {kind!r}; use one of {', '.join(_SPEC_KINDS)}")
        fault_args: dict[str, Any] = {}
        rule: dict[str, Any] = {}
        for setting in settings:
            key, equals, text = setting.partition("=")
            key = key.strip()
            if not equals:
                raise ValueError(f"fault setting {setting!r} must be key=value")
            if key in ("method", "path"):
                rule[key] = text
            elif key == "times":
                rule[key] = None if text == "all" else _typed(key, text, int)
            elif key in _SPEC_SETTINGS:
                fault_args[key] = _typed(key, text, _SPEC_SETTINGS[key])
            else:
                raise ValueError(f"unknown fault setting {key!r} in {spec!r}")
        try:
            fault: Fault = build(**fault_args)
        except TypeError:
            raise ValueError(f"{kind} does not take {', '.join(sorted(fault_args))}") from None
        return fault, rule


_SPEC_KINDS: Final = tuple(kind for kind in get_args(FaultKind))
_SPEC_SETTINGS: Final[dict[str, type]] = {
    "retry_after": float,
    "status": int,
    "seconds": float,
    "after_commit": bool,
    "answer": str,
    "location": str,
    "field": str,
}


def _typed(key: str, text: str, kind: type) -> Any:
    if kind is bool:
        if text.lower() not in ("true", "false"):
            raise ValueError(f"fault setting {key} must be true or false, got {text!r}")
        return text.lower() == "true"
    try:
        return kind(text)
    except ValueError:
        raise ValueError(f"fault setting {key} must be {kind.__name__}, got {text!r}") from None


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

    def add_spec(self, spec: str) -> None:
        """Add a fault written as text, as the simulator's `serve --fault` takes it:
        `commit_later,seconds=1,answer=timeout,method=POST,times=1` (see `Fault.parse`)."""
        fault, rule = Fault.parse(spec)
        self.add(fault, **rule)

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
    if kind == "commit_later":
        answer: Answer = rng.choice(("timeout", "drop"))
        return Fault.commit_later(rng.choice((0.5, 1.0, 3.0)), answer=answer)
    if kind == "gateway_error":
        return Fault.gateway_error(rng.choice((502, 504)), after_commit=rng.random() < 0.7)
    if kind == "slow_visibility":
        return Fault.slow_visibility(rng.choice((0.5, 2.0)))
    if kind == "duplicate_record":
        return Fault.duplicate_record()
    if kind == "redirect":
        return Fault.redirect(rng.choice((301, 302, 307)))
    if kind == "echo_headers":
        return Fault.echo_headers(rng.choice((502, 400)))
    return Fault(kind, after_commit=kind == "drop_after_commit")
