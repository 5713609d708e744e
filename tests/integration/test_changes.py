"""Change sets, guardrails and undo against the simulator: what a person approved is what is
applied, nothing reaches an invoice that a rule holds, and a bad night can be undone."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from connectwise_billing import (
    ChangeSet,
    ChangeSetError,
    CompanyUsage,
    Guardrails,
    InputError,
    Plan,
    PlanMapping,
    SyncPolicy,
    SyncReport,
    apply_changes,
    async_apply_changes,
    async_plan_changes,
    async_sync_all,
    plan_changes,
    runs,
    sync_all,
    undo_changes,
)
from connectwise_billing.reconcile._billing import apply_operations
from connectwise_billing.testing import FakeConnectWise, StoredAddition, build_example
from tests.conftest import Api

API_URL = "https://cw.example/v2025_1/apis/3.0"
D = Decimal
TODAY = date(2026, 12, 7)
GOLD = Plan("gold-50", "Gold 50 GB", cost="3.25", price="8.00")
BASIC = Plan("basic-10", "Basic 10 GB", cost="1.50", price="4.00")
PLANS = (BASIC, GOLD)


class Shop:
    """A ConnectWise site with `size` customers, each with an agreement, and both products."""

    def __init__(self, size: int = 3) -> None:
        self.fake = FakeConnectWise(seed=11)
        self.fake.add_api_member(identifier="CloudPanelAPI")
        self.basic = self.fake.add_product("MBX-BASIC-10", price="4.00", cost="1.50")
        self.gold = self.fake.add_product("MBX-GOLD-50", price="8.00", cost="3.25")
        self.mapping = PlanMapping({"basic-10": self.basic, "gold-50": self.gold})
        self.companies: list[tuple[str, int, int]] = []
        for number in range(size):
            name = f"Customer {number} Ltd"
            company = self.fake.add_company(name)
            self.companies.append((name, company, self.fake.add_agreement(company)))

    def usage(self, number: int, **seats: int) -> CompanyUsage:
        name, company, agreement = self.companies[number]
        plans = {plan.replace("_", "-"): count for plan, count in seats.items()}
        return CompanyUsage(agreement, plans, company=name, company_id=company)

    def bill(self, number: int, plan: str, quantity: int, price: str | None = None) -> int:
        product = self.gold if plan == "gold" else self.basic
        return self.fake.add_addition(
            self.companies[number][2],
            product,
            quantity,
            unit_price=price,
            updated_by="CloudPanelAPI",
        )

    def lines(self, number: int) -> list[StoredAddition]:
        return self.fake.list_additions(self.companies[number][2])

    def owned(self) -> dict[int, tuple[Any, ...]]:
        """Every line's owned fields: what an undo must restore exactly."""
        return {
            line.id: (
                line.product.id if line.product else None,
                line.quantity,
                line.unit_price,
                line.unit_cost,
                line.cancelled_date,
                line.bill_customer,
            )
            for line in self.fake.list_additions()
        }


def session(kind: str, shop: Shop) -> Any:
    return Api(kind).session(API_URL, shop.fake.credentials, fake=shop.fake)


def plan(kind: str, shop: Shop, usages: list[CompanyUsage], **options: Any) -> ChangeSet:
    with session(kind, shop) as call:
        if kind == "sync":
            return call(lambda c: plan_changes(c, PLANS, shop.mapping, usages, **options))  # type: ignore[no-any-return]
        return call(lambda c: async_plan_changes(c, PLANS, shop.mapping, usages, **options))  # type: ignore[no-any-return]


def apply(kind: str, shop: Shop, changes: ChangeSet, **options: Any) -> SyncReport:
    function = apply_changes if kind == "sync" else async_apply_changes
    with session(kind, shop) as call:
        return call(lambda c: function(c, changes, **options))  # type: ignore[no-any-return]


def sync(
    kind: str,
    shop: Shop,
    usages: list[CompanyUsage],
    policy: SyncPolicy | None = None,
    **options: Any,
) -> SyncReport:
    function = sync_all if kind == "sync" else async_sync_all
    with session(kind, shop) as call:
        return call(lambda c: function(c, PLANS, shop.mapping, usages, policy, **options))  # type: ignore[no-any-return]


@pytest.fixture(params=["sync", "async"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


# --- plan, save, load, apply ---------------------------------------------------------------------


def test_a_saved_change_set_applies_exactly_the_planned_lines(kind: str, tmp_path: Path) -> None:
    shop = Shop()
    shop.bill(0, "gold", 10)
    shop.bill(1, "basic", 3, price="4.50")
    usages = [shop.usage(0, gold_50=12), shop.usage(1, basic_10=3), shop.usage(2, gold_50=2)]
    changes = plan(kind, shop, usages)
    assert changes.report is not None and changes.report.dry_run
    assert changes.operations == 3 and shop.fake.writes() == []
    path = tmp_path / "changes.json"
    changes.save(path)
    saved = json.loads(path.read_text())
    assert saved["format_version"] == 1 and saved["scope"] == "connectwise/fakemsp"
    assert saved["agreements"][0]["lines"][0]["quantity"] == "10"  # exact strings
    expected = {
        agreement.agreement_id: apply_operations(shop.lines(number), agreement.operations)
        for number, agreement in enumerate(changes.agreements)
    }
    report = apply(kind, shop, ChangeSet.load(path))
    assert report.ok and report.applied == 3
    assert len(shop.fake.writes()) == 3  # exactly the planned operations
    for number, agreement in enumerate(changes.agreements):
        shows = {
            (line.product.id if line.product else None, line.quantity, line.unit_price)
            for line in shop.lines(number)
        }
        planned = {
            (line.product.id if line.product else None, line.quantity, line.unit_price)
            for line in expected[agreement.agreement_id]
        }
        assert shows == planned
    assert plan(kind, shop, usages).operations == 0


def test_an_agreement_edited_since_the_plan_is_stale_and_the_others_apply(kind: str) -> None:
    shop = Shop()
    edited = shop.bill(0, "gold", 10)
    shop.bill(1, "gold", 1)
    usages = [shop.usage(0, gold_50=12), shop.usage(1, gold_50=2)]
    changes = plan(kind, shop, usages)
    shop.fake.edit_addition(edited, quantity=11)  # someone, between plan and apply
    report = apply(kind, shop, changes)
    by_id = {a.agreement_id: a for a in report.agreement_reports}
    stale = by_id[shop.companies[0][2]]
    assert stale.status == "stale" and not stale.ok
    assert stale.error is not None and f"addition {edited}: quantity 10 -> 11" in stale.error
    assert [r.status for r in stale.results] == ["stale"]
    assert shop.fake.get_addition(edited).quantity == 11  # never overwritten
    assert by_id[shop.companies[1][2]].ok
    assert report.stale == 1 and "STALE agreement" in report.summary()


def test_a_line_added_since_the_plan_makes_it_stale_too(kind: str) -> None:
    shop = Shop()
    changes = plan(kind, shop, [shop.usage(0, gold_50=4)])
    added = shop.bill(0, "gold", 4)  # another run, or a person, created it meanwhile
    report = apply(kind, shop, changes)
    assert report.agreement_reports[0].status == "stale"
    assert [line.id for line in shop.lines(0)] == [added]


def test_an_expired_change_set_is_refused_and_nothing_is_sent(kind: str) -> None:
    shop = Shop()
    changes = plan(kind, shop, [shop.usage(0, gold_50=4)], lifetime=timedelta(hours=1))
    later = datetime.now(UTC) + timedelta(hours=2)
    sent = len(shop.fake.request_log)
    with pytest.raises(ChangeSetError, match=r"expired at .*: plan again"):
        apply(kind, shop, changes, now=later)
    assert len(shop.fake.request_log) == sent


def test_a_change_set_for_another_tenant_is_refused(tmp_path: Path) -> None:
    shop = Shop()
    changes = plan("sync", shop, [shop.usage(0, gold_50=4)])
    path = tmp_path / "changes.json"
    data = changes.to_json()
    data["scope"] = "connectwise/othermsp"
    path.write_text(json.dumps(data))
    with pytest.raises(ChangeSetError, match="planned against connectwise/othermsp"):
        apply("sync", shop, ChangeSet.load(path))
    assert shop.fake.writes() == []


@pytest.mark.parametrize(
    ("break_it", "message"),
    [
        (lambda d: d.update(format_version=2), "format_version: this SDK reads format 1"),
        (
            lambda d: d["agreements"][0]["operations"][0].update(quantity="12,5"),
            r"agreements\[0\]\.operations\[0\]\.quantity: must be a number, got '12,5'",
        ),
        (
            lambda d: d["agreements"][0]["operations"][0].update(quantity="1e15"),
            r"operations\[0\]\.quantity: is too large",
        ),
        (lambda d: d.pop("expires_at"), "expires_at: is missing"),
        (
            lambda d: d["agreements"][0]["operations"][0].update(kind="delete"),
            r"operations\[0\]\.kind: must be create, update or cancel",
        ),
    ],
)
def test_a_malformed_change_set_names_the_problem(
    tmp_path: Path, break_it: Any, message: str
) -> None:
    shop = Shop()
    data = plan("sync", shop, [shop.usage(0, gold_50=4)]).to_json()
    break_it(data)
    path = tmp_path / "changes.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ChangeSetError, match=message):
        ChangeSet.load(path)
    path.write_text("{not json")
    with pytest.raises(ChangeSetError, match="line 1: not valid JSON"):
        ChangeSet.load(path)


def test_a_person_may_delete_the_operations_they_do_not_approve(tmp_path: Path) -> None:
    shop = Shop()
    usages = [shop.usage(0, gold_50=4), shop.usage(1, gold_50=6)]
    data = plan("sync", shop, usages).to_json()
    del data["agreements"][1]  # not approved: the second customer stays as it is
    path = tmp_path / "changes.json"
    path.write_text(json.dumps(data, indent=2))
    report = apply("sync", shop, ChangeSet.load(path))
    assert report.ok and report.applied == 1
    assert shop.lines(1) == []


# --- guardrails ----------------------------------------------------------------------------------


def test_a_missing_row_is_held_and_approving_writes_it(kind: str) -> None:
    """A usage export that lost the Gold row: Gold 12 -> 0, MRR 104.00 -> 8.00 (-92.3%)."""
    shop = Shop()
    gold = shop.bill(0, "gold", 12)
    shop.bill(0, "basic", 2)
    report = sync(kind, shop, [shop.usage(0, basic_10=2)])  # the gold row is gone
    assert not report.ok and report.held == 1 and shop.fake.writes() == []
    [result] = report.agreement_reports[0].results
    assert (result.status, result.rule) == ("held", "max_mrr_drop_percent")
    assert result.error == (
        "MRR would drop from 104.00 to 8.00 (-92.3%), more than max_mrr_drop_percent=50"
    )
    summary = report.summary().splitlines()
    money = next(i for i, line in enumerate(summary) if line.startswith("  MRR "))
    assert summary[money + 1].startswith("  HELD agreement")  # what waits for a person: first
    approved = sync(kind, shop, [shop.usage(0, basic_10=2)], approve=[shop.companies[0][2]])
    assert approved.ok and shop.fake.get_addition(gold).quantity == 0


@pytest.mark.parametrize(
    ("custom", "rule", "said"),
    [
        # `Customer 0 Ltd,...,gold-50,6,7,50`: a decimal comma read as price 7 and 50% off.
        ({"custom_prices": {"gold-50": "7"}, "discount_percent": "50"}, "max_price_change_percent",
         "from 8.00 to 3.50 (-56.3%), more than max_price_change_percent=50"),
        ({"custom_prices": {"gold-50": "0.20"}}, "below_cost",
         "unit price 0.20 of addition"),
    ],
)  # fmt: skip
def test_a_price_a_person_would_not_approve_is_held(
    kind: str, custom: dict[str, Any], rule: str, said: str
) -> None:
    shop = Shop()
    shop.bill(0, "gold", 6)
    _, company, agreement = shop.companies[0]
    usage = CompanyUsage(agreement, {"gold-50": 6}, company_id=company, **custom)
    report = sync(kind, shop, [usage])
    [result] = report.agreement_reports[0].results
    assert result.status == "held" and rule in (result.rule or "")
    assert result.error is not None and said in result.error
    assert shop.fake.writes() == []


def test_a_broken_export_holds_the_whole_run(kind: str) -> None:
    """40 customers bill today; the export gives 15 of them no seats at all."""
    shop = Shop(40)
    for number in range(40):
        shop.bill(number, "gold", 5)
    usages = [shop.usage(n, gold_50=0 if n < 15 else 5) for n in range(40)]
    report = sync(kind, shop, usages)
    assert report.held_all is not None
    assert "15 of 40 agreements that bill today (37.5%)" in report.held_all
    assert shop.fake.writes() == [] and not report.ok
    assert "HELD, ALL OF IT" in report.summary()
    approved = sync(kind, shop, usages, approve="all")
    assert approved.ok and approved.applied == 15


def test_a_seat_count_typed_ten_times_too_large_is_held_when_the_rule_is_set(kind: str) -> None:
    """Gold 4 -> 40 seats: MRR 32.00 -> 320.00 (+900%). Off by default: customers grow."""
    shop = Shop()
    gold = shop.bill(0, "gold", 4)
    assert sync(kind, shop, [shop.usage(0, gold_50=40)], dry_run=True).ok  # the default: off
    careful = SyncPolicy(guardrails=Guardrails(max_mrr_increase_percent=200))
    report = sync(kind, shop, [shop.usage(0, gold_50=40)], careful)
    [result] = report.agreement_reports[0].results
    assert (result.status, result.rule) == ("held", "max_mrr_increase_percent")
    assert result.error == (
        "MRR would rise from 32.00 to 320.00 (+900.0%), more than max_mrr_increase_percent=200"
    )
    assert not report.ok and shop.fake.writes() == []
    assert sync(kind, shop, [shop.usage(0, gold_50=12)], careful).ok  # +200%: at the limit
    assert shop.fake.get_addition(gold).quantity == 12
    assert sync(kind, shop, [shop.usage(1, gold_50=40)], careful).ok  # from nothing: no share


def test_a_rise_is_judged_on_what_would_be_written_when_another_rule_holds_a_part(
    kind: str,
) -> None:
    """Gold 10 at 20.00 (MRR 200.00); the usage: Gold 10 at the plan's 8.00 and 20 Basic at
    4.00. The whole plan drops to 160.00, but the price cut is held (-60%), and the Basic
    create alone would take the bill to 280.00 (+40%)."""
    shop = Shop()
    shop.bill(0, "gold", 10, price="20.00")
    careful = SyncPolicy(guardrails=Guardrails(max_mrr_increase_percent=30))
    report = sync(kind, shop, [shop.usage(0, gold_50=10, basic_10=20)], careful)
    rules = {result.rule for result in report.agreement_reports[0].results}
    assert rules == {
        "max_mrr_increase_percent",
        "max_mrr_increase_percent, max_price_change_percent",
    }
    said = "MRR would rise from 200.00 to 280.00 (+40.0%), more than max_mrr_increase_percent=30"
    assert all(said in (result.error or "") for result in report.agreement_reports[0].results)
    assert shop.fake.writes() == [] and not report.ok


def test_a_change_set_carries_the_rise_rule_only_when_it_is_set(tmp_path: Path) -> None:
    """Off, the key is left out: the SDK before the rule reads the file. Set, it round-trips."""
    shop = Shop()
    shop.bill(0, "gold", 4)
    usages = [shop.usage(0, gold_50=40)]
    default = plan("sync", shop, usages).to_json()
    assert "max_mrr_increase_percent" not in default["policy"]["guardrails"]
    careful = SyncPolicy(guardrails=Guardrails(max_mrr_increase_percent=200))
    path = tmp_path / "changes.json"
    plan("sync", shop, usages, policy=careful).save(path)
    loaded = ChangeSet.load(path)
    assert loaded.policy is not None and loaded.policy.guardrails is not None
    assert loaded.policy.guardrails.max_mrr_increase_percent == 200
    [result] = apply("sync", shop, loaded).agreement_reports[0].results
    assert (result.status, result.rule) == ("held", "max_mrr_increase_percent")


def test_each_rule_can_be_turned_off(kind: str) -> None:
    shop = Shop()
    shop.bill(0, "gold", 12)
    off = SyncPolicy(guardrails=Guardrails(max_mrr_drop_percent=None))
    assert sync(kind, shop, [shop.usage(0, gold_50=1)], off).ok
    assert sync(kind, shop, [shop.usage(0, gold_50=12)], SyncPolicy(guardrails=None)).ok


def test_held_operations_in_a_change_set_are_written_only_when_approved() -> None:
    shop = Shop()
    gold = shop.bill(0, "gold", 12)
    changes = plan("sync", shop, [shop.usage(0)])
    assert changes.held == 1
    report = apply("sync", shop, changes)
    assert report.held == 1 and shop.fake.writes() == []
    report = apply("sync", shop, changes, approve=[shop.companies[0][2]])
    assert report.ok and shop.fake.get_addition(gold).quantity == 0


# --- undo ------------------------------------------------------------------------------------


def test_a_run_is_undone_line_by_line(kind: str, tmp_path: Path) -> None:
    shop = Shop()
    shop.bill(0, "gold", 10)
    cancelled = shop.bill(1, "basic", 3)
    before = shop.owned()
    log = tmp_path / "audit.jsonl"
    usages = [shop.usage(0, gold_50=12), shop.usage(1), shop.usage(2, gold_50=3)]
    policy = SyncPolicy(on_zero="cancel", guardrails=None)
    assert sync(kind, shop, usages, policy, audit_log=log).applied == 3
    assert shop.fake.get_addition(cancelled).cancelled_date is not None
    [run] = runs(log)
    assert run.counts == {"applied": 3} and run.agreements == 3 and not run.dry_run
    undo = undo_changes(log, run.run_id)
    assert undo.kind == "undo" and undo.operations == 3
    undo.save(tmp_path / "undo.json")
    report = apply(kind, shop, ChangeSet.load(tmp_path / "undo.json"))
    assert report.ok, report.summary()
    after = shop.owned()
    created = set(after) - set(before)
    assert {line: after[line] for line in before} == before  # restored exactly
    assert all(after[line][4] is not None for line in created)  # the run's new lines: cancelled


def test_an_undo_leaves_a_line_changed_since_the_run_alone(tmp_path: Path) -> None:
    shop = Shop()
    edited = shop.bill(0, "gold", 10)
    log = tmp_path / "audit.jsonl"
    sync("sync", shop, [shop.usage(0, gold_50=12)], audit_log=log)
    shop.fake.edit_addition(edited, quantity=14)
    undo = undo_changes(log, runs(log)[0].run_id)
    report = apply("sync", shop, undo)
    assert report.agreement_reports[0].status == "stale"
    assert shop.fake.get_addition(edited).quantity == 14


def test_undo_names_a_run_the_log_does_not_hold(tmp_path: Path) -> None:
    shop = Shop()
    log = tmp_path / "audit.jsonl"
    sync("sync", shop, [shop.usage(0, gold_50=1)], audit_log=log)
    with pytest.raises(ChangeSetError, match="no run 'nope'"):
        undo_changes(log, "nope")


starting = st.lists(st.tuples(st.sampled_from(["gold", "basic"]), st.integers(0, 9)), max_size=3)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(starting, min_size=3, max_size=3),
    st.lists(
        st.fixed_dictionaries({"gold_50": st.integers(0, 9), "basic_10": st.integers(0, 9)}),
        min_size=3,
        max_size=3,
    ),
    st.sampled_from(["set_quantity_zero", "cancel"]),
    st.sampled_from(["skip", "merge"]),
)
def test_run_then_undo_restores_every_lines_owned_fields(
    tmp_path_factory: pytest.TempPathFactory,
    lines: list[list[tuple[str, int]]],
    seats: list[dict[str, int]],
    on_zero: str,
    on_duplicates: str,
) -> None:
    shop = Shop()
    for number, owned in enumerate(lines):
        for plan_name, quantity in owned:
            shop.bill(number, plan_name, quantity)
    before = shop.owned()
    log = tmp_path_factory.mktemp("undo") / "audit.jsonl"
    usages = [shop.usage(number, **counts) for number, counts in enumerate(seats)]
    policy = SyncPolicy(on_zero=on_zero, on_duplicates=on_duplicates, guardrails=None)  # type: ignore[arg-type]
    sync("sync", shop, usages, policy, audit_log=log)
    if not runs(log):
        return  # nothing was written
    [run] = runs(log)
    report = apply("sync", shop, undo_changes(log, run.run_id))
    assert report.ok, report.summary()
    after = shop.owned()
    assert {line: after[line] for line in before} == before
    assert all(after[line][4] is not None for line in set(after) - set(before))


def test_the_example_msp_round_trips(tmp_path: Path) -> None:
    example = build_example(12, seed=4)
    with Api("sync").session(API_URL, example.credentials, fake=example.fake) as call:
        changes = call(lambda c: plan_changes(c, example.plans, example.mapping, example.usages))
        changes.save(tmp_path / "changes.json")
        report = call(lambda c: apply_changes(c, ChangeSet.load(tmp_path / "changes.json")))
    assert report.applied == changes.operations - changes.held
    assert {a.agreement_id for a in report.agreement_reports} == {
        a.agreement_id for a in changes.agreements
    }


# --- what an adversarial review found -------------------------------------------------------


def test_holding_a_price_fix_does_not_let_the_rest_cut_the_bill_alone(kind: str) -> None:
    """Gold 10 at 1.00 (a price to fix: held, +700%) and Basic 10 at 4.00 whose row the export
    lost: the plan as a whole raises MRR 50 -> 80, but what it would write cuts it to 10."""
    shop = Shop()
    shop.bill(0, "gold", 10, price="1.00")
    shop.bill(0, "basic", 10)
    report = sync(kind, shop, [shop.usage(0, gold_50=10)])
    assert {r.status for r in report.agreement_reports[0].results} == {"held"}
    assert shop.fake.writes() == []
    assert any(
        "max_mrr_drop_percent" in (r.rule or "") for r in report.agreement_reports[0].results
    )


def test_an_undo_that_gives_a_line_its_later_cancel_date_back_applies(tmp_path: Path) -> None:
    shop = Shop()
    line = shop.fake.add_addition(
        shop.companies[0][2], shop.gold, 3, cancelled_date=date(2030, 6, 30)
    )
    log = tmp_path / "audit.jsonl"
    policy = SyncPolicy(on_zero="cancel", guardrails=None)
    sync("sync", shop, [shop.usage(0)], policy, audit_log=log)
    assert shop.fake.get_addition(line).cancelled_date.date() < date(2030, 6, 30)  # type: ignore[union-attr]
    undo = undo_changes(log, runs(log)[0].run_id)
    assert undo.agreements[0].mrr_after == D(24)  # it bills again: 3 x 8.00
    undo.save(tmp_path / "undo.json")
    report = apply("sync", shop, ChangeSet.load(tmp_path / "undo.json"))
    assert report.ok
    assert shop.fake.get_addition(line).cancelled_date.date() == date(2030, 6, 30)  # type: ignore[union-attr]


def edited(shop: Shop, tmp_path: Path, usages: list[CompanyUsage], edit: Any) -> Path:
    data = plan("sync", shop, usages).to_json()
    edit(data)
    path = tmp_path / "edited.json"
    path.write_text(json.dumps(data))
    return path


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d.update(scope=None), "scope: must be text"),
        (lambda d: d.pop("scope"), "scope: is missing"),
        (lambda d: d["agreements"][0].update(lines_complete="true"), "lines_complete: must be"),
        (
            lambda d: d["agreements"][0].update(company=None, company_id=None),
            "nothing would check whose agreement it is",
        ),
        (
            lambda d: d["agreements"][0]["operations"][0].update(product_id=999),
            r"product 999 is not the product of plan 'gold-50'",
        ),
        (
            lambda d: d["agreements"][0]["operations"][0].update(plan_id="archive"),
            "'archive' is not a mapped plan",
        ),
        (
            lambda d: d["agreements"][0]["operations"][0].update(quantity="-0"),
            "is negative",
        ),
        (
            lambda d: d["agreements"][0]["operations"][0].update(quantity="1_0"),
            "must be a number, got '1_0'",
        ),
        (
            lambda d: d["agreements"][0]["operations"][0].update(quantity="\u0661\u0662"),
            "must be a number",
        ),
        (lambda d: d.update(expires_at=d["planned_at"]), "must be later than planned_at"),
        (lambda d: d.update(format_version=True), "this SDK reads format 1"),
        (lambda d: d.update(expires_at="9999-12-31T23:59:59-14:00"), "must be an ISO 8601"),
    ],
)
def test_a_change_set_edited_beyond_deleting_is_refused(
    tmp_path: Path, edit: Any, message: str
) -> None:
    shop = Shop()
    path = edited(shop, tmp_path, [shop.usage(0, gold_50=5)], edit)
    with pytest.raises(ChangeSetError, match=message):
        ChangeSet.load(path)


def test_a_held_mark_deleted_from_the_file_is_held_again(tmp_path: Path) -> None:
    shop = Shop()
    shop.bill(0, "gold", 12)

    def unhold(data: dict[str, Any]) -> None:
        data["agreements"][0]["operations"][0]["held"] = None

    path = edited(shop, tmp_path, [shop.usage(0, gold_50=1)], unhold)
    report = apply("sync", shop, ChangeSet.load(path))
    [result] = report.agreement_reports[0].results
    assert result.status == "held" and "max_mrr_drop_percent" in (result.rule or "")
    assert shop.fake.writes() == []


def test_a_line_of_another_product_is_never_written_through_a_plans_operation(
    tmp_path: Path,
) -> None:
    shop = Shop()
    backup = shop.fake.add_product("BACKUP", price="900", cost="100")
    support = shop.fake.add_addition(shop.companies[0][2], backup, 1)
    shop.bill(0, "gold", 2)

    def retarget(data: dict[str, Any]) -> None:
        data["agreements"][0]["operations"][0]["line_id"] = support

    path = edited(shop, tmp_path, [shop.usage(0, gold_50=3)], retarget)
    with pytest.raises(ChangeSetError, match=f"addition {support} is of product {backup}"):
        ChangeSet.load(path)


def test_unmapped_usage_fail_makes_the_agreement_not_ok_with_nothing_else_to_do() -> None:
    shop = Shop()
    shop.bill(0, "gold", 2)
    archive = Plan("archive", "Archive", cost="1.00", price="3.00")
    policy = SyncPolicy(guardrails=Guardrails(unmapped_usage="fail"))
    name, _company, agreement = shop.companies[0]
    usage = CompanyUsage(agreement, {"gold-50": 2, "archive": 9}, company=name)
    with session("sync", shop) as call:
        report = call(lambda c: sync_all(c, (*PLANS, archive), shop.mapping, [usage], policy))
    assert not report.ok
    [problem] = report.agreement_reports[0].billing_problems
    assert (problem.kind, problem.monthly) == ("unmapped_usage", D("27.00"))


def test_an_undo_leaves_a_line_cancelled_since_the_run_alone(tmp_path: Path) -> None:
    shop = Shop()
    line = shop.bill(0, "gold", 10)
    log = tmp_path / "audit.jsonl"
    sync("sync", shop, [shop.usage(0, gold_50=12)], audit_log=log)
    shop.fake.edit_addition(line, cancelled_date=date(2026, 12, 31))
    report = apply("sync", shop, undo_changes(log, runs(log)[0].run_id))
    assert report.agreement_reports[0].status == "stale"
    assert shop.fake.get_addition(line).quantity == 12


def test_odd_arguments_and_damaged_logs_are_named_not_raw(tmp_path: Path) -> None:
    shop = Shop()
    changes = plan("sync", shop, [shop.usage(0, gold_50=1)])
    with pytest.raises(InputError, match="now must be a timezone-aware datetime"):
        apply("sync", shop, changes, now=datetime(2026, 12, 7))
    with pytest.raises(InputError, match="lifetime must be a positive timedelta"):
        plan("sync", shop, [shop.usage(0, gold_50=1)], lifetime=timedelta(hours=-1))
    with pytest.raises(InputError, match="lifetime is too long"):
        plan("sync", shop, [shop.usage(0, gold_50=1)], lifetime=timedelta.max)
    log = tmp_path / "audit.jsonl"
    sync("sync", shop, [shop.usage(0, gold_50=1)], audit_log=log)
    with log.open("a") as handle:
        handle.write('{"run_id": "x", "time": "yesterday"}\n{"event": "outc')  # died mid-line
    [run] = runs(log)
    assert run.counts == {"applied": 1}
    assert undo_changes(log, run.run_id).operations == 1


def test_a_run_held_as_a_whole_says_so_only_while_something_is_held(kind: str) -> None:
    shop = Shop(4)
    for number in range(4):
        shop.bill(number, "gold", 5)
    usages = [shop.usage(n, gold_50=0 if n < 2 else 5) for n in range(4)]
    one = sync(kind, shop, usages, approve=[shop.companies[0][2]])
    assert (one.applied, one.held) == (1, 1)
    assert "HELD, ALL OF IT" in one.summary() and "written" not in one.held_all  # type: ignore[operator]
    rest = sync(kind, shop, usages, approve="all")
    assert rest.applied == 1 and "HELD, ALL OF IT" not in rest.summary()
