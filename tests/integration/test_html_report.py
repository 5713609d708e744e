"""The HTML report of real simulator runs: every company and amount on the page, exact; nothing
fetched or run; every text escaped; the verdict and counts; what needs a person first; the
charts; a dry run said as planned.

One site holds every case a finance reader meets, each customer making one happen: updates, a
cancel, creates (one for a company called `<script>alert(1)</script>`, one of 1,234.50 a
month), a decrease, a write ConnectWise refuses (failed), one whose answer is lost (unknown), a
line edited between the sync's read and its write (conflict), a drop a guardrail holds, an
agreement another run holds (busy), one whose lines cannot be read back (unconfirmed), a run
stopped before its last agreement, a cancelled and a deleted agreement (each with the
agreement to link instead), a hidden one, a retired product billed twice and one billed alone,
duplicate lines, seats on a plan mapped to no product, a product the sync leaves alone. Only applying a change set finds an
agreement stale (a sync plans again what changed), so the stale agreement comes from that run.
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from collections.abc import Iterator
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from html.parser import HTMLParser
from typing import Any

import attrs
import httpx
import pytest

from connectwise_billing import (
    CompanyUsage,
    ConnectWiseBackend,
    ConnectWiseClient,
    Guardrails,
    InProcessLock,
    Plan,
    PlanMapping,
    SyncPolicy,
    SyncReport,
    apply_changes,
    plan_changes,
    sync_all,
)
from connectwise_billing.locks import lock_key
from connectwise_billing.reconcile._diff import Operation, operation_delta
from connectwise_billing.runner._html import render_html
from connectwise_billing.runner._results import OperationResult, operation_values
from connectwise_billing.testing import FakeConnectWise, Fault, build_example

API_URL = "https://cw.example/v2025_1/apis/3.0"
TODAY = date(2026, 12, 7)
D = Decimal
BASIC = Plan("basic-10", "Basic 10 GB", cost="1.50", price="4.00")
GOLD = Plan("gold-50", "Gold 50 GB", cost="3.25", price="8.00")
ARCHIVE = Plan("archive-1t", "Archive 1 TB", cost="2.00", price="5.00")  # mapped to no product
PLANS = (BASIC, GOLD, ARCHIVE)
POLICY = SyncPolicy(
    on_zero="cancel", verify_before_write=True, guardrails=Guardrails(unmapped_usage="fail")
)
HOSTILE = "<script>alert(1)</script>"
VOID = frozenset({"meta", "br", "hr", "img", "input", "link", "wbr", "col", "source"})
BLOCKS = frozenset(
    {"p", "li", "td", "th", "tr", "h1", "h2", "h3", "h4", "div", "section", "article", "text"}
)
"""Tags whose text reads apart from the text before them."""
MONEY = r"[+-]?EUR \d{1,3}(?:,\d{3})*\.\d{2,}"
"""An amount on the page with `currency="EUR "`: exact, thousands separated, two decimals or
more."""
AMOUNTS = frozenset(
    {"Unit price", "Unit cost", "MRR effect", "Cost effect", "MRR", "Cost", "Margin"}
    | {"Before", "After", "Change"}
)
"""The table columns that hold amounts."""


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
    backup = fake.add_product("BACKUP-100", price="12.00", cost="5.00")  # the sync leaves it alone
    mapping = PlanMapping({"basic-10": basic, "gold-50": gold}, retired={"gold-50": old_gold})
    site = Site(fake, mapping)
    site.customer("Contoso Ltd", {"gold-50": 12}, ((gold, 10, None),))
    site.customer(HOSTILE, {"basic-10": 3})
    site.customer("Big Customer & Sons", {"gold-50": 50}, custom={"gold-50": D("24.69")})
    site.customer("Fourth Coffee", {"gold-50": 8}, ((gold, 10, None),))
    site.customer("Lucerne Publishing", {"basic-10": 4}, ((basic, 4, "4.499"),))
    site.customer("Fabrikam Inc", {"gold-50": 2})
    site.customer("Northwind Traders", {"basic-10": 5})
    site.customer("Margie's Travel", {"gold-50": 9}, ((gold, 7, None),))
    site.customer("Tailspin Toys", {"gold-50": 2}, ((gold, 20, None),))
    site.customer("Southridge Video", {"basic-10": 5, "gold-50": 0}, ((basic, 5, None), (gold, 1, None)))  # fmt: skip
    site.customer("Wingtip Toys", {"gold-50": 6}, ((gold, 5, None),))
    site.customer("Relecloud", {"basic-10": 3}, ((basic, 2, None),))
    site.customer("Litware Inc", {"gold-50": 5}, ((gold, 4, None),))
    proseware = site.customer("Proseware Inc", {"gold-50": 3})
    fake.cancel_agreement(site.agreements["Proseware Inc"])
    fake.add_agreement(proseware, "Hosting 2027", start_date=date(2026, 11, 1))
    coho = site.customer("Coho Winery", {"basic-10": 4}, ((basic, 4, None),))
    fake.delete_agreement(site.agreements["Coho Winery"])
    fake.add_agreement(coho, "Managed <Services>", start_date=date(2025, 1, 1))
    hidden = site.customer("Blue Yonder", {"basic-10": 1})
    site.customer(
        "Woodgrove Bank", {"gold-50": 4}, ((gold, 4, None), (old_gold, 4, None), (backup, 1, None))
    )
    site.customer("Humongous Insurance", {"basic-10": 2}, ((basic, 2, None), (old_gold, 3, None)))
    site.customer("Adventure Works", {"gold-50": 3}, ((gold, 3, None), (gold, 3, None)))
    site.customer("Graphic Design Institute", {"archive-1t": 6})
    site.customer("Alpine Ski House", {"basic-10": 2}, ((basic, 2, None),))
    site.customer("Trey Research", {"basic-10": 7}, ((basic, 6, None),))
    site.customer("Last Stop Ltd", {"basic-10": 8}, ((basic, 6, None),))
    reach = {usage.company_id for usage in site.usages if usage.company_id != hidden}
    site.credentials = fake.add_api_member(companies={c for c in reach if c is not None})
    return site


class Meanwhile(httpx.BaseTransport):
    """The simulator's transport, with what people and ConnectWise do while the sync works:
    someone edits Margie's Travel's line after the sync read it (its re-read before the write
    finds it changed: a conflict), and Relecloud's lines cannot be read once written (its
    billing is not confirmed)."""

    def __init__(self, site: Site) -> None:
        self.site = site
        self.transport = site.fake.transport()
        self.edited = site.line("Margie's Travel")
        self.unreadable = site.agreements["Relecloud"]

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if request.method == "GET" and path.endswith(f"/additions/{self.edited}"):
            self.site.fake.edit_addition(self.edited, quantity=99)
        response = self.transport.handle_request(request)
        if request.method == "PATCH" and f"/{self.unreadable}/additions/" in path:
            self.site.fake.faults.add(
                Fault.server_error(), method="GET", path=f"/{self.unreadable}/", times=None
            )
        return response


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

    with ConnectWiseClient(API_URL, site.credentials, transport=Meanwhile(site)) as client:
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
                POLICY,
                today=TODAY,
                lock=StopAfter(wait=0),
                stop=stop,
                approve=[agreements["Southridge Video"]],  # its cancel drops the MRR by half
            )
        finally:
            holder.release(key, token)


def apply_stale(site: Site) -> SyncReport:
    """A change set for Litware applied after someone changed its line: Litware is stale."""
    [litware] = [usage for usage in site.usages if usage.company == "Litware Inc"]
    with ConnectWiseClient(API_URL, site.credentials, transport=site.fake.transport()) as client:
        changes = plan_changes(client, PLANS, site.mapping, [litware], POLICY, today=TODAY)
        site.fake.edit_addition(site.line("Litware Inc"), quantity=7)
        return apply_changes(client, changes)


def dry_run(site: Site) -> SyncReport:
    with ConnectWiseClient(API_URL, site.credentials, transport=site.fake.transport()) as client:
        changes = plan_changes(client, PLANS, site.mapping, site.usages, POLICY, today=TODAY)
    assert changes.report is not None
    return changes.report


@pytest.fixture
def everything(site: Site) -> SyncReport:
    """A sync with every status, joined by the stale agreement of a change set applied
    first."""
    stale = apply_stale(site)
    synced = sync_everything(site)
    [litware] = stale.companies
    companies = tuple(c for c in synced.companies if c.company != "Litware Inc")
    return attrs.evolve(synced, companies=(*companies, litware))


# --- reading the page ---------------------------------------------------------------------------


class Page(HTMLParser):
    """The page as a parser sees it: tags with their attributes, text, the style sheet, the
    text of each element with an id, and the rows of the tables inside it (each a dict of its
    cells' text by their `data-label`; a row heading by `"row"`)."""

    def __init__(self, source: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.texts: list[str] = []
        self.style = ""
        self.sections: dict[str, list[str]] = {}
        self.tables: dict[str, list[dict[str, str]]] = {}
        self.problems: list[str] = []
        self._open: list[tuple[str, str | None]] = []
        self._row: dict[str, str] | None = None
        self._cell: tuple[str, list[str]] | None = None
        self.feed(source)
        self.close()
        if self._open:
            self.problems.append(f"never closed: {[tag for tag, _ in self._open]}")

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        self.tags.append((tag, attributes))
        if tag in BLOCKS:
            self.handle_data(" ")
        if tag == "tr":
            self._row = {}
            for ident in [ident for _, ident in self._open] + [attributes.get("id")]:
                if ident is not None:
                    self.tables.setdefault(ident, []).append(self._row)
        label = attributes.get("data-label") or ("row" if attributes.get("scope") else None)
        if tag in ("td", "th") and label is not None:
            self._cell = (label, [])
        if tag not in VOID:
            self._open.append((tag, attributes.get("id")))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_endtag(self, tag: str) -> None:
        if not self._open or self._open[-1][0] != tag:
            self.problems.append(f"</{tag}> closes {self._open[-1:] or 'nothing'}")
            return
        self._open.pop()
        if tag in ("td", "th") and self._cell is not None and self._row is not None:
            label, texts = self._cell
            self._row[label] = " ".join("".join(texts).split())
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._open and self._open[-1][0] == "style":
            self.style += data
            return
        self.texts.append(data)
        if self._cell is not None:
            self._cell[1].append(data)
        for _, ident in self._open:
            if ident is not None:
                self.sections.setdefault(ident, []).append(data)

    @property
    def text(self) -> str:
        return " ".join("".join(self.texts).split())

    def section(self, ident: str) -> str:
        return " ".join("".join(self.sections.get(ident, [])).split())

    def rows(self, ident: str) -> list[dict[str, str]]:
        """The rows with cells of the tables inside the element `ident`."""
        return [row for row in self.tables.get(ident, []) if row]

    def operations(self, ident: str) -> list[dict[str, str]]:
        """The rows of the operations tables inside the element `ident`."""
        return [row for row in self.rows(ident) if "Action" in row]

    def candidates(self, ident: str) -> list[dict[str, str]]:
        """The rows of the tables of agreements to link instead inside the element `ident`."""
        return [row for row in self.rows(ident) if "Starts" in row]

    def attributes(self, tag: str) -> Iterator[dict[str, str | None]]:
        return (attributes for name, attributes in self.tags if name == tag)


def money(value: Decimal, currency: str = "") -> str:
    """What the page must show: `1,234.50`; every decimal of an amount that has more than two
    (`4.499`), never rounded; `-` before the currency."""
    exact = value == value.quantize(D("0.01"))
    shown = f"{abs(value):,.2f}" if exact else f"{abs(value).normalize():,f}"
    return ("-" if value < 0 else "") + currency + shown


def signed(value: Decimal, currency: str = "") -> str:
    return ("+" if value > 0 else "") + money(value, currency)


def quantity(value: Decimal | None) -> str:
    return "none" if value is None else f"{value.normalize():f}"


def value(field: str, amount: Decimal | None) -> str:
    return quantity(amount) if field == "quantity" or amount is None else money(amount)


def cells(result: OperationResult) -> dict[str, str]:
    """An operation's row, as the page must show it: each field `before -> after` where the
    operation changes it, its money effect signed."""
    op: Operation = result.operation
    before, after = operation_values(op)
    shown = {}
    for field, label in (
        ("quantity", "Quantity"),
        ("unit_price", "Unit price"),
        ("unit_cost", "Unit cost"),
    ):
        old, new = value(field, before.get(field)), value(field, after.get(field))
        if op.kind == "create":
            shown[label] = f"none -> {new}"
        else:
            shown[label] = new if old == new else f"{old} -> {new}"
    if op.kind == "cancel":
        shown["Quantity"] += f" -> ends {after['cancelled_date'].isoformat()}"
    revenue, cost = operation_delta(op)
    return {
        "Action": op.kind,
        "Plan": op.plan_name,
        **shown,
        "MRR effect": signed(revenue),
        "Cost effect": signed(cost),
        "Status": result.status + (f" by {result.rule}" if result.rule else ""),
    }


def chips(verdict: str) -> tuple[dict[str, int], dict[str, int]]:
    """The counts the verdict shows: by agreement status, by operation status."""
    agreements, operations = verdict.split(" Agreements ", 1)[1].split(" Operations ", 1)

    def counts(text: str) -> dict[str, int]:
        return {status: int(count) for count, status in re.findall(r"(\d+) (\w+)", text)}

    return counts(agreements), counts(operations)


# --- the tests ----------------------------------------------------------------------------------


def test_the_run_has_every_status(everything: SyncReport) -> None:
    """The site makes every case happen: the tests below read each one on the page."""
    agreements = Counter(a.status for a in everything.agreement_reports)
    assert set(agreements) == {"synced", "skipped", "error", "busy", "stopped", "stale"}
    operations = Counter(r.status for a in everything.agreement_reports for r in a.results)
    assert set(operations) == {"applied", "failed", "conflict", "unknown", "held", "stale"}
    assert {r.operation.kind for a in everything.agreement_reports for r in a.results} == {
        "create",
        "update",
        "cancel",
    }
    kinds = {problem.kind for _, problem in everything.billing_problems}
    assert kinds == {
        "not_billed",
        "billed_twice",
        "retired_billed",
        "duplicate_lines",
        "wrong_values",
        "unmapped_usage",
    }
    unconfirmed = [a for a in everything.agreement_reports if a.billing is None and a.results]
    assert [a.company for a in unconfirmed if a.status == "synced"] == ["Relecloud"]
    assert {a.company for a in everything.agreement_reports if a.candidates} == {
        "Coho Winery",
        "Proseware Inc",
    }


def test_every_company_and_amount_is_on_the_page_exactly(
    everything: SyncReport, site: Site
) -> None:
    page = Page(everything.to_html())
    assert page.problems == []
    for usage in site.usages:
        assert usage.company is not None and usage.company in page.text
    money_rows = {row["row"]: row for row in page.rows("money")}
    margin = (
        everything.mrr_before - everything.cost_before,
        everything.mrr_after - everything.cost_after,
    )
    for name, (before, after) in {
        "MRR": (everything.mrr_before, everything.mrr_after),
        "Cost": (everything.cost_before, everything.cost_after),
        "Margin (MRR - cost)": margin,
    }.items():
        assert money_rows[name] == {
            "row": name,
            "Before": money(before),
            "After": money(after),
            "Change": signed(after - before),
        }
    for column, (part, whole) in {
        "Before": (margin[0], everything.mrr_before),
        "After": (margin[1], everything.mrr_after),
    }.items():
        percent = (part / whole * 100).quantize(D("0.1"), ROUND_HALF_UP)
        assert money_rows["Margin %"][column] == f"{percent}%"
    unmanaged = everything.mrr_unmanaged
    assert unmanaged == D("12.00")  # Woodgrove's backup line
    assert (
        f"MRR of all active additions: {money(everything.mrr_before + unmanaged)} -> "
        f"{money(everything.mrr_after + unmanaged)}; 12.00 of it from products the sync leaves "
        "alone." in page.section("money")
    )
    in_step = []
    for agreement in everything.agreement_reports:
        ident = f"agreement-{agreement.agreement_id}"
        shown = page.section(ident)
        assert f"Agreement {agreement.agreement_id}" in shown
        assert str(agreement.company) in shown
        if agreement.ok and not agreement.results and agreement.status == "synced":
            in_step.append(agreement.company)
            [row] = page.rows(ident)
            assert row == {
                "Agreement": f"Agreement {agreement.agreement_id}",
                "Company": agreement.company,
                "MRR": money(agreement.mrr_after),
                "Cost": money(agreement.cost_after),
                "Margin": money(agreement.mrr_after - agreement.cost_after),
                "Notes": "1 addition unchanged",
            }
            continue
        assert f"{agreement.company} {agreement.status}" in shown  # its status, by its name
        mrr = f"MRR {money(agreement.mrr_before)} -> {money(agreement.mrr_after)}"
        change = signed(agreement.mrr_after - agreement.mrr_before)
        cost = f"cost {money(agreement.cost_before)} -> {money(agreement.cost_after)}"
        assert f"{mrr} ({change}), {cost}" in shown
        assert page.operations(ident) == [cells(result) for result in agreement.results]
        assert page.candidates(ident) == [
            {
                "Agreement": str(candidate.id),
                "Name": candidate.name,
                "Type": candidate.type,
                "Starts": str(candidate.start_date),
                "Company": candidate.company_name,
            }
            for candidate in agreement.candidates
        ]
        assert len(page.rows(ident)) == len(agreement.results) + len(agreement.candidates)
    assert in_step == ["Alpine Ski House"]
    assert "In step (1)" in page.section("agreements")
    big = page.section(f"agreement-{site.agreements['Big Customer & Sons']}")
    assert "MRR 0.00 -> 1,234.50 (+1,234.50)" in big
    [create] = page.operations(f"agreement-{site.agreements['Big Customer & Sons']}")
    assert create["Unit price"] == "none -> 24.69" and create["MRR effect"] == "+1,234.50"
    [lucerne] = page.operations(f"agreement-{site.agreements['Lucerne Publishing']}")
    assert lucerne["Unit price"] == "4.499 -> 4.00"  # exact: a hand-typed price is not rounded
    [coffee] = page.operations(f"agreement-{site.agreements['Fourth Coffee']}")
    assert (coffee["Quantity"], coffee["MRR effect"]) == ("10 -> 8", "-16.00")
    southridge = page.operations(f"agreement-{site.agreements['Southridge Video']}")
    assert [row["Quantity"] for row in southridge] == [f"1 -> ends {TODAY.isoformat()}"]


def test_amounts_take_the_callers_currency_exactly(everything: SyncReport) -> None:
    source = everything.to_html(currency="EUR ")
    page = Page(source)
    amounts = []
    for ident in ("money", "agreements"):
        for row in page.rows(ident):
            if row.get("row") == "Margin %":
                continue
            amounts += [text for label, text in row.items() if label in AMOUNTS]
    results = sum(len(agreement.results) for agreement in everything.agreement_reports)
    in_step = len([row for row in page.rows("agreements") if "Margin" in row])
    assert len(amounts) == 3 * 3 + 4 * results + 3 * in_step
    for text in amounts:  # nothing but amounts, exact, with the currency; or none
        assert re.fullmatch(rf"(?:{MONEY}|none)(?: -> (?:{MONEY}|none))?", text), text
    drawn = re.findall(r'<text[^>]*class="amount">([^<]*)<', source)
    assert drawn and all(re.fullmatch(MONEY, amount) for amount in drawn)
    text = page.text
    assert "+EUR 1,234.50" in text and "-EUR 16.00" in text
    assert "EUR 4.499 -> EUR 4.00" in text
    assert f"EUR {money(everything.mrr_after)}" in page.section("money")
    assert "1,234.5 " not in text and "1234.5" not in text
    assert "not billed: EUR 24.00 a month" in page.section("attention")  # Proseware's seats


def test_the_verdict_says_why_and_counts_every_status(everything: SyncReport) -> None:
    page = Page(everything.to_html())
    verdict = page.section("verdict")
    assert verdict.startswith("NOT OK ")
    for said in (
        "the run stopped early: the run was asked to stop",
        "1 operation failed",
        "1 operation held for a person",
        "1 operation unknown",
        "1 operation in conflict",
        "2 agreements not synced (error)",
        "1 agreement busy",
        "1 agreement stale",
        "1 agreement not reached",
        f"{len(everything.billing_problems)} billing problems",
        "1 closed agreement with seats in use",
        "1 agreement unconfirmed",
    ):
        assert said in verdict
    by_agreement = Counter(a.status for a in everything.agreement_reports)
    by_operation = Counter(r.status for a in everything.agreement_reports for r in a.results)
    agreements, operations = chips(verdict)
    assert agreements == {
        status: by_agreement[status]
        for status in ("synced", "skipped", "error", "busy", "stopped", "stale")
    }
    assert operations == {
        status: by_operation[status]
        for status in ("applied", "failed", "conflict", "unknown", "held", "stale")
    }


def test_what_needs_a_person_comes_first_with_reasons(everything: SyncReport, site: Site) -> None:
    source = everything.to_html()
    page = Page(source)
    attention = page.section("attention")
    headings = [
        "Failed (1)",
        "Held (1)",
        "Unknown (1)",
        "Conflict (1)",
        "Could not be synced (2)",
        "Busy (1)",
        "Stale (1)",
        "Stopped (1)",
        "Closed agreements (1)",
        "Not billed (3)",
        "Billed twice (1)",
        "Duplicate lines (1)",
        "Wrong values (2)",
        "Retired product billed (1)",
        "Unmapped usage (1)",
        "Unconfirmed (1)",
    ]
    places = [attention.index(heading) for heading in headings]
    assert places == sorted(places)  # failed first, then held, ...
    assert source.index('id="attention"') < source.index('id="agreements"')
    item = dict(
        zip(headings, re.split("|".join(map(re.escape, headings)), attention)[1:], strict=True)
    )
    name = site.agreements
    assert f"Agreement {name['Fabrikam Inc']} · Fabrikam Inc" in item["Failed (1)"]
    assert "400 InvalidObject" in item["Failed (1)"]
    assert "create Gold 50 GB: 2 at 8.00, MRR +16.00 a month not written" in item["Failed (1)"]
    held = item["Held (1)"]
    assert "Tailspin Toys" in held and "quantity 20 -> 2, MRR -144.00 a month not written" in held
    assert "by max_mrr_drop_percent MRR would drop from 160.00 to 16.00" in held
    unknown = item["Unknown (1)"]
    assert "Northwind Traders" in unknown and "+20.00 a month not confirmed" in unknown
    assert "outcome unknown" in unknown
    conflict = item["Conflict (1)"]
    assert "Margie's Travel" in conflict and "quantity 7 -> 99" in conflict
    errors = item["Could not be synced (2)"]
    assert "agreement not found" in errors and "no access to this company" in errors
    # The agreement a person may link instead, next to the agreement's problem.
    coho = [a for a in everything.agreement_reports if a.company == "Coho Winery"]
    [candidate] = coho[0].candidates
    assert f"{candidate.id} Managed <Services> Email Hosting 2025-01-01 Coho Winery" in errors
    assert "Wingtip Toys" in item["Busy (1)"]
    assert "another sync is working on this agreement" in item["Busy (1)"]
    assert "Litware Inc" in item["Stale (1)"] and "quantity 4 -> 7" in item["Stale (1)"]
    assert "Last Stop Ltd" in item["Stopped (1)"]
    closed = item["Closed agreements (1)"]
    assert "Proseware Inc" in closed and "cancelled in ConnectWise" in closed
    assert "Hosting 2027 Email Hosting 2026-11-01 Proseware Inc" in closed
    not_billed = item["Not billed (3)"]
    for company in ("Fabrikam Inc", "Northwind Traders", "Proseware Inc"):
        assert company in not_billed
    assert "not billed: 24.00 a month" in not_billed  # Proseware's 3 seats at 8.00
    assert "Woodgrove Bank" in item["Billed twice (1)"]
    assert "32.00 a month" in item["Billed twice (1)"]
    assert "Adventure Works" in item["Duplicate lines (1)"]
    assert "Humongous Insurance" in item["Retired product billed (1)"]
    assert "not billed: 30.00 a month" in item["Unmapped usage (1)"]  # 6 seats at 5.00
    assert "Relecloud" in item["Unconfirmed (1)"]
    warnings = page.section("warnings")
    assert f"Warnings ({len(everything.warnings)})" in warnings
    assert max(len(agreement.warnings) for agreement in everything.agreement_reports) > 1
    for agreement in everything.agreement_reports:
        for warning in agreement.warnings:
            assert " ".join(warning.split()) in warnings  # in full


def test_the_page_fetches_and_runs_nothing(everything: SyncReport) -> None:
    source = everything.to_html()
    page = Page(source)
    assert page.problems == []
    assert "<script" not in source.lower()
    assert not {"script", "link", "img", "iframe", "object", "embed", "image", "use", "base"} & {
        tag for tag, _ in page.tags
    }
    references = {"src", "srcset", "action", "formaction", "poster", "data", "xlink:href", "ping"}
    for tag, attributes in page.tags:
        assert not references & set(attributes), tag
        assert not [name for name in attributes if name.startswith("on")], tag
        assert "style" not in attributes, tag  # all style is in the one style sheet
        for name, value in attributes.items():
            if name == "content":  # the policy's and viewport's meta
                continue
            assert not re.search(r"(?i)https?:|url\(|javascript:|//", value or ""), (tag, name)
        href = attributes.get("href")
        assert href is None or href.startswith("#"), href  # links within the page only
    for href in (a["href"] for a in page.attributes("a")):
        assert href is not None and f'id="{href[1:]}"' in source  # and they lead somewhere
    style = page.style.lower()
    assert style and "url(" not in style and "@import" not in style and "@font-face" not in style
    assert "http" not in style and "//" not in style
    [policy] = [m for m in page.attributes("meta") if m.get("http-equiv")]
    assert policy["content"] == "default-src 'none'; style-src 'unsafe-inline'"
    [viewport] = [m for m in page.attributes("meta") if m.get("name") == "viewport"]
    assert viewport["content"] == "width=device-width, initial-scale=1"
    assert source.isascii()  # whatever the encoding it is saved in


def test_every_text_is_escaped(everything: SyncReport) -> None:
    source = everything.to_html()
    page = Page(source)
    assert page.problems == []
    assert not [attributes for tag, attributes in page.tags if tag == "script"]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in source
    assert "Big Customer &amp; Sons" in source and "Margie&#x27;s Travel" in source
    assert "Managed &lt;Services&gt;" in source
    # Shown as the name it is, wherever the company is named.
    assert HOSTILE in page.section("agreements") and HOSTILE in page.section("chart-companies")
    titled = render_html(everything, title='<b onclick="x()">Q4</b>', currency="<$>")
    assert "<b onclick" not in titled and "&lt;b onclick=&quot;x()&quot;&gt;Q4&lt;/b&gt;" in titled
    assert "&lt;$&gt;1,234.50" in titled
    assert Page(titled).problems == []


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
    assert "the largest 10, the rest summed" in chart
    drawn = bars(html, "chart-companies")
    assert len(drawn) == 11 and drawn[-1][2] == "rest"
    widths = [width for _, width, _ in drawn[:10]]
    assert widths == sorted(widths, reverse=True)  # the largest change, the longest bar
    # Bars to scale: the longest fills the chart; each other in proportion (to a pixel).
    largest = abs(changes[0][1])
    for (_, change), width in zip(changes[:10], widths, strict=True):
        assert abs(width - widths[0] * abs(change) / largest) <= D("0.1")
    by_plan: dict[str, Decimal] = {}
    for agreement in report.agreement_reports:
        for result in agreement.results:
            if result.status == "applied":
                name = result.operation.plan_name
                by_plan[name] = by_plan.get(name, D(0)) + operation_delta(result.operation)[0]
    plans = page.section("chart-plans")
    assert [name for name, change in by_plan.items() if change]
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
    """Where the chart's axis is: drawn beside each bar, at one place."""
    [x] = set(re.findall(r'<line x1="([\d.]+)" x2="\1"', figure(html, chart)))
    return D(x)


def test_decreases_are_drawn_left_of_the_axis_and_signed(everything: SyncReport) -> None:
    html = everything.to_html()
    line = axis(html, "chart-companies")
    downs = [(x, width) for x, width, tone in bars(html, "chart-companies") if tone == "down"]
    ups = [(x, width) for x, width, tone in bars(html, "chart-companies") if tone == "up"]
    assert downs and ups and line > 0
    assert all(x + width == line for x, width in downs)
    assert all(x == line for x, _ in ups)
    chart = Page(html).section("chart-companies")
    assert "Fourth Coffee: -16.00" in chart and "Big Customer & Sons: +1,234.50" in chart


def test_the_plan_chart_counts_what_was_written(everything: SyncReport) -> None:
    by_plan: dict[str, Decimal] = {}
    for agreement in everything.agreement_reports:
        for result in agreement.results:
            if result.status == "applied":  # not what failed, was held, unknown, in conflict
                name = result.operation.plan_name
                by_plan[name] = by_plan.get(name, D(0)) + operation_delta(result.operation)[0]
    chart = Page(everything.to_html()).section("chart-plans")
    assert len(by_plan) == 2
    for name, change in by_plan.items():
        assert f"{name}: {signed(change)}" in chart
    assert len(bars(everything.to_html(), "chart-plans")) == 2


def test_a_dry_run_says_what_would_be_written(site: Site) -> None:
    report = dry_run(site)
    assert report.dry_run and report.planned
    page = Page(report.to_html())
    assert page.problems == []
    assert page.text.startswith("Billing dry run, ")
    assert "nothing was written" in page.text
    money_rows = {row["row"]: row for row in page.rows("money")}
    assert money_rows["MRR"]["After (planned)"] == money(report.mrr_after)
    assert "After (planned)" in page.section("money") and "as planned" in page.section("money")
    agreements, operations = chips(page.section("verdict"))
    planned = Counter(a.status for a in report.agreement_reports)
    assert agreements == {
        status: planned[status]
        for status in ("planned", "skipped", "error", "busy", "stopped", "stale")
    }
    held = sum(a.held for a in report.agreement_reports)
    # Every count, zeros too (nothing failed), but for "applied": a dry run applies nothing.
    assert operations == {
        "planned": report.planned,
        "failed": 0,
        "conflict": 0,
        "unknown": 0,
        "held": held,
        "stale": 0,
    }
    assert "operations planned" in page.section("charts")
    contoso = page.operations(f"agreement-{site.agreements['Contoso Ltd']}")
    assert contoso == [
        {
            "Action": "update",
            "Plan": "Gold 50 GB",
            "Quantity": "10 -> 12",
            "Unit price": "8.00",
            "Unit cost": "3.25",
            "MRR effect": "+16.00",
            "Cost effect": "+6.50",
            "Status": "planned",
        }
    ]
    assert "applied" not in page.section("agreements")


def test_a_company_report(everything: SyncReport) -> None:
    [company] = [c for c in everything.companies if c.company == "Margie's Travel"]
    page = Page(company.to_html(currency="$"))
    assert page.problems == []
    assert page.text.startswith("Billing sync: Margie's Travel")
    assert "1 operation in conflict" in page.section("verdict")
    assert "Conflict (1)" in page.section("attention")
    assert "changed in ConnectWise since the diff" in page.section("attention")
    assert "1 company, 1 agreement" in page.text


def test_an_ok_run_says_so(site: Site) -> None:
    with ConnectWiseClient(API_URL, site.credentials, transport=site.fake.transport()) as client:
        usages = [site.usages[0]]
        report = sync_all(client, PLANS, site.mapping, usages, today=TODAY)
    assert report.ok
    page = Page(report.to_html())
    assert page.section("verdict").startswith("OK Every agreement bills exactly")
    assert "Nothing: no agreement needs a person." in page.section("attention")
    # Writes an earlier run left in flight: said even when this run is ok.
    left = Page(attrs.evolve(report, intents_settled=2, intents_unsettled=1).to_html())
    assert "settled 2 writes an earlier run left in flight" in left.text
    assert "Unsettled: 1 write an earlier run left in flight" in left.section("attention")


def test_seats_on_unmapped_plans_need_a_person_even_when_the_guardrail_only_warns() -> None:
    example = build_example(4, seed=1)
    unmapped = next(plan for plan in example.plans if plan.id not in example.mapping)
    usage = next(
        u
        for u in example.usages
        if u.agreement_id not in (example.deleted_agreement_id, example.cancelled_agreement_id)
        and u.company != example.hidden_company
    )
    usage = usage._replace(seats={**usage.seats, unmapped.id: 3})
    with ConnectWiseClient(API_URL, example.credentials, transport=example.fake.transport()) as c:
        report = sync_all(c, example.plans, example.mapping, [usage], today=TODAY, dry_run=True)
    assert report.ok  # the default guardrail warns: the run stands
    attention = Page(report.to_html()).section("attention")
    assert "Unmapped usage (1)" in attention and unmapped.name in attention
