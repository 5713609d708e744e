"""One sync of one agreement in a process of its own, for the tests of locks that meet.

    python -m tests.integration.lock_worker URL SITE LOCK

`SITE` is JSON: the API member's keys, the Gold product and the agreement with its seats. `LOCK`
is `file:<directory>` or `redis:<url>:<ttl>`. The worker prints `ready`, starts when a line
arrives on its standard input, and prints the agreement's report as JSON.
"""

from __future__ import annotations

import json
import sys

from connectwise_billing import (
    CompanyUsage,
    ConnectWiseClient,
    Credentials,
    FileLock,
    Plan,
    RedisLock,
    sync_all,
)
from connectwise_billing.locks import Lock

GOLD = Plan("gold-50", "Gold 50 GB", cost="3.25", price="8.00")


def lock_from(spec: str) -> Lock:
    kind, _, where = spec.partition(":")
    if kind == "file":
        return FileLock(where, wait=0.3)
    url, _, ttl = where.rpartition(":")
    return RedisLock.from_url(url, ttl=float(ttl), wait=0.3)


def main(url: str, site: str, lock: str) -> None:
    given = json.loads(site)
    credentials = Credentials(**given["credentials"])
    usage = CompanyUsage(given["agreement"], {"gold-50": given["seats"]})
    with ConnectWiseClient(url, credentials, rate_limit_per_minute=None) as client:
        print("ready", flush=True)
        sys.stdin.readline()
        report = sync_all(client, [GOLD], {"gold-50": given["gold"]}, [usage], lock=lock_from(lock))
    [agreement] = report.agreement_reports
    print(json.dumps({"status": agreement.status, "ok": agreement.ok, "error": agreement.error}))


if __name__ == "__main__":
    main(*sys.argv[1:])
