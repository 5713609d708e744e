"""Billing syncs on an RQ job queue: one job per company, `RedisLock` against overlapping jobs,
`RedisRateLimiter` for one rate limit across the workers.

This is how a control panel with many companies (or many MSP tenants) runs the sync: its
scheduler enqueues one job per company every interval, the "Update Now" button enqueues one more
for its company, and any number of workers run them. Two jobs for one company can run at the
same time (the button pressed while the scheduled run is going): `RedisLock` makes the second
wait for the first, which it then finds in step. Nothing is billed twice. The workers send under
one API member, and ConnectWise counts their requests together: `RedisRateLimiter` keeps them
under one limit together, where a limiter per worker would let three workers send three times
the rate.

Deployment, with the command line's configuration and usage files:

    pip install 'connectwise-billing[redis]' rq
    export CW_PUBLIC_KEY=... CW_PRIVATE_KEY=... BILLING_REDIS_URL=redis://redis.internal:6379/0
    rq worker billing --url "$BILLING_REDIS_URL" --path /opt/billing   # on every worker host

and from the scheduler and the button (`/opt/billing` holds this file as `rq_jobs.py`):

    CONFIG = "/etc/connectwise-billing/billing.toml"
    USAGE = "/var/lib/connectwise-billing/usage.csv"
    queue = Queue("billing", connection=Redis.from_url(os.environ["BILLING_REDIS_URL"]))
    rq_jobs.enqueue_scheduled_run(queue, CONFIG, USAGE)  # absolute paths: a worker opens them
    rq_jobs.enqueue_update_now(queue, CONFIG, USAGE, "Contoso Ltd")  # in its own directory

Run as a script (`python examples/rq_jobs.py redis://127.0.0.1:6379/0`), it shows the whole
thing against the bundled simulator: a scheduled run for twelve companies with an "Update Now"
for each of them pressed meanwhile, on three workers in burst mode.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from redis import Redis
from rq import Queue
from rq.job import Job

from connectwise_billing import RedisRateLimiter, sync_company
from connectwise_billing.cli import load_config, load_usage
from connectwise_billing.defaults import DEFAULT_RATE_LIMIT_PER_MINUTE

if TYPE_CHECKING:
    from connectwise_billing.testing import ExampleMSP

# --8<-- [start:jobs]
QUEUE = "billing"
FINAL = ("finished", "failed", "canceled", "stopped")
"""Job statuses that do not change any more."""
JOB = "rq_jobs.sync_company_job"
"""The job by import path: workers import this file as `rq_jobs` (`rq worker --path`)."""


def sync_company_job(config_path: str, usage_path: str, company: str) -> dict[str, Any]:
    """What a worker runs: one company's sync, locked and rate limited in the Redis at
    `BILLING_REDIS_URL`.

    The command line's configuration applies as `connectwise-billing sync` applies it: the
    site or base URL, `api_version`, `rate_limit_per_minute`, `[retry]`, `bill_customer`,
    `[policy]` with `[guardrails]`, and `[lock]`'s `wait` and `ttl`. `[notify]` is for a
    whole run: the scheduler, which gets every job's report, is the one to tell someone. The
    API keys come from `CW_PUBLIC_KEY` and `CW_PRIVATE_KEY` (or the config's `keys_file`); the
    result is the company's report as JSON-ready data.
    """
    config = load_config(config_path)
    usages = [u for u in load_usage(usage_path, config.plans) if u.company == company]
    redis_url = os.environ["BILLING_REDIS_URL"]
    # ConnectWise counts the API member's requests from every worker together, so the
    # configured rate is shared through Redis (keyed by the client's tenant and API member);
    # a configuration without a limit of its own still has ConnectWise's to stay under.
    rate = config.rate_limit_per_minute or DEFAULT_RATE_LIMIT_PER_MINUTE
    # The lock lives in the queue's Redis, which every worker on every host reaches.
    lock = config.make_lock(redis_url=redis_url)
    with (
        Redis.from_url(redis_url) as redis,
        config.client(rate_limiter=RedisRateLimiter(redis, per_minute=rate)) as client,
    ):
        report = sync_company(
            config.backend(client), config.plans, config.mapping, usages, config.policy, lock=lock
        )
    return report.to_dict()


def companies(config_path: str, usage_path: str) -> list[str]:
    """The companies of a usage file."""
    plans = load_config(config_path).plans
    return sorted({u.company for u in load_usage(usage_path, plans) if u.company})


def enqueue_scheduled_run(queue: Queue, config_path: str, usage_path: str) -> list[Job]:
    """The interval's run: one job per company of the usage file."""
    return [
        enqueue_update_now(queue, config_path, usage_path, company)
        for company in companies(config_path, usage_path)
    ]


def enqueue_update_now(queue: Queue, config_path: str, usage_path: str, company: str) -> Job:
    """One company's sync, as the "Update Now" button asks for it."""
    return queue.enqueue(JOB, config_path, usage_path, company, description=f"sync {company}")


# --8<-- [end:jobs]


def demo_example() -> ExampleMSP:
    """The example MSP the script syncs: twelve companies whose agreements a sync can bill.

    The simulator's example MSP also holds three links only a person can mend (an agreement
    deleted, one cancelled, a company the API member cannot see): its last three companies.
    A control panel re-links or unlinks those; here they are left out of the usage file, so
    that every job's report is ok.
    """
    from connectwise_billing.testing import build_example

    example = build_example(12 + 3, seed=5)
    example.fake.latency = 0.02  # long enough for jobs of one company to overlap
    return example


def demo_files(directory: Path, example: ExampleMSP, api_url: str) -> tuple[str, str]:
    """A configuration and usage file for `example` served at `api_url`."""
    plans = "\n".join(
        f'{p.id} = {{ name = "{p.name}", cost = {p.cost}, price = {p.price} }}'
        for p in example.plans
    )
    mapping = "\n".join(f"{plan} = {product}" for plan, product in example.mapping.items())
    config = directory / "config.toml"
    # Every section a job reads, as a deployment sets them: each reaches the workers' syncs.
    config.write_text(f"""\
[connectwise]
base_url = "{api_url}"
company_id = "{example.fake.company_id}"
client_id = "{example.credentials.client_id}"
api_version = "2025.8"
api_member = "CloudPanelAPI"
rate_limit_per_minute = 950
bill_customer = "Billable"

[plans]
{plans}

[mapping]
{mapping}

[policy]
on_zero = "set_quantity_zero"

[guardrails]
max_mrr_drop_percent = 50

[retry]
max_attempts = 5
settle_timeout = 10

[lock]
wait = 30
ttl = 300
""")
    # The links a person must mend first, left out of the usage file (see `demo_example`).
    to_relink = {example.deleted_agreement_id, example.cancelled_agreement_id}
    usage = directory / "usage.json"
    usage.write_text(
        json.dumps(
            [
                {
                    "company": u.company,
                    "agreement_id": u.agreement_id,
                    "seats": dict(u.seats),
                    "custom_prices": {plan: str(price) for plan, price in u.custom_prices.items()},
                    "discount_percent": str(u.discount_percent),
                }
                for u in example.usages
                if u.agreement_id not in to_relink and u.company != example.hidden_company
            ]
        )
    )
    return str(config), str(usage)


def run_workers(redis_url: str, count: int, environment: dict[str, str], jobs: list[Job]) -> None:
    """Start `count` burst-mode workers on the queue and wait until they have run `jobs`."""
    rq = Path(sys.executable).parent / "rq"
    command = [str(rq), "worker", "--burst", "--quiet", "--url", redis_url]
    command += ["--path", str(Path(__file__).parent), QUEUE]
    workers = [subprocess.Popen(command, env=environment) for _ in range(count)]  # noqa: S603 - our own worker command
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and any(worker.poll() is None for worker in workers):
        if all(job.get_status(refresh=True) in FINAL for job in jobs):
            break
        time.sleep(0.1)  # the workers are working: real time
    for worker in workers:
        # rq 3 on redis-py 8 may keep a burst worker whose work is done waiting up to a minute
        # for its pubsub thread. Once every job is done, one still there is killed: it has
        # nothing left to do (a SIGTERM would print a traceback from that same wait).
        try:
            worker.wait(timeout=5)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait(timeout=30)


def main(redis_url: str) -> None:
    example = demo_example()
    connection = Redis.from_url(redis_url)
    queue = Queue(QUEUE, connection=connection)
    queue.empty()
    with tempfile.TemporaryDirectory() as directory, example.fake.serve() as api_url:
        config, usage = demo_files(Path(directory), example, api_url)
        jobs: list[Job] = []
        for company in companies(config, usage):
            # A scheduled job, and "Update Now" pressed right behind it: three workers take
            # both jobs of a company at once, and RedisLock makes the second wait.
            jobs.append(enqueue_update_now(queue, config, usage, company))
            jobs.append(enqueue_update_now(queue, config, usage, company))
        environment = {
            **os.environ,
            "CW_PUBLIC_KEY": example.credentials.public_key,
            "CW_PRIVATE_KEY": example.credentials.private_key,
            "BILLING_REDIS_URL": redis_url,
        }
        run_workers(redis_url, 3, environment, jobs)
    reports = [job.return_value() for job in jobs]
    finished = sum(1 for job in jobs if job.get_status() == "finished")
    ok = sum(1 for report in reports if report and report["ok"])
    applied = sum(report["applied"] for report in reports if report)
    mapped = example.mapping.product_ids
    active = [
        (a.agreement_id, a.product.id)
        for a in example.fake.list_additions()
        if a.cancelled_date is None and a.product and a.product.id in mapped
    ]
    billed_twice = len(active) - len(set(active))
    print(
        f"{len(jobs)} jobs for {len(jobs) // 2} companies on 3 workers: {finished} finished, "
        f"{ok} ok"
    )
    print(f"{applied} writes applied; {billed_twice} products billed twice")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else os.environ.get("BILLING_REDIS_URL", ""))
