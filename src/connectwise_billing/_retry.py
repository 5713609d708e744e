"""When to retry a request, how long to wait, and what a failed write tells: one policy object,
tenacity underneath.

[`RetryPolicy`][connectwise_billing.RetryPolicy] decides and waits for the client's retries and
the command line (its `[retry]` settings); its `settle_*` settings become the ConnectWise
backend's [`SettlePolicy`][connectwise_billing.backend.SettlePolicy] (`RetryPolicy.settle`).
Its decision ([`RetryPolicy.decide`][connectwise_billing.RetryPolicy.decide]) is built from
pure functions ([`retry_reason`][connectwise_billing._retry.retry_reason],
[`write_outcome`][connectwise_billing._retry.write_outcome],
[`compute_wait`][connectwise_billing._retry.compute_wait],
[`parse_retry_after`][connectwise_billing._retry.parse_retry_after]), and a hook of your own
(`on=`, as in stamina) may narrow or widen it; tenacity only drives the loop.

What is retried:

| failure | reads (GET) | writes (POST, PATCH, PUT, DELETE) |
|---|---|---|
| 429 Too Many Requests | yes | yes: ConnectWise did not process it |
| connection never established | yes | yes: nothing was sent |
| 5xx | yes | no |
| timeout, dropped connection after sending | yes | no: it may have been applied |
| a redirect, an HTML page or broken JSON on a 2xx | no | no |
| any other 4xx | no | no |

A write is never repeated once it may have reached ConnectWise: the applier settles its outcome
by reading (see [`write_outcome`][connectwise_billing._retry.write_outcome] and the
`settle_*` settings of [`RetryPolicy`][connectwise_billing.RetryPolicy]).

`write_outcome` reads what each ConnectWise error says of itself (its `outcome`, as every
PSA-neutral error of [`connectwise_billing.backend`][connectwise_billing.backend] has): the
applier classifies by the neutral errors alone, and gets the same answer.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any, Final, TypeVar, cast

import attrs

from connectwise_billing import _waits as waits, backend
from connectwise_billing._accounting import current_meter, spend_throttle
from connectwise_billing._log import logger
from connectwise_billing.backend import SettlePolicy, WriteOutcome
from connectwise_billing.errors import (
    APIConnectionError,
    APITimeoutError,
    RateLimitError,
    ServerError,
    ThrottleBudgetSpent,
)

if TYPE_CHECKING:
    import tenacity

T = TypeVar("T")
"""What the retried function returns."""

READ_METHODS: Final = frozenset({"GET", "HEAD"})
_RETRY_IN_MESSAGE: Final = re.compile(r"try again in (\d+(?:\.\d+)?) seconds?", re.IGNORECASE)


RetryHook = Callable[[str, BaseException], bool | float]
"""`on(method, error)`: `False` (do not retry), `True` (retry after the usual backoff) or the
seconds to wait before retrying."""


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
        settle_timeout: How long, in seconds, the applier keeps re-reading to learn the outcome
            of a write whose answer was lost (default 10). A write the re-reads do not show by
            then is reported `"unknown"` and left to the next sync.
        settle_interval: Seconds between those re-reads (default 2); the first is immediate.
        first_contact_attempts: Attempts at a connection while the server has never answered
            this client (default 2): a host that refuses every connection is most likely the
            wrong one, and a run should say so at once.
        throttle_budget: Seconds of 429 waits a whole sync run may spend (default 600): a
            run whose 429s would make it wait longer stops with its report (`stopped` says
            `throttled`) instead of waiting on, possibly for hours. `None`: no limit.
        on: Decides which failures are retried, as stamina's `on=`: called with the HTTP method
            and the error, it returns `False` (do not retry), `True` (retry after the usual
            backoff) or a number of seconds to wait before retrying. Default (`None`): the
            rules of [`retry_reason`][connectwise_billing._retry.retry_reason]. It is never
            asked about a write that may have reached ConnectWise: such a write is never sent
            twice, whatever the hook says.
    """

    max_attempts: int = attrs.field(default=5)
    total_timeout: float = attrs.field(default=120.0, validator=_positive("total_timeout"))
    initial_backoff: float = attrs.field(default=0.5, validator=_positive("initial_backoff"))
    max_backoff: float = attrs.field(default=30.0, validator=_positive("max_backoff"))
    jitter: bool = True
    max_retry_after: float = attrs.field(default=120.0, validator=_positive("max_retry_after"))
    wait: bool = True
    settle_timeout: float = attrs.field(default=10.0, validator=_positive("settle_timeout"))
    settle_interval: float = attrs.field(default=2.0)
    first_contact_attempts: int = attrs.field(default=2)
    throttle_budget: float | None = attrs.field(default=600.0)
    on: RetryHook | None = attrs.field(default=None, eq=False)

    @max_attempts.validator
    def _check_attempts(self, _attribute: Any, value: int) -> None:
        if value < 1:
            raise ValueError(f"RetryPolicy.max_attempts must be at least 1, got {value!r}")

    @first_contact_attempts.validator
    def _check_first_contact(self, _attribute: Any, value: int) -> None:
        if value < 1:
            raise ValueError(
                f"RetryPolicy.first_contact_attempts must be at least 1, got {value!r}"
            )

    @throttle_budget.validator
    def _check_throttle_budget(self, _attribute: Any, value: float | None) -> None:
        if value is not None and (isinstance(value, bool) or not value >= 0):
            raise ValueError(f"RetryPolicy.throttle_budget must be >= 0 or None, got {value!r}")

    @settle_interval.validator
    def _check_settle_interval(self, _attribute: Any, value: float) -> None:
        if not value > 0:
            raise ValueError(f"RetryPolicy.settle_interval must be positive, got {value!r}")

    @property
    def settle(self) -> SettlePolicy:
        """The settle re-reads and resends this policy's settings make: `settle_timeout`,
        `settle_interval`, and `max_attempts`, the backoff and `wait` for sending an update
        again."""
        return SettlePolicy(
            settle_timeout=self.settle_timeout,
            settle_interval=self.settle_interval,
            max_attempts=self.max_attempts,
            initial_backoff=self.initial_backoff,
            max_backoff=self.max_backoff,
            jitter=self.jitter,
            wait=self.wait,
        )

    def settle_waits(self, within: float | None = None) -> list[float]:
        """The waits between the re-reads that settle a write: one every `settle_interval`,
        adding up to `settle_timeout` (or to `within` seconds, what is left of it)."""
        return self.settle.settle_waits(within)

    @classmethod
    def never(cls) -> RetryPolicy:
        """A policy that makes one attempt only."""
        return cls(max_attempts=1)

    def decide(self, method: str, error: BaseException, attempt: int) -> float | None:
        """Seconds to wait before retrying a request that failed with `error` on attempt number
        `attempt` (1-based), or `None`: do not retry. `max_attempts` and `total_timeout` are
        applied by the caller.

        A write is retried only when ConnectWise provably did not process it
        ([`write_outcome`][connectwise_billing._retry.write_outcome] is `not_sent`); within
        that, and for reads, `on` decides when given, else
        [`retry_reason`][connectwise_billing._retry.retry_reason].
        """
        if method.upper() not in READ_METHODS and write_outcome(error) != "not_sent":
            return None
        if self.on is None:
            if retry_reason(method, error) is None:
                return None
            return compute_wait(self, attempt, error)
        answer = self.on(method, error)
        if isinstance(answer, bool):
            return compute_wait(self, attempt, error) if answer else None
        return max(0.0, float(answer))

    def sleep(self, seconds: float) -> None:
        """Wait `seconds`, unless `wait` is off (and no time at all in testing mode: see
        [`set_testing`][connectwise_billing._waits.set_testing])."""
        if self.wait:
            waits.sleep(seconds)

    async def asleep(self, seconds: float) -> None:
        """The asyncio twin of [`sleep`][connectwise_billing.RetryPolicy.sleep]."""
        if self.wait:
            await waits.asleep(seconds)


def write_outcome(error: BaseException) -> WriteOutcome:
    """Classify the error a write ended with.

    - `not_sent`: a connection never established, a 429, a value refused before sending
      (`InputError`), a rate limiter that could not be used (`RateLimiterError`).
    - `unknown`: a timeout or dropped connection after sending; a 502 or 504; any 5xx without
      ConnectWise's JSON error body (a gateway's page); a redirect, or a 2xx that is not
      ConnectWise's JSON (a proxy answered: the write may well have gone through).
    - `refused`: ConnectWise's own error answer (a 4xx, or a 500/503 with its error body).

    Each error says it of itself (`outcome`): this is
    [`connectwise_billing.backend.write_outcome`][connectwise_billing.backend.write_outcome],
    which the applier uses for every PSA.
    """
    return backend.write_outcome(error)


def retry_reason(method: str, error: BaseException) -> str | None:
    """Why a request that failed with `error` may be retried, or `None` if it must not be.

    Reads are retried on throttling, server failures and connection problems. Writes only when
    ConnectWise provably did not process them: a write that may have been applied is never
    sent twice.
    """
    if isinstance(error, RateLimitError):
        return "429 Too Many Requests"
    if isinstance(error, APIConnectionError) and not error.request_sent:
        return "could not connect"
    if method.upper() not in READ_METHODS:
        return None
    if isinstance(error, ServerError):
        return f"{error.status_code} from the server"
    if isinstance(error, APIConnectionError):
        return "timed out" if isinstance(error, APITimeoutError) else "connection dropped"
    return None


def compute_wait(
    policy: RetryPolicy,
    attempt: int,
    error: BaseException | None,
    rng: Callable[[float, float], float] = random.uniform,
) -> float:
    """Seconds to wait after failed attempt number `attempt` (1-based).

    The server's `Retry-After` wins when it gave one (capped at `max_retry_after`, and never
    below `initial_backoff`: a `Retry-After: 0` must not make a throttled client hammer the
    server); otherwise exponential backoff from `initial_backoff`, capped at `max_backoff`,
    with jitter.
    """
    if isinstance(error, RateLimitError) and error.retry_after is not None:
        return max(min(error.retry_after, policy.max_retry_after), policy.initial_backoff)
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


def _tenacity_arguments(
    policy: RetryPolicy, method: str, path: str, answered: Callable[[], bool]
) -> dict[str, Any]:
    # Imported here: tenacity pulls in asyncio, which would double the cost of importing the SDK.
    import tenacity

    decided: list[float] = [0.0]  # the wait `retry` decided on, for `wait` to hand tenacity

    def retry(state: tenacity.RetryCallState) -> bool:
        error = state.outcome.exception() if state.outcome else None
        if error is None:
            return False
        wait = policy.decide(method, error, state.attempt_number)
        if wait is None:
            return False
        if isinstance(error, RateLimitError) and not spend_throttle(wait):
            return False  # the run's throttle budget is spent: `call_with_retries` says so
        decided[0] = wait
        return True

    def before_sleep(state: tenacity.RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        reason = (retry_reason(method, error) if error else None) or f"{error}"
        logger.warning(
            "retrying %s %s in %.2f s (attempt %d of %d): %s",
            method,
            path,
            state.upcoming_sleep,
            state.attempt_number + 1,
            policy.max_attempts,
            reason,
        )

    def unreachable(state: tenacity.RetryCallState) -> bool:
        # A host that has never answered and refuses the connection again is most likely the
        # wrong one: fail fast rather than spend the whole budget on it.
        error = state.outcome.exception() if state.outcome else None
        first_contact = isinstance(error, APIConnectionError) and not answered()
        return first_contact and state.attempt_number >= policy.first_contact_attempts

    return {
        # A function, not a `stop_base` subclass made per call: a class per request would be
        # garbage only the cyclic collector frees. tenacity calls any callable.
        "stop": tenacity.stop_any(
            tenacity.stop_after_attempt(policy.max_attempts),
            tenacity.stop_before_delay(policy.total_timeout),
            cast("tenacity.stop.stop_base", unreachable),
        ),
        "wait": lambda _state: decided[0],
        "retry": retry,
        "before_sleep": before_sleep,
        "reraise": True,
    }


def call_with_retries(
    policy: RetryPolicy,
    method: str,
    path: str,
    fn: Callable[..., T],
    *args: Any,
    answered: Callable[[], bool] = lambda: True,
) -> T:
    """Call `fn(*args)`, retrying the failures `policy.decide` allows, after the wait it gives.

    `answered()` says whether the server has ever answered: until it has, a connection failure
    gets only `policy.first_contact_attempts` attempts."""
    import tenacity

    arguments = _tenacity_arguments(policy, method, path, answered)
    arguments["sleep"] = policy.sleep
    # The iterator form keeps the result out of tenacity's state: a returned page would
    # otherwise live on in a reference cycle until the garbage collector ran.
    try:
        for attempt in tenacity.Retrying(**arguments):
            with attempt:
                result = fn(*args)
    except RateLimitError as error:
        spent = _spent(error)
        if spent is error:
            raise
        raise spent from error
    return result


async def async_call_with_retries(
    policy: RetryPolicy,
    method: str,
    path: str,
    fn: Callable[..., Awaitable[T]],
    *args: Any,
    answered: Callable[[], bool] = lambda: True,
) -> T:
    """Await `fn(*args)`, retrying per `policy` the failures `retry_reason` allows (see
    [`call_with_retries`][connectwise_billing._retry.call_with_retries])."""
    import tenacity

    arguments = _tenacity_arguments(policy, method, path, answered)
    arguments["sleep"] = policy.asleep
    try:
        async for attempt in tenacity.AsyncRetrying(**arguments):
            with attempt:
                result = await fn(*args)
    except RateLimitError as error:
        spent = _spent(error)
        if spent is error:
            raise
        raise spent from error
    return result


def _spent(error: RateLimitError) -> RateLimitError:
    """The error a throttled request ends with: `ThrottleBudgetSpent` when the run's budget
    is what stopped the retries."""
    meter = current_meter()
    if meter is None or meter.exhausted is None or isinstance(error, ThrottleBudgetSpent):
        return error
    return ThrottleBudgetSpent(
        meter.exhausted,
        retry_after=error.retry_after,
        status_code=error.status_code,
        method=error.method,
        url=error.url,
        code=error.code,
        errors=error.errors,
        request_id=error.request_id,
        has_error_body=error.has_error_body,
    )


__all__ = [
    "READ_METHODS",
    "RetryHook",
    "RetryPolicy",
    "WriteOutcome",
    "async_call_with_retries",
    "call_with_retries",
    "compute_wait",
    "parse_retry_after",
    "retry_reason",
    "write_outcome",
]
