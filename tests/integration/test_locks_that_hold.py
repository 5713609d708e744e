"""Locks that cannot be outlived, and that always meet: a second worker started while the first
is still on an agreement never bills twice, whatever the lock's lifetime, the URL it reached
ConnectWise by, or the user who started it.

Each test makes the fault happen for real: the first worker's agreement takes longer than the
lock's lifetime (a slow answer, or a 429 with `Retry-After`), and the second starts after that
lifetime. Without renewal (or with keys that do not meet) both read the agreement before either
writes it, and both create the Gold line. These tests run in real time: locks and their renewal
wait for other runs, not for a server.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from connectwise_billing import (
    AsyncConnectWiseClient,
    CompanyUsage,
    ConnectWiseClient,
    FileLock,
    InProcessLock,
    Plan,
    PlanMapping,
    RedisLock,
    SyncReport,
    async_sync_all,
    sync_all,
)
from connectwise_billing.locks import REDIS_PREFIX, Lock
from connectwise_billing.testing import FakeConnectWise, Fault, set_testing

ROOT = Path(__file__).resolve().parents[2]
GOLD = Plan("gold-50", "Gold 50 GB", cost="3.25", price="8.00")
# Margins of a second or more: on a loaded machine (the suite runs on every core) a renewal
# thread or a process may be late by a few hundred milliseconds.
TTL = 1.0  # the lock's lifetime: shorter than the first worker's agreement
SLOW = 3.5  # how long the first worker's agreement takes, once it holds the lock
LATE = 1.5  # when the second worker starts, after the first took the lock: after TTL, before
# the first one writes


class Site:
    """One agreement with seats on Gold and no line yet: each worker would create one."""

    def __init__(self) -> None:
        self.fake = FakeConnectWise(seed=5)
        self.credentials = self.fake.add_api_member(identifier="CloudPanelAPI")
        company = self.fake.add_company("Contoso Ltd")
        self.gold = self.fake.add_product("MBX-GOLD-50", price="8.00", cost="3.25")
        self.agreement = self.fake.add_agreement(company)
        self.usage = CompanyUsage(self.agreement, {"gold-50": 12}, company="Contoso Ltd")
        self.mapping = PlanMapping({"gold-50": self.gold})

    def gold_lines(self) -> int:
        return sum(
            1
            for line in self.fake.list_additions(self.agreement)
            if line.cancelled_date is None and line.product and line.product.id == self.gold
        )

    def slow_down(self, how: str, seconds: float = SLOW) -> None:
        """Once the first worker holds the lock, its agreement takes `seconds`: the read it
        makes under the lock (its second read: the first plans) answers late, or its create
        is throttled with `Retry-After`."""
        if how == "slow answer":
            self.fake.faults.add(Fault.latency(0), method="GET", path="/additions$")
            self.fake.faults.add(Fault.latency(seconds), method="GET", path="/additions$")
        else:
            set_testing(False)  # the client waits out Retry-After for real
            self.fake.faults.add(Fault.rate_limited(retry_after=seconds), method="POST")

    def first_holds_the_lock(self) -> None:
        """Wait until the first worker is working under the lock: its second read of the
        agreement, or its first create, has arrived."""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            reads = self.fake.count_requests("GET", f"/agreements/{self.agreement}/additions")
            if reads >= 2 or self.fake.count_requests("POST"):
                return
            time.sleep(0.01)
        raise AssertionError("the first worker never took the lock")


@pytest.fixture
def site() -> Site:
    return Site()


@pytest.fixture(params=["in-process", "file", "redis"])
def make_lock(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], Lock]]:
    if request.param == "in-process":
        yield lambda: InProcessLock(ttl=TTL, wait=0.3)
    elif request.param == "file":
        yield lambda: FileLock(tmp_path / "locks", wait=0.3)
    else:
        client = request.getfixturevalue("redis_client")
        yield lambda: RedisLock(client, ttl=TTL, wait=0.3)


def two_workers(
    kind: str, site: Site, make_lock: Callable[[], Lock], urls: tuple[str, str] | None = None
) -> list[SyncReport]:
    """The first worker starts; the second LATE seconds after the first took the lock; each
    with its own client."""
    first_url, second_url = urls or ("https://cw.example/v2025_1/apis/3.0",) * 2
    arguments = ([GOLD], site.mapping, [site.usage])
    if kind == "sync":
        reports: list[SyncReport] = []

        def worker(url: str) -> None:
            transport = site.fake.transport()
            with ConnectWiseClient(
                url, site.credentials, transport=transport, rate_limit_per_minute=None
            ) as client:
                reports.append(sync_all(client, *arguments, lock=make_lock()))

        first = threading.Thread(target=worker, args=(first_url,))
        first.start()
        site.first_holds_the_lock()
        time.sleep(LATE)
        worker(second_url)
        first.join()
        return reports

    async def worker(url: str, late: bool) -> SyncReport:
        if late:
            await asyncio.to_thread(site.first_holds_the_lock)
            await asyncio.sleep(LATE)
        async with AsyncConnectWiseClient(
            url,
            site.credentials,
            transport=site.fake.async_transport(),
            rate_limit_per_minute=None,
        ) as client:
            return await async_sync_all(client, *arguments, lock=make_lock())

    async def both() -> list[SyncReport]:
        return list(await asyncio.gather(worker(first_url, False), worker(second_url, True)))

    return asyncio.run(both())


@pytest.mark.parametrize("how", ["slow answer", "throttled"])
@pytest.mark.parametrize("kind", ["sync", "async"])
def test_a_lock_is_renewed_while_its_agreement_takes_longer_than_its_lifetime(
    site: Site, make_lock: Callable[[], Lock], kind: str, how: str
) -> None:
    site.slow_down(how)
    reports = two_workers(kind, site, make_lock)
    assert site.gold_lines() == 1
    statuses = sorted(report.agreement_reports[0].status for report in reports)
    assert statuses == ["busy", "synced"]
    busy = next(r for r in reports if r.agreement_reports[0].status == "busy")
    assert not busy.ok and busy.busy == 1
    done = next(r for r in reports if r.agreement_reports[0].status == "synced")
    assert done.ok and done.mrr_after == Decimal("96.00")


def test_a_run_that_lost_its_lock_writes_nothing_more(site: Site, redis_client: Any) -> None:
    """The fencing check: while the run reads under its lock, the lock is taken from it (an
    evicted key, a failover); before its first write it checks the token it set, finds
    another, and stops."""
    site.slow_down("slow answer", 0.5)
    key = f"{REDIS_PREFIX}connectwise-billing/connectwise/fakemsp/agreement/{site.agreement}"

    def take_over() -> None:
        site.first_holds_the_lock()
        time.sleep(0.2)
        redis_client.set(key, "another-run")

    thief = threading.Thread(target=take_over)
    thief.start()
    with ConnectWiseClient(
        "https://cw.example/v2025_1/apis/3.0",
        site.credentials,
        transport=site.fake.transport(),
        rate_limit_per_minute=None,
    ) as client:
        report = sync_all(
            client, [GOLD], site.mapping, [site.usage], lock=RedisLock(redis_client, ttl=30)
        )
    thief.join()
    [agreement] = report.agreement_reports
    assert agreement.status == "busy" and not report.ok
    assert agreement.error is not None and "lost the agreement's lock" in agreement.error
    assert [r.status for r in agreement.results] == ["failed"]
    assert site.fake.writes() == []
    assert redis_client.get(key) == b"another-run"  # not released by the run that lost it


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_every_spelling_of_the_host_meets_on_one_lock(site: Site, kind: str) -> None:
    site.slow_down("slow answer")
    urls = (
        "https://api-na.myconnectwise.net/v2025_1/apis/3.0",
        "https://NA.myconnectwise.net./v2025_1/apis/3.0/",
    )
    reports = two_workers(kind, site, lambda: InProcessLock(wait=5), urls)
    assert site.gold_lines() == 1
    assert all(report.ok for report in reports)  # the second waited, and found it in step
    assert sorted(report.applied for report in reports) == [0, 1]


# --- in processes ---------------------------------------------------------------------------


def start_worker(url: str, site: Site, lock: str, env: dict[str, str] | None = None) -> Any:
    given = {
        "credentials": {
            "company_id": site.credentials.company_id,
            "public_key": site.credentials.public_key,
            "private_key": site.credentials.private_key,
            "client_id": site.credentials.client_id,
        },
        "gold": site.gold,
        "agreement": site.agreement,
        "seats": 12,
    }
    worker = subprocess.Popen(
        [sys.executable, "-m", "tests.integration.lock_worker", url, json.dumps(given), lock],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert worker.stdout is not None and worker.stdout.readline() == "ready\n"
    return worker


def go(worker: Any) -> None:
    worker.stdin.write("go\n")
    worker.stdin.flush()


@pytest.mark.parametrize("lock", ["file", "redis"])
def test_workers_in_processes_never_bill_twice(
    site: Site, lock: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    site.slow_down("slow answer")
    spec = f"file:{tmp_path}"
    if lock == "redis":
        request.getfixturevalue("redis_client")  # an empty Redis
        spec = f"redis:{request.getfixturevalue('redis_url')}:{TTL}"
    with site.fake.serve() as url:
        first, second = start_worker(url, site, spec), start_worker(url, site, spec)
        go(first)
        site.first_holds_the_lock()
        time.sleep(LATE)
        go(second)
        outputs = [worker.communicate(timeout=60) for worker in (first, second)]
    reports = [json.loads(out) for out, _ in outputs]
    assert site.gold_lines() == 1
    assert sorted(report["status"] for report in reports) == ["busy", "synced"]


def test_two_command_line_runs_by_different_users_meet_on_one_lock(
    site: Site, tmp_path: Path
) -> None:
    """cron (one HOME) and a person (another) run `sync` with one configuration: the lock
    directory lies beside the configuration, so the second waits for the first."""
    site.slow_down("slow answer", 3.0)
    config = tmp_path / "etc" / "billing.toml"
    config.parent.mkdir()
    usage = tmp_path / "usage.csv"
    usage.write_text(f"company,agreement_id,plan,seats\nContoso Ltd,{site.agreement},gold-50,12\n")
    with site.fake.serve() as url:
        config.write_text(
            "[connectwise]\n"
            f'base_url = "{url}"\n'
            f'company_id = "{site.credentials.company_id}"\n'
            f'client_id = "{site.credentials.client_id}"\n'
            "rate_limit_per_minute = 6000\n"
            '[plans]\ngold-50 = { name = "Gold 50 GB", cost = 3.25, price = 8.00 }\n'
            f"[mapping]\ngold-50 = {site.gold}\n"
        )
        runs = []
        for user in ("cron", "alice"):
            home = tmp_path / user
            home.mkdir()
            env = {key: value for key, value in os.environ.items() if key != "XDG_STATE_HOME"}
            env.update(
                HOME=str(home),
                CW_PUBLIC_KEY=site.credentials.public_key,
                CW_PRIVATE_KEY=site.credentials.private_key,
            )
            command = ["sync", "--config", str(config), "--usage", str(usage), "--json"]
            runs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "connectwise_billing", *command],
                    cwd=ROOT,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                    env=env,
                )
            )
            site.first_holds_the_lock()
        outputs = [run.communicate(timeout=120) for run in runs]
    assert site.gold_lines() == 1
    assert [run.returncode for run in runs] == [0, 0], outputs
    assert sorted(json.loads(out)["applied"] for out, _ in outputs) == [0, 1]
    assert (config.parent / "connectwise-billing-locks").is_dir()
