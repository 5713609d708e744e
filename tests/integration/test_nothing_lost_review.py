"""Nothing is lost, reviewed: the faults an adversarial run found in the write-ahead audit log.

Each fault is made to happen: a run whose disk fills up mid-line, a log a person damaged or
retyped, a line a person edited (or an agreement deleted) before the next run settled the write,
a clock an hour ahead, a stop while settling, two runs at once, credentials refused while other
workers write, a named pipe given as the log, an agreement's lock held elsewhere, a disk that
fills up while settling. Every intent stays readable and is settled once, by the truth; no run
crashes, waits unbounded or keeps a lock, and the report counts what it left unsettled.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import resource
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from connectwise_billing import (
    AsyncConnectWiseClient,
    AuthenticationError,
    ConfigurationError,
    FileLock,
    InProcessLock,
    RetryPolicy,
    SyncReport,
    async_sync_all,
)
from connectwise_billing.locks import Lock, lock_key
from connectwise_billing.runner import _audit as audit_module
from connectwise_billing.runner._audit import Intent, read_audit_log, runs, unsettled
from connectwise_billing.testing import ExampleMSP, Fault, VirtualClock, build_example
from tests.integration.conftest import API_URL
from tests.integration.oracle import duplicates, still_to_do
from tests.integration.test_nothing_lost import (
    ROOT,
    TODAY,
    Tripwire,
    billed_right,
    intents,
    landed_writes,
    outcomes,
    sync_again,
    sync_through,
)

T = TypeVar("T")
WRITES = ("POST", "PATCH")


@pytest.fixture
def shop(clock: VirtualClock) -> ExampleMSP:
    """The example of `test_nothing_lost`: five lines to create, on agreements 1014 (two),
    1016, 1019 and 1024, in that order; on the test's virtual clock."""
    return build_example(8, seed=1, time_source=clock)


class Watched(httpx.BaseTransport, httpx.AsyncBaseTransport):
    """The simulator's transport (sync and async), calling `before(request)` before each
    request is handled: there a test kills the run or asks it to stop."""

    def __init__(self, example: ExampleMSP, before: Callable[[httpx.Request], None]) -> None:
        self.inner = example.fake.transport()
        self.async_inner = example.fake.async_transport()
        self.before = before

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.before(request)
        return self.inner.handle_request(request)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.before(request)
        return await self.async_inner.handle_async_request(request)


def killed_before_sending(request: httpx.Request) -> None:
    """The process dies between the intent (on disk) and the write (never sent)."""
    if request.method in WRITES:
        raise KeyboardInterrupt


def killed_after_landing(writes: int) -> None:
    """The process dies once its first write landed, before it heard the answer."""
    if writes == 1:
        raise KeyboardInterrupt


def die_mid_write(example: ExampleMSP, audit: Path, *, landed: bool, **options: Any) -> Intent:
    """A run killed at its first write, which `landed` or was never sent: the intent it leaves
    in flight."""
    transport: httpx.BaseTransport = (
        Tripwire(example, killed_after_landing)
        if landed
        else Watched(example, killed_before_sending)
    )
    with pytest.raises(KeyboardInterrupt):
        sync_through(example, transport, audit_log=audit, **options)
    left = unsettled(read_audit_log(audit))
    assert left, "the run left no intent that can be read"
    return left[-1]  # the newest: earlier runs may have left theirs


async def async_sync_through(
    example: ExampleMSP, transport: httpx.AsyncBaseTransport, **options: Any
) -> SyncReport:
    async with AsyncConnectWiseClient(
        API_URL, example.credentials, transport=transport, rate_limit_per_minute=None
    ) as client:
        return await async_sync_all(
            client, example.plans, example.mapping, example.usages, today=TODAY, **options
        )


def sync_as(
    kind: str, example: ExampleMSP, transport: Watched | None = None, **options: Any
) -> SyncReport:
    """One run (through `transport`, or straight to the simulator) with `sync_all` or
    `async_sync_all`."""
    transport = transport or Watched(example, lambda _request: None)
    if kind == "sync":
        return sync_through(example, transport, **options)
    return asyncio.run(async_sync_through(example, transport, **options))


def settled(audit: Path, intent: Intent) -> list[dict[str, Any]]:
    """The outcome lines that answer `intent`."""
    return [line for line in outcomes(audit) if line["write_id"] == intent.write_id]


def key_of(intent: Intent) -> str:
    return lock_key(intent.record["scope"], intent.agreement_id)


# --- the log itself ---------------------------------------------------------------------------


def _files_stop_at_300_bytes() -> None:
    """In the child: files may not grow past 300 bytes, a disk that fills up in the middle of
    the first intent line (the tail a run killed mid-append leaves is the same)."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (300, 300))


def test_a_torn_last_line_does_not_swallow_the_next_runs_intent(
    shop: ExampleMSP, tmp_path: Path
) -> None:
    """A run's first intent line is cut short (the disk filled up mid-line): the log ends
    without a newline. The next run's intent, appended after it, must be a line of its own: glued
    to the torn one, both are unreadable, and a write that landed has no trace."""
    audit = tmp_path / "audit.jsonl"
    with shop.fake.serve() as url:
        torn = subprocess.run(
            [sys.executable, "-m", "tests.integration.sync_process", url, "8", "1", "none",
             str(audit)],
            input="go\n", capture_output=True, text=True, timeout=120, cwd=ROOT, check=False,
            preexec_fn=_files_stop_at_300_bytes,
        )  # fmt: skip
    assert torn.returncode == 0, torn.stderr
    tail = audit.read_bytes()
    assert len(tail) == 300 and not tail.endswith(b"\n")  # the fault happened
    assert shop.fake.writes() == []  # the intent was not written whole: nothing was sent

    in_flight = die_mid_write(shop, audit, landed=True)
    assert audit.read_bytes().startswith(tail + b"\n")  # the torn line stays, left alone

    report = sync_again(shop, audit_log=audit)
    assert report.intents_settled == 1
    [outcome] = settled(audit, in_flight)
    assert outcome["status"] == "applied"
    assert billed_right(shop, report)
    assert landed_writes(shop) == len(intents(audit))  # every landed write is in the log


def test_damaged_lines_are_left_out_with_a_warning_and_crash_nothing(
    shop: ExampleMSP, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A log a person edited by hand, or a tool damaged: each bad line is left out with a
    warning naming it; `runs()` lists the log and the next run settles the good intent."""
    audit = tmp_path / "audit.jsonl"
    good = die_mid_write(shop, audit, landed=True)
    record = dict(good.record)

    def copy(write_id: str, **changes: Any) -> dict[str, Any]:
        return {**record, "write_id": write_id, **changes}

    def encoded(line: dict[str, Any], encoding: str = "utf-8") -> bytes:
        return json.dumps(line, ensure_ascii=False).encode(encoding)

    no_write_id = copy("x")
    del no_write_id["write_id"]
    # An outcome as logs written before intents have them: no event, no write_id.
    legacy = {
        key: value for key, value in no_write_id.items() if key not in ("event", "lines_before")
    }
    damaged = {
        "not JSON": encoded(copy("torn"))[:120],  # cut short
        "not UTF-8": encoded(copy("latin-1", company="Café Müller"), "latin-1"),
        "no write_id": encoded(no_write_id),
        "an agreement that is no id": encoded(copy("agreement", agreement_id="#1014")),
        "an outcome's agreement that is no id": encoded(
            copy("outcome", event="outcome", status="applied", agreement_id={"id": 1014})
        ),
        "an amount that is none": encoded(
            copy("amount", after={**record["after"], "quantity": "3O"})
        ),
        "a date that is none": encoded(
            copy("date", after={**record["after"], "cancelled_date": "2026-02-30"})
        ),
        "lines before that are no ids": encoded(copy("lines", lines_before=7)),
        "an older outcome's agreement that is no id": encoded(
            {**legacy, "status": "applied", "agreement_id": [1014]}
        ),
    }
    first = audit.read_bytes().count(b"\n") + 1  # the number of the first damaged line
    with audit.open("ab") as log:
        log.write(b"\n".join(damaged.values()) + b"\n")

    caplog.set_level(logging.WARNING, logger="connectwise_billing")
    [run] = runs(audit)
    assert run.unsettled == 1
    report = sync_again(shop, audit_log=audit)
    assert report.intents_settled == 1
    assert [line["status"] for line in settled(audit, good)] == ["applied"]
    assert billed_right(shop, report)
    warned = " ".join(entry.getMessage() for entry in caplog.records)
    missed = [
        what
        for number, what in enumerate(damaged, start=first)
        if f"line {number} is not an audit line" not in warned
    ]
    assert missed == []


def test_an_intent_whose_amounts_a_person_typed_as_numbers_is_settled(
    shop: ExampleMSP, tmp_path: Path
) -> None:
    """The SDK writes amounts as strings; a person who retyped them wrote JSON numbers (read
    back as exact decimals). The intent is still one: it is settled, and its outcome written."""
    audit = tmp_path / "audit.jsonl"
    in_flight = die_mid_write(shop, audit, landed=True)
    typed = {**in_flight.record, "after": {"quantity": 1, "unit_price": 4.0, "unit_cost": 1.50}}
    audit.write_text(json.dumps(typed) + "\n")

    report = sync_again(shop, audit_log=audit)
    assert report.intents_settled == 1
    [outcome] = settled(audit, in_flight)
    assert outcome["status"] == "applied"
    assert outcome["after"] == {"quantity": 1, "unit_price": "4.0", "unit_cost": "1.5"}


# --- settling, by the truth -------------------------------------------------------------------


def test_a_created_line_a_person_edited_before_settling_is_unknown_not_failed(
    shop: ExampleMSP, tmp_path: Path
) -> None:
    """The create landed; before the next run, a person changed its quantity. The line the
    write made is there with other values: "failed" would say nothing was created."""
    audit = tmp_path / "audit.jsonl"
    in_flight = die_mid_write(shop, audit, landed=True)
    [made] = [
        line.id
        for line in shop.fake.list_additions(in_flight.agreement_id)
        if line.id not in in_flight.record["lines_before"]
    ]
    shop.fake.edit_addition(made, quantity=7)

    report = sync_again(shop, audit_log=audit)
    assert report.intents_settled == 1
    [outcome] = settled(audit, in_flight)
    assert (outcome["status"], outcome["addition_id"]) == ("unknown", made)
    assert "other values" in outcome["note"]
    assert duplicates(shop) == []


def test_an_intent_of_a_deleted_agreement_is_settled_unknown_and_the_run_goes_on(
    shop: ExampleMSP, tmp_path: Path
) -> None:
    """The agreement was deleted before the next run: reading it answers 404. What became of
    the write cannot be read any more (`unknown`, not left in flight for ever), and the run
    writes the other agreements."""
    audit = tmp_path / "audit.jsonl"
    in_flight = die_mid_write(shop, audit, landed=True)
    shop.fake.delete_agreement(in_flight.agreement_id)

    report = sync_again(shop, audit_log=audit)
    assert report.intents_settled == 1 and report.intents_unsettled == 0
    [outcome] = settled(audit, in_flight)
    assert outcome["status"] == "unknown" and "the agreement is gone" in outcome["note"]
    [gone] = [a for a in report.agreement_reports if a.agreement_id == in_flight.agreement_id]
    assert not gone.ok
    assert set(still_to_do(shop, TODAY)) == {in_flight.agreement_id}  # the rest was written
    assert duplicates(shop) == []


def test_a_failed_settle_read_is_logged_when_it_happens_even_if_the_agreement_then_goes(
    shop: ExampleMSP, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The first read that settles the intent fails (400), and before the next one the
    agreement is deleted: the failure is in the log (it was told as it happened), and the
    intent is settled `unknown`, the agreement gone."""
    audit = tmp_path / "audit.jsonl"
    in_flight = die_mid_write(shop, audit, landed=False)
    lines = f"/agreements/{in_flight.agreement_id}/additions"
    shop.fake.faults.add(Fault.invalid(), method="GET", path=lines + "$", times=1)
    reads = 0

    def delete_after_the_failed_read(request: httpx.Request) -> None:
        nonlocal reads
        if request.method == "GET" and request.url.path.endswith(lines):
            reads += 1
            if reads == 2:
                shop.fake.delete_agreement(in_flight.agreement_id)

    caplog.set_level(logging.WARNING, logger="connectwise_billing")
    report = sync_as("sync", shop, Watched(shop, delete_after_the_failed_read), audit_log=audit)
    told = [r.getMessage() for r in caplog.records if "reading it to settle" in r.getMessage()]
    assert len(told) == 1 and f"agreement {in_flight.agreement_id}" in told[0]
    [outcome] = settled(audit, in_flight)
    assert outcome["status"] == "unknown" and "the agreement is gone" in outcome["note"]
    assert report.intents_settled == 1


class _HourAhead(datetime):
    """The clock of a host that runs an hour ahead (put in the audit module only: the run that
    writes the intent sees it; the test's run, which settles it, keeps the true time)."""

    @classmethod
    def now(cls, tz: tzinfo | None = None) -> datetime:
        return datetime.now(tz) + timedelta(hours=1)


def test_an_intent_from_a_clock_ahead_does_not_stretch_the_settle_window(
    shop: ExampleMSP, tmp_path: Path, clock: VirtualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The run that wrote the intent ran on a clock an hour ahead: the intent looks an hour
    younger than now. Settling it waits `settle_timeout` at most, not an hour and more."""
    audit = tmp_path / "audit.jsonl"
    with monkeypatch.context() as ahead:
        ahead.setattr(audit_module, "datetime", _HourAhead)
        in_flight = die_mid_write(shop, audit, landed=False)
    assert in_flight.sent_at > datetime.now(in_flight.sent_at.tzinfo) + timedelta(minutes=59)

    start = clock.monotonic()
    report = sync_again(shop, audit_log=audit)
    assert clock.monotonic() - start <= RetryPolicy().settle_timeout
    assert report.intents_settled == 1
    [outcome] = settled(audit, in_flight)
    assert outcome["status"] == "failed"  # it was never sent
    assert billed_right(shop, report)


class _Asking(InProcessLock):
    """An `InProcessLock` that calls `asked(key)` whenever a run asks it for a key (and then
    waits for it as usual)."""

    def __init__(self, asked: Callable[[str], object], *, wait: float) -> None:
        super().__init__(wait=wait)
        self.asked = asked

    def acquire(
        self, key: str, *, ttl: float | None = None, wait: float | None = None
    ) -> str | None:
        self.asked(key)
        return super().acquire(key, ttl=ttl, wait=wait)

    async def acquire_async(
        self, key: str, *, ttl: float | None = None, wait: float | None = None
    ) -> str | None:
        self.asked(key)
        return await super().acquire_async(key, ttl=ttl, wait=wait)


def two_intents_in_flight(example: ExampleMSP, audit: Path) -> tuple[Intent, Intent]:
    """Two runs killed before their first write was sent: one on agreement 1014; the other,
    kept off 1014 by its lock (held elsewhere), on 1016."""
    first = die_mid_write(example, audit, landed=False)
    elsewhere = InProcessLock(wait=0)
    token = elsewhere.acquire(key_of(first))
    assert token is not None
    try:
        second = die_mid_write(example, audit, landed=False, lock=InProcessLock(wait=0))
    finally:
        elsewhere.release(key_of(first), token)
    assert (first.agreement_id, second.agreement_id) == (1014, 1016)
    return first, second


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_a_stop_while_settling_stops_at_once_and_leaves_the_intents_unsettled(
    kind: str, shop: ExampleMSP, tmp_path: Path, clock: VirtualClock
) -> None:
    """`stop` is set while the first intent is read: no more reads, no settle waits, and no
    intent settled `failed` on a read that came too early (it may still be committing)."""
    audit = tmp_path / "audit.jsonl"
    first, second = two_intents_in_flight(shop, audit)
    stop = threading.Event()

    def stop_on_settling(request: httpx.Request) -> None:
        if request.url.path.endswith(f"/agreements/{first.agreement_id}/additions"):
            stop.set()

    reads = shop.fake.count_requests("GET", "/additions")
    start = clock.monotonic()
    asked: list[str] = []
    report = sync_as(
        kind,
        shop,
        Watched(shop, stop_on_settling),
        audit_log=audit,
        stop=stop,
        lock=_Asking(asked.append, wait=0),
    )
    assert clock.monotonic() == start  # no settle wait
    assert shop.fake.count_requests("GET", "/additions") == reads + 1
    assert asked == [key_of(first)]  # not even the next agreement's lock is asked for
    assert report.stopped == "the run was asked to stop"
    assert (report.intents_settled, report.intents_unsettled) == (0, 2)
    assert "UNSETTLED: 2 writes" in report.summary()
    assert {i.write_id for i in unsettled(read_audit_log(audit))} == {
        first.write_id,
        second.write_id,
    }
    assert shop.fake.writes() == []


def test_an_intent_its_live_run_answered_meanwhile_is_not_settled_again(
    shop: ExampleMSP, tmp_path: Path
) -> None:
    """Two runs at once on one log. The first is mid-POST, holding the agreement's lock, when
    the second lists the log's unsettled intents: the first's is one. By the time the second
    has the lock, the first answered it: the second must not append an outcome of its own."""
    audit = tmp_path / "audit.jsonl"
    in_flight, go = threading.Event(), threading.Event()

    def hold_the_first_post(request: httpx.Request) -> None:
        if request.method == "POST" and not in_flight.is_set():
            in_flight.set()
            assert go.wait(30), "the second run never asked for the lock"

    with ThreadPoolExecutor(1) as pool:
        live = pool.submit(sync_through, shop, Watched(shop, hold_the_first_post), audit_log=audit)
        assert in_flight.wait(30)
        [intent] = unsettled(read_audit_log(audit))

        def let_the_first_go_on(key: str) -> None:
            if key == key_of(intent):  # the second listed the intent, and waits for the lock
                go.set()

        second = sync_again(shop, audit_log=audit, lock=_Asking(let_the_first_go_on, wait=30))
        first = live.result(timeout=60)
    assert second.intents_settled == 0 and second.intents_unsettled == 0
    [outcome] = settled(audit, intent)
    assert outcome["run_id"] == intent.record["run_id"] and "settled_by" not in outcome
    assert first.applied + second.applied == landed_writes(shop) == len(intents(audit))
    assert duplicates(shop) == []


@pytest.mark.parametrize("locking", ["in-process", "file"])
def test_credentials_refused_in_one_worker_frees_every_other_workers_lock(
    locking: str, shop: ExampleMSP, tmp_path: Path
) -> None:
    """Four workers write at once; one write hangs in flight, holding its agreement's lock,
    while another worker's write is refused (401). When `AuthenticationError` reaches the
    caller, the hanging worker has ended and let its lock go: no task left pending."""
    audit = tmp_path / "audit.jsonl"
    member = shop.credentials.public_key

    def make_lock() -> Lock:
        if locking == "in-process":
            return InProcessLock(wait=0)
        return FileLock(tmp_path / "locks", wait=0)

    class HangThenRefuse(httpx.AsyncBaseTransport):
        """The first write never gets an answer; the API member is revoked just before any
        other write arrives, which is answered 401."""

        def __init__(self) -> None:
            self.inner = shop.fake.async_transport()
            self.hanging = asyncio.Event()

        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            if request.method in WRITES:
                if not self.hanging.is_set():
                    self.hanging.set()
                    await asyncio.Event().wait()  # until the run cancels it
                await self.hanging.wait()
                shop.fake.revoke_api_member(member)
            return await self.inner.handle_async_request(request)

    async def main() -> tuple[SyncReport, list[asyncio.Task[Any]], list[str]]:
        with pytest.raises(AuthenticationError) as refused:
            await async_sync_through(
                shop, HangThenRefuse(), audit_log=audit, lock=make_lock(), concurrency=4
            )
        pending = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        probe, scope = make_lock(), intents(audit)[0]["scope"]
        held = []
        for usage in shop.usages:
            key = lock_key(scope, usage.agreement_id)
            token = probe.acquire(key)
            if token is None:
                held.append(key)
            else:
                probe.release(key, token)
        return refused.value.report, pending, held  # type: ignore[attr-defined]

    report, pending, held = asyncio.run(main())
    assert pending == [] and held == []
    assert landed_writes(shop) == 0
    # The writes in flight (the hanging one, the refused ones) are unknown, each an intent in
    # the log; a worker cancelled while its intent was being written sent nothing, and its
    # intent (settled `failed` by the next run) is the only trace of it.
    assert 2 <= report.unknown <= len(unsettled(read_audit_log(audit)))


# --- the log refused, intents left ------------------------------------------------------------


def finished_within(seconds: float, fifo: Path, work: Callable[[], T]) -> T:
    """`work()` in a thread: it must finish within `seconds`. If it blocks on the named pipe,
    the test holds the pipe open read-write until the work ends (an open of either end then
    never waits), and fails: no thread is left hanging."""
    with ThreadPoolExecutor(1) as pool:
        done = pool.submit(work)
        try:
            return done.result(timeout=seconds)
        except TimeoutError:
            both_ends = os.open(fifo, os.O_RDWR | os.O_NONBLOCK)
            try:
                done.exception(timeout=60)
            finally:
                os.close(both_ends)
            pytest.fail(f"blocked for {seconds} s on the named pipe {fifo}")


@pytest.mark.parametrize("reader", [False, True], ids=["nobody-reads-it", "a-reader-is-there"])
def test_a_named_pipe_as_the_audit_log_is_refused_without_blocking(
    reader: bool, shop: ExampleMSP, tmp_path: Path
) -> None:
    """A named pipe nobody reads blocks an open to write it; one somebody reads blocks an open
    to read it back (the next run's settling, `runs()`). Either is refused at once, naming it,
    and `runs()` finds no runs in it."""
    fifo = tmp_path / "audit.fifo"
    os.mkfifo(fifo)
    reading = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK) if reader else None
    try:

        def sync_to_the_pipe() -> str:
            with pytest.raises(ConfigurationError) as refused:
                sync_again(shop, audit_log=fifo)
            return str(refused.value)

        said = finished_within(10, fifo, sync_to_the_pipe)
        assert str(fifo) in said and "nothing was sent" in said
        assert shop.fake.writes() == []
        assert finished_within(10, fifo, lambda: runs(fifo)) == []
    finally:
        if reading is not None:
            os.close(reading)


@pytest.mark.parametrize("kind", ["sync", "async"])
@pytest.mark.parametrize("locking", ["busy", "broken"])
def test_intents_left_unsettled_are_counted_and_said(
    kind: str, locking: str, shop: ExampleMSP, tmp_path: Path
) -> None:
    """An intent whose agreement's lock another run holds (or that cannot be used) is left for
    the next run; the report counts it and its summary says so."""
    audit = tmp_path / "audit.jsonl"
    in_flight = die_mid_write(shop, audit, landed=False)
    elsewhere = InProcessLock(wait=0)
    token = elsewhere.acquire(key_of(in_flight))
    assert token is not None
    not_a_directory = tmp_path / "locks"
    not_a_directory.write_text("a file where the lock directory should be")
    lock = InProcessLock(wait=0) if locking == "busy" else FileLock(not_a_directory, wait=0)
    try:
        report = sync_as(kind, shop, audit_log=audit, lock=lock)
    finally:
        elsewhere.release(key_of(in_flight), token)
    assert (report.intents_settled, report.intents_unsettled) == (0, 1)
    assert "UNSETTLED: 1 write an earlier run left in flight" in report.summary()
    left = {run.run_id: run.unsettled for run in runs(audit)}
    assert left[in_flight.record["run_id"]] == sum(left.values()) == 1

    again = sync_again(shop, audit_log=audit)
    assert (again.intents_settled, again.intents_unsettled) == (1, 0)
    assert "UNSETTLED" not in again.summary()


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_a_log_that_fills_up_while_settling_leaves_the_intents_counted_unsettled(
    shop: ExampleMSP, tmp_path: Path
) -> None:
    """The disk holding the log fills up (the log now leads to `/dev/full`) just as the next run
    reads the agreement to settle an intent: its outcome cannot be written, so the intent is
    not settled, the run stops sending, and the report counts it as left for the next run."""
    real = tmp_path / "audit.jsonl"
    in_flight = die_mid_write(shop, real, landed=True)
    log = tmp_path / "log"
    log.symlink_to(real)

    def disk_full_on_settling(request: httpx.Request) -> None:
        if request.url.path.endswith(f"/agreements/{in_flight.agreement_id}/additions"):
            log.unlink(missing_ok=True)
            log.symlink_to("/dev/full")

    report = sync_through(shop, Watched(shop, disk_full_on_settling), audit_log=log)
    assert report.stopped is not None and "No space left on device" in report.stopped
    assert (report.intents_settled, report.intents_unsettled) == (0, 1)
    assert "UNSETTLED: 1 write" in report.summary()
    assert landed_writes(shop) == 1  # nothing more was sent

    log.unlink()
    log.symlink_to(real)
    again = sync_again(shop, audit_log=log)
    assert (again.intents_settled, again.intents_unsettled) == (1, 0)
    assert [line["status"] for line in settled(real, in_flight)] == ["applied"]
