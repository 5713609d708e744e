"""The client-side limiter spaces requests at the configured rate."""

from __future__ import annotations

import pytest

from connectwise_billing import ConfigurationError, RateLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_requests_are_spaced_evenly() -> None:
    clock = Clock()
    limiter = RateLimiter(600, clock=clock)  # one every 0.1 s
    waits = [limiter.reserve() for _ in range(4)]
    assert waits == pytest.approx([0.0, 0.1, 0.2, 0.3])


def test_quiet_time_is_not_banked_beyond_the_burst() -> None:
    clock = Clock()
    limiter = RateLimiter(600, burst=3, clock=clock)
    clock.now += 60  # a long quiet spell
    waits = [limiter.reserve() for _ in range(5)]
    assert waits == pytest.approx([0.0, 0.0, 0.0, 0.1, 0.2])


def test_after_waiting_the_next_slot_is_free() -> None:
    clock = Clock()
    limiter = RateLimiter(60, clock=clock)
    assert limiter.reserve() == 0.0
    clock.now += 1.0
    assert limiter.reserve() == 0.0
    assert limiter.reserve() == pytest.approx(1.0)


def test_sustained_rate_never_exceeds_the_limit() -> None:
    clock = Clock()
    limiter = RateLimiter(950, burst=5, clock=clock)
    starts = []
    for _ in range(2000):
        clock.now += limiter.reserve()
        starts.append(clock.now)
    # In any 60-second window at most 950 + burst requests start.
    j = 0
    for i, start in enumerate(starts):
        while starts[j] < start - 60:
            j += 1
        assert i - j + 1 <= 955


@pytest.mark.parametrize(("rate", "burst"), [(0, 1), (-5, 1), (10, 0)])
def test_bad_settings_are_refused(rate: float, burst: int) -> None:
    with pytest.raises(ConfigurationError):
        RateLimiter(rate, burst=burst)
