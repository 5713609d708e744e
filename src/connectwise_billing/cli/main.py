"""`connectwise-billing`: plan and sync billing, find products, companies and agreements."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from types import FrameType
from typing import Final

from connectwise_billing import __version__
from connectwise_billing.cli import commands, demo
from connectwise_billing.cli.commands import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_UNREACHABLE,
    EXIT_USAGE,
    STOP,
)
from connectwise_billing.defaults import LOGGER_NAME
from connectwise_billing.errors import (
    APIConnectionError,
    AuthenticationError,
    ConnectWiseBillingError,
    InputError,
    PermissionDeniedError,
)

EXIT_CODES: Final = """exit status:
  0    every agreement bills what the usage says (sync), or would once the preview is
       applied (plan)
  1    some agreements failed or are not billed right (plan too)
  2    the command line, configuration, usage file or mapping is wrong: nothing written
  3    the run was stopped: ConnectWise refused the credentials, or could not be reached
  130  interrupted (Ctrl-C, SIGTERM): the agreement in flight was finished, and the report
       of what was done so far printed"""
"""The exit statuses, as `--help` shows them (the values are `commands.EXIT_*`)."""


def _verbosity(parser: argparse.ArgumentParser, *, top: bool) -> None:
    # Accepted before or after the command; the command's own -v does not reset the top one.
    parser.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0 if top else argparse.SUPPRESS,
        help="log each change (-v) and each request (-vv) to stderr",
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="connectwise-billing",
        description="Keep ConnectWise Manage agreement additions in step with your control panel.",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    _verbosity(parser, top=True)
    commands_ = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(
        into: argparse._SubParsersAction[argparse.ArgumentParser], name: str, text: str
    ) -> argparse.ArgumentParser:
        sub = into.add_parser(
            name,
            help=text,
            description=text,
            epilog=EXIT_CODES,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        _verbosity(sub, top=False)
        return sub

    command(
        commands_, "demo", "plan and run a sync against the bundled simulator (no network, no keys)"
    ).set_defaults(run=demo.run)

    def with_config(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("--config", required=True, help="the TOML configuration file")
        sub.add_argument("--json", action="store_true", help="print JSON instead of tables")

    for name, run, text in (
        (
            "plan",
            commands.plan,
            "show what a sync would change, and its money impact; writes nothing",
        ),
        ("sync", commands.sync, "make ConnectWise match the usage file"),
    ):
        sub = command(commands_, name, text)
        with_config(sub)
        sub.add_argument("--usage", required=True, help="the usage file (.csv or .json)")
        sub.add_argument("--company", help="only this company (its name in the usage file)")
        sub.add_argument("--audit-log", help="append each settled write to this JSON Lines file")
        sub.add_argument(
            "--allow-small-discounts",
            action="store_true",
            help="accept discounts between 0 and 1 percent (by default taken for a mistake: 0.1 "
            "meant as 10%%)",
        )
        sub.add_argument(
            "--show-diffs",
            type=int,
            default=None,
            metavar="N",
            help="show only N agreements' diffs",
        )
        if name == "sync":
            where = sub.add_mutually_exclusive_group()
            where.add_argument(
                "--lock-dir",
                help="directory of the lock files that keep two syncs on this host off one "
                "agreement (default: [lock] dir, else connectwise-billing-locks beside the "
                "configuration file)",
            )
            where.add_argument(
                "--redis-url",
                help="lock in this Redis instead (redis://host:6379/0), for syncs on several "
                "hosts (default: [lock] redis_url)",
            )
        sub.set_defaults(run=run)

    lookups = (
        ("products", commands.products, "catalog items whose identifier or description has TEXT"),
        ("companies", commands.companies, "companies whose name contains TEXT"),
    )  # fmt: skip
    for noun, run, what in lookups:
        lookup = command(commands_, noun, f"look up {noun}")
        search = command(lookup.add_subparsers(dest="action", required=True), "search", what)
        search.add_argument("text")
        with_config(search)
        search.set_defaults(run=run)

    agreements = command(commands_, "agreements", "look up agreements")
    listing = command(
        agreements.add_subparsers(dest="action", required=True), "list", "a company's agreements"
    )
    which = listing.add_mutually_exclusive_group(required=True)
    which.add_argument("--company", help="the company's name in ConnectWise")
    which.add_argument("--company-id", type=int, help="the company's id in ConnectWise")
    with_config(listing)
    listing.set_defaults(run=commands.agreements)

    plans = command(commands_, "plans", "check the configured plans")
    refresh = command(
        plans.add_subparsers(dest="action", required=True),
        "refresh-prices",
        "compare plan costs and prices with the mapped catalog items",
    )
    with_config(refresh)
    refresh.set_defaults(run=commands.refresh)
    return parser


@contextlib.contextmanager
def _logging(args: argparse.Namespace) -> Iterator[None]:
    """The command line's own logging, on stderr. A run's report shows its warnings and errors,
    so `plan` and `sync` log only with -v; lookups warn of records they had to leave out."""
    verbose = getattr(args, "verbose", 0) or 0
    quiet = logging.CRITICAL if args.command in ("plan", "sync", "demo") else logging.WARNING
    level = {0: quiet, 1: logging.INFO}.get(verbose, logging.DEBUG)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    loggers = [logging.getLogger(LOGGER_NAME)]
    if verbose >= 2:
        loggers.append(logging.getLogger("httpx"))
    saved = [(logger, logger.level) for logger in loggers]
    for logger in loggers:
        logger.addHandler(handler)
        logger.setLevel(level)
    try:
        yield
    finally:
        for logger, old in saved:
            logger.removeHandler(handler)
            logger.setLevel(old)


@contextlib.contextmanager
def _stop_on_signals() -> Iterator[None]:
    """Ctrl-C or SIGTERM: finish the agreement in flight, print what was done, exit 130.
    A second one stops at once."""

    def stop(signum: int, _frame: FrameType | None) -> None:
        if STOP.is_set():
            raise KeyboardInterrupt
        STOP.set()
        print(
            f"connectwise-billing: {signal.Signals(signum).name}: stopping after the agreement "
            "in flight (again to stop at once)",
            file=sys.stderr,
            flush=True,
        )

    STOP.clear()
    # Signal handlers can only be set from the main thread (tests may run main() elsewhere).
    in_main = threading.current_thread() is threading.main_thread()
    saved = (
        {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
        if in_main
        else {}
    )
    try:
        yield
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)


def _fail(message: str, status: int) -> int:
    print(f"connectwise-billing: {message}", file=sys.stderr)
    return status


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status (see `--help`)."""
    args = _parser().parse_args(argv)
    try:
        with _logging(args), _stop_on_signals():
            status: int = args.run(args)
        sys.stdout.flush()
    except InputError as error:
        return _fail(str(error), EXIT_USAGE)
    except AuthenticationError as error:
        return _fail(f"ConnectWise refused the credentials: {error}", EXIT_UNREACHABLE)
    except PermissionDeniedError as error:
        return _fail(f"ConnectWise refused the API member: {error}", EXIT_UNREACHABLE)
    except APIConnectionError as error:
        return _fail(f"ConnectWise could not be reached: {error}", EXIT_UNREACHABLE)
    except ConnectWiseBillingError as error:
        return _fail(str(error), EXIT_FAILED)
    except KeyboardInterrupt:
        return _fail("interrupted", EXIT_INTERRUPTED)
    except BrokenPipeError:
        # The reader went away (`| head`): end quietly, and let nothing flush into the pipe.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FAILED
    return status
