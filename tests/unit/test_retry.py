"""Retry decisions and waits: one table, shared by both clients."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from connectwise_billing import (
    APIConnectionError,
    APITimeoutError,
    BadRequestError,
    NotFoundError,
    RateLimiterError,
    RateLimitError,
    RetryPolicy,
    ServerError,
    UnexpectedResponseError,
    _waits as waits,
)
from connectwise_billing._retry import (
    compute_wait,
    parse_retry_after,
    retry_reason,
    write_outcome,
)
from connectwise_billing.testing import VirtualClock

URL = "https://x/apis/3.0/finance/agreements"


def api_error(cls: type, status: int, **kw: object) -> Exception:
    return cls("boom", status_code=status, method="GET", url=URL, **kw)  # type: ignore[no-any-return]


RATE_LIMITED = api_error(RateLimitError, 429, retry_after=3.0)
UNAVAILABLE = api_error(ServerError, 503)
BAD_GATEWAY = api_error(ServerError, 502)
INTERNAL = api_error(ServerError, 500)
UNAVAILABLE_SAID_BY_CONNECTWISE = api_error(ServerError, 503, has_error_body=True)
INTERNAL_SAID_BY_CONNECTWISE = api_error(ServerError, 500, has_error_body=True)
GATEWAY_TIMEOUT_WITH_BODY = api_error(ServerError, 504, has_error_body=True)
REDIRECTED = UnexpectedResponseError("redirect", status_code=302, method="POST", url=URL)
NOT_FOUND = api_error(NotFoundError, 404)
BAD_REQUEST = api_error(BadRequestError, 400)
TIMEOUT = APITimeoutError("read timeout", method="GET", url=URL)
DROPPED = APIConnectionError("dropped", method="GET", url=URL)
REFUSED = APIConnectionError("refused", method="GET", url=URL, request_sent=False)


@pytest.mark.parametrize(
    ("method", "error", "retried"),
    [
        ("GET", RATE_LIMITED, True),
        ("POST", RATE_LIMITED, True),
        ("PATCH", RATE_LIMITED, True),
        ("GET", UNAVAILABLE, True),
        ("GET", BAD_GATEWAY, True),
        ("GET", INTERNAL, True),
        # A write that may have reached ConnectWise is never sent again.
        ("PATCH", BAD_GATEWAY, False),
        ("DELETE", UNAVAILABLE, False),
        ("PUT", UNAVAILABLE, False),
        ("POST", UNAVAILABLE, False),
        ("POST", BAD_GATEWAY, False),
        ("PATCH", INTERNAL, False),
        ("POST", INTERNAL, False),
        ("GET", TIMEOUT, True),
        ("PATCH", TIMEOUT, False),
        ("POST", TIMEOUT, False),
        ("GET", DROPPED, True),
        ("DELETE", DROPPED, False),
        ("POST", DROPPED, False),
        ("POST", REFUSED, True),
        ("PATCH", REFUSED, True),
        ("GET", REDIRECTED, False),
        ("GET", NOT_FOUND, False),
        ("GET", BAD_REQUEST, False),
        ("GET", ValueError("not ours"), False),
    ],
)
def test_what_is_retried(method: str, error: Exception, retried: bool) -> None:
    assert (retry_reason(method, error) is not None) is retried


@pytest.mark.parametrize(
    ("error", "outcome"),
    [
        (RATE_LIMITED, "not_sent"),
        (REFUSED, "not_sent"),
        (RateLimiterError("the limiter's Redis went away"), "not_sent"),
        (TIMEOUT, "unknown"),
        (DROPPED, "unknown"),
        (BAD_GATEWAY, "unknown"),
        (GATEWAY_TIMEOUT_WITH_BODY, "unknown"),  # a 504 is the gateway's, whatever the body
        (UNAVAILABLE, "unknown"),  # no ConnectWise error body: a gateway answered
        (INTERNAL, "unknown"),
        (UNAVAILABLE_SAID_BY_CONNECTWISE, "refused"),
        (INTERNAL_SAID_BY_CONNECTWISE, "refused"),
        (REDIRECTED, "unknown"),
        (NOT_FOUND, "refused"),
        (BAD_REQUEST, "refused"),
    ],
)
def test_what_a_failed_write_tells(error: Exception, outcome: str) -> None:
    assert write_outcome(error) == outcome


def test_settle_waits_add_up_to_the_timeout() -> None:
    assert RetryPolicy().settle_waits() == [2.0] * 5
    assert RetryPolicy(settle_timeout=5, settle_interval=2).settle_waits() == [2.0, 2.0, 1.0]
    assert RetryPolicy(settle_timeout=0).settle_waits() == []
    with pytest.raises(ValueError, match="settle_interval"):
        RetryPolicy(settle_interval=0)


def test_retry_after_wins_and_is_capped() -> None:
    policy = RetryPolicy(max_retry_after=2.0)
    assert compute_wait(RetryPolicy(), 1, RATE_LIMITED) == 3.0
    assert compute_wait(policy, 1, RATE_LIMITED) == 2.0


def test_a_retry_after_of_zero_still_waits_the_minimum_backoff() -> None:
    """Five back-to-back attempts would hammer a server that is already throttling."""
    now = api_error(RateLimitError, 429, retry_after=0.0)
    assert compute_wait(RetryPolicy(initial_backoff=0.5), 1, now) == 0.5
    assert RetryPolicy(initial_backoff=1.0).decide("PATCH", now, 3) == 1.0


def test_settle_waits_within_what_is_left_of_the_window() -> None:
    assert RetryPolicy().settle_waits(within=5) == [2.0, 2.0, 1.0]
    assert RetryPolicy().settle_waits(within=-3) == []


def test_exponential_backoff_without_jitter() -> None:
    policy = RetryPolicy(initial_backoff=0.5, max_backoff=3.0, jitter=False)
    assert [compute_wait(policy, n, UNAVAILABLE) for n in (1, 2, 3, 4, 5)] == [
        0.5,
        1.0,
        2.0,
        3.0,
        3.0,
    ]


def test_jitter_spreads_over_the_upper_half() -> None:
    policy = RetryPolicy(initial_backoff=1.0)
    seen: list[tuple[float, float]] = []
    compute_wait(policy, 3, UNAVAILABLE, rng=lambda lo, hi: seen.append((lo, hi)) or lo)
    assert seen == [(2.0, 4.0)]


NOW = datetime(2026, 11, 28, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("header", "message", "seconds"),
    [
        ("30", None, 30.0),
        (" 2.5 ", None, 2.5),
        ("0", None, 0.0),
        ("-4", None, 0.0),
        ("Sat, 28 Nov 2026 12:00:45 GMT", None, 45.0),
        ("Sat, 28 Nov 2026 11:59:00 GMT", None, 0.0),
        ("nan", None, None),
        ("soon", None, None),
        ("", None, None),
        (None, None, None),
        (None, "Too many requests. Please try again in 30 seconds.", 30.0),
        ("garbage", "Please try again in 7 seconds.", 7.0),
    ],
)
def test_parse_retry_after(header: str | None, message: str | None, seconds: float | None) -> None:
    assert parse_retry_after(header, message=message, now=NOW) == seconds


@pytest.mark.parametrize(
    "kwargs",
    [{"max_attempts": 0}, {"total_timeout": -1}, {"initial_backoff": -0.1}],
)
def test_policy_rejects_nonsense(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="RetryPolicy"):
        RetryPolicy(**kwargs)  # type: ignore[arg-type]


def test_never_means_one_attempt() -> None:
    assert RetryPolicy.never().max_attempts == 1


@pytest.mark.parametrize(
    ("method", "error"),
    [
        (m, e)
        for m in ("GET", "POST", "PATCH", "DELETE")
        for e in (
            RATE_LIMITED,
            UNAVAILABLE,
            BAD_GATEWAY,
            TIMEOUT,
            DROPPED,
            REFUSED,
            NOT_FOUND,
            REDIRECTED,
        )
    ],
)
def test_the_default_decision_is_retry_reason_with_its_backoff(
    method: str, error: Exception
) -> None:
    policy = RetryPolicy(jitter=False)
    decided = policy.decide(method, error, attempt=2)
    if retry_reason(method, error) is None:
        assert decided is None
    else:
        assert decided == compute_wait(policy, 2, error)


def test_a_hook_narrows_widens_and_sets_the_wait() -> None:
    calls: list[tuple[str, BaseException]] = []

    def on(method: str, error: BaseException) -> bool | float:
        calls.append((method, error))
        if isinstance(error, ServerError):
            return False  # never retry a 5xx
        if isinstance(error, UnexpectedResponseError):
            return 0.25  # a proxy's page: try again soon
        return True

    policy = RetryPolicy(on=on, jitter=False)
    assert policy.decide("GET", UNAVAILABLE, 1) is None
    assert policy.decide("GET", REDIRECTED, 1) == 0.25
    assert policy.decide("GET", NOT_FOUND, 3) == compute_wait(policy, 3, NOT_FOUND)
    assert [method for method, _ in calls] == ["GET", "GET", "GET"]


@pytest.mark.parametrize("error", [TIMEOUT, DROPPED, BAD_GATEWAY, INTERNAL, REDIRECTED])
@pytest.mark.parametrize("method", ["POST", "PATCH", "DELETE"])
def test_no_hook_can_send_a_write_twice_that_may_have_landed(method: str, error: Exception) -> None:
    asked: list[object] = []
    policy = RetryPolicy(on=lambda *args: asked.append(args) or True)
    assert policy.decide(method, error, 1) is None
    assert asked == []  # not even asked


def test_a_hook_may_refuse_to_resend_a_throttled_write() -> None:
    policy = RetryPolicy(on=lambda method, error: method == "GET")
    assert policy.decide("POST", RATE_LIMITED, 1) is None
    assert policy.decide("GET", RATE_LIMITED, 1) == 3.0  # Retry-After


def test_importing_the_library_reads_no_environment_variable() -> None:
    code = "from connectwise_billing import _waits as waits; print(waits.is_testing())"
    env = {**os.environ, waits.TESTING_ENVIRONMENT_VARIABLE: "1"}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "False"


def test_the_command_line_starts_in_testing_mode_when_a_test_asks(tmp_path: Path) -> None:
    code = (
        "import sys; from connectwise_billing import _waits as waits; "
        "from connectwise_billing.cli._main import main; "
        "main(['runs', '--audit-log', sys.argv[1]]); print(waits.is_testing())"
    )
    audit = tmp_path / "audit.jsonl"
    audit.write_text("")
    for value, expected in (("1", "True"), ("", "False")):
        env = {**os.environ, waits.TESTING_ENVIRONMENT_VARIABLE: value}
        out = subprocess.run(
            [sys.executable, "-c", code, str(audit)],
            env=env, capture_output=True, text=True, check=True,
        )  # fmt: skip
        assert out.stdout.strip().splitlines()[-1] == expected, out.stderr


def test_set_testing_as_a_context_manager_puts_the_setting_back() -> None:
    clock = VirtualClock()
    before = waits.is_testing()
    with waits.set_testing(False):
        assert not waits.is_testing()
        with waits.set_testing(True, clock=clock):
            waits.sleep(5)
            assert waits.is_testing() and clock.monotonic() == 5
        assert not waits.is_testing()
        waits.set_testing(True)  # called plainly, it stays until the block restores
        assert waits.is_testing()
    assert waits.is_testing() == before
