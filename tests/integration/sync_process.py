"""One sync of the example MSP against a served simulator, in a process of its own.

    python -m tests.integration.sync_process URL COMPANIES SEED LOCK [AUDIT_LOG]

`LOCK` is `file:<directory>`, `redis:<url>` or `none` (a lock that excludes nobody); the run
appends to `AUDIT_LOG` when given. The example
is rebuilt from its seed, which gives the same plans, usages and API keys as the simulator the
URL serves. It prints `ready`, starts when a line arrives on its standard input (so that several
processes start together), and prints the report's totals as JSON.
"""

from __future__ import annotations

import json
import sys
from datetime import date

from connectwise_billing import (
    ConnectWiseBillingError,
    ConnectWiseClient,
    FileLock,
    RedisLock,
    SyncPolicy,
    sync_all,
)
from connectwise_billing.locks import Lock
from connectwise_billing.testing import build_example, set_testing
from tests.integration.locking import NoLock

TODAY = date(2026, 11, 28)


def lock_from(spec: str) -> Lock:
    kind, _, where = spec.partition(":")
    if kind == "file":
        return FileLock(where)
    if kind == "redis":
        return RedisLock.from_url(where)
    return NoLock()


def main(url: str, companies: str, seed: str, lock: str, audit_log: str = "") -> None:
    set_testing(True)
    example = build_example(int(companies), seed=int(seed))
    with ConnectWiseClient(url, example.credentials, rate_limit_per_minute=None) as client:
        print("ready", flush=True)
        sys.stdin.readline()
        try:
            report = sync_all(
                client,
                example.plans,
                example.mapping,
                example.usages,
                SyncPolicy(),
                today=TODAY,
                lock=lock_from(lock),
                audit_log=audit_log or None,
            )
        except ConnectWiseBillingError as error:  # its first reads failed: nothing written
            print(json.dumps({"error": str(error)}))
            return
    totals = {key: report.to_dict()[key] for key in ("ok", "applied", "failed", "unknown", "busy")}
    print(json.dumps(totals))


if __name__ == "__main__":
    main(*sys.argv[1:])
