"""Reports as text: the tables the command line prints, fitting 100 columns, money aligned."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Final

from connectwise_billing._text import money, plural, table, wrap
from connectwise_billing.reconcile._diff import render_diff

if TYPE_CHECKING:
    from connectwise_billing.runner._reports import AgreementReport, CompanyReport, SyncReport

UNCONFIRMED: Final = "the additions could not be read back after writing"
"""Why an agreement's billing is not confirmed."""

SUMMARY_WARNINGS: Final = 5
"""How many warnings a summary lists in full before it counts the rest."""
SUMMARY_CANDIDATES: Final = 5
"""Re-link candidates shown per agreement in text; the JSON and HTML reports have them all."""
_KINDS: Final = (("create", "created", "create"), ("update", "updated", "update"))
_CANCEL: Final = ("cancel", "cancelled", "cancel")


def _name(report: AgreementReport) -> str:
    return f"agreement {report.agreement_id}" + (f" ({report.company})" if report.company else "")


def _changes(totals: CompanyReport | SyncReport, agreements: int) -> str | None:
    """`would create 3, update 5 and cancel 1 additions on 7 agreements` (or what was done)."""
    status, tense = ("planned", 2) if totals.dry_run else ("applied", 1)
    parts = [
        f"{kind[tense]} {totals.count(kind[0], status)}"
        for kind in (*_KINDS, _CANCEL)
        if totals.count(kind[0], status)
    ]
    if not parts:
        return None
    said = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
    done = sum(totals.count(kind[0], status) for kind in (*_KINDS, _CANCEL))
    additions = "addition" if done == 1 else "additions"
    prefix = "would " if totals.dry_run else ""
    return f"  {prefix}{said} {additions} on {plural(agreements, 'agreement')}"


def render_summary(
    title: str, totals: CompanyReport | SyncReport, reports: Iterable[AgreementReport]
) -> str:
    """Totals, what changed (or would), what waits for a person (held operations), then
    errors, skipped, stale and stopped agreements, failed operations, billing that is not
    right, and the verdict."""
    reports = list(reports)
    verb = "Dry run for" if totals.dry_run else "Sync of"
    changing = sum(1 for r in reports if any(x.status in ("planned", "applied") for x in r.results))
    # A backend that does not count its requests (see `count_requests`) reports none.
    calls = f", {plural(totals.api_calls, 'API call')}" if totals.api_calls else ""
    lines = [
        f"{verb} {title} ({plural(len(reports), 'agreement')}) in {totals.duration:.1f} s{calls}"
    ]
    nothing = "  nothing written" if totals.held or totals.stale else "  nothing to change"
    lines.append(_changes(totals, changing) or nothing)
    held = f", {totals.held} held" if totals.held else ""
    stale = f", {plural(totals.stale, 'agreement')} stale" if totals.stale else ""
    lines += [
        f"  operations: {totals.applied} applied, {totals.planned} planned, "
        f"{totals.failed} failed, {totals.conflicts} conflicts, {totals.unknown} unknown"
        f"{held}{stale}",
        f"  MRR {money(totals.mrr_before)} -> {money(totals.mrr_after)} "
        f"({totals.mrr_after - totals.mrr_before:+,.2f})   "
        f"cost {money(totals.cost_before)} -> {money(totals.cost_after)}",
    ]
    if totals.mrr_unmanaged:
        everything = totals.mrr_before + totals.mrr_unmanaged
        lines += wrap(
            f"MRR of all active additions {money(everything)} -> "
            f"{money(totals.mrr_after + totals.mrr_unmanaged)}, "
            f"{money(totals.mrr_unmanaged)} of it from products the sync leaves alone"
        )
    lines += _intents(totals)
    held_all = getattr(totals, "held_all", None)
    if held_all and totals.held:
        lines += wrap(f"HELD, ALL OF IT: {held_all}")
    lines += _held(reports)
    if totals.stopped:
        lines += wrap(f"STOPPED: {totals.stopped}")
    for report in reports:
        name = _name(report)
        if report.status == "busy":
            lines += wrap(f"BUSY {name}: {report.error}")
        elif report.status == "stopped":
            continue
        elif report.status == "stale":
            lines += wrap(f"STALE {name}: {report.error}")
        elif report.error:
            lines += wrap(f"ERROR {name}: {report.error}")
        elif report.status == "skipped":
            lines += wrap(f"skipped {name}: {'; '.join(report.warnings)}")
        lines += _candidates(report)
        for result in report.results:
            if not result.ok and result.status not in ("held", "stale"):
                op = result.operation
                lines += wrap(
                    f"{result.status.upper()} {name} {op.kind} {op.plan_id}: {result.error}"
                )
        for problem in report.billing_problems:
            lines += wrap(f"{problem.kind.replace('_', ' ').upper()} {name}: {problem.message}")
        if report.status == "synced" and report.billing is None:
            lines += wrap(f"UNCONFIRMED {name}: {UNCONFIRMED}")
    not_reached = sum(1 for r in reports if r.status == "stopped")
    if not_reached:
        lines.append(f"  {plural(not_reached, 'agreement')} not synced: the run stopped first")
    warned = [
        f"{_name(report)}: {warning}"
        for report in reports
        if report.status != "skipped"
        for warning in report.warnings
    ]
    for text in warned[:SUMMARY_WARNINGS]:
        lines += wrap(f"warning {text}")
    if len(warned) > SUMMARY_WARNINGS:
        lines.append(f"  ... and {plural(len(warned) - SUMMARY_WARNINGS, 'more warning')}")
    lines.append("  OK" if totals.ok else "  NOT OK: see above")
    return "\n".join(lines)


def _intents(totals: CompanyReport | SyncReport) -> list[str]:
    """What became of the writes an earlier run left in flight (in the audit log)."""
    lines: list[str] = []
    settled = getattr(totals, "intents_settled", 0)
    if settled:
        lines += wrap(
            f"settled {plural(settled, 'write')} an earlier run left in flight (the audit log "
            "has their outcomes)"
        )
    unsettled = getattr(totals, "intents_unsettled", 0)
    if unsettled:
        lines += wrap(
            f"UNSETTLED: {plural(unsettled, 'write')} an earlier run left in flight could not be "
            "settled (their agreements could not be read or locked); the next run tries again"
        )
    return lines


def _candidates(report: AgreementReport) -> list[str]:
    """The agreements a person may link instead, one line each."""
    lines: list[str] = []
    for candidate in report.candidates[:SUMMARY_CANDIDATES]:
        kind = f"{candidate.type}, " if candidate.type else ""
        start = f"from {candidate.start_date.isoformat()}" if candidate.start_date else "active"
        name = f' "{candidate.name}"' if candidate.name else ""
        lines += wrap(
            f"link instead? agreement {candidate.id}{name} ({kind}{start})", indent="      "
        )
    more = len(report.candidates) - SUMMARY_CANDIDATES
    if more > 0:
        lines.append(f"      ... and {plural(more, 'more active agreement')} of the customer")
    return lines


def _held(reports: Iterable[AgreementReport]) -> list[str]:
    """What waits for a person, first: each rule that held operations, once per agreement
    (a rule over the whole run is said once, above)."""
    lines: list[str] = []
    for report in reports:
        seen: set[tuple[str | None, str | None]] = set()
        for result in report.results:
            if result.status != "held" or result.rule == "max_zeroed_percent":
                continue
            if (result.rule, result.error) in seen:
                continue
            seen.add((result.rule, result.error))
            lines += wrap(f"HELD {_name(report)} by {result.rule}: {result.error}")
    return lines


def render_agreement(report: AgreementReport) -> str:
    """An agreement's diff as a table, then what became of operations that did not apply;
    for one that could not be synced, why, and the agreements to link instead."""
    if report.diff is None:
        said = f"{_name(report)}: {report.status}" + (f": {report.error}" if report.error else "")
        return "\n".join([said, *_candidates(report)])
    lines = [render_diff(report.diff)]
    for result in report.results:
        if result.status not in ("applied", "planned"):
            op = result.operation
            lines += wrap(f"{result.status.upper()} {op.kind} {op.plan_name}: {result.error}")
    return "\n".join(lines)


def _changes_table(reports: Sequence[AgreementReport]) -> str:
    rows = [
        (
            str(r.agreement_id),
            r.company or "",
            str(r.applied),
            str(r.failed + r.conflicts + r.unknown),
            money(r.mrr_before),
            money(r.mrr_after),
        )
        for r in reports
        if r.results
    ]
    headers = ("agreement", "company", "applied", "not applied", "MRR before", "MRR after")
    return table(headers, rows, right=frozenset({0, 2, 3, 4, 5}))


def _warnings(reports: Sequence[AgreementReport], shown: int) -> list[str]:
    by_kind: dict[str, int] = {}
    listed: list[str] = []
    for agreement in reports:
        if agreement.diff is None:
            continue
        kinds = [warning.kind for warning in agreement.diff.warnings]
        for kind, message in zip(kinds, agreement.warnings, strict=True):
            by_kind[kind] = by_kind.get(kind, 0) + 1
            listed.append(f"agreement {agreement.agreement_id} ({agreement.company}): {message}")
    if not listed:
        return []
    counts = ", ".join(f"{n} {kind.replace('_', ' ')}" for kind, n in sorted(by_kind.items()))
    lines = [f"Warnings: {counts}"]
    for text in listed[:shown]:
        lines += wrap(text)
    if len(listed) > shown:
        lines.append(f"  ... and {len(listed) - shown} more (--json shows all)")
    return [*lines, ""]


def render_report(
    report: CompanyReport | SyncReport, *, show_diffs: int | None = None, show_warnings: int = 10
) -> str:
    """A dry run: each agreement's diff (the first `show_diffs`). A sync: a table of what was
    applied, and each operation that was not. Then a line for the agreements in step, the
    warnings, and the summary."""
    lines: list[str] = []
    reports = list(report.agreement_reports)
    changing = [r for r in reports if r.diff is not None and r.diff.operations]
    if report.dry_run:
        for agreement in changing[:show_diffs]:
            lines += [agreement.render(), ""]
        if show_diffs is not None and len(changing) > show_diffs:
            more = plural(len(changing) - show_diffs, "more agreement")
            lines += [f"... and {more} with changes", ""]
    elif changing:
        lines += [_changes_table(changing), ""]
        for agreement in changing:
            for result in agreement.results:
                if not result.ok:
                    op = result.operation
                    lines += wrap(
                        f"{result.status.upper()} agreement {agreement.agreement_id} "
                        f"{op.kind} {op.plan_name}: {result.error}",
                        indent="",
                    )
    in_step = sum(1 for r in reports if r.diff is not None and not r.diff.operations)
    if in_step:
        lines += [f"{plural(in_step, 'agreement')} in step: nothing to change.", ""]
    lines += _warnings(reports, show_warnings)
    lines.append(report.summary())
    return "\n".join(lines)
