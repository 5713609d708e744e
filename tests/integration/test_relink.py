"""Re-link help: an agreement that is gone, closed or another company's names the customer's
active agreements, found in one request, in every form of the report."""

from __future__ import annotations

import json
from datetime import date

import pytest

from connectwise_billing import CompanyUsage, Plan, PlanMapping, SyncReport
from connectwise_billing.backend import AgreementCandidate
from connectwise_billing.testing import ExampleMSP, FakeConnectWise, Fault
from tests.integration.conftest import Syncer

TODAY = date(2026, 11, 28)
GOLD = Plan("gold", "Gold 50 GB", cost="3.25", price="8.00")


class Site:
    """Contoso with an old agreement (the linked one), a current one, a cancelled one and one
    that ended; Fabrikam with its own agreement; Contoso Europe, a name that is not Contoso's."""

    def __init__(self) -> None:
        self.fake = FakeConnectWise(seed=4)
        self.credentials = self.fake.add_api_member()
        self.contoso = self.fake.add_company("Contoso Ltd")
        self.fabrikam = self.fake.add_company("Fabrikam Inc")
        europe = self.fake.add_company("Contoso Europe GmbH")
        self.product = self.fake.add_product("MBX-GOLD", price="8.00", cost="3.25")
        self.linked = self.fake.add_agreement(self.contoso, "Hosting 2023")
        self.current = self.fake.add_agreement(
            self.contoso, "Hosting 2026", start_date=date(2026, 1, 1)
        )
        self.fake.add_agreement(self.contoso, "Old hosting", status="Cancelled")
        self.fake.add_agreement(self.contoso, "Trial", end_date=date(2025, 6, 30))
        self.theirs = self.fake.add_agreement(self.fabrikam, "Fabrikam hosting")
        self.fake.add_agreement(europe, "Europe hosting")
        self.mapping = PlanMapping({"gold": self.product})

    def example(self, usage: CompanyUsage) -> ExampleMSP:
        return ExampleMSP(
            self.fake, self.credentials, (GOLD,), self.mapping, (usage,), None, None, None
        )

    def sync(self, syncer: Syncer, usage: CompanyUsage) -> SyncReport:
        example = self.example(usage)
        report: SyncReport = syncer.sync_all(example, [usage], today=TODAY)
        return report

    def candidate_reads(self) -> int:
        return sum(
            1
            for entry in self.fake.request_log
            if entry.api_path == "/finance/agreements"
            and "company/" in entry.query.get("conditions", "")
        )


@pytest.fixture
def site() -> Site:
    return Site()


def usage(site: Site, agreement: int, *, company_id: int | None = None) -> CompanyUsage:
    return CompanyUsage(agreement, {"gold": 3}, company="Contoso Ltd", company_id=company_id)


def test_a_deleted_agreement_names_the_current_one_found_by_company_id(
    quick_syncer: Syncer, site: Site
) -> None:
    site.fake.delete_agreement(site.linked)
    report = site.sync(quick_syncer, usage(site, site.linked, company_id=site.contoso))
    [agreement] = report.agreement_reports
    assert agreement.status == "error" and not agreement.ok
    assert agreement.candidates == (
        AgreementCandidate(
            site.current, "Hosting 2026", "Email Hosting", date(2026, 1, 1), site.contoso,
            "Contoso Ltd",
        ),
    )  # fmt: skip
    assert site.candidate_reads() == 1
    said = f'link instead? agreement {site.current} "Hosting 2026" (Email Hosting, from 2026-01-01)'
    assert said in report.summary()
    assert said in report.render()
    assert said in agreement.render()
    page = report.to_html()
    assert "Hosting 2026" in page and str(site.current) in page and "2026-01-01" in page
    [shown] = json.loads(json.dumps(report.to_dict()))["companies"][0]["agreements"]
    assert shown["candidates"] == [
        {
            "id": site.current,
            "name": "Hosting 2026",
            "type": "Email Hosting",
            "start_date": "2026-01-01",
            "company_id": site.contoso,
            "company_name": "Contoso Ltd",
        }
    ]


def test_without_a_company_id_the_name_finds_them_once_normalised(
    quick_syncer: Syncer, site: Site
) -> None:
    """ "Contoso Ltd" is "CONTOSO, Ltd." but not "Contoso Europe GmbH"."""
    site.fake.delete_agreement(site.linked)
    named = CompanyUsage(site.linked, {"gold": 3}, company="CONTOSO, Ltd.")
    report = site.sync(quick_syncer, named)
    [agreement] = report.agreement_reports
    assert [c.id for c in agreement.candidates] == [site.current]
    assert site.candidate_reads() == 1


def test_a_cancelled_agreement_names_the_current_one(quick_syncer: Syncer, site: Site) -> None:
    site.fake.cancel_agreement(site.linked)
    report = site.sync(quick_syncer, usage(site, site.linked))
    [agreement] = report.agreement_reports
    assert agreement.status == "skipped"
    assert [c.id for c in agreement.candidates] == [site.current]  # not itself, not the ended one


def test_another_companys_agreement_names_the_usages_companys_agreements(
    quick_syncer: Syncer, site: Site
) -> None:
    report = site.sync(quick_syncer, usage(site, site.theirs, company_id=site.contoso))
    [agreement] = report.agreement_reports
    assert agreement.status == "error" and "belongs to" in (agreement.error or "")
    assert [c.id for c in agreement.candidates] == [site.linked, site.current]
    assert all(c.company_id == site.contoso for c in agreement.candidates)


def test_an_open_agreement_costs_no_extra_request(quick_syncer: Syncer, site: Site) -> None:
    report = site.sync(quick_syncer, usage(site, site.linked, company_id=site.contoso))
    assert report.agreement_reports[0].candidates == ()
    assert site.candidate_reads() == 0


def test_candidates_that_cannot_be_read_leave_the_report_as_it_was(
    quick_syncer: Syncer, site: Site
) -> None:
    site.fake.delete_agreement(site.linked)
    site.fake.faults.add(Fault.invalid(), method="GET", path="/finance/agreements$", times=None)
    report = site.sync(quick_syncer, usage(site, site.linked, company_id=site.contoso))
    [agreement] = report.agreement_reports
    assert agreement.status == "error" and agreement.candidates == ()


def test_two_customers_who_share_a_name_are_offered_nothing(
    quick_syncer: Syncer, site: Site
) -> None:
    namesake = site.fake.add_company("CONTOSO  LTD")
    site.fake.add_agreement(namesake, "Their hosting")
    site.fake.delete_agreement(site.linked)
    report = site.sync(quick_syncer, CompanyUsage(site.linked, {"gold": 3}, company="Contoso Ltd"))
    [agreement] = report.agreement_reports
    assert agreement.status == "error" and agreement.candidates == ()
    assert "link instead?" not in report.summary()


def test_the_text_lists_the_first_candidates_and_counts_the_rest(
    quick_syncer: Syncer, site: Site
) -> None:
    for year in range(2027, 2034):
        site.fake.add_agreement(site.contoso, f"Hosting {year}")
    site.fake.delete_agreement(site.linked)
    report = site.sync(quick_syncer, usage(site, site.linked, company_id=site.contoso))
    [agreement] = report.agreement_reports
    assert len(agreement.candidates) == 8
    summary = report.summary()
    assert summary.count("link instead?") == 5
    assert "... and 3 more active agreements of the customer" in summary
    assert len(report.to_dict()["companies"][0]["agreements"][0]["candidates"]) == 8
