"""`connectwise-billing`: plan and sync billing, find products, companies and agreements.

Exit status: 0 when everything went well, 1 when the sync reported failures or ConnectWise
could not be reached, 2 when a command line, configuration or usage file is wrong (nothing is
sent to ConnectWise then).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path
from typing import Any

from connectwise_billing._json import to_jsonable
from connectwise_billing._version import __version__
from connectwise_billing.cli import demo
from connectwise_billing.cli.config import Config, ConfigFileError, load_config, load_credentials
from connectwise_billing.cli.output import (
    Progress,
    agreements_table,
    companies_table,
    products_table,
    refresh_text,
    report_text,
)
from connectwise_billing.cli.usage import load_usage
from connectwise_billing.client import ConnectWiseClient
from connectwise_billing.client.wire import unstructure
from connectwise_billing.errors import ConnectWiseBillingError, InputError
from connectwise_billing.locks import FileLock, Lock, RedisLock
from connectwise_billing.reconcile import CompanyUsage, Reconciler
from connectwise_billing.sync import refresh_plan_prices, sync_all

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def _client(config: Config) -> ConnectWiseClient:
    credentials = load_credentials(config)
    options: dict[str, Any] = {
        "api_version": config.api_version,
        "rate_limit_per_minute": config.rate_limit_per_minute,
    }
    if config.base_url:
        return ConnectWiseClient(config.base_url, credentials, **options)
    assert config.site_url is not None  # noqa: S101 - load_config requires one of the two
    return ConnectWiseClient.from_site(config.site_url, credentials, **options)


def _only_company(usages: list[CompanyUsage], name: str | None) -> list[CompanyUsage]:
    if name is None:
        return usages
    chosen = [u for u in usages if (u.company or "").casefold() == name.casefold()]
    if not chosen:
        known = sorted({u.company for u in usages if u.company})
        raise InputError(
            f"no company named {name!r} in the usage file; it has: {', '.join(known[:10])}"
        )
    return chosen


def default_lock_dir() -> Path:
    """Where `sync` keeps its lock files unless told otherwise:
    `$XDG_STATE_HOME/connectwise-billing/locks` (`~/.local/state/...` without it)."""
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "connectwise-billing" / "locks"


def _lock(args: argparse.Namespace) -> Lock | None:
    if getattr(args, "redis_url", None):
        return RedisLock.from_url(args.redis_url)
    if hasattr(args, "lock_dir"):
        return FileLock(args.lock_dir or default_lock_dir())
    return None


def _plan_or_sync(args: argparse.Namespace, *, dry_run: bool) -> int:
    config = load_config(args.config)
    usages = _only_company(load_usage(args.usage, config.plans), args.company)
    try:  # everything checked before connecting: a bad file sends nothing
        Reconciler(config.plans, config.mapping, config.policy, today=date.today()).check(usages)
    except InputError as error:
        raise ConfigFileError(f"{args.usage}: {error}") from None
    progress = Progress() if not args.json else None
    with _client(config) as client:
        report = sync_all(
            client,
            config.plans,
            config.mapping,
            usages,
            config.policy,
            dry_run=dry_run,
            audit_log=args.audit_log,
            progress=progress,
            lock=_lock(args),
        )
    if progress is not None:
        progress.finish()
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        print(report_text(report))
    return EXIT_OK if report.ok or dry_run else EXIT_FAILED


def _plan(args: argparse.Namespace) -> int:
    return _plan_or_sync(args, dry_run=True)


def _sync(args: argparse.Namespace) -> int:
    return _plan_or_sync(args, dry_run=False)


def _products(args: argparse.Namespace) -> int:
    with _client(load_config(args.config)) as client:
        found = client.products.search(args.text)
    _show(args, found, products_table)
    return EXIT_OK


def _companies(args: argparse.Namespace) -> int:
    with _client(load_config(args.config)) as client:
        found = client.companies.search(args.text)
    _show(args, found, companies_table)
    return EXIT_OK


def _agreements(args: argparse.Namespace) -> int:
    with _client(load_config(args.config)) as client:
        found = client.agreements.list(company_id=args.company, order_by="name")
    _show(args, found, agreements_table)
    return EXIT_OK


def _refresh(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    with _client(config) as client:
        refresh = refresh_plan_prices(client, config.plans, config.mapping)
    if args.json:
        changes = [
            {"plan_id": c.plan_id, "field": c.field, "old": str(c.old), "new": str(c.new)}
            for c in refresh.changes
        ]
        print(
            json.dumps(
                {"changes": changes, "missing_products": list(refresh.missing_products)}, indent=2
            )
        )
    else:
        print(refresh_text(refresh))
    return EXIT_OK


def _show(args: argparse.Namespace, records: Sequence[Any], render: Callable[[Any], str]) -> None:
    if args.json:
        print(json.dumps(to_jsonable([unstructure(record) for record in records]), indent=2))
    elif records:
        print(render(records))
    else:
        print("Nothing found.")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="connectwise-billing",
        description="Keep ConnectWise Manage agreement additions in step with your control panel.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log each request and change")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    commands.add_parser(
        "demo", help="plan and run a sync against the bundled simulator (no network, no keys)"
    ).set_defaults(run=demo.run)

    def with_config(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("--config", required=True, help="the TOML configuration file")
        sub.add_argument("--json", action="store_true", help="print JSON instead of tables")

    for name, run, text in (
        ("plan", _plan, "show what a sync would change, and its money impact; writes nothing"),
        ("sync", _sync, "make ConnectWise match the usage file; exit status 1 on any failure"),
    ):
        sub = commands.add_parser(name, help=text, description=text)
        with_config(sub)
        sub.add_argument("--usage", required=True, help="the usage file (.csv or .json)")
        sub.add_argument("--company", help="only this company (its name in the usage file)")
        sub.add_argument("--audit-log", help="append each operation to this JSON Lines file")
        if name == "sync":
            where = sub.add_mutually_exclusive_group()
            where.add_argument(
                "--lock-dir",
                help="directory of the lock files that keep two syncs on this host off one "
                "agreement (default: $XDG_STATE_HOME/connectwise-billing/locks)",
            )
            where.add_argument(
                "--redis-url",
                help="lock in this Redis instead (redis://host:6379/0), for syncs on several hosts",
            )
        sub.set_defaults(run=run)

    for noun, run, what in (
        ("products", _products, "catalog products whose identifier or description contains TEXT"),
        ("companies", _companies, "companies whose name contains TEXT"),
    ):
        lookup = commands.add_parser(noun, help=f"look up {noun}")
        search = lookup.add_subparsers(dest="action", required=True).add_parser("search", help=what)
        search.add_argument("text")
        with_config(search)
        search.set_defaults(run=run)

    agreements = commands.add_parser("agreements", help="look up agreements")
    listing = agreements.add_subparsers(dest="action", required=True).add_parser(
        "list", help="a company's agreements"
    )
    listing.add_argument("--company", type=int, required=True, help="the ConnectWise company id")
    with_config(listing)
    listing.set_defaults(run=_agreements)

    plans = commands.add_parser("plans", help="check the configured plans")
    refresh = plans.add_subparsers(dest="action", required=True).add_parser(
        "refresh-prices", help="compare plan costs and prices with the mapped catalog items"
    )
    with_config(refresh)
    refresh.set_defaults(run=_refresh)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    # The printed report already shows every warning and failure; -v adds the log lines.
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.CRITICAL,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        status: int = args.run(args)
    except InputError as error:
        print(f"connectwise-billing: {error}", file=sys.stderr)
        return EXIT_USAGE
    except ConnectWiseBillingError as error:
        print(f"connectwise-billing: {error}", file=sys.stderr)
        return EXIT_FAILED
    return status
