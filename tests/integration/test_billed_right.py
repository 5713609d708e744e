"""`ok` means the money is right: each case a real MSP meets, made to happen in the simulator.

Gold 50 GB sells at 8.00 and costs 3.25 a seat: 12 seats bill 96.00 a month (cost 39.00). In
each case the report used to say ok (exit 0, "OK") while ConnectWise billed something else;
now `ok` holds only when the lines, read back, bill exactly what the usage says, and the report
names what is wrong.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import attrs
import pytest

from connectwise_billing import (
    AsyncConnectWiseBackend,
    CompanyUsage,
    ConnectWiseBackend,
    InvalidSeatsError,
    NewAddition,
    Plan,
    PlanMapping,
    SyncPolicy,
    SyncReport,
    async_sync_all,
    reconcile_agreement,
    sync_all,
)
from connectwise_billing.errors import InputError
from connectwise_billing.testing import FakeConnectWise, Fault, StoredAddition
from tests.conftest import Api

API_URL = "https://cw.example/v2025_1/apis/3.0"
D = Decimal
TODAY = date(2026, 12, 7)
GOLD = Plan("gold-50", "Gold 50 GB", cost="3.25", price="8.00")


@attrs.define
class Site:
    """A ConnectWise site with two customers and the Gold product (and the one it replaced)."""

    fake: FakeConnectWise
    contoso: int
    fabrikam: int
    gold: int
    old_gold: int
    agreement: int  # Contoso's
    other: int  # Fabrikam's

    def lines(self, agreement: int | None = None) -> list[StoredAddition]:
        return self.fake.list_additions(self.agreement if agreement is None else agreement)

    def line(self, addition_id: int) -> StoredAddition:
        return self.fake.get_addition(addition_id)


@pytest.fixture
def site() -> Site:
    fake = FakeConnectWise(seed=3)
    fake.add_api_member(identifier="CloudPanelAPI")
    contoso = fake.add_company("Contoso Ltd")
    fabrikam = fake.add_company("Fabrikam Inc")
    gold = fake.add_product("MBX-GOLD-50", price="8.00", cost="3.25")
    old_gold = fake.add_product("MBX-GOLD-OLD", price="8.00", cost="3.25")
    return Site(
        fake,
        contoso,
        fabrikam,
        gold,
        old_gold,
        fake.add_agreement(contoso),
        fake.add_agreement(fabrikam),
    )


@pytest.fixture(params=["sync", "async"])
def run(request: pytest.FixtureRequest, site: Site) -> Any:
    """`run(usages, policy=None, mapping=None, **options)`: one sync of the site."""
    kind = request.param
    function = sync_all if kind == "sync" else async_sync_all

    def go(
        usages: list[CompanyUsage],
        policy: SyncPolicy | None = None,
        mapping: PlanMapping | None = None,
        **options: Any,
    ) -> SyncReport:
        chosen = mapping or PlanMapping({"gold-50": site.gold})
        with Api(kind).session(API_URL, site.fake.credentials, fake=site.fake) as call:
            report: SyncReport = call(
                lambda client: function(client, [GOLD], chosen, usages, policy, **options)
            )
        return report

    return go


def usage(site: Site, seats: int = 12, **more: Any) -> CompanyUsage:
    return CompanyUsage(site.agreement, {"gold-50": seats}, company="Contoso Ltd", **more)


# --- 3. lines that do not bill ----------------------------------------------------------------


@pytest.mark.parametrize("marked", ["DoNotBill", "NoCharge"])
def test_a_line_that_does_not_bill_is_never_counted_as_billing(
    site: Site, run: Any, marked: str
) -> None:
    idle = site.fake.add_addition(site.agreement, site.gold, 10, bill_customer=marked)
    report = run([usage(site)])
    assert not report.ok
    assert (report.mrr_before, report.mrr_after) == (D(0), D(0))  # ConnectWise invoices 0
    [agreement] = report.agreement_reports
    [problem] = agreement.billing_problems
    assert (problem.kind, problem.line_ids, problem.monthly) == ("not_billed", (idle,), D("96.00"))
    assert "12 seats in use (96.00 a month)" in problem.message
    assert site.fake.writes() == []  # left untouched
    assert site.line(idle).quantity == 10
    assert f"NOT BILLED agreement {site.agreement}" in report.summary()
    assert not run([usage(site)], dry_run=True).ok  # the preview says so too


def test_a_billable_line_can_be_created_beside_a_line_that_does_not_bill(
    site: Site, run: Any
) -> None:
    idle = site.fake.add_addition(site.agreement, site.gold, 10, bill_customer="DoNotBill")
    report = run([usage(site)], SyncPolicy(on_non_billing="create_billable"))
    assert report.ok and report.applied == 1
    assert (report.mrr_before, report.mrr_after, report.cost_after) == (
        D(0),
        D("96.00"),
        D("39.00"),
    )
    [created] = [line for line in site.lines() if line.id != idle]
    assert (created.quantity, created.unit_price, created.bill_customer) == (
        12,
        D("8.00"),
        "Billable",
    )
    assert site.line(idle).quantity == 10 and site.line(idle).bill_customer == "DoNotBill"
    assert run([usage(site)], SyncPolicy(on_non_billing="create_billable")).applied == 0


# --- 4. duplicates that freeze billing --------------------------------------------------------


def test_two_lines_of_one_product_are_not_ok_whatever_their_quantities(
    site: Site, run: Any
) -> None:
    """What a merge that zeroed a line left behind: seats 12, billed 10, forever "OK"."""
    kept = site.fake.add_addition(site.agreement, site.gold, 10, updated_by="CloudPanelAPI")
    zero = site.fake.add_addition(site.agreement, site.gold, 0, updated_by="CloudPanelAPI")
    for seats in (12, 15):
        report = run([usage(site, seats)])
        assert not report.ok
        [problem] = report.agreement_reports[0].billing_problems
        assert (problem.kind, problem.line_ids) == ("duplicate_lines", (kept, zero))
        assert report.mrr_after == D("80.00")  # 10 x 8.00: what ConnectWise bills
        assert site.fake.writes() == []


def test_a_merge_converges_and_the_kept_line_is_synced_from_then_on(site: Site, run: Any) -> None:
    kept = site.fake.add_addition(site.agreement, site.gold, 10, updated_by="CloudPanelAPI")
    zero = site.fake.add_addition(site.agreement, site.gold, 0, updated_by="CloudPanelAPI")
    merge = SyncPolicy(on_duplicates="merge")
    report = run([usage(site)], merge)
    assert report.ok and report.mrr_after == D("96.00")
    assert site.line(zero).cancelled_date is not None
    assert site.line(kept).quantity == 12
    again = run([usage(site, 15)], merge)
    assert again.ok and again.mrr_after == D("120.00")
    assert [r.line_id for r in again.agreement_reports[0].results] == [kept]


# --- 5. a remap billed twice ------------------------------------------------------------------


def remapped(site: Site) -> PlanMapping:
    return PlanMapping({"gold-50": site.gold}, retired={"gold-50": site.old_gold})


def test_a_remapped_plan_whose_old_line_still_bills_is_billed_twice(site: Site, run: Any) -> None:
    old = site.fake.add_addition(site.agreement, site.old_gold, 12, updated_by="CloudPanelAPI")
    report = run([usage(site)], mapping=remapped(site))
    assert not report.ok
    assert (report.mrr_before, report.mrr_after) == (D("96.00"), D("192.00"))
    [problem] = report.agreement_reports[0].billing_problems
    assert (problem.kind, problem.product_id, problem.line_ids) == (
        "billed_twice",
        site.old_gold,
        (old,),
    )
    assert problem.monthly == D("96.00")
    assert f"BILLED TWICE agreement {site.agreement}" in report.summary()


@pytest.mark.parametrize(("on_zero", "cancelled"), [("set_quantity_zero", False), ("cancel", True)])
def test_on_retired_zero_stops_the_old_line_in_the_same_run(
    site: Site, run: Any, on_zero: str, cancelled: bool
) -> None:
    old = site.fake.add_addition(site.agreement, site.old_gold, 12, updated_by="CloudPanelAPI")
    policy = SyncPolicy(on_retired="zero", on_zero=on_zero)  # type: ignore[arg-type]
    report = run([usage(site)], policy, mapping=remapped(site))
    assert report.ok
    assert (report.mrr_before, report.mrr_after) == (D("96.00"), D("96.00"))
    line = site.line(old)
    assert (line.cancelled_date is not None) is cancelled
    assert line.quantity == (12 if cancelled else 0)
    assert run([usage(site)], policy, mapping=remapped(site)).applied == 0


# --- 6. the wrong customer --------------------------------------------------------------------


def test_an_agreement_of_another_company_is_never_written(site: Site, run: Any) -> None:
    """A typo: Contoso's usage row points at Fabrikam's agreement."""
    wrong = CompanyUsage(
        site.other, {"gold-50": 40}, company="Contoso Ltd", company_id=site.contoso
    )
    report = run([wrong])
    assert not report.ok and report.applied == 0
    [agreement] = report.agreement_reports
    assert agreement.status == "error"
    assert agreement.error is not None
    assert f"belongs to Fabrikam Inc (company {site.fabrikam})" in agreement.error
    assert f"not to Contoso Ltd (company {site.contoso})" in agreement.error
    assert site.fake.writes() == []
    assert site.lines(site.other) == []


def test_without_a_company_id_the_names_are_compared(site: Site, run: Any) -> None:
    wrong = CompanyUsage(site.other, {"gold-50": 40}, company="Contoso Ltd")
    report = run([wrong])
    [agreement] = report.agreement_reports
    assert agreement.status == "error" and not report.ok
    assert agreement.error is not None and "company_id" in agreement.error
    assert "belongs to Fabrikam Inc" in agreement.error
    assert site.fake.writes() == []


@pytest.mark.parametrize("written", ["CONTOSO, LTD.", "Contoso", "contoso limited", "ContosoLtd"])
def test_names_match_however_they_are_written(site: Site, run: Any, written: str) -> None:
    report = run([CompanyUsage(site.agreement, {"gold-50": 12}, company=written)])
    assert report.ok and report.applied == 1


def test_two_customers_that_share_a_name_are_two_companies(site: Site, run: Any) -> None:
    twin = site.fake.add_company("Contoso Ltd", identifier="ContosoUK")
    twin_agreement = site.fake.add_agreement(twin)
    usages = [usage(site), CompanyUsage(twin_agreement, {"gold-50": 3}, company="Contoso Ltd")]
    report = run(usages)
    assert report.ok
    assert sorted((c.company, c.company_id) for c in report.companies) == [
        ("Contoso Ltd", site.contoso),
        ("Contoso Ltd", twin),
    ]
    assert {c.company_id: c.mrr_after for c in report.companies} == {
        site.contoso: D("96.00"),
        twin: D("24.00"),
    }


# --- 7. numbers nobody can read back ----------------------------------------------------------


def test_a_seat_count_the_sdk_could_not_read_back_is_refused_before_sending(
    site: Site, run: Any
) -> None:
    with pytest.raises(InvalidSeatsError, match="1000000000000000"):
        run([usage(site, 10**15)])
    assert site.fake.request_log == []
    with pytest.raises(InputError, match="quantity is too large"):
        NewAddition(site.gold, 10**15)
    report = run([usage(site, 10**13 - 1)])  # the largest that reads back
    assert report.ok and report.mrr_after == (10**13 - 1) * D("8.00")


def test_a_price_with_more_digits_than_connectwise_keeps_is_refused(site: Site, run: Any) -> None:
    cheap = usage(site, custom_prices={"gold-50": D("0.00000000000001")})
    with pytest.raises(InputError, match="too small"):
        run([cheap])
    assert site.fake.request_log == []
    precise = Plan("gold-50", "Gold 50 GB", cost="3.2500000000000001", price="8.00")
    with pytest.raises(InputError, match="cost of plan 'gold-50' has more than 15 significant"):
        reconcile_agreement([precise], {"gold-50": site.gold}, usage(site), [], today=TODAY)


# --- the create's answer ----------------------------------------------------------------------


def test_a_create_whose_answer_shows_other_values_fails_with_them(site: Site, run: Any) -> None:
    """ConnectWise applied its catalog price instead of the one sent (a PSA that applies a
    default): the answer, and the line read back, show it."""
    site.fake.faults.add(Fault.altered_write("unitPrice", D("9.50")), method="POST")
    report = run([usage(site, discount_percent="10")])
    assert not report.ok
    [result] = report.agreement_reports[0].results
    assert result.status == "failed"
    assert result.error is not None and "but it shows unit_price 9.50" in result.error
    [problem] = report.agreement_reports[0].billing_problems
    assert problem.kind == "wrong_values"
    assert "unit price 9.50 instead of 7.20" in problem.message
    assert report.mrr_after == D("114.00")  # what ConnectWise bills: 12 x 9.50


# --- what a review found ----------------------------------------------------------------------


def test_units_included_in_the_agreement_are_not_billed(site: Site, run: Any) -> None:
    """ConnectWise bills `quantity - lessIncluded`: a line of 12 with 12 included bills 0."""
    line = site.fake.add_addition(site.agreement, site.gold, 12)
    site.fake.set_raw(line, lessIncluded=D(12))
    report = run([usage(site)])
    assert not report.ok and report.mrr_after == D(0)
    [problem] = report.agreement_reports[0].billing_problems
    assert problem.kind == "wrong_values"
    assert "less included 12: it bills 0 of 12" in problem.message


def test_seats_on_a_closed_agreement_are_not_billed(site: Site, run: Any) -> None:
    site.fake.cancel_agreement(site.agreement)
    report = run([usage(site)])
    [agreement] = report.agreement_reports
    assert agreement.status == "skipped" and not report.ok
    [problem] = agreement.billing_problems
    assert (problem.kind, problem.monthly) == ("not_billed", D("96.00"))
    assert "link the customer's current agreement" in agreement.warnings[0]
    assert run([usage(site, 0)]).ok  # no seats there: nothing to bill


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_a_backend_that_creates_lines_that_do_not_bill_is_not_ok_in_the_preview_either(
    site: Site, kind: str
) -> None:
    """The preview knows what the backend creates lines as; and a billable line created beside
    one that does not bill is Billable, whatever the backend's default: no run adds another."""
    mapping = PlanMapping({"gold-50": site.gold})
    usages = [usage(site)]

    def once(dry_run: bool, policy: SyncPolicy | None = None) -> SyncReport:
        with Api(kind).session(API_URL, site.fake.credentials, fake=site.fake) as call:
            return call(  # type: ignore[no-any-return]
                lambda client: (sync_all if kind == "sync" else async_sync_all)(
                    (ConnectWiseBackend if kind == "sync" else AsyncConnectWiseBackend)(
                        client, bill_customer="NoCharge"
                    ),
                    [GOLD],
                    mapping,
                    usages,
                    policy,
                    dry_run=dry_run,
                )
            )

    preview = once(dry_run=True)
    assert not preview.ok
    assert [p.kind for p in preview.agreement_reports[0].billing_problems] == ["not_billed"]
    assert not once(dry_run=False).ok  # the line it created does not bill
    create_billable = SyncPolicy(on_non_billing="create_billable")
    for _ in range(3):
        once(dry_run=False, policy=create_billable)
    lines = site.lines()
    assert sorted(line.bill_customer for line in lines) == ["Billable", "NoCharge"]


def test_a_computed_price_connectwise_cannot_keep_is_refused_before_any_request(
    site: Site, run: Any
) -> None:
    huge = CompanyUsage(site.agreement, {"gold-50": 1}, {"gold-50": D("9999999999999")}, D("12.5"))
    with pytest.raises(InputError, match=r"unit price of plan 'gold-50' .* comes to"):
        run([huge], SyncPolicy(price_decimals=3))
    assert site.fake.request_log == []


def test_a_create_answered_as_cancelled_fails(site: Site, run: Any) -> None:
    site.fake.faults.add(
        Fault.altered_write("cancelledDate", "2026-01-31T00:00:00Z"), method="POST"
    )
    report = run([usage(site)])
    [result] = report.agreement_reports[0].results
    assert result.status == "failed" and "cancelled_date" in (result.error or "")
    assert not report.ok


def test_a_refused_link_is_reported_under_the_usages_company(site: Site, run: Any) -> None:
    wrong = CompanyUsage(site.agreement, {"gold-50": 2}, company="Fabrikam Inc")
    right = CompanyUsage(site.other, {"gold-50": 3}, company="Fabrikam Inc")
    report = run([wrong, right])
    by_agreement = {
        a.agreement_id: (c.company_id, a.status) for c in report.companies for a in c.agreements
    }
    assert by_agreement[site.agreement] == (None, "error")  # not filed under Contoso
    assert by_agreement[site.other] == (site.fabrikam, "synced")


@pytest.mark.parametrize(
    ("usage_name", "owner", "identifier"),
    [
        ("ABC Ltd", "ABC Plumbing Ltd", "ABC"),  # a short identifier is many a company's
        ("Contoso Ltd", "Contoso Pharmaceuticals", "Contoso"),
        ("Smith & Co", "Smith", "Smith"),
        ("...", "Fabrikam Inc", "Fab"),  # nothing to compare
    ],
)
def test_names_that_only_look_alike_are_refused(
    site: Site, run: Any, usage_name: str, owner: str, identifier: str
) -> None:
    company = site.fake.add_company(owner, identifier=identifier)
    agreement = site.fake.add_agreement(company)
    report = run([CompanyUsage(agreement, {"gold-50": 1}, company=usage_name)])
    [refused] = report.agreement_reports
    assert refused.status == "error" and "company_id" in (refused.error or "")
    assert site.fake.writes() == []


def test_odd_inputs_are_named_before_anything_is_sent(site: Site, run: Any) -> None:
    with pytest.raises(InputError, match="must be text"):
        run([CompanyUsage(site.agreement, {}, company=123)])  # type: ignore[arg-type]
    negative_zero = Plan("gold-50", "Gold", cost="-0", price="8.00")
    with pytest.raises(InputError, match="must not be negative, got -0"):
        reconcile_agreement([negative_zero], {"gold-50": site.gold}, usage(site), [], today=TODAY)
    assert site.fake.request_log == []


def test_a_lock_or_progress_that_is_not_one_is_named(site: Site, run: Any) -> None:
    with pytest.raises(InputError, match="lock must be a Lock"):
        run([usage(site)], lock="redis://127.0.0.1:6379/0")
    with pytest.raises(InputError, match="progress must be callable"):
        run([usage(site)], progress="yes")
    assert site.fake.request_log == []
