"""What the command line prints: tables that fit 100 columns, money aligned."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import IO, Final

from connectwise_billing.client.models import Agreement, Company, Product
from connectwise_billing.sync.prices import PriceRefresh
from connectwise_billing.sync.reports import SyncReport, plural

WIDTH: Final = 100


def money(value: Decimal | None) -> str:
    """`1,234.50`; `-` when absent."""
    return "-" if value is None else f"{value:,.2f}"


def table(
    headers: Sequence[str], rows: Iterable[Sequence[str]], *, right: frozenset[int] = frozenset()
) -> str:
    """A plain text table; columns in `right` are right-aligned (money, counts); the widest
    column is cut so the table fits 100 columns."""
    rows = [[str(cell) for cell in row] for row in rows]
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(headers)]
    overflow = sum(widths) + 2 * (len(widths) - 1) - WIDTH
    if overflow > 0:
        widest = widths.index(max(widths))
        widths[widest] = max(10, widths[widest] - overflow)

    def line(cells: Sequence[str]) -> str:
        parts = []
        for i, cell in enumerate(cells):
            text = cell if len(cell) <= widths[i] else cell[: widths[i] - 1] + "~"
            parts.append(text.rjust(widths[i]) if i in right else text.ljust(widths[i]))
        return "  ".join(parts).rstrip()

    return "\n".join([line(headers), line(["-" * w for w in widths]), *(line(r) for r in rows)])


def products_table(products: Sequence[Product]) -> str:
    """Catalog items, for choosing the product of a plan."""
    rows = [
        (
            str(p.id),
            p.identifier or "",
            p.description or "",
            p.product_class or "",
            money(p.price),
            money(p.cost),
            "inactive" if p.inactive else "",
        )
        for p in products
    ]
    headers = ("id", "identifier", "description", "class", "price", "cost", "")
    return table(headers, rows, right=frozenset({0, 4, 5}))


def companies_table(companies: Sequence[Company]) -> str:
    """Companies, for finding the one to link."""
    rows = [(str(c.id), c.identifier or "", c.name or "") for c in companies]
    return table(("id", "identifier", "name"), rows, right=frozenset({0}))


def agreements_table(agreements: Sequence[Agreement]) -> str:
    """A company's agreements, for choosing the one to link."""
    rows = [
        (
            str(a.id),
            a.name or "",
            a.agreement_status or "",
            a.type.name if a.type and a.type.name else "",
            a.company.name if a.company and a.company.name else "",
        )
        for a in agreements
    ]
    return table(("id", "name", "status", "type", "company"), rows, right=frozenset({0}))


def refresh_text(refresh: PriceRefresh) -> str:
    """What `plans refresh-prices` found."""
    if not refresh.changes and not refresh.missing_products:
        return "Plan costs and prices match the ConnectWise catalog."
    lines = []
    if refresh.changes:
        rows = [(c.plan_id, c.field, money(c.old), money(c.new)) for c in refresh.changes]
        lines.append(table(("plan", "field", "config", "catalog"), rows, right=frozenset({2, 3})))
        lines.append("Update the [plans] section of the config (or the control panel) to match.")
    lines.extend(
        f"Product {product_id} is mapped but not in the catalog: its plan keeps its values."
        for product_id in refresh.missing_products
    )
    return "\n".join(lines)


def _wrap(text: str, indent: str = "  ") -> list[str]:
    return textwrap.wrap(text, WIDTH, initial_indent=indent, subsequent_indent=indent + "    ")


def _changes_table(report: SyncReport) -> str:
    rows = [
        (
            str(r.agreement_id),
            r.company or "",
            str(r.applied),
            str(r.failed + r.conflicts),
            money(r.mrr_before),
            money(r.mrr_after),
        )
        for r in report.agreement_reports
        if r.results
    ]
    headers = ("agreement", "company", "applied", "failed", "MRR before", "MRR after")
    return table(headers, rows, right=frozenset({0, 2, 3, 4, 5}))


def _warnings(report: SyncReport, shown: int) -> list[str]:
    by_kind: dict[str, int] = {}
    listed: list[str] = []
    for agreement in report.agreement_reports:
        if agreement.diff is None:
            continue
        for warning in agreement.diff.warnings:
            by_kind[warning.kind] = by_kind.get(warning.kind, 0) + 1
            listed.append(
                f"agreement {agreement.agreement_id} ({agreement.company}): {warning.message}"
            )
    if not listed:
        return []
    counts = ", ".join(
        f"{count} {kind.replace('_', ' ')}" for kind, count in sorted(by_kind.items())
    )
    lines = [f"Warnings: {counts}"]
    for text in listed[:shown]:
        lines += _wrap(text)
    if len(listed) > shown:
        lines.append(f"  ... and {len(listed) - shown} more (--json shows all)")
    return [*lines, ""]


def report_text(
    report: SyncReport, *, show_diffs: int | None = None, show_warnings: int = 10
) -> str:
    """A dry run: each agreement's diff (the first `show_diffs`). A sync: a table of what was
    applied. Then a line for the agreements in step, the warnings, and the totals."""
    lines: list[str] = []
    changing = [r for r in report.agreement_reports if r.diff is not None and r.diff.operations]
    if report.dry_run:
        for agreement in changing[:show_diffs]:
            lines += [str(agreement.diff), ""]
        if show_diffs is not None and len(changing) > show_diffs:
            more = plural(len(changing) - show_diffs, "more agreement")
            lines += [f"... and {more} with changes", ""]
    elif changing:
        lines += [_changes_table(report), ""]
        for agreement in changing:
            for result in agreement.results:
                if not result.ok:
                    op = result.operation
                    lines += _wrap(
                        f"{result.status.upper()} agreement {agreement.agreement_id} "
                        f"{op.kind} {op.plan_name}: {result.error}"
                    )
    in_step = sum(
        1 for r in report.agreement_reports if r.diff is not None and not r.diff.operations
    )
    if in_step:
        lines += [f"{plural(in_step, 'agreement')} in step: nothing to change.", ""]
    lines += _warnings(report, show_warnings)
    lines.append(report.summary())
    return "\n".join(lines)


class Progress:
    """`12/50 agreements, 0 failures` on one line of a terminal's stderr."""

    def __init__(self, stream: IO[str] | None = None) -> None:
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty()

    def __call__(self, done: int, total: int, failures: int) -> None:
        if self.enabled:
            self.stream.write(f"\r  {done}/{total} agreements, {failures} failures")
            self.stream.flush()

    def finish(self) -> None:
        """End the progress line."""
        if self.enabled:
            self.stream.write("\n")
            self.stream.flush()
