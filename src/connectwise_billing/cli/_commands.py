"""What each command of `connectwise-billing` does; `main.py` parses and exits."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import threading
import warnings
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Final

from connectwise_billing import ConnectWiseBackend
from connectwise_billing._text import plural, table, unreachable
from connectwise_billing.cli._config import (
    Config,
    ConfigFileError,
    load_config,
    load_credentials,
    notify_after_run,
)
from connectwise_billing.cli._output import (
    Progress,
    additions_table,
    agreements_table,
    companies_table,
    products_table,
    refresh_text,
)
from connectwise_billing.cli._usage import load_usage
from connectwise_billing.client import ConnectWiseClient, Credentials, RetryPolicy, site_of
from connectwise_billing.convert import to_json
from connectwise_billing.errors import (
    AuthenticationError,
    ConnectWiseBillingError,
    InputError,
    NotFoundError,
    SmallDiscountWarning,
    UnknownCompanyError,
)
from connectwise_billing.locks import Lock
from connectwise_billing.reconcile import CompanyUsage, Reconciler
from connectwise_billing.runner import (
    AgreementReport,
    Approval,
    ChangeSet,
    SyncReport,
    apply_changes,
    plan_changes,
    refresh_plan_prices,
    runs,
    sync_all,
    undo_changes,
)

EXIT_OK: Final = 0
"""Every agreement bills what the usage says (`sync`), or would once the preview is applied
(`plan`)."""
EXIT_FAILED: Final = 1
"""Some agreements failed or are not billed right (also for `plan`)."""
EXIT_USAGE: Final = 2
"""The command line, configuration, usage file or mapping is wrong: nothing was written."""
EXIT_UNREACHABLE: Final = 3
"""The run was stopped: ConnectWise refused the credentials, or could not be reached."""
EXIT_REVIEW: Final = 4
"""A person should look: a `sync` or `apply` held (guardrails) or found stale operations and had
no other failure; or `plan --detailed-exitcode` with changes pending."""
EXIT_INTERRUPTED: Final = 130
"""Interrupted (Ctrl-C, SIGTERM): the report of what was done so far was printed."""

STOP: Final = threading.Event()
"""Set by the signal handlers: the run stops after the agreement in flight."""


@contextlib.contextmanager
def _client(config: Config) -> Iterator[ConnectWiseClient]:
    """The configuration's client. A login company id ConnectWise does not know is named as
    the setting to fix (exit 2): found by the site's discovery, or, when ConnectWise refuses a
    request (a 401, or a 404 as cloud sites answer for bad credentials), by asking the site."""
    try:
        client = config.client()
    except UnknownCompanyError as error:
        raise _company_id_error(config, error) from None
    with client:
        try:
            yield client
        except (AuthenticationError, NotFoundError) as error:
            unknown = _unknown_company(config, load_credentials(config))
            if unknown is None:
                raise
            raise _company_id_error(config, unknown) from error


def _unknown_company(config: Config, credentials: Credentials) -> UnknownCompanyError | None:
    """Whether the site says it does not know the login company id (`None`: it knows it, or
    cannot say)."""
    site = config.site_url or str(site_of(config.base_url or ""))
    try:
        with ConnectWiseClient.from_site(site, credentials, retry=RetryPolicy.never()):
            return None
    except UnknownCompanyError as error:
        return error
    except ConnectWiseBillingError:
        return None


def _company_id_error(config: Config, error: UnknownCompanyError) -> ConfigFileError:
    return ConfigFileError(f"{config.path}: [connectwise].company_id: {error}")


def _lock(args: argparse.Namespace, config: Config) -> Lock | None:
    """`sync`'s lock: the command line's `--redis-url` or `--lock-dir`, else the configuration's
    `[lock]`, whose default directory lies beside the configuration file (the same for every
    run of that configuration, whoever runs it)."""
    if not hasattr(args, "lock_dir"):
        return None
    return config.make_lock(redis_url=args.redis_url, lock_dir=args.lock_dir)


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


def _for_a_person(agreement: AgreementReport) -> bool:
    """Not ok only because operations wait for a person: held by a guardrail, or stale. Any
    other reason the money is wrong (a billing problem of a plan with nothing held) is not."""
    if agreement.status == "stale":
        return True
    held = {result.operation.plan_id for result in agreement.results if result.status == "held"}
    return (
        agreement.status in ("synced", "planned")
        and bool(held)
        and all(result.status in ("held", "applied", "planned") for result in agreement.results)
        and all(problem.plan_id in held for problem in agreement.billing_problems)
    )


def report_status(report: SyncReport, *, detailed: bool = False) -> int:
    """The exit status a report stands for; `detailed` (a plan's `--detailed-exitcode`) makes
    changes pending a reason for a person to look."""
    if report.stopped and STOP.is_set():
        return EXIT_INTERRUPTED
    if report.stopped and unreachable("ConnectWise") in report.stopped:
        return EXIT_UNREACHABLE
    failing = [agreement for agreement in report.agreement_reports if not agreement.ok]
    if failing:
        if report.stopped is None and all(_for_a_person(a) for a in failing):
            return EXIT_REVIEW
        return EXIT_FAILED
    if detailed and (report.planned or report.held):
        return EXIT_REVIEW
    return EXIT_OK


def _approval(args: argparse.Namespace) -> Approval:
    """`--approve all` or `--approve 1056,1058`."""
    text = getattr(args, "approve", None)
    if not text:
        return ()
    if text.strip().lower() == "all":
        return "all"
    ids = [part.strip() for part in text.split(",")]
    for part in ids:
        if not (part.isascii() and part.isdigit()) or int(part) <= 0:
            raise InputError(
                f"--approve takes agreement ids separated by commas, or all; got {part!r}"
            )
    return frozenset(int(part) for part in ids)


def _print(args: argparse.Namespace, report: SyncReport) -> None:
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        print(report.render(show_diffs=getattr(args, "show_diffs", None)))


def _write_html(args: argparse.Namespace, report: SyncReport) -> None:
    """`--html FILE`: the report as a page for finance, written whole or not at all (a
    temporary file renamed into place). A file that cannot be written is a warning: the run
    has happened, and its outcome and exit status stand."""
    path = getattr(args, "html", None)
    if not path:
        return
    target = Path(path)
    partial = target.with_name(f".{target.name}.partial")
    try:
        partial.write_text(report.to_html(), encoding="utf-8")
        os.replace(partial, target)
    except OSError as error:
        partial.unlink(missing_ok=True)
        print(
            f"connectwise-billing: warning: the HTML report was not written to {path}: "
            f"{error.strerror or error}",
            file=sys.stderr,
        )


_FILES: Final = (
    ("config", "the configuration"),
    ("usage", "the usage file"),
    ("audit_log", "the audit log"),
    ("changes", "the change set"),
    ("out", "the change set to save"),
)
"""The files a command reads or keeps, which none of its outputs may overwrite."""


def _check_outputs(args: argparse.Namespace) -> None:
    """Refuse an output path that is one of the command's other files (`--html` given the
    audit log's path would overwrite the record `undo` works from), before anything is sent."""
    for output, option in (("html", "--html"), ("out", "--out")):
        path = getattr(args, output, None)
        if not path:
            continue
        for name, what in _FILES:
            other = getattr(args, name, None)
            if name != output and other and _same_file(path, other):
                raise InputError(f"{option} {path} would overwrite {what} ({other})")


def _same_file(one: str, other: str) -> bool:
    try:
        return os.path.samefile(one, other)
    except OSError:  # one of them does not exist yet
        return Path(one).resolve() == Path(other).resolve()


def _after_run(
    args: argparse.Namespace,
    config: Config,
    report: SyncReport,
    error: BaseException | None = None,
) -> None:
    """What follows every run, whatever its outcome (`error`: what ended it): the HTML page,
    and `[notify]`."""
    _write_html(args, report)
    notify_after_run(config.notify, report, error=error)


@contextlib.contextmanager
def _told(config: Config, *, dry_run: bool) -> Iterator[None]:
    """A run that fails before it has a report (ConnectWise unreachable, the usage file
    missing or wrong): `[notify]` is told that it did not start, and why. Those are the nights
    someone must hear about."""
    try:
        yield
    except Exception as error:
        if not isinstance(getattr(error, "report", None), SyncReport):
            why = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
            nothing = SyncReport(
                (), datetime.now(UTC), dry_run=dry_run, stopped=f"the run did not start: {why}"
            )
            notify_after_run(config.notify, nothing, error=error)
        raise


@contextlib.contextmanager
def _report_kept(args: argparse.Namespace, config: Config) -> Iterator[None]:
    """An error that ends a run: its report is printed before the error's one line, so that
    what was written is not lost with it (with `--json`, the error object holds it), and is
    written as HTML and notified as a finished run's would be."""
    try:
        yield
    except BaseException as error:
        report = getattr(error, "report", None)
        if isinstance(report, SyncReport):
            if not args.json and (report.applied or report.unknown):
                _print(args, report)
            _after_run(args, config, report, error)
        raise


def plan_or_sync(args: argparse.Namespace, *, dry_run: bool) -> int:
    """`plan` and `sync`: check everything, then run, print the report, and exit by it."""
    if args.json and args.show_diffs is not None:
        raise InputError("--show-diffs shortens the text report; --json prints every diff")
    _check_outputs(args)
    if args.allow_small_discounts:  # asked for: no warning about them either
        warnings.simplefilter("ignore", SmallDiscountWarning)
    config = load_config(args.config)
    with _told(config, dry_run=dry_run):
        return _plan_or_sync(args, config, dry_run=dry_run)


def _plan_or_sync(args: argparse.Namespace, config: Config, *, dry_run: bool) -> int:
    usages = _only_company(
        load_usage(args.usage, config.plans, allow_small_discounts=args.allow_small_discounts),
        args.company,
    )
    try:  # everything checked before connecting: a bad file sends nothing
        Reconciler(config.plans, config.mapping, config.policy, today=date.today()).check(usages)
    except InputError as error:
        raise ConfigFileError(f"{args.usage}: {error}") from None
    progress = Progress() if not args.json else None
    out = getattr(args, "out", None)
    with _client(config) as client, _report_kept(args, config):
        backend = config.backend(client)
        try:
            if out:
                changes = plan_changes(backend, config.plans, config.mapping, usages, config.policy)
                assert changes.report is not None  # noqa: S101 - plan_changes always reports
                report = changes.report
            else:
                report = sync_all(
                    backend,
                    config.plans,
                    config.mapping,
                    usages,
                    config.policy,
                    dry_run=dry_run,
                    audit_log=getattr(args, "audit_log", None),
                    progress=progress,
                    lock=_lock(args, config),
                    stop=STOP,
                    approve=_approval(args),
                )
        finally:
            if progress is not None:
                progress.finish()
    if out:
        changes.save(out)
    _print(args, report)
    _after_run(args, config, report)
    if report.stopped and not STOP.is_set():
        print(f"connectwise-billing: the run stopped: {report.stopped}", file=sys.stderr)
    if out and not args.json:
        print(
            f"\nChange set: {out} ({plural(changes.operations, 'operation')}, {changes.held} "
            f"held, on {plural(len(changes.agreements), 'agreement')}); apply it before "
            f"{changes.expires_at:%Y-%m-%d %H:%M} UTC with `connectwise-billing apply {out} "
            "--config ...`"
        )
    return report_status(report, detailed=getattr(args, "detailed_exitcode", False))


def apply(args: argparse.Namespace) -> int:
    """`apply FILE`: write exactly the change set's operations."""
    _check_outputs(args)
    config = load_config(args.config)
    with _told(config, dry_run=False):
        changes = ChangeSet.load(args.changes)
        with _client(config) as client, _report_kept(args, config):
            report = apply_changes(
                config.backend(client),
                changes,
                approve=_approval(args),
                lock=_lock(args, config),
                audit_log=args.audit_log,
                stop=STOP,
            )
    _print(args, report)
    _after_run(args, config, report)
    return report_status(report)


def undo(args: argparse.Namespace) -> int:
    """`undo --audit-log FILE --run ID --out FILE`: a change set that undoes a run."""
    changes = undo_changes(args.audit_log, args.run)
    changes.save(args.out)
    if args.json:
        print(json.dumps(changes.to_json(), indent=2))
        return EXIT_OK
    print(
        f"Undo of run {args.run}: {plural(changes.operations, 'operation')} on "
        f"{plural(len(changes.agreements), 'agreement')}, saved to {args.out}"
    )
    for agreement in changes.agreements:
        for op in agreement.operations:
            line = getattr(op, "line_id", None)
            why = getattr(op, "reason", "")
            print(f"  agreement {agreement.agreement_id}: {op.kind} addition {line} ({why})")
    for note in changes.notes:
        print(f"  ! {note}")
    print(f"Review it, then: connectwise-billing apply {args.out} --config ...")
    return EXIT_OK


def list_runs(args: argparse.Namespace) -> int:
    """`runs --audit-log FILE`: the runs an audit log holds."""
    found = runs(args.audit_log)
    if args.json:
        print(json.dumps(to_json(found), indent=2))
        return EXIT_OK
    if not found:
        print("No runs in the audit log.")
        return EXIT_OK
    rows = [
        (
            run.run_id,
            f"{run.started:%Y-%m-%d %H:%M:%S}",
            "dry run" if run.dry_run else "",
            str(run.agreements),
            ", ".join(
                [f"{count} {status}" for status, count in sorted(run.counts.items())]
                + ([f"{run.unsettled} UNSETTLED"] if run.unsettled else [])
            ),
        )
        for run in found
    ]
    print(table(("run", "started (UTC)", "", "agreements", "writes"), rows))
    return EXIT_OK


def plan(args: argparse.Namespace) -> int:
    """`plan`: a dry run."""
    return plan_or_sync(args, dry_run=True)


def sync(args: argparse.Namespace) -> int:
    """`sync`: the real thing."""
    return plan_or_sync(args, dry_run=False)


def _show(args: argparse.Namespace, records: Sequence[Any], render: Callable[[Any], str]) -> None:
    if args.json:
        print(json.dumps(to_json(records), indent=2))
    elif records:
        print(render(records))
    else:
        print("Nothing found.")


def products(args: argparse.Namespace) -> int:
    """`products search TEXT` and `products list` (the whole catalog)."""
    with _client(load_config(args.config)) as client:
        if args.action == "list":
            found = client.products.list(order_by="identifier", strict=False)
        else:
            found = client.products.search(args.text, strict=False)
    # Records that could not be read are left out with a warning on stderr (the log).
    _show(args, found, products_table)
    return EXIT_OK


def additions(args: argparse.Namespace) -> int:
    """`additions list --agreement ID`: the agreement's additions, as ConnectWise holds them."""
    with _client(load_config(args.config)) as client:
        try:  # a wrong id is "not found", not "nothing"
            client.agreements.get(args.agreement)
        except NotFoundError:
            raise InputError(f"ConnectWise has no agreement {args.agreement}") from None
        found = client.additions.list(args.agreement, order_by="id", strict=False)
    _show(args, found, additions_table)
    return EXIT_OK


def companies(args: argparse.Namespace) -> int:
    """`companies search TEXT`."""
    with _client(load_config(args.config)) as client:
        found = client.companies.search(args.text)
    _show(args, found, companies_table)
    return EXIT_OK


def agreements(args: argparse.Namespace) -> int:
    """`agreements list --company NAME` (or `--company-id ID`)."""
    with _client(load_config(args.config)) as client:
        company_id = args.company_id
        if company_id is None:
            named = [
                c
                for c in client.companies.search(args.company)
                if (c.name or "").casefold() == args.company.casefold()
            ]
            if len(named) != 1:
                some = "no company" if not named else f"{len(named)} companies"
                raise InputError(
                    f"{some} named {args.company!r} in ConnectWise: use `companies search` to "
                    "find it, then --company-id"
                )
            company_id = named[0].id
        found = client.agreements.list(company_id=company_id, order_by="name")
    _show(args, found, agreements_table)
    return EXIT_OK


def refresh(args: argparse.Namespace) -> int:
    """`plans refresh-prices`."""
    config = load_config(args.config)
    with _client(config) as client:
        result = refresh_plan_prices(ConnectWiseBackend(client), config.plans, config.mapping)
    if args.json:
        data = {"changes": result.changes, "missing_products": result.missing_products}
        print(json.dumps(to_json(data), indent=2))
    else:
        print(refresh_text(result))
    return EXIT_OK
