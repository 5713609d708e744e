"""`run_every`: a fixed schedule that never overlaps and survives a failing run."""

from __future__ import annotations

import logging
import threading

import pytest

from connectwise_billing import run_every


class FakeClock:
    """A clock, and a stop event whose waits move the clock instead of sleeping."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def is_set(self) -> bool:
        return False

    def wait(self, seconds: float) -> bool:
        self.now += seconds
        return False


def test_run_every_never_overlaps_and_skips_missed_runs(caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock()
    starts: list[float] = []

    def slow_sync() -> int:
        starts.append(clock.now)
        clock.now += 0.025 if len(starts) == 2 else 0.001  # the second run overruns 2.5 ticks
        return len(starts)

    with caplog.at_level(logging.WARNING, logger="connectwise_billing"):
        results = run_every(0.01, slow_sync, max_runs=4, clock=clock, stop=clock)  # type: ignore[arg-type]
    assert results == [1, 2, 3, 4]
    # Runs start on the 0.01 grid; the second (at 0.01) ran until 0.035, so the runs due at
    # 0.02 and 0.03 were skipped and the third started at 0.04.
    assert starts == pytest.approx([0.0, 0.01, 0.04, 0.05])
    assert "2 scheduled run(s) skipped" in caplog.text


def test_run_every_survives_a_failing_run_and_stops_on_request(
    caplog: pytest.LogCaptureFixture,
) -> None:
    stop = threading.Event()
    calls: list[int] = []

    def flaky() -> int:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("ConnectWise was down")
        stop.set()
        return len(calls)

    with caplog.at_level(logging.ERROR, logger="connectwise_billing"):
        assert run_every(0.001, flaky, stop=stop) == [2]
    assert "scheduled run 1 failed" in caplog.text


def test_run_every_checks_its_interval() -> None:
    with pytest.raises(ValueError, match="interval"):
        run_every(0, lambda: None)


def test_run_every_keeps_only_the_latest_results_and_hands_out_each() -> None:
    clock = FakeClock()
    seen: list[int] = []
    counter = iter(range(1, 10_001))
    results = run_every(
        1.0, lambda: next(counter), max_runs=10_000, clock=clock, stop=clock,  # type: ignore[arg-type]
        keep=3, on_result=seen.append,
    )  # fmt: skip
    assert results == [9_998, 9_999, 10_000]
    assert seen == list(range(1, 10_001))
    with pytest.raises(ValueError, match="keep must be a whole number"):
        run_every(1.0, lambda: None, keep=-1)
