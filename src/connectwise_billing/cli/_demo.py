"""`connectwise-billing demo`: a real sync against the bundled simulator, in a few seconds.

It serves an example MSP over HTTP on 127.0.0.1 (dozens of companies; additions missing, stale
or in step; a deleted agreement; a cancelled one; a company the API member cannot see), then:
plans the sync (a dry run with the money impact), applies it, and syncs again to show that
nothing is left to change.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime

from connectwise_billing.client import ConnectWiseClient, RetryPolicy
from connectwise_billing.reconcile import SyncPolicy
from connectwise_billing.runner import sync_all
from connectwise_billing.testing import build_example

COMPANIES = 40
SHOWN = 4


def run(_args: argparse.Namespace) -> int:
    """Run the demo; return the exit status."""
    example = build_example(COMPANIES, seed=1)
    policy = SyncPolicy(api_member="CloudPanelAPI")
    today = datetime.now(UTC).date()
    with example.fake.serve() as url:
        site = url.split(f"/{example.fake.codebase}")[0]
        print(f"ConnectWise simulator with an example MSP on {site}")
        print(f"  {len(example.usages)} companies linked to agreements")
        print("  plans (price per seat and month):")
        print("    " + ", ".join(f"{p.name} {p.price}" for p in example.plans))
        print("  The Archive plan is not mapped to a product; one agreement was deleted, one is")
        print(f"  cancelled, and the API member cannot see {example.hidden_company}.\n")
        # The simulator sets no rate limit, so neither does the client: the demo runs at full speed.
        with ConnectWiseClient.from_site(
            site, example.credentials, retry=RetryPolicy(), rate_limit_per_minute=None
        ) as client:
            print(f"Connected: {client.base_url}\n")
            steps = (
                ("1. Plan: what a sync would change (dry run, nothing written)", True),
                ("2. Sync: apply it", False),
                ("3. Sync again: everything is in step", False),
            )
            for title, dry_run in steps:
                print(title)
                print("=" * len(title))
                report = sync_all(
                    client,
                    example.plans,
                    example.mapping,
                    example.usages,
                    policy,
                    dry_run=dry_run,
                    today=today,
                )
                print(report.render(show_diffs=SHOWN, show_warnings=3))
                print()
    requests, writes = len(example.fake.request_log), len(example.fake.writes())
    print(f"The simulator received {requests} requests, {writes} of them writes.")
    print("The errors are the example's, on purpose: a deleted agreement and a company outside")
    print("the API member's reach are reported on every run while the other agreements sync.")
    print("Next: `connectwise-billing plan --config ... --usage ...` against your own ConnectWise.")
    return 0
