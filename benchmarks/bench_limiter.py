"""Shared rate limit benchmark: three worker processes, one `RedisRateLimiter`, one tenant.
Prints figures; asserts nothing.

    python benchmarks/bench_limiter.py

Starts its own `redis-server` on 127.0.0.1 (skipped, saying so, when none is installed: `make
redis-server`) and serves the simulator over HTTP, limited like ConnectWise at 1,000 requests per
minute. Three processes, each with its own `ConnectWiseClient` and a
`RedisRateLimiter(redis_client)` at the default 950 per minute, send requests as fast as their
limiter lets them; the simulator notes when each arrives.

Targets, counted at the tenant (the simulator):
- requests per minute after the opening burst: at most the configured 950 (and close to it);
- the busiest 10 seconds: at most 10 s of the rate, plus the burst (one second's worth), plus
  one request per worker (a worker descheduled between its slot and sending arrives late,
  together with later requests; it sends one request at a time);
- 429s from the tenant's own limit: 0.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from connectwise_billing import ConnectWiseClient, Credentials, RedisRateLimiter
from connectwise_billing._waits import TESTING_ENVIRONMENT_VARIABLE
from connectwise_billing.client._ratelimit import REDIS_BURST_SECONDS
from connectwise_billing.defaults import DEFAULT_RATE_LIMIT_PER_MINUTE
from connectwise_billing.testing import FakeConnectWise

WORKERS = 3
PER_WORKER = 80  # 240 requests: about 14 s at 950 a minute
TENANT_LIMIT = 1000.0  # ConnectWise: "over 1,000 requests per minute will likely be rate limited"
WINDOW = 10.0


class Tenant(FakeConnectWise):
    """The simulator, noting when each request reaches it."""

    def __init__(self) -> None:
        super().__init__(seed=11, rate_limit_per_minute=TENANT_LIMIT)
        self.arrivals: list[float] = []

    def process(self, request: httpx.Request) -> Any:
        self.arrivals.append(time.monotonic())
        return super().process(request)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_redis() -> tuple[subprocess.Popen[bytes], str] | None:
    """A `redis-server` on 127.0.0.1 and a free port, answering; `None` when none is installed."""
    import redis

    local = Path(sys.executable).parent / "redis-server"
    binary = shutil.which("redis-server") or (str(local) if local.exists() else None)
    if binary is None:
        return None
    port = free_port()
    server = subprocess.Popen(
        [binary, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url)
    deadline = time.monotonic() + 10
    while True:
        try:
            client.ping()
            break
        except redis.ConnectionError:
            if server.poll() is not None or time.monotonic() > deadline:
                server.kill()
                raise
            time.sleep(0.02)
    client.close()
    return server, url


def busiest(arrivals: list[float], window: float) -> int:
    """The most arrivals in any `window` seconds."""
    most = start = 0
    for end, moment in enumerate(arrivals):
        while arrivals[start] <= moment - window:
            start += 1
        most = max(most, end - start + 1)
    return most


def worker(url: str, keys: str, redis_url: str, count: str) -> None:
    """One worker process: `count` requests through a client on the shared limiter."""
    import redis

    limiter = RedisRateLimiter(redis.Redis.from_url(redis_url))
    with ConnectWiseClient(url, Credentials(**json.loads(keys)), rate_limiter=limiter) as client:
        print("ready", flush=True)
        sys.stdin.readline()
        for _ in range(int(count)):
            client.products.count()


def main() -> None:
    started = start_redis()
    if started is None:
        print("limiter skipped: no redis-server installed (make redis-server)")
        return
    server, redis_url = started
    tenant = Tenant()
    member = tenant.add_api_member()
    keys = json.dumps(
        {
            "company_id": member.company_id,
            "public_key": member.public_key,
            "private_key": member.private_key,
            "client_id": member.client_id,
        }
    )
    # Waits must be real: a worker started from a test run would otherwise skip them.
    environment = {k: v for k, v in os.environ.items() if k != TESTING_ENVIRONMENT_VARIABLE}
    try:
        with tenant.serve() as url:
            command = [sys.executable, __file__, "--worker", url, keys, redis_url, str(PER_WORKER)]
            workers = [
                subprocess.Popen(
                    command,
                    env=environment,
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    text=True,
                )
                for _ in range(WORKERS)
            ]
            for process in workers:  # every worker connected before any starts
                assert process.stdout is not None
                assert process.stdout.readline() == "ready\n"
            for process in workers:
                assert process.stdin is not None
                process.stdin.write("go\n")
                process.stdin.flush()
            for process in workers:
                process.communicate(timeout=120)
                if process.returncode != 0:
                    raise SystemExit(f"a worker failed (exit status {process.returncode})")
    finally:
        server.terminate()
        server.wait(timeout=10)
    report(tenant)


def report(tenant: Tenant) -> None:
    rate = float(DEFAULT_RATE_LIMIT_PER_MINUTE)
    burst = math.floor(rate * REDIS_BURST_SECONDS / 60)
    arrivals = sorted(tenant.arrivals)
    span = arrivals[-1] - arrivals[0]
    # After the burst, each request starts one interval after the one before it: timed from the
    # first of them (the very first request also opens a connection). An arrival a few
    # milliseconds late at either end moves the figure by a fraction of a request.
    paced = arrivals[burst:]
    sustained = (len(paced) - 1) / (paced[-1] - paced[0]) * 60
    window_bound = math.floor(WINDOW * rate / 60 + burst) + WORKERS
    throttled = sum(1 for entry in tenant.request_log if entry.status == 429)
    print(
        f"limiter {WORKERS} worker processes sharing RedisRateLimiter(per_minute={rate:g}) "
        f"through one Redis: {len(arrivals)} requests reached the tenant in {span:.1f} s"
    )
    print(
        f"        after the opening burst of {burst}: {sustained:.0f} requests/min at the tenant "
        f"(target <= {rate:g})"
    )
    print(
        f"        busiest {WINDOW:g} s: {busiest(arrivals, WINDOW)} requests "
        f"(target <= {WINDOW:g} s x {rate:g}/min + {burst} + {WORKERS} late = {window_bound})"
    )
    print(
        f"        429s from the tenant's limit of {TENANT_LIMIT:,.0f}/min: {throttled} (target 0)"
    )


if __name__ == "__main__":
    if sys.argv[1:2] == ["--worker"]:
        worker(*sys.argv[2:])
    else:
        main()
