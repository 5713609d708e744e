"""Reports as one self-contained HTML page, for the people who read the money.

[`render_html`][connectwise_billing.runner._html.render_html] (and `SyncReport.to_html()`,
`CompanyReport.to_html()`) turn a report into a page that needs nothing else: its CSS is inline,
its charts are inline SVG, it runs no script and fetches nothing (a Content-Security-Policy says
so to the browser), so it opens offline, as a mail attachment, and reads on a phone. Every text
of the report (company and plan names, errors, warnings) is escaped: a company called
`<script>` is shown, never run. Pure: a report in, a string out.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from datetime import UTC
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Final

from connectwise_billing._text import plural
from connectwise_billing._version import __version__
from connectwise_billing.reconcile._diff import Operation, operation_delta
from connectwise_billing.runner._render import UNCONFIRMED
from connectwise_billing.runner._results import OperationResult, operation_values

if TYPE_CHECKING:
    from connectwise_billing.backend import AgreementCandidate
    from connectwise_billing.runner._reports import AgreementReport, CompanyReport, SyncReport

__all__ = ["render_html"]

ZERO: Final = Decimal(0)
_CENT: Final = Decimal("0.01")
_HUNDRED: Final = Decimal(100)
_CHART_ROWS: Final = 10
"""Bars a chart shows before it sums the rest into one."""
_LABEL: Final = 34
"""Characters of a chart label; a longer name is cut (the tables show it whole)."""

_AGREEMENT_STATUSES: Final = ("synced", "planned", "skipped", "error", "busy", "stopped", "stale")
_OPERATION_STATUSES: Final = (
    "applied",
    "planned",
    "failed",
    "conflict",
    "unknown",
    "held",
    "stale",
)
_BAD: Final = frozenset({"error", "busy", "stopped", "stale", "failed", "conflict", "unknown"})
_WAITING: Final = frozenset({"held", "skipped"})
_WRITABLE: Final = frozenset({"synced", "planned"})

# What needs a person, most urgent first: the order of the page's list.
_ATTENTION: Final = (
    ("failed", "Failed", "the PSA does not have these writes"),
    ("held", "Held", "a guardrail held these writes until a person approves them"),
    ("unknown", "Unknown", "sent, but not seen since: the next sync settles them"),
    ("conflict", "Conflict", "the addition changed since it was read: not overwritten"),
    ("error", "Could not be synced", "nothing was written to these agreements"),
    ("busy", "Busy", "another sync held these agreements: left alone"),
    ("stale", "Stale", "changed since the change set was planned: nothing written"),
    ("stopped", "Stopped", "the run stopped before these agreements: the next run syncs them"),
    ("skipped", "Closed agreements", "cancelled, ended or inactive: nothing written"),
    ("not_billed", "Not billed", "seats in use that no line bills"),
    ("billed_twice", "Billed twice", "a retired product's line bills beside the plan's"),
    ("duplicate_lines", "Duplicate lines", "several lines bill one plan"),
    ("wrong_values", "Wrong values", "the line bills another quantity or price"),
    ("retired_billed", "Retired product billed", "a retired product's line still bills"),
    ("unmapped_usage", "Unmapped usage", "seats on a plan mapped to no product"),
    ("unconfirmed", "Unconfirmed", UNCONFIRMED),
)

_CSS: Final = """
:root{color-scheme:light dark;--fg:#1f2328;--muted:#59636e;--bg:#fff;--card:#f6f8fa;
--line:#d1d9e0;--ok:#1a7f37;--bad:#cf222e;--wait:#9a6700;--up:#0969da;--down:#bc4c00}
@media (prefers-color-scheme:dark){:root{--fg:#e6edf3;--muted:#9198a1;--bg:#0d1117;
--card:#161b22;--line:#3d444d;--ok:#3fb950;--bad:#f85149;--wait:#d29922;--up:#4493f8;
--down:#f0883e}}
*{box-sizing:border-box}
body{margin:0 auto;max-width:68rem;padding:1rem;color:var(--fg);background:var(--bg);
font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;
overflow-wrap:break-word}
h1{font-size:1.45rem;margin:0 0 .2rem}
h2{font-size:1.2rem;margin:1.8rem 0 .6rem;padding-bottom:.2rem;border-bottom:1px solid var(--line)}
h3{font-size:1.05rem;margin:1.2rem 0 .4rem}
h4{font-size:1rem;margin:0 0 .3rem}
p{margin:.3rem 0}
nav{display:flex;flex-wrap:wrap;gap:.3rem .9rem;margin:.6rem 0;font-size:.9rem}
a{color:var(--up)}
.meta,.note,figcaption{color:var(--muted);font-size:.9rem}
.verdict{border:2px solid var(--ok);border-radius:.5rem;padding:.7rem 1rem;margin:1rem 0}
.verdict.bad{border-color:var(--bad)}
.verdict .word{font-size:1.5rem;font-weight:700;color:var(--ok);margin:0}
.verdict.bad .word{color:var(--bad)}
.verdict ul{margin:.3rem 0;padding-left:1.2rem}
.counts{display:flex;flex-wrap:wrap;gap:.4rem;margin:.5rem 0}
.count{border:1px solid var(--line);border-radius:1rem;padding:.1rem .6rem;font-size:.9rem;
white-space:nowrap}
.count b{font-variant-numeric:tabular-nums}
.count.zero{color:var(--muted);border-style:dashed}
.count.bad{border-color:var(--bad)}
.count.wait{border-color:var(--wait)}
.scroll{overflow-x:auto}
table{border-collapse:collapse;width:100%;margin:.3rem 0}
th,td{padding:.3rem .5rem;border-bottom:1px solid var(--line);text-align:left;vertical-align:top}
th{font-size:.85rem;color:var(--muted);font-weight:600}
.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.up{color:var(--up)}
.down{color:var(--down)}
.badge{display:inline-block;border-radius:.3rem;padding:0 .4rem;font-size:.8rem;font-weight:700;
text-transform:uppercase;letter-spacing:.02em;border:1px solid currentColor;white-space:nowrap}
.badge.ok{color:var(--ok)}
.badge.bad{color:var(--bad)}
.badge.wait{color:var(--wait)}
.badge.plain{color:var(--muted)}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(min(100%,26rem),1fr));gap:1rem;
align-items:start}
figure{margin:0;background:var(--card);border-radius:.5rem;padding:.7rem}
figure h3{margin-top:0}
svg{display:block;width:100%;height:auto}
svg text{fill:var(--fg);font-size:14px}
svg .amount{font-variant-numeric:tabular-nums;font-weight:600}
svg .up{fill:var(--up)}
svg .down{fill:var(--down)}
svg .rest{fill:var(--muted)}
svg .axis{stroke:var(--muted);stroke-width:1}
.attention ul{list-style:none;padding:0;margin:0}
.attention li{border-left:4px solid var(--bad);background:var(--card);padding:.45rem .7rem;
margin:.4rem 0;border-radius:0 .4rem .4rem 0}
.attention li.wait{border-left-color:var(--wait)}
.why{color:var(--muted);font-size:.9rem;overflow-wrap:anywhere}
.candidates{margin:.4rem 0 0;font-size:.9rem}
.candidates table{margin:.2rem 0}
.company{margin-top:1.6rem}
.company>h3{margin-bottom:.1rem}
article{background:var(--card);border-radius:.5rem;padding:.6rem .8rem;margin:.6rem 0}
table.ops td.why{border-bottom:1px solid var(--line);padding-top:0}
table.ops tr.has-why td{border-bottom:0}
.warnings li{margin:.25rem 0}
footer{margin-top:2rem;color:var(--muted);font-size:.8rem}
@media (max-width:40rem){
body{padding:.6rem;font-size:14px}
table.ops thead{display:none}
table.ops,table.ops tbody{display:block}
table.ops tr{display:block;border-bottom:1px solid var(--line);padding:.3rem 0}
table.ops tr.has-why{border-bottom:0;padding-bottom:0}
table.ops tr:last-child{border-bottom:0}
table.ops td{display:flex;justify-content:space-between;gap:1rem;border:0;padding:.1rem 0;
text-align:right}
table.ops td::before{content:attr(data-label);color:var(--muted);font-size:.85rem;
text-align:left}
table.ops td.why{display:block;text-align:left;border:0}
table.ops td:empty{display:none}
table.ops th[scope=row]{display:block;border:0;padding:.1rem 0;color:var(--fg);font-size:1rem}
}
@media print{nav{display:none}figure,article,.attention li{break-inside:avoid}}
"""


class _Markup(str):
    """HTML already escaped (or written here): inserted as it is."""


def _escape(text: object) -> str:
    return html.escape(str(text), quote=True)


def _el(tag: str, *children: str | None, **attributes: object) -> _Markup:
    """`<tag attributes>children</tag>`: text children and every attribute value escaped,
    `_Markup` children inserted as they are; `None` left out. `class_` is `class`,
    `data_label` is `data-label`."""
    attrs = "".join(
        f' {name.rstrip("_").replace("_", "-")}="{_escape(value)}"'
        for name, value in attributes.items()
        if value is not None
    )
    inner = "".join(
        child if isinstance(child, _Markup) else _escape(child)
        for child in children
        if child is not None
    )
    return _Markup(f"<{tag}{attrs}>{inner}</{tag}>")


def _join(parts: Iterable[str | None]) -> _Markup:
    return _Markup("".join(p if isinstance(p, _Markup) else _escape(p) for p in parts if p))


def _money(value: Decimal, currency: str = "", *, signed: bool = False) -> str:
    """`1,234.50`, `-12.00` (`+12.00` when `signed`), after `currency`: two decimals, or as
    many as the value has (a hand-typed 7.499 stays 7.499), never rounded."""
    rounded = value.quantize(_CENT)
    shown = f"{abs(rounded):,.2f}" if rounded == value else f"{abs(value).normalize():,f}"
    sign = "-" if value < 0 else "+" if signed and value > 0 else ""
    return f"{sign}{currency}{shown}"


def _quantity(value: Decimal | None) -> str:
    return "none" if value is None else f"{value.normalize():,f}"


def _percent(part: Decimal, whole: Decimal) -> str:
    if not whole:
        return "-"
    return f"{(part / whole * _HUNDRED).quantize(Decimal('0.1'), rounding=ROUND_HALF_UP)}%"


def _direction(value: Decimal) -> str | None:
    return "up" if value > 0 else "down" if value < 0 else None


def _name(report: AgreementReport) -> str:
    return f"Agreement {report.agreement_id}"


def _anchor(report: AgreementReport) -> str:
    return f"#agreement-{report.agreement_id}"


class _Page:
    """One report as a page: the report's figures, said once in each section."""

    def __init__(
        self,
        report: SyncReport | CompanyReport,
        run: SyncReport | None,
        companies: Sequence[CompanyReport],
        *,
        title: str | None,
        currency: str,
    ) -> None:
        self.report = report
        self.started_at = run.started_at if run is not None else None
        self.held_all = run.held_all if run is not None else None
        # Writes an earlier run left in flight (recorded in the audit log), settled by this run
        # or not: the next run tries those again, and a person may want to know why.
        self.settled = run.intents_settled if run is not None else 0
        self.unsettled = run.intents_unsettled if run is not None else 0
        self.currency = currency
        self.dry_run = report.dry_run
        self.companies = companies
        self.agreements = list(report.agreement_reports)
        self.title = title or self._default_title()

    def money(self, value: Decimal, *, signed: bool = False) -> str:
        return _money(value, self.currency, signed=signed)

    def change(self, value: Decimal) -> _Markup:
        """A signed amount, coloured by direction (the sign says it without colour)."""
        return _el("span", self.money(value, signed=True), class_=_direction(value))

    def _default_title(self) -> str:
        kind = "Billing dry run" if self.dry_run else "Billing sync"
        if self.started_at is not None:
            return f"{kind}, {self.started_at.astimezone(UTC):%Y-%m-%d %H:%M} UTC"
        return f"{kind}: {self.companies[0].company}"

    # --- the page --------------------------------------------------------------------------

    def render(self) -> str:
        body = _join(
            [
                self.header(),
                self.verdict(),
                self.money_section(),
                self.charts(),
                self.attention(),
                self.agreement_section(),
                self.warnings(),
                _el("footer", f"Made by connectwise-billing {__version__}."),
            ]
        )
        page = (
            "<!DOCTYPE html>\n"
            '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            # Nothing may run or load, whatever a text turned out to hold.
            '<meta http-equiv="Content-Security-Policy" '
            "content=\"default-src 'none'; style-src 'unsafe-inline'\">\n"
            '<meta name="color-scheme" content="light dark">\n'
            f"{_el('title', self.title)}\n<style>{_CSS}</style>\n</head>\n"
            f"<body>\n{body}\n</body>\n</html>\n"
        )
        # ASCII only (other characters as references): right in whatever encoding it is saved.
        return page.encode("ascii", "xmlcharrefreplace").decode("ascii")

    def header(self) -> _Markup:
        report = self.report
        count = plural(len(self.agreements), "agreement")
        companies = plural(len(self.companies), "company", "companies")
        facts = [f"{'Dry run' if self.dry_run else 'Sync'}: {companies}, {count}"]
        if self.started_at is not None:
            facts.append(f"started {self.started_at.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC")
        facts.append(f"{report.duration:.1f} s")
        if report.api_calls:
            facts.append(plural(report.api_calls, "API call"))
        if self.dry_run:
            facts.append("nothing was written")
        if self.settled:
            facts.append(f"settled {plural(self.settled, 'write')} an earlier run left in flight")
        links = [
            ("#verdict", "Verdict"),
            ("#money", "Money"),
            ("#charts", "MRR change"),
            ("#attention", "Needs a person"),
            ("#agreements", "Agreements"),
            ("#warnings", "Warnings"),
        ]
        # Spaces between the links and the chips below: the page's flex boxes ignore them, and
        # a reader that drops the style sheet (a mail preview, a screen reader) keeps them apart.
        nav = _el("nav", _Markup(" ".join(_el("a", text, href=href) for href, text in links)))
        return _el("header", _el("h1", self.title), _el("p", " · ".join(facts), class_="meta"), nav)

    # --- verdict ---------------------------------------------------------------------------

    def reasons(self) -> list[str]:
        """Why the report is not ok, one count a line."""
        report = self.report
        by_status = self.agreement_counts()
        reasons: list[str] = []
        if report.stopped:
            reasons.append(f"the run stopped early: {report.stopped}")
        if self.held_all and report.held:
            reasons.append(f"every operation held: {self.held_all}")
        said = [
            (report.failed, "operation failed", "operations failed"),
            (report.held, "operation held for a person", "operations held for a person"),
            (report.unknown, "operation unknown (sent, not seen)", "operations unknown"),
            (report.conflicts, "operation in conflict", "operations in conflict"),
            (by_status["error"], "agreement not synced (error)", "agreements not synced (error)"),
            (report.busy, "agreement busy", "agreements busy"),
            (report.stale, "agreement stale", "agreements stale"),
            (by_status["stopped"], "agreement not reached", "agreements not reached"),
        ]
        reasons += [f"{count} {one if count == 1 else many}" for count, one, many in said if count]
        problems = report.billing_problems
        if problems:
            reasons.append(
                f"{plural(len(problems), 'billing problem')}: lines that do not bill what the "
                "usage says"
            )
        closed = [r for r in self.agreements if r.status == "skipped" and not r.ok]
        if closed:
            reasons.append(f"{plural(len(closed), 'closed agreement')} with seats in use")
        unconfirmed = sum(1 for r in self.agreements if r.status == "synced" and r.billing is None)
        if unconfirmed:
            reasons.append(f"{plural(unconfirmed, 'agreement')} unconfirmed")
        return reasons

    def agreement_counts(self) -> dict[str, int]:
        counts = dict.fromkeys(_AGREEMENT_STATUSES, 0)
        for agreement in self.agreements:
            counts[agreement.status] = counts.get(agreement.status, 0) + 1
        return counts

    def operation_counts(self) -> dict[str, int]:
        counts = dict.fromkeys(_OPERATION_STATUSES, 0)
        for agreement in self.agreements:
            for result in agreement.results:
                counts[result.status] = counts.get(result.status, 0) + 1
        return counts

    def verdict(self) -> _Markup:
        ok = self.report.ok
        if ok:
            word = "OK"
            said = (
                "Planned: once written, every agreement would bill exactly what the usage says."
                if self.dry_run
                else "Every agreement bills exactly what the usage says, as read back."
            )
            why: _Markup | None = _el("p", said)
        else:
            word = "NOT OK"
            why = _el("ul", *(_el("li", reason) for reason in self.reasons() or ["see below"]))
        return _el(
            "section",
            _el("p", word, class_="word"),
            why,
            _el("h3", "Agreements"),
            self.counts(self.agreement_counts()),
            _el("h3", "Operations"),
            self.counts(self.operation_counts()),
            id="verdict",
            class_="verdict" if ok else "verdict bad",
        )

    def counts(self, counts: dict[str, int]) -> _Markup:
        # A dry run applies nothing, and a sync plans nothing: only the other kind's zero.
        never = ("synced", "applied") if self.dry_run else ("planned",)
        chips = []
        for status, count in counts.items():
            if status in never and not count:
                continue
            tone = "zero" if not count else "bad" if status in _BAD else ""
            if count and status in _WAITING:
                tone = "wait"
            chips.append(_el("span", _el("b", str(count)), f" {status}", class_=f"count {tone}"))
        return _el("div", _Markup(" ".join(chips)), class_="counts")

    # --- money -----------------------------------------------------------------------------

    def money_section(self) -> _Markup:
        report = self.report
        after = "After (planned)" if self.dry_run else "After"
        margin_before = report.mrr_before - report.cost_before
        margin_after = report.mrr_after - report.cost_after
        rows = [
            ("MRR", report.mrr_before, report.mrr_after),
            ("Cost", report.cost_before, report.cost_after),
            ("Margin (MRR - cost)", margin_before, margin_after),
        ]
        body = [
            _el(
                "tr",
                _el("th", name, scope="row"),
                _el("td", self.money(before), class_="num", data_label="Before"),
                _el("td", self.money(later), class_="num", data_label=after),
                _el("td", self.change(later - before), class_="num", data_label="Change"),
            )
            for name, before, later in rows
        ]
        body.append(
            _el(
                "tr",
                _el("th", "Margin %", scope="row"),
                _el(
                    "td",
                    _percent(margin_before, report.mrr_before),
                    class_="num",
                    data_label="Before",
                ),
                _el("td", _percent(margin_after, report.mrr_after), class_="num", data_label=after),
                _el("td", ""),
            )
        )
        head = _el(
            "tr",
            _el("th", "A month"),
            _el("th", "Before", class_="num"),
            _el("th", after, class_="num"),
            _el("th", "Change", class_="num"),
        )
        notes = [
            _el(
                "p",
                "Over the additions the sync manages: the mapped products' lines (and retired "
                "products' lines that still bill), "
                + (
                    "after: as planned."
                    if self.dry_run
                    else "after: as read back from the PSA once written."
                ),
                class_="note",
            )
        ]
        if report.mrr_unmanaged:
            everything = report.mrr_before + report.mrr_unmanaged
            notes.append(
                _el(
                    "p",
                    f"MRR of all active additions: {self.money(everything)} -> "
                    f"{self.money(report.mrr_after + report.mrr_unmanaged)}; "
                    f"{self.money(report.mrr_unmanaged)} of it from products the sync leaves "
                    "alone.",
                    class_="note",
                )
            )
        if report.billed_twice:
            notes.append(
                _el(
                    "p",
                    f"Billed twice: {self.money(report.billed_twice)} a month (mapped products "
                    "billed by more than one line).",
                    class_="note",
                )
            )
        table = _el("table", _el("thead", head), _el("tbody", *body), class_="ops")
        return _el(
            "section",
            _el("h2", "Money"),
            _el("div", table, class_="scroll"),
            *notes,
            id="money",
        )

    # --- charts ----------------------------------------------------------------------------

    def charts(self) -> _Markup:
        by_company = [
            (company.company, company.mrr_after - company.mrr_before) for company in self.companies
        ]
        changed = [(label, value) for label, value in by_company if value]
        by_plan: dict[str, tuple[str, Decimal]] = {}
        for agreement in self.agreements:
            for result in agreement.results:
                if result.ok:
                    op = result.operation
                    name, total = by_plan.get(op.plan_id, (op.plan_name, ZERO))
                    by_plan[op.plan_id] = (name, total + operation_delta(op)[0])
        plans = [(name, value) for name, value in by_plan.values() if value]
        unchanged = plural(len(by_company) - len(changed), "company", "companies")
        done, after = ("planned", "as planned") if self.dry_run else ("applied", "as read back")
        return _el(
            "section",
            _el("h2", "MRR change"),
            _el(
                "div",
                self.chart("chart-companies", "Per company", changed, "company", "companies"),
                self.chart("chart-plans", "Per plan", plans, "plan", "plans"),
                class_="charts",
            ),
            _el(
                "p",
                f"Per company: MRR after ({after}) minus before; {unchanged} unchanged. "
                f"Per plan: the money effect of the operations {done} (held, failed and "
                "unknown ones not counted).",
                class_="note",
            ),
            id="charts",
        )

    def chart(
        self, ident: str, title: str, rows: list[tuple[str, Decimal]], one: str, many: str
    ) -> _Markup:
        """A horizontal bar chart in SVG: the largest changes, the rest summed in one bar;
        increases right of the axis, decreases left, each labelled with its signed amount."""
        rows = sorted(rows, key=lambda row: (-abs(row[1]), row[0]))
        shown: list[tuple[str, Decimal, bool]] = [(n, v, False) for n, v in rows[:_CHART_ROWS]]
        rest = rows[_CHART_ROWS:]
        if rest:
            summed = sum((value for _, value in rest), ZERO)
            shown.append((f"{len(rest)} other {one if len(rest) == 1 else many}", summed, True))
        heading = _el("h3", title, id=f"{ident}-title")
        if not shown:
            return _el("figure", heading, _el("p", "No change.", class_="note"), id=ident)
        width, row_height, bar = 400, 46, 16
        lowest = max((-value for _, value, _ in shown), default=ZERO)
        highest = max((value for _, value, _ in shown), default=ZERO)
        lowest, highest = max(lowest, ZERO), max(highest, ZERO)
        # Pixels only: the amounts shown are the Decimals themselves.
        scale = Decimal(width) / (lowest + highest)
        # Rounded to the SVG's tenth of a pixel before a bar is placed, so that a decrease's bar
        # ends exactly on the axis.
        axis = _px(lowest * scale)
        height = row_height * len(shown) + 4
        parts: list[str] = []
        for index, (label, value, is_rest) in enumerate(shown):
            top = index * row_height
            length = max(_px(abs(value) * scale), Decimal(1))  # a tiny change still shows
            left = axis - length if value < 0 else axis
            tone = "rest" if is_rest else _direction(value) or "rest"
            cut = label if len(label) <= _LABEL else label[: _LABEL - 1] + "\u2026"
            amount = self.money(value, signed=True)
            parts.append(
                _el(
                    "g",
                    _el("title", f"{label}: {amount}"),
                    _el("text", cut, x=0, y=top + 16),
                    _el("text", amount, x=width, y=top + 16, text_anchor="end", class_="amount"),
                    _el(
                        "rect",
                        x=left,
                        y=top + 22,
                        width=length,
                        height=bar,
                        class_=tone,
                    ),
                    # The axis, drawn beside each bar only: a line down the whole chart would
                    # cross the labels above the bars.
                    _el("line", x1=axis, x2=axis, y1=top + 19, y2=top + 41, class_="axis"),
                )
            )
        svg = _el(
            "svg",
            *parts,
            viewBox=f"0 0 {width} {height}",
            role="img",
            aria_labelledby=f"{ident}-title",
            preserveAspectRatio="xMinYMin meet",
        )
        caption = _el(
            "figcaption",
            "Increases right of the line (+), decreases left (-)"
            + (f"; the largest {_CHART_ROWS}, the rest summed." if rest else "."),
        )
        return _el("figure", heading, svg, caption, id=ident)

    # --- what needs a person ---------------------------------------------------------------

    def attention_items(self) -> dict[str, list[tuple[AgreementReport, _Markup]]]:
        items: dict[str, list[tuple[AgreementReport, _Markup]]] = {
            kind: [] for kind, _, _ in _ATTENTION
        }
        for agreement in self.agreements:
            for result in agreement.results:
                if result.status in ("failed", "held", "unknown", "conflict"):
                    items[result.status].append((agreement, self.operation_item(result)))
            if agreement.status in ("error", "busy", "stale", "stopped"):
                items[agreement.status].append((agreement, _el("p", agreement.error or "")))
            if agreement.status == "skipped":
                why = "; ".join(agreement.warnings) or "the agreement is closed"
                items["skipped"].append((agreement, _el("p", why)))
            for problem in agreement.billing_problems:
                monthly: _Markup | None = None
                if problem.monthly:
                    missed = problem.kind in ("not_billed", "unmapped_usage")
                    what = "not billed" if missed else "what the lines concerned bill"
                    monthly = _el(
                        "p", f"{what}: {self.money(problem.monthly)} a month", class_="why"
                    )
                items[problem.kind].append((agreement, _join([_el("p", problem.message), monthly])))
            if agreement.status == "synced" and agreement.billing is None:
                items["unconfirmed"].append((agreement, _el("p", UNCONFIRMED)))
            # Seats on a plan with no product bill nothing: finance hears of them even when the
            # guardrail only warns (then they are not a billing problem above).
            if agreement.diff is not None and not any(
                problem.kind == "unmapped_usage" for problem in agreement.billing_problems
            ):
                for warning in agreement.diff.warnings:
                    if warning.kind == "unmapped_usage":
                        items["unmapped_usage"].append((agreement, _el("p", warning.message)))
        return items

    def operation_item(self, result: OperationResult) -> _Markup:
        op = result.operation
        revenue, _ = operation_delta(op)
        fate = "not confirmed" if result.status == "unknown" else "not written"
        rule = f" by {result.rule}" if result.rule else ""
        return _join(
            [
                _el(
                    "p",
                    f"{_verb(op)} {op.plan_name}: {self.summary(op)}, MRR ",
                    self.change(revenue),
                    f" a month {fate}{rule}",
                ),
                _el("p", result.error or "", class_="why"),
            ]
        )

    def summary(self, op: Operation) -> str:
        """What an operation changes, in a few words."""
        before, after = operation_values(op)
        if op.kind == "create":
            return f"{_quantity(after['quantity'])} at {self.money(after['unit_price'])}"
        if op.kind == "cancel":
            return f"{_quantity(before.get('quantity'))} at {self.amount(before.get('unit_price'))}"
        changed = []
        for field in ("quantity", "unit_price", "unit_cost"):
            old, new = before.get(field), after.get(field)
            if old != new:
                show = _quantity if field == "quantity" else self.amount
                changed.append(f"{field.replace('_', ' ')} {show(old)} -> {show(new)}")
        return ", ".join(changed)

    def attention(self) -> _Markup:
        items = self.attention_items()
        parts: list[str] = [_el("h2", "Needs a person first")]
        with_candidates: set[int] = set()
        if self.report.stopped:
            parts.append(_el("p", f"The run stopped early: {self.report.stopped}."))
        if self.held_all and self.report.held:
            parts.append(_el("p", f"Every operation is held: {self.held_all}."))
        if self.unsettled:
            parts.append(
                _el(
                    "p",
                    f"Unsettled: {plural(self.unsettled, 'write')} an earlier run left in flight "
                    "could not be settled (their agreements could not be read or locked); the "
                    "next run tries again, and the audit log has them.",
                )
            )
        for kind, title, meaning in _ATTENTION:
            found = items[kind]
            if not found:
                continue
            entries = []
            if kind == "stopped":  # one line: a stopped run may leave thousands behind
                entries.append(self.not_reached([agreement for agreement, _ in found]))
                found = []
            for agreement, detail in found:
                candidates: _Markup | None = None
                if agreement.candidates and agreement.agreement_id not in with_candidates:
                    with_candidates.add(agreement.agreement_id)
                    candidates = self.candidates(agreement.candidates)
                entries.append(
                    _el(
                        "li",
                        _el(
                            "h4",
                            _el("a", _name(agreement), href=_anchor(agreement)),
                            f" · {agreement.company or 'company not known'}",
                        ),
                        detail,
                        candidates,
                        class_="wait" if kind in ("held", "skipped") else None,
                    )
                )
            parts += [
                _el("h3", f"{title} ({len(items[kind])})"),
                _el("p", meaning[:1].upper() + meaning[1:] + ".", class_="note"),
                _el("ul", *entries),
            ]
        if len(parts) == 1:
            parts.append(_el("p", "Nothing: no agreement needs a person."))
        return _el("section", *parts, id="attention", class_="attention")

    @staticmethod
    def not_reached(agreements: Sequence[AgreementReport]) -> _Markup:
        links: list[str | None] = []
        for agreement in agreements:
            if links:
                links.append(", ")
            links.append(_el("a", str(agreement.agreement_id), href=_anchor(agreement)))
            links.append(f" ({agreement.company})" if agreement.company else None)
        return _el("li", "Agreements ", *links, class_="wait")

    def candidates(self, candidates: Sequence[AgreementCandidate]) -> _Markup:
        labels = ("Agreement", "Name", "Type", "Starts", "Company")
        rows = [
            _el(
                "tr",
                *(
                    _el("td", text, data_label=label)
                    for text, label in zip(
                        (
                            str(candidate.id),
                            candidate.name or "",
                            candidate.type or "",
                            candidate.start_date.isoformat() if candidate.start_date else "",
                            candidate.company_name or "",
                        ),
                        labels,
                        strict=True,
                    )
                ),
            )
            for candidate in candidates
        ]
        head = _el("tr", *(_el("th", label) for label in labels))
        table = _el("table", _el("thead", head), _el("tbody", *rows), class_="ops")
        return _el(
            "div",
            _el("p", "Active agreements of this customer a person may link instead:"),
            _el("div", table, class_="scroll"),
            class_="candidates",
        )

    # --- every agreement -------------------------------------------------------------------

    def agreement_section(self) -> _Markup:
        """Each agreement with changes or problems in full; those in step in one table."""
        changing: list[AgreementReport] = []
        in_step: list[AgreementReport] = []
        for agreement in self.agreements:
            quiet = agreement.ok and not agreement.results and agreement.status in _WRITABLE
            (in_step if quiet else changing).append(agreement)
        parts: list[str] = [
            _el("h2", "Agreements"),
            _el(
                "p",
                f"{plural(len(changing), 'agreement')} with changes or problems, "
                f"{len(in_step)} in step.",
                class_="note",
            ),
            *(self.agreement(agreement) for agreement in changing),
        ]
        if in_step:
            parts += [
                _el("h3", f"In step ({len(in_step)})"),
                _el(
                    "p",
                    "Nothing to change: their lines already bill what the usage says for "
                    "every mapped plan (seats on unmapped plans are listed above).",
                    class_="note",
                ),
                self.in_step(in_step),
            ]
        return _el("section", *parts, id="agreements")

    def in_step(self, agreements: Sequence[AgreementReport]) -> _Markup:
        labels = ("Agreement", "Company", "MRR", "Cost", "Margin", "Notes")
        rows = []
        for agreement in agreements:
            cells = [
                (_name(agreement), None),
                (agreement.company or "", None),
                (self.money(agreement.mrr_after), "num"),
                (self.money(agreement.cost_after), "num"),
                (self.money(agreement.mrr_after - agreement.cost_after), "num"),
                ("; ".join(self.notes(agreement)), None),
            ]
            rows.append(
                _el(
                    "tr",
                    *(
                        _el("td", text, class_=kind, data_label=label)
                        for (text, kind), label in zip(cells, labels, strict=True)
                    ),
                    id=_anchor(agreement)[1:],
                )
            )
        head = _el(
            "tr",
            *(
                _el("th", label, class_="num" if 2 <= i <= 4 else None)
                for i, label in enumerate(labels)
            ),
        )
        table = _el("table", _el("thead", head), _el("tbody", *rows), class_="ops")
        return _el("div", table, class_="scroll")

    def notes(self, agreement: AgreementReport) -> list[str]:
        notes = []
        if agreement.diff is not None and agreement.diff.unchanged:
            notes.append(plural(len(agreement.diff.unchanged), "addition") + " unchanged")
        if agreement.mrr_unmanaged:
            notes.append(
                f"{self.money(agreement.mrr_unmanaged)} a month from products the sync leaves alone"
            )
        if agreement.warnings:
            notes.append(plural(len(agreement.warnings), "warning") + " (below)")
        return notes

    def agreement(self, agreement: AgreementReport) -> _Markup:
        tone = "ok" if agreement.ok else "bad" if agreement.status in _BAD else "wait"
        if agreement.status == "skipped" and agreement.ok:
            tone = "plain"
        heading = _el(
            "h3",
            f"{_name(agreement)} · {agreement.company or 'company not known'} ",
            _el("span", agreement.status, class_=f"badge {tone}"),
            " " if not agreement.ok else None,
            _el("span", "not ok", class_="badge bad") if not agreement.ok else None,
        )
        facts = _el(
            "p",
            f"MRR {self.money(agreement.mrr_before)} -> {self.money(agreement.mrr_after)} (",
            self.change(agreement.mrr_after - agreement.mrr_before),
            f"), cost {self.money(agreement.cost_before)} -> {self.money(agreement.cost_after)}",
            class_="meta",
        )
        parts: list[str | None] = [heading, facts]
        if agreement.error:
            parts.append(_el("p", agreement.error, class_="why"))
        if agreement.results:
            parts.append(self.operations(agreement.results))
        elif agreement.diff is not None:
            parts.append(_el("p", "Nothing to change.", class_="note"))
        notes = self.notes(agreement)
        if notes:
            parts.append(_el("p", "; ".join(notes) + ".", class_="note"))
        if agreement.candidates:
            parts.append(self.candidates(agreement.candidates))
        return _el("article", *parts, id=_anchor(agreement)[1:])

    def operations(self, results: Sequence[OperationResult]) -> _Markup:
        labels = (
            "Action",
            "Plan",
            "Quantity",
            "Unit price",
            "Unit cost",
            "MRR effect",
            "Cost effect",
            "Status",
        )
        rows: list[str] = []
        for result in results:
            op = result.operation
            revenue, cost = operation_delta(op)
            quantity, price, unit_cost = self.cells(op)
            why = result.error or result.note
            tone = "ok" if result.ok else "wait" if result.status == "held" else "bad"
            cells = [
                (_verb(op), None),
                (op.plan_name, None),
                (quantity, "num"),
                (price, "num"),
                (unit_cost, "num"),
                (self.change(revenue), "num"),
                (self.change(cost), "num"),
                (
                    _el(
                        "span",
                        _el("span", result.status, class_=f"badge {tone}"),
                        f" by {result.rule}" if result.rule else None,
                    ),
                    None,
                ),
            ]
            rows.append(
                _el(
                    "tr",
                    *(
                        _el("td", text, class_=kind, data_label=label)
                        for (text, kind), label in zip(cells, labels, strict=True)
                    ),
                    class_="has-why" if why else None,
                )
            )
            if why:
                rows.append(_el("tr", _el("td", why, colspan=len(labels), class_="why")))
        head = _el(
            "tr",
            *(
                _el("th", label, class_="num" if 2 <= index <= 6 else None)
                for index, label in enumerate(labels)
            ),
        )
        table = _el("table", _el("thead", head), _el("tbody", *rows), class_="ops")
        return _el("div", table, class_="scroll")

    def cells(self, op: Operation) -> tuple[str, str, str]:
        """Quantity, unit price and unit cost, `before -> after` where the operation changes
        them."""
        before, after = operation_values(op)
        shown: list[str] = []
        for field in ("quantity", "unit_price", "unit_cost"):
            show = _quantity if field == "quantity" else self.amount
            old, new = before.get(field), after.get(field)
            if op.kind == "create":
                shown.append(f"none -> {show(new)}")
            elif old != new:
                shown.append(f"{show(old)} -> {show(new)}")
            else:
                shown.append(show(new))
        if op.kind == "cancel":
            ends = after.get("cancelled_date")
            shown[0] += f" -> ends {ends.isoformat()}" if ends is not None else " -> bills again"
        return shown[0], shown[1], shown[2]

    def amount(self, value: Decimal | None) -> str:
        return "none" if value is None else self.money(value)

    # --- warnings --------------------------------------------------------------------------

    def warnings(self) -> _Markup:
        entries = [
            _el(
                "li",
                _el("a", _name(agreement), href=_anchor(agreement)),
                f" ({agreement.company or 'company not known'}): {warning}",
            )
            for agreement in self.agreements
            for warning in agreement.warnings
        ]
        body = _el("ol", *entries) if entries else _el("p", "None.", class_="note")
        return _el("section", _el("h2", f"Warnings ({len(entries)})"), body, id="warnings",
                   class_="warnings")  # fmt: skip


def _verb(op: Operation) -> str:
    if op.kind == "cancel" and op.restores:
        return "restore"
    return op.kind


def _px(value: Decimal) -> Decimal:
    """A length in the charts' SVG units, to a tenth."""
    return value.quantize(Decimal("0.1"))


def render_html(
    report: SyncReport | CompanyReport, *, title: str | None = None, currency: str = ""
) -> str:
    """A report as one self-contained HTML page.

    The page shows the verdict (ok or not, and why) and the counts by status; MRR, cost and
    margin before and after; a chart of the MRR change per company (the largest ten, the rest
    summed) and per plan; what needs a person first (failed, held, unknown, busy, stale,
    closed, not billed, billed twice, ... with the reasons, and the agreements a person may
    link instead; writes an earlier run left in flight that could not be settled); every
    agreement's changes, before -> after, with their money effect; and every warning. A dry
    run's page says what was planned.

    It needs nothing else: CSS inline, charts in inline SVG, no script, nothing fetched (its
    Content-Security-Policy forbids it), so it opens offline, as a mail attachment, and reads
    on a phone (on a narrow screen, each table row becomes a card of its fields). Every text
    of the report is escaped, and the page is ASCII (other characters as character
    references), so it is right in whatever encoding it is saved.

    Args:
        report: A run's report, or one company's.
        title: The page's title; default `Billing sync, <start> UTC` (`Billing dry run, ...`).
        currency: Put before every amount (`"$"`, `"EUR "`). Amounts are exact: thousands
            separated by commas and two decimals, or every decimal the amount has (a
            hand-typed 7.499 shows as such); never rounded, never a float. Decreases carry a
            `-`, changes a `+` too.

    Returns:
        The page, from `<!DOCTYPE html>` on.
    """
    # Imported here: the reports module imports this one.
    from connectwise_billing.runner._reports import SyncReport

    if isinstance(report, SyncReport):
        page = _Page(report, report, report.companies, title=title, currency=currency)
    else:
        page = _Page(report, None, (report,), title=title, currency=currency)
    return page.render()
