"""Nothing is lost: every write is recorded before it is sent, every failure of a dependency
stays inside the SDK's error tree, and every run ends with its report.

Each fault is made to happen for real: a process killed while its POST commits late, a
`KeyboardInterrupt` and a task cancellation mid-write, credentials revoked mid-settle, an audit
log on a full device, a real `redis-server` stopped mid-run, a lock directory that stops taking
files, and storms of 429s (on a virtual clock). Each test shows: no raw exception, the report
kept, every landed write in the audit log.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest

from connectwise_billing import (
    AsyncConnectWiseClient,
    AuthenticationError,
    ConfigurationError,
    ConnectWiseClient,
    FileLock,
    RedisLock,
    RetryPolicy,
    SyncReport,
    async_sync_all,
    sync_all,
)
from connectwise_billing.runner._audit import read_audit_log, runs, unsettled
from connectwise_billing.testing import ExampleMSP, Fault, VirtualClock, build_example
from tests.conftest import start_redis_server
from tests.integration.conftest import API_URL
from tests.integration.oracle import duplicates, still_to_do

TODAY = date(2026, 11, 28)
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def shop(clock: VirtualClock) -> ExampleMSP:
    """Eight companies (five lines to create, on four agreements; a deleted and a cancelled
    agreement too), on the test's virtual clock: "commits 3 s later" takes no real time."""
    return build_example(8, seed=1, time_source=clock)


def intents(audit: Path) -> list[dict[str, Any]]:
    return [line for line in read_audit_log(audit) if line["event"] == "intent"]


def outcomes(audit: Path) -> list[dict[str, Any]]:
    return [line for line in read_audit_log(audit) if line["event"] == "outcome"]


def landed_writes(example: ExampleMSP) -> int:
    return sum(1 for entry in example.fake.writes() if entry.applied)


def billed_right(example: ExampleMSP, report: SyncReport) -> bool:
    """Every agreement that can be billed bills what the usage says, once: nothing failed or
    unknown, nothing left to do, no line twice."""
    return (
        report.failed == report.unknown == 0
        and still_to_do(example, TODAY) == {}
        and duplicates(example) == []
    )


class Tripwire(httpx.BaseTransport):
    """The simulator's transport, calling `after(n)` once the n-th POST or PATCH was handled
    (applied or not): there a test pulls the plug."""

    def __init__(self, example: ExampleMSP, after: Callable[[int], None]) -> None:
        self.inner = example.fake.transport()
        self.after = after
        self.writes = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.method not in ("POST", "PATCH"):
            return self.inner.handle_request(request)
        self.writes += 1
        try:
            return self.inner.handle_request(request)
        finally:
            self.after(self.writes)


def sync_through(example: ExampleMSP, transport: httpx.BaseTransport, **options: Any) -> SyncReport:
    with ConnectWiseClient(
        API_URL, example.credentials, transport=transport, rate_limit_per_minute=None
    ) as client:
        return sync_all(
            client, example.plans, example.mapping, example.usages, today=TODAY, **options
        )


def sync_again(example: ExampleMSP, **options: Any) -> SyncReport:
    return sync_through(example, example.fake.transport(), **options)


# --- a run that dies mid-write ----------------------------------------------------------------


def test_a_run_killed_while_its_post_commits_late_is_settled_by_the_next_run(
    shop: ExampleMSP, tmp_path: Path
) -> None:
    """SIGKILL while the first POST is committing: the intent is on disk. The next run, started
    before the commit shows, reads until it does, settles it `applied`, and does not create
    the line a second time (one read, "not there", would have)."""
    audit = tmp_path / "audit.jsonl"
    shop.fake.faults.add(Fault.commit_later(3.0, answer="late"), method="POST", times=1)
    with shop.fake.serve() as url:
        worker = subprocess.Popen(
            [sys.executable, "-m", "tests.integration.sync_process", url, "8", "1",
             f"file:{tmp_path / 'locks'}", str(audit)],
            cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        assert worker.stdout is not None and worker.stdout.readline() == "ready\n"
        assert worker.stdin is not None
        worker.stdin.write("go\n")
        worker.stdin.flush()
        deadline = time.monotonic() + 60
        while shop.fake.count_requests("POST") == 0 and time.monotonic() < deadline:
            time.sleep(0.005)  # real time: another process is getting there
        worker.kill()
        worker.communicate(timeout=30)
    assert worker.returncode == -signal.SIGKILL
    [in_flight] = unsettled(read_audit_log(audit))
    assert [run.unsettled for run in runs(audit)] == [1]
    listed = subprocess.run(
        [sys.executable, "-m", "connectwise_billing", "runs", "--audit-log", str(audit)],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    assert "1 UNSETTLED" in listed.stdout

    report = sync_again(shop, audit_log=audit, lock=FileLock(tmp_path / "locks"))
    assert report.intents_settled == 1
    [settled] = [line for line in outcomes(audit) if line["write_id"] == in_flight.write_id]
    assert settled["status"] == "applied" and settled["settled_by"] != in_flight.record["run_id"]
    assert settled["addition_id"] is not None
    assert billed_right(shop, report)
    assert not unsettled(read_audit_log(audit))
    assert shop.fake.count_requests("POST") == len(intents(audit))  # each write recorded once


def test_keyboard_interrupt_mid_write_keeps_the_report_the_intent_and_frees_the_locks(
    shop: ExampleMSP, tmp_path: Path
) -> None:
    audit = tmp_path / "audit.jsonl"
    locks = FileLock(tmp_path / "locks", wait=0)

    def interrupt(writes: int) -> None:
        if writes == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt) as stopped:
        sync_through(shop, Tripwire(shop, interrupt), audit_log=audit, lock=locks)
    report: SyncReport = stopped.value.report  # type: ignore[attr-defined]
    assert isinstance(report, SyncReport) and not report.ok
    assert report.applied == 2 and report.unknown == 1  # the third is in flight
    [interrupted] = [a for a in report.agreement_reports if a.unknown]
    assert interrupted.status == "error" and "KeyboardInterrupt" in (interrupted.error or "")
    assert landed_writes(shop) == 3 == len(intents(audit))
    assert len(outcomes(audit)) == 2 and len(unsettled(read_audit_log(audit))) == 1
    for usage in shop.usages:  # no lock file is left held
        key = f"connectwise:{shop.fake.company_id}:agreement:{usage.agreement_id}"
        token = locks.acquire(key)
        assert token is not None
        locks.release(key, token)

    again = sync_again(shop, audit_log=audit, lock=locks)
    assert again.intents_settled == 1 and billed_right(shop, again)


def test_a_cancelled_task_mid_write_keeps_the_report_and_the_intent(
    shop: ExampleMSP, tmp_path: Path
) -> None:
    audit = tmp_path / "audit.jsonl"

    class Stalling(httpx.AsyncBaseTransport):
        """The second POST is applied, and its answer never comes."""

        def __init__(self) -> None:
            self.inner = shop.fake.async_transport()
            self.posts = 0
            self.stalled = asyncio.Event()

        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            response = await self.inner.handle_async_request(request)
            if request.method == "POST":
                self.posts += 1
                if self.posts == 2:
                    self.stalled.set()
                    await asyncio.Event().wait()
            return response

    async def main() -> BaseException:
        transport = Stalling()
        async with AsyncConnectWiseClient(
            API_URL, shop.credentials, transport=transport, rate_limit_per_minute=None
        ) as client:
            run = async_sync_all(
                client, shop.plans, shop.mapping, shop.usages, today=TODAY, audit_log=audit,
                concurrency=1,
            )  # fmt: skip
            task = asyncio.create_task(run)
            await transport.stalled.wait()
            task.cancel()
            try:
                await task
            except asyncio.CancelledError as cancelled:
                return cancelled
        raise AssertionError("the task was not cancelled")

    cancelled = asyncio.run(main())
    report: SyncReport = cancelled.report  # type: ignore[attr-defined]
    assert report.applied == 1 and report.unknown == 1
    assert landed_writes(shop) == 2 == len(intents(audit))
    assert len(unsettled(read_audit_log(audit))) == 1
    again = sync_again(shop, audit_log=audit)
    assert again.intents_settled == 1 and billed_right(shop, again)


def test_credentials_revoked_while_a_lost_post_is_settled(shop: ExampleMSP, tmp_path: Path) -> None:
    """The POST lands, its answer is lost, and the read that would settle it gets a 401: the
    run ends with an `AuthenticationError` that carries the report, the write is an intent."""
    audit = tmp_path / "audit.jsonl"
    member = shop.fake.member(shop.credentials.public_key)
    assert member is not None
    shop.fake.faults.add(Fault.drop_after_commit(), method="POST", times=1)

    def revoke(writes: int) -> None:
        if writes == 1:
            shop.fake.revoke_api_member(shop.credentials.public_key)

    with pytest.raises(AuthenticationError) as refused:
        sync_through(shop, Tripwire(shop, revoke), audit_log=audit)
    report: SyncReport = refused.value.report  # type: ignore[attr-defined]
    assert report.unknown == 1 and not report.ok
    assert landed_writes(shop) == 1 == len(intents(audit))
    assert len(unsettled(read_audit_log(audit))) == 1

    shop.fake.add_api_member(member.public_key, member.private_key)  # keys restored
    again = sync_again(shop, audit_log=audit)
    assert again.intents_settled == 1 and billed_right(shop, again)
    [settled] = outcomes(audit)[:1]
    assert settled["status"] == "applied"


# --- the audit log cannot be written ----------------------------------------------------------


def test_an_audit_log_in_a_missing_directory_is_refused_before_anything_is_sent(
    shop: ExampleMSP, tmp_path: Path
) -> None:
    audit = tmp_path / "no-such-directory" / "audit.jsonl"
    with pytest.raises(ConfigurationError, match=r"no-such-directory.*nothing was sent") as error:
        sync_again(shop, audit_log=audit)
    assert error.value.report is not None  # type: ignore[attr-defined]
    assert shop.fake.writes() == []


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_an_audit_log_on_a_full_device_stops_the_run_before_any_write(shop: ExampleMSP) -> None:
    report = sync_again(shop, audit_log="/dev/full")
    assert report.stopped is not None and "/dev/full" in report.stopped
    assert "No space left on device" in report.stopped
    assert shop.fake.writes() == []
    assert not report.ok and report.applied == 0


def _limit_file_size() -> None:
    """In the child: files may not grow past 2,500 bytes (a disk that fills up mid-run)."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (2500, 2500))


def test_an_audit_log_that_fills_up_mid_run_stops_the_cli_with_one_line(
    shop: ExampleMSP, tmp_path: Path
) -> None:
    config = tmp_path / "config.toml"
    audit = tmp_path / "audit.jsonl"
    with shop.fake.serve() as url:
        site = url.split("/v2025_1/")[0]
        config.write_text(
            (ROOT / "examples" / "config.toml").read_text().replace("http://127.0.0.1:8089", site)
        )
        usage = tmp_path / "usage.csv"
        usage.write_text(usage_csv(shop))
        environment = {
            **os.environ,
            "CW_PUBLIC_KEY": shop.credentials.public_key,
            "CW_PRIVATE_KEY": shop.credentials.private_key,
        }
        done = subprocess.run(
            [sys.executable, "-m", "connectwise_billing", "sync", "--config", str(config),
             "--usage", str(usage), "--audit-log", str(audit), "--json",
             "--lock-dir", str(tmp_path / "locks")],
            capture_output=True, text=True, timeout=120, env=environment, check=False,
            preexec_fn=_limit_file_size,
        )  # fmt: skip
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    [said] = done.stderr.strip().splitlines()
    assert "audit log" in said and "File too large" in said
    assert '"stopped":' in done.stdout
    assert landed_writes(shop) == len(intents(audit)) > 0  # every landed write is on disk


def usage_csv(example: ExampleMSP) -> str:
    rows = ["company,agreement_id,plan,seats"]
    for usage in example.usages:
        rows += [
            f'"{usage.company}",{usage.agreement_id},{plan},{seats}'
            for plan, seats in usage.seats.items()
        ]
    return "\n".join(rows) + "\n"


# --- locks that fail --------------------------------------------------------------------------


@pytest.fixture
def private_redis() -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A redis-server of this test's own, which the test may stop."""
    url, server = start_redis_server()
    try:
        yield url, server
    finally:
        with contextlib.suppress(ProcessLookupError):
            server.kill()
        server.wait(timeout=10)


def test_redis_stopped_mid_run_is_a_lock_error_and_the_report_is_kept(
    shop: ExampleMSP, tmp_path: Path, private_redis: tuple[str, subprocess.Popen[bytes]]
) -> None:
    url, server = private_redis
    audit = tmp_path / "audit.jsonl"

    def stop_redis(writes: int) -> None:
        if writes == 1:
            server.kill()
            server.wait(timeout=10)

    report = sync_through(
        shop, Tripwire(shop, stop_redis), audit_log=audit, lock=RedisLock.from_url(url)
    )
    assert not report.ok
    locked_out = [a for a in report.agreement_reports if "lock" in (a.error or "")]
    assert locked_out and all(a.status in ("busy", "error") for a in locked_out)
    assert all("Redis failed" in (a.error or "") for a in locked_out)
    assert landed_writes(shop) == len(intents(audit)) >= 1
    assert duplicates(shop) == []


def test_a_lock_directory_that_stops_taking_files_fails_agreements_not_the_run(
    shop: ExampleMSP, tmp_path: Path
) -> None:
    directory = tmp_path / "locks"
    audit = tmp_path / "audit.jsonl"
    open_before = len(os.listdir("/proc/self/fd"))

    def break_directory(writes: int) -> None:
        if writes == 1:  # a file where the directory was: no lock file can be made there
            shutil.rmtree(directory)
            directory.write_text("not a directory")

    report = sync_through(
        shop, Tripwire(shop, break_directory), audit_log=audit, lock=FileLock(directory)
    )
    assert not report.ok
    locked_out = [a for a in report.agreement_reports if "lock" in (a.error or "")]
    assert locked_out and all(a.status == "error" and not a.results for a in locked_out)
    assert all("its lock could not be taken" in (a.error or "") for a in locked_out)
    assert landed_writes(shop) == len(intents(audit)) >= 1
    assert len(os.listdir("/proc/self/fd")) == open_before  # no descriptor leaked


# --- throttling -------------------------------------------------------------------------------


def test_a_429_storm_spends_the_throttle_budget_and_stops_the_run(
    shop: ExampleMSP, clock: VirtualClock
) -> None:
    shop.fake.faults.add(Fault.rate_limited(retry_after=30), method="POST", times=None)
    retry = RetryPolicy(throttle_budget=300)
    with ConnectWiseClient(
        API_URL, shop.credentials, transport=shop.fake.transport(), retry=retry,
        rate_limit_per_minute=None,
    ) as client:  # fmt: skip
        report = sync_all(client, shop.plans, shop.mapping, shop.usages, today=TODAY)
    assert report.stopped == "throttled"
    assert clock.monotonic() <= 300
    assert any(a.status == "stopped" for a in report.agreement_reports)
    assert shop.fake.writes() == [w for w in shop.fake.writes() if not w.applied]


def test_without_a_budget_throttled_agreements_trip_the_circuit_breaker(
    clock: VirtualClock,
) -> None:
    shop = build_example(12, seed=5, time_source=clock)  # six agreements to write to
    for method in ("POST", "PATCH"):
        shop.fake.faults.add(Fault.rate_limited(retry_after=30), method=method, times=None)
    retry = RetryPolicy(throttle_budget=None)
    with ConnectWiseClient(
        API_URL, shop.credentials, transport=shop.fake.transport(), retry=retry,
        rate_limit_per_minute=None,
    ) as client:  # fmt: skip
        report = sync_all(client, shop.plans, shop.mapping, shop.usages, today=TODAY)
    assert report.stopped is not None and "throttled it)" in report.stopped
    assert any(a.status == "stopped" for a in report.agreement_reports)
    assert clock.monotonic() < 10 * 4 * 30  # ten writes to go, four waits of 30 s each
    assert landed_writes(shop) == 0
