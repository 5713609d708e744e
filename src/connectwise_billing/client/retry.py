"""When to retry a request and how long to wait: one policy object, tenacity underneath.

The decisions are pure functions ([`retry_reason`][connectwise_billing.client.retry.retry_reason],
[`compute_wait`][connectwise_billing.client.retry.compute_wait],
[`parse_retry_after`][connectwise_billing.client.retry.parse_retry_after]) shared by the sync and
the async client; tenacity only drives the loop.

What is retried:

| failure | GET | PATCH, PUT, DELETE | POST |
|---|---|---|---|
| 429 Too Many Requests | yes | yes | yes: ConnectWise did not process it |
| 502, 503, 504 | yes | yes | no |
| 500 | yes | no | no |
| timeout, dropped connection | yes | yes | no: it may have been applied |
| connection never established | yes | yes | yes: nothing was sent |
| any other 4xx | no | no | no |

A POST whose outcome is unknown is left to the caller: the applier re-reads the agreement to
find out whether the addition was created before it tries again.
"""

from __future__ import annotations

import logging
import math
import random
import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any, Final, TypeVar

import attrs

from connectwise_billing.errors import (
    APIConnectionError,
    APITimeoutError,
    RateLimitError,
    ServerError,
)

if TYPE_CHECKING:
    import tenacity

logger = logging.getLogger("connectwise_billing")
T = TypeVar("T")

IDEMPOTENT_METHODS: Final = frozenset({"GET", "HEAD", "PUT", "PATCH", "DELETE"})
_GATEWAY_STATUSES: Final = frozenset({502, 503, 504})
_RETRY_IN_MESSAGE: Final = re.compile(r"try again in (\d+(?:\.\d+)?) seconds?", re.IGNORECASE)


def _positive(name: str) -> Callable[[Any, Any, float], None]:
    def check(_instance: Any, _attribute: Any, value: float) -> None:
        if value < 0:
            raise ValueError(f"RetryPolicy.{name} must not be negative, got {value!r}")

    return check


@attrs.frozen(slots=False)
class RetryPolicy:
    """How the client retries failed requests.

    Attributes:
        max_attempts: Attempts in total, the first included. `1` turns retries off.
        total_timeout: Time budget in seconds for all attempts and waits of one request; a retry
            whose wait would overrun it is not made.
        initial_backoff: First wait in seconds; it doubles with every attempt.
        max_backoff: Longest exponential wait in seconds.
        jitter: Spread each exponential wait randomly over [wait/2, wait], so that many clients
            throttled at once do not come back in step.
        max_retry_after: Longest wait in seconds the server's `Retry-After` may impose.
        wait: `False` makes every wait zero (the waits are still computed and logged). Meant for
            tests: `RetryPolicy(wait=False)`.
    """

    max_attempts: int = attrs.field(default=5)
    total_timeout: float = attrs.field(default=120.0, validator=_positive("total_timeout"))
    initial_backoff: float = attrs.field(default=0.5, validator=_positive("initial_backoff"))
    max_backoff: float = attrs.field(default=30.0, validator=_positive("max_backoff"))
    jitter: bool = True
    max_retry_after: float = attrs.field(default=120.0, validator=_positive("max_retry_after"))
    wait: bool = True

    @max_attempts.validator
    def _check_attempts(self, _attribute: Any, value: int) -> None:
        if value < 1:
            raise ValueError(f"RetryPolicy.max_attempts must be at least 1, got {value!r}")

    @classmethod
    def never(cls) -> RetryPolicy:
        """A policy that makes one attempt only."""
        return cls(max_attempts=1)


def retry_reason(method: str, error: BaseException) -> str | None:
    """Why a request that failed with `error` may be retried, or `None` if it must not be."""
    idempotent = method.upper() in IDEMPOTENT_METHODS
    if isinstance(error, RateLimitError):
        return "429 Too Many Requests"
    if isinstance(error, ServerError):
        if error.status_code in _GATEWAY_STATUSES and idempotent:
            return f"{error.status_code} from the server"
        if error.status_code == 500 and method.upper() in ("GET", "HEAD"):
            return "500 from the server"
        return None
    if isinstance(error, APIConnectionError):
        if not error.request_sent:
            return "could not connect"
        if idempotent:
            return "timed out" if isinstance(error, APITimeoutError) else "connection dropped"
    return None


def compute_wait(
    policy: RetryPolicy,
    attempt: int,
    error: BaseException | None,
    rng: Callable[[float, float], float] = random.uniform,
) -> float:
    """Seconds to wait after failed attempt number `attempt` (1-based).

    The server's `Retry-After` wins when it gave one (capped at `max_retry_after`); otherwise
    exponential backoff from `initial_backoff`, capped at `max_backoff`, with jitter.
    """
    if isinstance(error, RateLimitError) and error.retry_after is not None:
        return min(error.retry_after, policy.max_retry_after)
    backoff = min(policy.max_backoff, policy.initial_backoff * 2 ** (attempt - 1))
    return rng(backoff / 2, backoff) if policy.jitter else backoff


def parse_retry_after(
    header: str | None, *, message: str | None = None, now: datetime | None = None
) -> float | None:
    """Seconds to wait from a `Retry-After` header: delay-seconds or an HTTP date.

    Without a usable header, ConnectWise's 429 message ("Please try again in 30 seconds.") is
    read instead. Dates in the past give `0.0`; anything unreadable gives `None`.
    """
    if header is not None:
        text = header.strip()
        try:
            seconds = float(text)
        except ValueError:
            pass
        else:
            return max(0.0, seconds) if math.isfinite(seconds) else None
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            when = None
        if when is not None:
            if when.tzinfo is None:
                when = when.replace(tzinfo=UTC)
            return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())
    if message:
        found = _RETRY_IN_MESSAGE.search(message)
        if found:
            return float(found.group(1))
    return None


def _log_retry(method: str, path: str, policy: RetryPolicy) -> Callable[[Any], None]:
    def before_sleep(state: tenacity.RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        reason = retry_reason(method, error) if error else "unknown"
        logger.warning(
            "retrying %s %s in %.2f s (attempt %d of %d): %s",
            method,
            path,
            state.upcoming_sleep,
            state.attempt_number + 1,
            policy.max_attempts,
            reason,
        )

    return before_sleep


def _tenacity_arguments(policy: RetryPolicy, method: str, path: str) -> dict[str, Any]:
    # Imported here: tenacity pulls in asyncio, which would double the cost of importing the SDK.
    import tenacity

    def wait(state: tenacity.RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        return compute_wait(policy, state.attempt_number, error)

    return {
        "stop": tenacity.stop_after_attempt(policy.max_attempts)
        | tenacity.stop_before_delay(policy.total_timeout),
        "wait": wait,
        "retry": tenacity.retry_if_exception(lambda error: retry_reason(method, error) is not None),
        "before_sleep": _log_retry(method, path, policy),
        "reraise": True,
    }


def call_with_retries(
    policy: RetryPolicy, method: str, path: str, fn: Callable[..., T], *args: Any
) -> T:
    """Call `fn(*args)`, retrying per `policy` the failures `retry_reason` allows."""
    import tenacity

    arguments = _tenacity_arguments(policy, method, path)
    if not policy.wait:
        arguments["sleep"] = lambda _seconds: None
    # The iterator form keeps the result out of tenacity's state: a returned page would
    # otherwise live on in a reference cycle until the garbage collector ran.
    for attempt in tenacity.Retrying(**arguments):
        with attempt:
            result = fn(*args)
    return result


async def async_call_with_retries(
    policy: RetryPolicy, method: str, path: str, fn: Callable[..., Awaitable[T]], *args: Any
) -> T:
    """Await `fn(*args)`, retrying per `policy` the failures `retry_reason` allows."""
    import tenacity

    async def no_sleep(_seconds: float) -> None:
        return None

    arguments = _tenacity_arguments(policy, method, path)
    if not policy.wait:
        arguments["sleep"] = no_sleep
    async for attempt in tenacity.AsyncRetrying(**arguments):
        with attempt:
            result = await fn(*args)
    return result


__all__ = [
    "IDEMPOTENT_METHODS",
    "RetryPolicy",
    "async_call_with_retries",
    "call_with_retries",
    "compute_wait",
    "parse_retry_after",
    "retry_reason",
]
