"""The HTML report of real simulator runs: every company and amount on the page, exact; nothing
fetched or run; every text escaped; what needs a person first; a dry run said as planned.

One site holds every case a finance reader meets: an update, creates (one for a company called
`<script>alert(1)</script>`, one of 1,234.50 a month), a decrease, a write ConnectWise refuses
(failed), one whose answer is lost (unknown), a drop a guardrail holds, an agreement another run
holds (busy), a run stopped before its last agreement, a cancelled, a deleted and a hidden
agreement, a retired product billed twice, duplicate lines. Only applying a change set finds an
agreement stale (a sync plans again what changed), so the stale agreement comes from that run.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from html.parser import HTMLParser
from typing import Any

import attrs
import pytest

from connectwise_billing import (
    CompanyUsage,
    ConnectWiseBackend,
    ConnectWiseClient,
    InProcessLock,
    Plan,
    PlanMapping,
    SyncReport,
    apply_changes,
    plan_changes,
    sync_all,
)
from connectwise_billing.backend import AgreementCandidate
from connectwise_billing.locks import lock_key
from connectwise_billing.reconcile.diff import operation_delta
from connectwise_billing.sync.html import render_html
from connectwise_billing.sync.reports import AgreementReport
from connectwise_billing.testing import FakeConnectWise, Fault, build_example

API_URL = "https://cw.example/v2025_1/apis/3.0"
TODAY = date(2026, 12, 7)
D = Decimal
BASIC = Plan("basic-10", "Basic 10 GB", cost="1.50", price="4.00")
GOLD = Plan("gold-50", "Gold 50 GB", cost="3.25", price="8.00")
PLANS = (BASIC, GOLD)
HOSTILE = "<script>alert(1)</script>"
VOID = frozenset({"meta", "br", "hr", "img", "input", "link", "wbr", "col", "source"})
BLOCKS = frozenset(
    {"p", "li", "td", "th", "tr", "h1", "h2", "h3", "h4", "div", "section", "article", "text"}
)
"""Tags whose text reads apart from the text before them."""


@attrs.define
class Site:
    """A ConnectWise site whose customers each make one case happen."""

    fake: FakeConnectWise
    mapping: PlanMapping
    usages: list[CompanyUsage] = attrs.Factory(list)
    agreements: dict[str, int] = attrs.Factory(dict)
    credentials: Any = None

    def customer(
        self,
        name: str,
        seats: dict[str, int],
        lines: tuple[tuple[int, int, str | None], ...] = (),
        custom: dict[str, Decimal] | None = None,
    ) -> int:
        company = self.fake.add_company(name)
        agreement = self.fake.add_agreement(company)
        for product, quantity, price in lines:
            self.fake.add_addition(
                agreement, product, quantity, unit_price=price, updated_by="CloudPanelAPI"
            )
        self.usages.append(
            CompanyUsage(agreement, seats, custom or {}, company=name, company_id=company)
        )
        self.agreements[name] = agreement
        return company

    def line(self, name: str) -> int:
        return self.fake.list_additions(self.agreements[name])[0].id


@pytest.fixture
def site() -> Site:
    fake = FakeConnectWise(seed=5)
    basic = fake.add_product("MBX-BASIC-10", price="4.00", cost="1.50")
    gold = fake.add_product("MBX-GOLD-50", price="8.00", cost="3.25")
    old_gold = fake.add_product("MBX-GOLD-OLD", price="8.00", cost="3.25")
    mapping = PlanMapping({"basic-10": basic, "gold-50": gold}, retired={"gold-50": old_gold})
    site = Site(fake, mapping)
    site.customer("Contoso Ltd", {"gold-50": 12}, ((gold, 10, None),))
    site.customer(HOSTILE, {"basic-10": 3})
    site.customer("Big Customer & Sons", {"gold-50": 50}, custom={"gold-50": D("24.69")})
    site.customer("Fourth Coffee", {"gold-50": 8}, ((gold, 10, None),))
    site.customer("Lucerne Publishing", {"basic-10": 4}, ((basic, 4, "4.499"),))
    site.customer("Fabrikam Inc", {"gold-50": 2})
    site.customer("Northwind Traders", {"basic-10": 5})
    site.customer("Tailspin Toys", {"gold-50": 2}, ((gold, 20, None),))
    site.customer("Wingtip Toys", {"gold-50": 6}, ((gold, 5, None),))
    site.customer("Litware Inc", {"gold-50": 5}, ((gold, 4, None),))
    site.customer("Proseware Inc", {"gold-50": 3})
    fake.cancel_agreement(site.agreements["Proseware Inc"])
    coho = site.customer("Coho Winery", {"basic-10": 4}, ((basic, 4, None),))
    fake.delete_agreement(site.agreements["Coho Winery"])
    fake.add_agreement(coho, "Managed Services")
    hidden = site.customer("Blue Yonder", {"basic-10": 1})
    site.customer("Woodgrove Bank", {"gold-50": 4}, ((gold, 4, None), (old_gold, 4, None)))
    site.customer("Adventure Works", {"gold-50": 3}, ((gold, 3, None), (gold, 3, None)))
    site.customer("Alpine Ski House", {"basic-10": 2}, ((basic, 2, None),))
    site.customer("Trey Research", {"basic-10": 7}, ((basic, 6, None),))
    site.customer("Last Stop Ltd", {"basic-10": 8}, ((basic, 6, None),))
    reach = {usage.company_id for usage in site.usages if usage.company_id != hidden}
    site.credentials = fake.add_api_member(companies={c for c in reach if c is not None})
    return site


def sync_everything(site: Site) -> SyncReport:
    """A sync in which every case happens (all but stale: see `apply_stale`)."""
    agreements = site.agreements
    site.fake.faults.add(Fault.invalid(), method="POST", path=f"/{agreements['Fabrikam Inc']}/")
    site.fake.faults.add(
        Fault.commit_later(60.0), method="POST", path=f"/{agreements['Northwind Traders']}/"
    )
    stop = threading.Event()
    stopper = f"/agreement/{agreements['Trey Research']}"

    class StopAfter(InProcessLock):
        """Asks the run to stop once it writes Trey Research: Last Stop Ltd is not reached."""

        def acquire(self, key: str, **options: Any) -> str | None:
            if key.endswith(stopper):
                stop.set()
            return super().acquire(key, **options)

    with ConnectWiseClient(API_URL, site.credentials, transport=site.fake.transport()) as client:
        key = lock_key(ConnectWiseBackend(client).scope, agreements["Wingtip Toys"])
        holder = InProcessLock()
        token = holder.acquire(key)  # another run works on Wingtip Toys
        assert token is not None
        try:
            return sync_all(
                client,
                PLANS,
                site.mapping,
                site.usages,
                today=TODAY,
                lock=StopAfter(wait=0),
                stop=stop,
            )
        finally:
            holder.release(key, token)


def apply_stale(site: Site) -> SyncReport:
    """A change set for Litware applied after someone changed its line: Litware is stale."""
    [litware] = [usage for usage in site.usages if usage.company == "Litware Inc"]
    with ConnectWiseClient(API_URL, site.credentials, transport=site.fake.transport()) as client:
        changes = plan_changes(client, PLANS, site.mapping, [litware], today=TODAY)
        site.fake.edit_addition(site.line("Litware Inc"), quantity=7)
        return apply_changes(client, changes)


def dry_run(site: Site) -> SyncReport:
    with ConnectWiseClient(API_URL, site.credentials, transport=site.fake.transport()) as client:
        changes = plan_changes(client, PLANS, site.mapping, site.usages, today=TODAY)
    assert changes.report is not None
    return changes.report


CANDIDATE = AgreementCandidate(
    4242, "Managed <Services>", "Email Hosting", date(2025, 1, 1), 7, "Coho Winery"
)


def with_candidate(report: SyncReport, agreement_id: int) -> SyncReport:
    """The report, with a candidate to re-link on `agreement_id` (the sync fills them in; a
    fixed one here, so that this test says what the page shows, whatever the sync finds)."""

    def agreement(report: AgreementReport) -> AgreementReport:
        if report.agreement_id != agreement_id:
            return report
        return attrs.evolve(report, candidates=(CANDIDATE,))

    companies = tuple(
        attrs.evolve(company, agreements=tuple(agreement(a) for a in company.agreements))
        for company in report.companies
    )
    return attrs.evolve(report, companies=companies)


@pytest.fixture
def everything(site: Site) -> SyncReport:
    """A sync with every status, joined by the stale agreement of a change set applied later,
    and a candidate to re-link on the deleted agreement."""
    stale = apply_stale(site)
    synced = sync_everything(site)
    [litware] = stale.companies
    companies = tuple(c for c in synced.companies if c.company != "Litware Inc")
    report = attrs.evolve(synced, companies=(*companies, litware))
    return with_candidate(report, site.agreements["Coho Winery"])


# --- reading the page ---------------------------------------------------------------------------


class Page(HTMLParser):
    """The page as a parser sees it: tags with their attributes, text, the style sheet, and the
    text of each section (by id)."""

    def __init__(self, source: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.texts: list[str] = []
        self.style = ""
        self.sections: dict[str, list[str]] = {}
        self.problems: list[str] = []
        self._open: list[tuple[str, str | None]] = []
        self.feed(source)
        self.close()
        if self._open:
            self.problems.append(f"never closed: {[tag for tag, _ in self._open]}")

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        self.tags.append((tag, attributes))
        if tag in BLOCKS:
            self.handle_data(" ")
        if tag not in VOID:
            self._open.append((tag, attributes.get("id")))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_endtag(self, tag: str) -> None:
        if not self._open or self._open[-1][0] != tag:
            self.problems.append(f"</{tag}> closes {self._open[-1:] or 'nothing'}")
            return
        self._open.pop()

    def handle_data(self, data: str) -> None:
        if self._open and self._open[-1][0] == "style":
            self.style += data
            return
        self.texts.append(data)
        for _, ident in self._open:
            if ident is not None:
                self.sections.setdefault(ident, []).append(data)

    @property
    def text(self) -> str:
        return " ".join("".join(self.texts).split())

    def section(self, ident: str) -> str:
        return " ".join("".join(self.sections.get(ident, [])).split())

    def attributes(self, tag: str) -> Iterator[dict[str, str | None]]:
        return (attributes for name, attributes in self.tags if name == tag)


def money(value: Decimal) -> str:
    """What the page must show: `1,234.50`; every decimal of an amount that has more than two
    (`17.996`), never rounded."""
    if value == value.quantize(D("0.01")):
        return f"{value:,.2f}"
    return f"{value.normalize():,f}"


def signed(value: Decimal) -> str:
    return ("+" if value > 0 else "") + money(value)


# --- the tests ----------------------------------------------------------------------------------


def test_a_run_with_every_status_shows_every_company_and_amount(
    everything: SyncReport, site: Site
) -> None:
    statuses = {a.status for a in everything.agreement_reports}
    assert statuses == {"synced", "skipped", "error", "busy", "stopped", "stale"}
    operations = {r.status for a in everything.agreement_reports for r in a.results}
    assert operations == {"applied", "failed", "unknown", "held", "stale"}
    kinds = {problem.kind for _, problem in everything.billing_problems}
    assert {"not_billed", "billed_twice", "duplicate_lines", "wrong_values"} <= kinds
    page = Page(everything.to_html())
    assert page.problems == []
    text = page.text
    for usage in site.usages:
        assert usage.company in text
    money_text = page.section("money")
    for before, after in (
        (everything.mrr_before, everything.mrr_after),
        (everything.cost_before, everything.cost_after),
    ):
        assert f"{money(before)} {money(after)} {signed(after - before)}" in money_text
    margin = everything.mrr_after - everything.cost_after
    assert money(margin) in money_text
    for company in everything.companies:
        assert money(company.mrr_after) in text and money(company.cost_after) in text
    for agreement in everything.agreement_reports:
        shown = page.section(f"agreement-{agreement.agreement_id}")
        assert f"Agreement {agreement.agreement_id}" in shown and str(agreement.company) in shown
        if agreement.ok and not agreement.results and agreement.status == "synced":
            # In step: one row of the table of those
            assert money(agreement.mrr_after) in shown and money(agreement.cost_after) in shown
            continue
        assert agreement.status in shown
        assert f"MRR {money(agreement.mrr_before)} -> {money(agreement.mrr_after)}" in shown
        for result in agreement.results:
            revenue, cost = operation_delta(result.operation)
            assert signed(revenue) in shown and signed(cost) in shown
            assert result.operation.plan_name in shown and result.status in shown
    assert "In step (1)" in page.section("agreements")  # Alpine Ski House
    big = page.section(f"agreement-{site.agreements['Big Customer & Sons']}")
    assert "MRR 0.00 -> 1,234.50 (+1,234.50)" in big
    assert "none -> 24.69" in big  # before -> after
    lucerne = page.section(f"agreement-{site.agreements['Lucerne Publishing']}")
    assert "4.499 -> 4.00" in lucerne  # exact: a hand-typed price is not rounded
    coffee = page.section(f"agreement-{site.agreements['Fourth Coffee']}")
    assert "10 -> 8" in coffee and "-16.00" in coffee
    verdict = page.section("verdict")
    assert "NOT OK" in verdict
    for said in (
        "1 operation failed",
        "1 operation held for a person",
        "1 operation unknown",
        "2 agreements not synced (error)",
        "1 agreement busy",
        "1 agreement stale",
        "1 agreement not reached",
        "the run stopped early: the run was asked to stop",
    ):
        assert said in verdict
    for status in ("synced", "skipped", "error", "busy", "stopped", "stale", "applied", "held"):
        count = sum(1 for a in everything.agreement_reports if a.status == status) or sum(
            1 for a in everything.agreement_reports for r in a.results if r.status == status
        )
        assert f"{count} {status}" in verdict


def test_what_needs_a_person_comes_first_with_reasons(everything: SyncReport, site: Site) -> None:
    page = Page(everything.to_html())
    attention = page.section("attention")
    headings = [
        "Failed (1)",
        "Held (1)",
        "Unknown (1)",
        "Could not be synced (2)",
        "Busy (1)",
        "Stale (1)",
        "Stopped (1)",
        "Closed agreements (1)",
        "Not billed (",
        "Billed twice (1)",
        "Duplicate lines (1)",
        "Wrong values (1)",
    ]
    places = [attention.index(heading) for heading in headings]
    assert places == sorted(places)  # failed first, then held, ...
    source = everything.to_html()
    assert source.index('id="attention"') < source.index('id="agreements"')

    def item(title: str, nxt: str) -> str:
        return attention[attention.index(title) : attention.index(nxt)]

    failed = item("Failed (1)", "Held (1)")
    assert f"Agreement {site.agreements['Fabrikam Inc']} · Fabrikam Inc" in failed
    assert "400 InvalidObject" in failed and "+16.00 a month not written" in failed
    held = item("Held (1)", "Unknown (1)")
    assert "by max_mrr_drop_percent" in held and "-144.00 a month not written" in held
    assert "MRR would drop from 160.00 to 16.00" in held
    assert "outcome unknown" in item("Unknown (1)", "Could not be synced")
    errors = item("Could not be synced (2)", "Busy (1)")
    assert "agreement not found" in errors and "no access to this company" in errors
    # The agreement a person may link instead, next to the agreement's problem.
    assert "4242 Managed <Services> Email Hosting 2025-01-01 Coho Winery" in errors
    assert "another sync is working on this agreement" in item("Busy (1)", "Stale (1)")
    assert "quantity 4 -> 7" in item("Stale (1)", "Stopped (1)")
    assert "Last Stop Ltd" in item("Stopped (1)", "Closed agreements (1)")
    assert "cancelled in ConnectWise" in item("Closed agreements (1)", "Not billed")
    not_billed = item("Not billed (", "Billed twice (1)")
    assert "Proseware Inc" in not_billed and "(24.00 a month)" in not_billed
    assert "billed twice" in item("Billed twice (1)", "Duplicate lines (1)")
    assert "Woodgrove Bank" in item("Billed twice (1)", "Duplicate lines (1)")
    warnings = page.section("warnings")
    assert len(everything.warnings) > 1
    for agreement in everything.agreement_reports:
        for warning in agreement.warnings:
            assert " ".join(warning.split()) in warnings  # in full


def test_the_page_fetches_and_runs_nothing(everything: SyncReport) -> None:
    source = everything.to_html()
    page = Page(source)
    assert "<script" not in source.lower()
    assert not {"script", "link", "img", "iframe", "object", "embed", "image", "use", "base"} & {
        tag for tag, _ in page.tags
    }
    references = {"src", "srcset", "action", "formaction", "poster", "data", "xlink:href", "ping"}
    for tag, attributes in page.tags:
        assert not references & set(attributes), tag
        assert not [name for name in attributes if name.startswith("on")], tag
        href = attributes.get("href")
        assert href is None or href.startswith("#"), href  # links within the page only
    for href in (a["href"] for a in page.attributes("a")):
        assert href is not None and f'id="{href[1:]}"' in source  # and they lead somewhere
    style = page.style.lower()
    assert style and "url(" not in style and "@import" not in style and "@font-face" not in style
    [policy] = [m for m in page.attributes("meta") if m.get("http-equiv")]
    assert policy["content"] == "default-src 'none'; style-src 'unsafe-inline'"
    [viewport] = [m for m in page.attributes("meta") if m.get("name") == "viewport"]
    assert viewport["content"] == "width=device-width, initial-scale=1"
    assert source.isascii()  # whatever the encoding it is saved in


def test_every_text_is_escaped(everything: SyncReport, site: Site) -> None:
    source = everything.to_html()
    page = Page(source)
    assert HOSTILE in page.texts or any(HOSTILE in text for text in page.texts)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in source
    assert "Big Customer &amp; Sons" in source
    assert "Managed &lt;Services&gt;" in source
    assert HOSTILE in page.section("agreements") and HOSTILE in page.section("chart-companies")
    titled = render_html(everything, title='<b onclick="x()">Q4</b>', currency="<$>")
    assert "<b onclick" not in titled and "&lt;b onclick=&quot;x()&quot;&gt;Q4&lt;/b&gt;" in titled
    assert "&lt;$&gt;1,234.50" in titled


def test_amounts_take_the_callers_currency_exactly(everything: SyncReport) -> None:
    page = Page(everything.to_html(currency="$"))
    text = page.text
    assert "$1,234.50" in text and "+$1,234.50" in text and "-$16.00" in text
    assert f"${money(everything.mrr_after)}" in page.section("money")
    assert "$4.499 -> $4.00" in text
    assert "1,234.5 " not in text and "1234.5" not in text


def test_the_charts_show_the_largest_changes_and_sum_the_rest() -> None:
    example = build_example(40, seed=1)
    with ConnectWiseClient(
        API_URL, example.credentials, transport=example.fake.transport()
    ) as client:
        report = sync_all(
            client, example.plans, example.mapping, example.usages, today=TODAY, approve="all"
        )
    changes = sorted(
        (
            (c.company, c.mrr_after - c.mrr_before)
            for c in report.companies
            if c.mrr_after != c.mrr_before
        ),
        key=lambda row: (-abs(row[1]), row[0]),
    )
    assert len(changes) > 11
    html = report.to_html()
    page = Page(html)
    chart = page.section("chart-companies")
    for company, change in changes[:10]:
        assert f"{company}: {signed(change)}" in chart  # each bar's title
    rest = sum((change for _, change in changes[10:]), D(0))
    assert f"{len(changes) - 10} other companies: {signed(rest)}" in chart
    assert changes[10][0] not in chart
    assert [tone for _, _, tone in bars(html, "chart-companies")][-1] == "rest"
    assert len(bars(html, "chart-companies")) == 11
    by_plan: dict[str, Decimal] = {}
    for agreement in report.agreement_reports:
        for result in agreement.results:
            if result.status == "applied":
                name = result.operation.plan_name
                by_plan[name] = by_plan.get(name, D(0)) + operation_delta(result.operation)[0]
    plans = page.section("chart-plans")
    for name, change in by_plan.items():
        if change:
            assert f"{name}: {signed(change)}" in plans


def figure(html: str, chart: str) -> str:
    return html.split(f'id="{chart}"', maxsplit=1)[1].split("</figure>", maxsplit=1)[0]


def bars(html: str, chart: str) -> list[tuple[Decimal, Decimal, str]]:
    """A chart's bars: where each starts, how wide it is, its class (up, down or rest)."""
    found = re.findall(
        r'<rect x="([\d.]+)" y="[\d.]+" width="([\d.]+)"[^>]*class="(\w+)"', figure(html, chart)
    )
    return [(D(x), D(width), tone) for x, width, tone in found]


def axis(html: str, chart: str) -> Decimal:
    [x] = re.findall(r'<line x1="([\d.]+)"', figure(html, chart))
    return D(x)


def test_decreases_are_drawn_left_of_the_axis_and_signed(everything: SyncReport) -> None:
    html = everything.to_html()
    line = axis(html, "chart-companies")
    downs = [(x, width) for x, width, tone in bars(html, "chart-companies") if tone == "down"]
    ups = [(x, width) for x, width, tone in bars(html, "chart-companies") if tone == "up"]
    assert downs and ups
    assert all(x + width == line for x, width in downs)
    assert all(x == line for x, _ in ups)
    assert "Fourth Coffee: -16.00" in Page(html).section("chart-companies")


def test_a_dry_run_says_what_would_be_written(site: Site) -> None:
    report = dry_run(site)
    assert report.dry_run and report.planned
    page = Page(report.to_html())
    assert page.problems == []
    assert page.text.startswith("Billing dry run, ")
    assert "nothing was written" in page.text
    assert "After (planned)" in page.section("money")
    assert f"{report.planned} planned" in page.section("verdict")
    assert "operations planned" in page.section("charts")
    contoso = page.section(f"agreement-{site.agreements['Contoso Ltd']}")
    assert "planned" in contoso and "10 -> 12" in contoso and "+16.00" in contoso
    assert "applied" not in page.section("agreements")


def test_a_company_report_and_a_conflict(everything: SyncReport) -> None:
    [company] = [c for c in everything.companies if c.company == "Contoso Ltd"]
    [agreement] = company.agreements
    [result] = agreement.results
    conflicted = attrs.evolve(
        agreement,
        results=(attrs.evolve(result, status="conflict", error="the addition changed"),),
    )
    company = attrs.evolve(company, agreements=(conflicted,))
    page = Page(company.to_html())
    assert page.problems == []
    assert page.text.startswith("Billing sync: Contoso Ltd")
    assert "1 operation in conflict" in page.section("verdict")
    assert "Conflict (1)" in page.section("attention")
    assert "the addition changed" in page.section("attention")


def test_an_ok_run_says_so(site: Site) -> None:
    with ConnectWiseClient(API_URL, site.credentials, transport=site.fake.transport()) as client:
        usages = [site.usages[0]]
        report = sync_all(client, PLANS, site.mapping, usages, today=TODAY)
    assert report.ok
    page = Page(report.to_html())
    assert page.section("verdict").startswith("OK Every agreement bills exactly")
    assert "Nothing: no agreement needs a person." in page.section("attention")
