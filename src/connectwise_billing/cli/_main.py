"""`connectwise-billing`: plan and sync billing, find products, companies and agreements."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from types import FrameType
from typing import Any, Final, NoReturn

from connectwise_billing import __version__, _waits as waits
from connectwise_billing.cli import _commands as commands, _demo as demo
from connectwise_billing.cli._commands import (
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
  0    every agreement bills what the usage says (sync, apply), or would once the preview
       is applied (plan)
  1    some agreements failed or are not billed right (plan too)
  2    the command line, configuration, usage file, mapping or change set is wrong (or
       expired): nothing written
  3    the run was stopped: ConnectWise refused the credentials, or could not be reached
  4    a person should look: guardrails held changes (plan, sync, apply), or a change set's
       agreements changed since it was planned (stale), and nothing else failed;
       plan --detailed-exitcode: changes pending or held
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


Commands = argparse._SubParsersAction  # the subparsers of a parser


def _command(
    into: Commands[argparse.ArgumentParser], name: str, text: str
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


def _with_config(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("--config", required=True, help="the TOML configuration file")
    sub.add_argument("--json", action="store_true", help="print JSON instead of tables")


def _locking(sub: argparse.ArgumentParser) -> None:
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


def _html(sub: argparse.ArgumentParser) -> None:
    sub.add_argument(
        "--html",
        metavar="FILE",
        help="also write the report as one self-contained HTML page (for finance; opens offline)",
    )


def _approving(sub: argparse.ArgumentParser) -> None:
    sub.add_argument(
        "--approve",
        metavar="IDS|all",
        help="write what the guardrails hold for these agreements (ids separated by commas), "
        "or for all",
    )


def _billing_commands(commands_: Commands[argparse.ArgumentParser]) -> None:
    """plan, sync, apply, undo, runs."""
    for name, run, text in (
        (
            "plan",
            commands.plan,
            "show what a sync would change, and its money impact; writes nothing",
        ),
        ("sync", commands.sync, "make ConnectWise match the usage file"),
    ):
        sub = _command(commands_, name, text)
        _with_config(sub)
        sub.add_argument("--usage", required=True, help="the usage file (.csv or .json)")
        sub.add_argument("--company", help="only this company (its name in the usage file)")
        if name == "sync":  # a plan writes nothing to audit
            sub.add_argument(
                "--audit-log",
                help="append each write, before and after it, to this JSON Lines file",
            )
        _html(sub)
        sub.add_argument(
            "--allow-small-discounts",
            action="store_true",
            help="accept discounts between 0 and 1 percent (by default taken for a mistake: 0.1 "
            "meant as 10%%)",
        )
        sub.add_argument(
            "--show-diffs",
            type=_count,
            default=None,
            metavar="N",
            help="show only N agreements' diffs",
        )
        if name == "sync":
            _locking(sub)
            _approving(sub)
        else:
            sub.add_argument(
                "--out",
                metavar="FILE",
                help="save the planned changes as a change set to review, then `apply`",
            )
            sub.add_argument(
                "--detailed-exitcode",
                action="store_true",
                help="exit 4 when there are changes pending (0: nothing to change)",
            )
        sub.set_defaults(handler=run)

    apply = _command(
        commands_, "apply", "write exactly the operations of a saved change set (plan --out)"
    )
    apply.add_argument("changes", metavar="FILE", help="the change set (from plan --out or undo)")
    _with_config(apply)
    apply.add_argument(
        "--audit-log", help="append each write, before and after it, to this JSON Lines file"
    )
    _html(apply)
    _locking(apply)
    _approving(apply)
    apply.set_defaults(handler=commands.apply)

    undo = _command(
        commands_, "undo", "a change set that undoes a run, from its audit log (apply it after)"
    )
    undo.add_argument("--audit-log", required=True, help="the run's audit log")
    undo.add_argument("--run", required=True, metavar="ID", help="the run's id (see `runs`)")
    undo.add_argument("--out", required=True, metavar="FILE", help="where to save the change set")
    undo.add_argument("--json", action="store_true", help="print the change set as JSON")
    undo.set_defaults(handler=commands.undo)

    runs = _command(commands_, "runs", "the runs an audit log holds, with their outcomes")
    runs.add_argument("--audit-log", required=True, help="the audit log")
    runs.add_argument("--json", action="store_true", help="print JSON instead of a table")
    runs.set_defaults(handler=commands.list_runs)


def _count(text: str) -> int:
    if not (text.isascii() and text.isdigit()):
        raise argparse.ArgumentTypeError(f"a count is a whole number, 0 or more, got {text!r}")
    return int(text)


def _search_text(text: str) -> str:
    if not text.strip():
        raise argparse.ArgumentTypeError("give some text to search for (or `products list`)")
    return text


def _positive_id(text: str) -> int:
    if not (text.isascii() and text.isdigit()) or int(text) <= 0:
        raise argparse.ArgumentTypeError(f"an id is a positive whole number, got {text!r}")
    return int(text)


def _lookup_commands(commands_: Commands[argparse.ArgumentParser]) -> None:
    """products, companies, agreements, additions, plans."""
    lookups = (
        ("products", commands.products, "catalog items whose identifier or description has TEXT"),
        ("companies", commands.companies, "companies whose name contains TEXT"),
    )  # fmt: skip
    for noun, run, what in lookups:
        lookup = _command(commands_, noun, f"look up {noun}")
        actions = lookup.add_subparsers(dest="action", required=True)
        search = _command(actions, "search", what)
        search.add_argument("text", type=_search_text)
        _with_config(search)
        search.set_defaults(handler=run)
        if noun == "products":
            catalog = _command(actions, "list", "the whole catalog, inactive items included")
            _with_config(catalog)
            catalog.set_defaults(handler=run)

    additions = _command(commands_, "additions", "look up an agreement's additions")
    listing = _command(
        additions.add_subparsers(dest="action", required=True),
        "list",
        "an agreement's additions as ConnectWise holds them (cancelled ones too)",
    )
    listing.add_argument(
        "--agreement",
        required=True,
        type=_positive_id,
        metavar="ID",
        help="the agreement's id in ConnectWise (see `agreements list`)",
    )
    _with_config(listing)
    listing.set_defaults(handler=commands.additions)

    agreements = _command(commands_, "agreements", "look up agreements")
    listing = _command(
        agreements.add_subparsers(dest="action", required=True), "list", "a company's agreements"
    )
    which = listing.add_mutually_exclusive_group(required=True)
    which.add_argument("--company", help="the company's name in ConnectWise")
    which.add_argument("--company-id", type=_positive_id, help="the company's id in ConnectWise")
    _with_config(listing)
    listing.set_defaults(handler=commands.agreements)

    plans = _command(commands_, "plans", "check the configured plans")
    refresh = _command(
        plans.add_subparsers(dest="action", required=True),
        "refresh-prices",
        "compare plan costs and prices with the mapped catalog items",
    )
    _with_config(refresh)
    refresh.set_defaults(handler=commands.refresh)


class _UsageError(Exception):
    """A command line argparse refuses, with the message it gives."""

    def __init__(self, parser: argparse.ArgumentParser, message: str) -> None:
        super().__init__(message)
        self.parser = parser
        self.message = message


class _Parser(argparse.ArgumentParser):
    """A parser whose errors reach `main()`, which says them like argparse does and, with
    `--json`, also as a JSON error object on stdout."""

    def error(self, message: str) -> NoReturn:
        raise _UsageError(self, message)


def _parser() -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = _Parser(
        prog="connectwise-billing",
        description="Keep ConnectWise Manage agreement additions in step with your control panel.",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    _verbosity(parser, top=True)
    commands_ = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _command(
        commands_, "demo", "plan and run a sync against the bundled simulator (no network, no keys)"
    ).set_defaults(handler=demo.run)
    _billing_commands(commands_)
    _lookup_commands(commands_)
    return parser


@contextlib.contextmanager
def _logging(args: argparse.Namespace) -> Iterator[None]:
    """The command line's own logging, on stderr. A run's report shows its warnings and errors,
    so `plan` and `sync` log only with -v; lookups warn of records they had to leave out."""
    verbose = getattr(args, "verbose", 0) or 0
    quiet = (
        logging.CRITICAL if args.command in ("plan", "sync", "apply", "demo") else logging.WARNING
    )
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


def _fail(args: argparse.Namespace, message: str, status: int, error: BaseException) -> int:
    """One line on stderr; with `--json`, also an error object on stdout, so that a script
    reading stdout always gets JSON."""
    print(f"connectwise-billing: {message}", file=sys.stderr)
    if getattr(args, "json", False):
        said: dict[str, Any] = {
            "error": {"kind": type(error).__name__, "message": message, "exit_status": status}
        }
        report = getattr(error, "report", None)
        if report is not None and report.agreement_reports:  # what the run did before
            said["report"] = report.to_dict()
        print(json.dumps(said, indent=2))
    return status


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status (see `--help`)."""
    arguments = sys.argv[1:] if argv is None else list(argv)
    try:
        args = _parser().parse_args(arguments)
    except _UsageError as error:
        error.parser.print_usage(sys.stderr)
        print(f"{error.parser.prog}: error: {error.message}", file=sys.stderr)
        if "--json" in arguments:
            refused = {"kind": "UsageError", "message": error.message, "exit_status": EXIT_USAGE}
            print(json.dumps({"error": refused}, indent=2))
        return EXIT_USAGE
    if os.environ.get(waits.TESTING_ENVIRONMENT_VARIABLE) == "1" and not waits.is_testing():
        waits.set_testing(True)  # a test runs this program: no SDK wait takes real time
    try:
        with _logging(args), _stop_on_signals():
            status: int = args.handler(args)
        sys.stdout.flush()
    except InputError as error:
        return _fail(args, str(error), EXIT_USAGE, error)
    except AuthenticationError as error:
        said = f"ConnectWise refused the credentials: {error}"
        return _fail(args, said, EXIT_UNREACHABLE, error)
    except PermissionDeniedError as error:
        return _fail(args, f"ConnectWise refused the API member: {error}", EXIT_UNREACHABLE, error)
    except APIConnectionError as error:
        return _fail(args, f"ConnectWise could not be reached: {error}", EXIT_UNREACHABLE, error)
    except ConnectWiseBillingError as error:
        return _fail(args, str(error), EXIT_FAILED, error)
    except KeyboardInterrupt as error:
        return _fail(args, "interrupted", EXIT_INTERRUPTED, error)
    except BrokenPipeError:
        # The reader went away (`| head`): end quietly, and let nothing flush into the pipe.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FAILED
    return status
