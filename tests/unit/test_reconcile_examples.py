"""Worked examples of the reconciliation rules, every number computed by hand.

Plans (price / cost per seat and month): Basic 10 GB 4.00 / 1.50 -> product 101,
Gold 50 GB 8.00 / 3.25 -> product 102, Platinum 100 GB 12.50 / 5.00 -> product 103,
Archive 3.00 / 1.00 (not mapped). "Today" is 2026-11-28.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from connectwise_billing import (
    Addition,
    AgreementDiff,
    CancelAddition,
    CompanyUsage,
    CreateAddition,
    MappingError,
    Plan,
    PlanMapping,
    Reference,
    SyncPolicy,
    UpdateAddition,
    reconcile_agreement,
    reconcile_all,
)

D = Decimal
TODAY = date(2026, 11, 28)
PLANS = [
    Plan("basic", "Basic 10 GB", cost=D("1.50"), price=D("4.00")),
    Plan("gold", "Gold 50 GB", cost=D("3.25"), price=D("8.00")),
    Plan("platinum", "Platinum 100 GB", cost=D("5.00"), price=D("12.50")),
    Plan("archive", "Archive", cost=D("1.00"), price=D("3.00")),
]
MAPPING = PlanMapping({"basic": 101, "gold": 102, "platinum": 103})
AGREEMENT = 500


def addition(
    id: int,
    product: int,
    quantity: str,
    price: str,
    cost: str,
    *,
    cancelled: date | None = None,
    updated_by: str | None = None,
    bill_customer: str | None = "Billable",
) -> Addition:
    return Addition(
        id=id,
        agreement_id=AGREEMENT,
        product=Reference(id=product),
        quantity=D(quantity),
        unit_price=D(price),
        unit_cost=D(cost),
        cancelled_date=datetime(cancelled.year, cancelled.month, cancelled.day, tzinfo=UTC)
        if cancelled
        else None,
        updated_by=updated_by,
        bill_customer=bill_customer,
    )


def run(
    seats: dict[str, int],
    additions: list[Addition] = [],  # noqa: B006 - never mutated
    policy: SyncPolicy | None = None,
    **usage: Any,
) -> AgreementDiff:
    return reconcile_agreement(
        PLANS,
        MAPPING,
        CompanyUsage(AGREEMENT, seats, **usage),
        additions,
        policy or SyncPolicy(),
        today=TODAY,
    )


def create(
    plan: str, name: str, product: int, quantity: int, price: str, cost: str, **kw: Any
) -> CreateAddition:
    return CreateAddition(
        agreement_id=AGREEMENT,
        plan_id=plan,
        plan_name=name,
        product_id=product,
        quantity=D(quantity),
        unit_price=D(price),
        unit_cost=D(cost),
        effective_date=kw.get("effective_date", TODAY),
    )


# --- pricing --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("usage", "price", "mrr"),
    [
        ({}, "8.00", "96.00"),  # 12 x 8.00
        ({"discount_percent": D(10)}, "7.20", "86.40"),  # 8.00 x 0.90 = 7.20; 12 x 7.20
        ({"discount_percent": D("12.5")}, "7.00", "84.00"),  # 8.00 x 0.875
        ({"custom_prices": {"gold": D("7.25")}}, "7.25", "87.00"),
        # 7.25 x 0.90 = 6.525 -> 6.53 (half up); 12 x 6.53 = 78.36
        ({"custom_prices": {"gold": D("7.25")}, "discount_percent": D(10)}, "6.53", "78.36"),
        # 8.00 x 0.667 = 5.336 -> 5.34
        ({"discount_percent": D("33.3")}, "5.34", "64.08"),
        ({"discount_percent": D(100)}, "0.00", "0.00"),
        # custom price as a string, discount as an int
        ({"custom_prices": {"gold": "9.99"}, "discount_percent": 0}, "9.99", "119.88"),
    ],
)
def test_price_is_custom_or_plan_price_less_discount(
    usage: dict[str, Any], price: str, mrr: str
) -> None:
    diff = run({"gold": 12}, **usage)
    assert diff.operations == (create("gold", "Gold 50 GB", 102, 12, price, "3.25"),)
    assert (diff.mrr_before, diff.mrr_after) == (D(0), D(mrr))
    assert (diff.cost_before, diff.cost_after) == (D(0), D("39.00"))  # 12 x 3.25


def test_half_cent_rounds_up() -> None:
    # 4.99 x 0.50 = 2.495 -> 2.50 with ROUND_HALF_UP (banker's rounding would give 2.50 too:
    # so also check 4.97 x 0.50 = 2.485 -> 2.49, where ROUND_HALF_EVEN gives 2.48)
    up = run({"basic": 1}, custom_prices={"basic": D("4.97")}, discount_percent=D(50))
    assert up.creates[0].unit_price == D("2.49")
    even = run(
        {"basic": 1},
        policy=SyncPolicy(rounding="ROUND_HALF_EVEN"),
        custom_prices={"basic": D("4.97")},
        discount_percent=D(50),
    )
    assert even.creates[0].unit_price == D("2.48")


def test_price_decimals() -> None:
    # 4.00 x (1 - 0.0333) = 3.8668 -> 3.867 at three decimals
    diff = run({"basic": 2}, policy=SyncPolicy(price_decimals=3), discount_percent=D("3.33"))
    assert diff.creates[0].unit_price == D("3.867")


# --- create / update / unchanged ------------------------------------------------------------------


def test_fresh_agreement_gets_one_addition_per_plan_with_seats() -> None:
    diff = run({"basic": 3, "gold": 12, "platinum": 0})
    assert diff.operations == (
        create("basic", "Basic 10 GB", 101, 3, "4.00", "1.50"),
        create("gold", "Gold 50 GB", 102, 12, "8.00", "3.25"),
    )
    # 3 x 4.00 + 12 x 8.00 = 108.00; 3 x 1.50 + 12 x 3.25 = 43.50
    assert (diff.mrr_after, diff.cost_after) == (D("108.00"), D("43.50"))


def test_only_the_quantity_changes_when_only_seats_changed() -> None:
    diff = run({"gold": 12}, [addition(7, 102, "10", "8.00", "3.25")])
    [update] = diff.operations
    assert isinstance(update, UpdateAddition)
    assert (update.line_id, dict(update.changes)) == (7, {"quantity": (D(10), D(12))})
    assert (diff.mrr_before, diff.mrr_after) == (D("80.00"), D("96.00"))


def test_decimals_compare_by_value() -> None:
    diff = run({"gold": 12}, [addition(7, 102, "12.0", "8.0", "3.250")])
    assert diff.is_empty
    assert [u.line_id for u in diff.unchanged] == [7]
    assert diff.mrr_before == diff.mrr_after == D("96.00")


def test_price_and_cost_drift_is_corrected() -> None:
    diff = run({"gold": 12}, [addition(7, 102, "12", "7.50", "3.00")])
    [update] = diff.updates
    assert dict(update.changes) == {
        "unit_price": (D("7.50"), D("8.00")),
        "unit_cost": (D("3.00"), D("3.25")),
    }
    assert (diff.mrr_before, diff.mrr_after) == (D("90.00"), D("96.00"))
    assert (diff.cost_before, diff.cost_after) == (D("36.00"), D("39.00"))


@pytest.mark.parametrize(
    ("policy", "changes"),
    [
        (
            SyncPolicy(manage_price=False),
            {"quantity": (D(10), D(12)), "unit_cost": (D("3.00"), D("3.25"))},
        ),
        (
            SyncPolicy(manage_cost=False),
            {"quantity": (D(10), D(12)), "unit_price": (D("7.50"), D("8.00"))},
        ),
        (SyncPolicy(manage_price=False, manage_cost=False), {"quantity": (D(10), D(12))}),
    ],
)
def test_unmanaged_fields_are_left_alone(policy: SyncPolicy, changes: dict[str, Any]) -> None:
    diff = run({"gold": 12}, [addition(7, 102, "10", "7.50", "3.00")], policy)
    assert dict(diff.updates[0].changes) == changes


def test_the_deprecated_policy_bill_customer_warns_and_is_not_the_reconcilers() -> None:
    with pytest.warns(DeprecationWarning, match="ConnectWiseBackend"):
        policy = SyncPolicy(bill_customer="NoCharge")
    diff = run({"gold": 1}, policy=policy)
    assert diff.creates[0].bill_customer is None  # the backend decides, not the policy


@pytest.mark.parametrize(
    ("rule", "today", "effective"),
    [
        ("today", date(2026, 11, 28), date(2026, 11, 28)),
        ("start_of_month", date(2026, 11, 28), date(2026, 11, 1)),
        ("start_of_next_month", date(2026, 11, 28), date(2026, 12, 1)),
        ("start_of_next_month", date(2026, 12, 15), date(2027, 1, 1)),
        ("start_of_next_month", date(2028, 2, 29), date(2028, 3, 1)),
        (date(2027, 1, 1), date(2026, 11, 28), date(2027, 1, 1)),
    ],
)
def test_effective_date_of_new_additions(rule: Any, today: date, effective: date) -> None:
    diff = reconcile_agreement(
        PLANS,
        MAPPING,
        CompanyUsage(1, {"gold": 1}),
        [],
        SyncPolicy(effective_date=rule),
        today=today,
    )
    assert diff.creates[0].effective_date == effective


# --- zero seats -----------------------------------------------------------------------------


def test_zero_seats_sets_quantity_zero_by_default() -> None:
    diff = run({"gold": 0}, [addition(7, 102, "5", "8.00", "3.25")])
    assert dict(diff.updates[0].changes) == {"quantity": (D(5), D(0))}
    assert (diff.mrr_before, diff.mrr_after) == (D("40.00"), D(0))


def test_zero_seats_cancel() -> None:
    diff = run({}, [addition(7, 102, "5", "8.00", "3.25")], SyncPolicy(on_zero="cancel"))
    [cancel] = diff.operations
    assert isinstance(cancel, CancelAddition)
    assert (cancel.line_id, cancel.cancelled_date) == (7, TODAY)
    assert (diff.mrr_before, diff.mrr_after) == (D("40.00"), D(0))


def test_zero_seats_leave_warns() -> None:
    diff = run({"gold": 0}, [addition(7, 102, "5", "8.00", "3.25")], SyncPolicy(on_zero="leave"))
    assert diff.is_empty
    assert [w.kind for w in diff.warnings] == ["zero_seats_left"]
    assert diff.mrr_after == D("40.00")


def test_no_addition_and_no_seats_is_nothing() -> None:
    diff = run({"gold": 0, "basic": 0})
    assert diff.is_empty
    assert diff.unchanged == ()
    assert diff.warnings == ()


# --- active and managed ---------------------------------------------------------------------


def test_a_cancelled_addition_is_ignored_and_a_new_one_created() -> None:
    cancelled = addition(7, 102, "5", "8.00", "3.25", cancelled=date(2026, 10, 31))
    diff = run({"gold": 6}, [cancelled])
    assert diff.operations == (create("gold", "Gold 50 GB", 102, 6, "8.00", "3.25"),)
    assert diff.mrr_before == D(0)


def test_cancelled_today_is_no_longer_active() -> None:
    diff = run({"gold": 6}, [addition(7, 102, "5", "8.00", "3.25", cancelled=TODAY)])
    assert len(diff.creates) == 1


def test_an_addition_cancelled_in_the_future_is_still_active() -> None:
    later = addition(7, 102, "5", "8.00", "3.25", cancelled=date(2026, 12, 31))
    diff = run({"gold": 6}, [later])
    assert [u.line_id for u in diff.updates] == [7]


def test_unmapped_products_are_untouched_and_reported() -> None:
    backup = addition(9, 999, "4", "5.00", "2.00")
    diff = run({"gold": 1}, [backup])
    assert [op.kind for op in diff.operations] == ["create"]
    [warning] = diff.warnings
    assert (warning.kind, warning.addition_ids) == ("unmanaged_products", (9,))
    assert diff.mrr_before == D(0)  # unmanaged additions are not counted


def test_unmapped_usage_is_reported_as_unbilled_revenue() -> None:
    diff = run({"archive": 3})
    assert diff.is_empty
    [warning] = diff.warnings
    assert warning.kind == "unmapped_usage"
    assert warning.message.startswith("unmapped usage: 3 seats on plan Archive")


def test_mapping_to_a_plan_not_in_the_list_is_an_error_naming_it() -> None:
    """Often a typo: the plan meant would go unbilled."""
    mapping = PlanMapping({"gold": 102, "gold-5O": 104})
    with pytest.raises(MappingError, match="names plan 'gold-5O', which is not in the plan list"):
        reconcile_agreement(PLANS, mapping, CompanyUsage(1, {}), [], today=TODAY)


# --- duplicates -----------------------------------------------------------------------------


def duplicates() -> list[Addition]:
    return [addition(8, 102, "3", "8.00", "3.25"), addition(7, 102, "4", "8.00", "3.25")]


def test_duplicates_skip_touches_neither() -> None:
    diff = run({"gold": 12}, duplicates())
    assert diff.is_empty
    [warning] = diff.warnings
    assert (warning.kind, warning.addition_ids) == ("duplicate_additions", (7, 8))
    assert diff.mrr_before == diff.mrr_after == D("56.00")  # (4 + 3) x 8.00


def test_duplicates_merge_keeps_the_oldest_and_cancels_the_rest() -> None:
    """Cancelled, not zeroed: a zero-quantity line is still an active line of the product, and
    the next run would find the product billed by two lines again."""
    diff = run({"gold": 12}, duplicates(), SyncPolicy(on_duplicates="merge"))
    assert [(op.line_id, dict(op.changes)) for op in diff.updates] == [
        (7, {"quantity": (D(4), D(12))})
    ]
    assert [(op.line_id, op.cancelled_date) for op in diff.cancels] == [(8, TODAY)]
    assert diff.mrr_after == D("96.00")


def test_a_zero_quantity_duplicate_is_a_duplicate_too() -> None:
    """What an earlier merge left behind: two active lines, one billing nothing."""
    lines = [addition(7, 102, "10", "8.00", "3.25"), addition(8, 102, "0", "8.00", "3.25")]
    skipped = run({"gold": 12}, lines)
    assert skipped.is_empty
    assert [d.addition_ids for d in skipped.duplicates] == [(7, 8)]
    merged = run({"gold": 12}, lines, SyncPolicy(on_duplicates="merge"))
    assert [(op.kind, op.line_id) for op in merged.operations] == [
        ("update", 7),
        ("cancel", 8),
    ]


# --- manual edits ---------------------------------------------------------------------------


def test_manual_edits_are_overwritten_by_default_and_reported() -> None:
    edited = addition(7, 102, "12", "6.00", "3.25", updated_by="jsmith")
    diff = run({"gold": 12}, [edited], SyncPolicy(api_member="CloudPanelAPI"))
    assert dict(diff.updates[0].changes) == {"unit_price": (D("6.00"), D("8.00"))}
    [warning] = diff.warnings
    assert warning.kind == "manual_edit"
    assert "jsmith" in warning.message and warning.message.endswith("would overwrite unit_price")
    assert warning.after is not None and warning.after.endswith("; unit_price overwritten")


def test_manual_edits_can_be_respected() -> None:
    edited = addition(7, 102, "12", "6.00", "3.25", updated_by="jsmith")
    diff = run(
        {"gold": 12}, [edited], SyncPolicy(api_member="CloudPanelAPI", respect_manual_edits=True)
    )
    assert diff.is_empty
    assert "left as edited" in diff.warnings[0].message


def test_the_sync_s_own_writes_are_not_manual_edits() -> None:
    ours = addition(7, 102, "10", "8.00", "3.25", updated_by="cloudpanelapi")
    diff = run(
        {"gold": 12}, [ours], SyncPolicy(api_member="CloudPanelAPI", respect_manual_edits=True)
    )
    assert len(diff.updates) == 1
    assert diff.warnings == ()


# --- many agreements --------------------------------------------------------------------------


def test_reconcile_many_orders_by_agreement_and_defaults_to_no_additions() -> None:
    usages = [CompanyUsage(9, {"gold": 1}, company="B"), CompanyUsage(3, {"basic": 2}, company="A")]
    diffs = reconcile_all(
        PLANS,
        MAPPING,
        usages,
        {9: [addition(1, 102, "1", "8.00", "3.25")]},
        SyncPolicy(),
        today=TODAY,
    )
    assert [(d.agreement_id, d.company, len(d.operations)) for d in diffs] == [
        (3, "A", 1),
        (9, "B", 0),
    ]


def test_text_rendering() -> None:
    diff = run(
        {"gold": 12, "basic": 0, "archive": 2},
        [addition(7, 101, "5", "4.00", "1.50"), addition(8, 103, "1", "12.50", "5.00")],
        company="Contoso Ltd",
        discount_percent=D(10),
    )
    assert diff.to_text() == "\n".join(
        [
            "Agreement 500 - Contoso Ltd",
            "  action  plan                          quantity          unit price           unit cost",
            "  update  Basic 10 GB                     5 -> 0        4.00 -> 3.60                1.50",
            "  create  Gold 50 GB                          12                7.20                3.25",
            "  update  Platinum 100 GB                 1 -> 0      12.50 -> 11.25                5.00",
            "  ! unmapped usage: 2 seats on plan Archive not billed (map it to a product in the PSA)",
            "  MRR 32.50 -> 86.40 (+53.90)   cost 12.50 -> 39.00",
        ]
    )


def test_json_rendering_uses_exact_strings() -> None:
    data = run({"gold": 12}, discount_percent=D(10)).to_dict()
    assert data["operations"][0] == {
        "agreement_id": 500,
        "plan_id": "gold",
        "plan_name": "Gold 50 GB",
        "product_id": 102,
        "quantity": "12",
        "unit_price": "7.20",
        "unit_cost": "3.25",
        "effective_date": "2026-11-28",
        "kind": "create",
        "bill_customer": None,
    }
    assert (data["mrr_before"], data["mrr_after"], data["mrr_change"]) == ("0", "86.40", "86.40")


def test_a_manual_edit_is_reported_even_when_cancelled_anyway() -> None:
    edited = addition(7, 102, "5", "8.00", "3.25", updated_by="jsmith")
    policy = SyncPolicy(on_zero="cancel", api_member="CloudPanelAPI")
    diff = run({}, [edited], policy)
    assert [op.kind for op in diff.operations] == ["cancel"]
    [warning] = diff.warnings
    assert warning.message.endswith(
        "last changed by jsmith, not by the sync; would cancel it anyway"
    )
    assert warning.after is not None and warning.after.endswith("; cancelled anyway")
    held = run(
        {},
        [edited],
        SyncPolicy(on_zero="cancel", api_member="CloudPanelAPI", respect_manual_edits=True),
    )
    assert held.is_empty
    assert held.warnings[0].message.endswith("not cancelled")


def test_lines_of_unmapped_products_count_in_the_mrr_only_when_they_bill() -> None:
    diff = run(
        {"gold": 1},
        [
            addition(7, 102, "1", "8.00", "3.25"),
            addition(8, 900, "2", "10.00", "1.00"),  # a product the sync leaves alone
            addition(9, 901, "1000", "100.00", "1.00", bill_customer="DoNotBill"),
            addition(10, 902, "5", "20.00", "1.00", bill_customer="NoCharge"),
        ],
    )
    assert diff.mrr_unmanaged == D("20.00")
