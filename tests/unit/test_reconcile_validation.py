"""Bad input is refused before any diff is produced, with a typed error naming the value."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from connectwise_billing import (
    CompanyUsage,
    ConfigurationError,
    DuplicateAgreementError,
    DuplicatePlanError,
    Guardrails,
    InputError,
    InvalidDiscountError,
    InvalidPriceError,
    InvalidSeatsError,
    MappingError,
    Plan,
    PlanMapping,
    SyncPolicy,
    UnknownPlanError,
    reconcile_agreement,
    reconcile_all,
)

D = Decimal
TODAY = date(2026, 11, 28)
GOLD = Plan("gold", "Gold 50 GB", cost=D("3.25"), price=D("8.00"))
MAPPING = PlanMapping({"gold": 102})


def check(usage: CompanyUsage, plans: list[Plan] | None = None) -> None:
    reconcile_agreement(plans or [GOLD], MAPPING, usage, [], today=TODAY)


@pytest.mark.parametrize(
    ("usage", "error", "message"),
    [
        (
            CompanyUsage(1, {"gold": -1}),
            InvalidSeatsError,
            "seats for plan 'gold' on agreement 1 must not be negative, got -1",
        ),
        (
            CompanyUsage(1, {"gold": 2.5}),  # type: ignore[dict-item]
            InvalidSeatsError,
            "must be a whole number (an int), got float 2.5",
        ),
        (
            CompanyUsage(1, {"gold": "3"}),  # type: ignore[dict-item]
            InvalidSeatsError,
            "must be a whole number (an int), got str '3'",
        ),
        (
            CompanyUsage(1, {"gold": True}),
            InvalidSeatsError,
            "must be a whole number (an int), got bool True",
        ),
        (
            CompanyUsage(1, {"silver": 1}),
            UnknownPlanError,
            "seats on agreement 1 name unknown plan 'silver'",
        ),
        (
            CompanyUsage(1, {}, custom_prices={"silver": D(1)}),
            UnknownPlanError,
            "a custom price on agreement 1 names unknown plan 'silver'",
        ),
        (
            CompanyUsage(1, {}, custom_prices={"gold": D(-1)}),
            InvalidPriceError,
            "custom price for plan 'gold' on agreement 1 must not be negative, got -1",
        ),
        (
            CompanyUsage(1, {}, custom_prices={"gold": "NaN"}),
            InvalidPriceError,
            "must be a finite number, got NaN",
        ),
        (
            CompanyUsage(1, {}, custom_prices={"gold": "free"}),
            InvalidPriceError,
            "must be a number, got 'free'",
        ),
        (
            CompanyUsage(1, {}, discount_percent=D(101)),
            InvalidDiscountError,
            "discount on agreement 1 must be between 0 and 100 percent, got 101",
        ),
        (CompanyUsage(1, {}, discount_percent=-5), InvalidDiscountError, "got -5"),
        (
            CompanyUsage(1, {}, discount_percent="Infinity"),
            InvalidDiscountError,
            "got Infinity",
        ),
        (
            CompanyUsage(1, {}, discount_percent="ten"),
            InvalidDiscountError,
            "must be a number, got 'ten'",
        ),
        (CompanyUsage(0, {}), InputError, "agreement_id must be positive, got 0"),
        (CompanyUsage("7", {}), InputError, "agreement_id must be an integer, got '7'"),  # type: ignore[arg-type]
        (
            CompanyUsage(1, {"gold": -1}, company="Contoso Ltd"),
            InvalidSeatsError,
            "on agreement 1 (Contoso Ltd)",
        ),
    ],
)
def test_usage_errors(usage: CompanyUsage, error: type[Exception], message: str) -> None:
    with pytest.raises(error) as caught:
        check(usage)
    assert message in str(caught.value)
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize(
    ("plan", "message"),
    [
        (
            Plan("gold", "Gold", cost=D(1), price=D(-8)),
            "price of plan 'gold' must not be negative, got -8",
        ),
        (
            Plan("gold", "Gold", cost=D("NaN"), price=D(8)),
            "cost of plan 'gold' must be a finite number, got NaN",
        ),
        (
            Plan("gold", "Gold", cost=D(1), price=D("Infinity")),
            "price of plan 'gold' must be a finite number",
        ),
        (
            Plan("gold", "Gold", cost=D(1), price="eight"),
            "price of plan 'gold' must be a number, got 'eight'",
        ),
        (
            Plan("gold", "Gold", cost=None, price=D(8)),
            "cost of plan 'gold' must be a number, got None",
        ),  # type: ignore[arg-type]
    ],
)
def test_plan_price_errors(plan: Plan, message: str) -> None:
    with pytest.raises(InvalidPriceError, match=message.replace("(", r"\(").replace(")", r"\)")):
        check(CompanyUsage(1, {}), [plan])


def test_duplicate_plan_ids() -> None:
    with pytest.raises(DuplicatePlanError, match="plan id 'gold' appears twice"):
        check(CompanyUsage(1, {}), [GOLD, GOLD])


def test_duplicate_agreements_across_usages() -> None:
    usages = [CompanyUsage(7, {}, company="Contoso"), CompanyUsage(7, {}, company="Fabrikam")]
    with pytest.raises(
        DuplicateAgreementError, match=r"agreement 7 is linked twice \(Contoso and Fabrikam\)"
    ):
        reconcile_all([GOLD], MAPPING, usages, {}, today=TODAY)


def test_one_bad_usage_stops_all_before_anything_is_produced() -> None:
    usages = [CompanyUsage(1, {"gold": 1}), CompanyUsage(2, {"gold": -3})]
    with pytest.raises(InvalidSeatsError, match="agreement 2"):
        reconcile_all([GOLD], MAPPING, usages, {}, today=TODAY)


@pytest.mark.parametrize(
    ("mapping", "message"),
    [
        (
            {"gold": 102, "silver": 102},
            "product 102 is mapped to both plan 'gold' and plan 'silver'",
        ),
        ({"gold": 0}, "plan 'gold' must map to a positive product id, got 0"),
        ({"gold": "102"}, "plan 'gold' must map to a positive product id, got '102'"),
        ({"": 5}, "plan ids must be non-empty strings"),
        ([("gold", 1), ("gold", 2)], "plan 'gold' is mapped to two products: 1 and 2"),
    ],
)
def test_mapping_errors(mapping: Any, message: str) -> None:
    with pytest.raises(MappingError, match=message):
        PlanMapping(mapping)


def test_mapping_reads_both_ways() -> None:
    mapping = PlanMapping([("gold", 102), ("basic", 101)])
    assert dict(mapping) == {"gold": 102, "basic": 101}
    assert (mapping.plan_for(101), mapping.plan_for(999)) == ("basic", None)
    assert mapping.product_ids == {101, 102}
    assert mapping == PlanMapping({"basic": 101, "gold": 102})
    assert mapping == {"gold": 102, "basic": 101}


def test_a_plain_dict_mapping_is_checked_too() -> None:
    with pytest.raises(MappingError):
        reconcile_agreement([GOLD], {"gold": 5, "x": 5}, CompanyUsage(1, {}), [], today=TODAY)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"on_zero": "delete"},
            "SyncPolicy.on_zero must be one of set_quantity_zero, cancel, leave; got 'delete'",
        ),
        ({"on_duplicates": "keep"}, "on_duplicates must be one of skip, merge"),
        ({"effective_date": "yesterday"}, "effective_date must be a date or one of today"),
        (
            {"bill_customer": "Sometimes"},  # deprecated, still checked
            "bill_customer must be one of Billable, DoNotBill, NoCharge",
        ),
        ({"price_decimals": 9}, "price_decimals must be 0..6, got 9"),
        ({"rounding": "ROUND_NEAREST"}, "rounding must be one of"),
        ({"manage_price": "yes"}, "manage_price must be True or False"),
    ],
)
def test_policy_errors(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        SyncPolicy(**kwargs)


def test_today_must_be_a_date() -> None:
    with pytest.raises(InputError, match="today must be a date"):
        reconcile_agreement([GOLD], MAPPING, CompanyUsage(1, {}), [], today="2026-11-28")  # type: ignore[arg-type]


def test_a_lookalike_plan_id_is_unknown_and_spelled_out_beside_the_plan_it_looks_like() -> None:
    cyrillic = "g\u043eld"  # a Cyrillic o: on screen, the same as "gold"
    with pytest.raises(UnknownPlanError) as unknown:
        check(CompanyUsage(1, {cyrillic: 3}))
    assert str(unknown.value) == (
        f"seats on agreement 1 name unknown plan {cyrillic!r} ('g\\u043eld'); did you mean 'gold'?"
    )
    with pytest.raises(UnknownPlanError) as unknown:
        check(CompanyUsage(1, {}, custom_prices={cyrillic: 5}))
    assert str(unknown.value).endswith(" ('g\\u043eld'); did you mean 'gold'?")
    with pytest.raises(MappingError) as unmapped:
        reconcile_agreement([GOLD], {cyrillic: 102}, CompanyUsage(1, {}), [], today=TODAY)
    assert str(unmapped.value).startswith(
        f"the mapping names plan {cyrillic!r} ('g\\u043eld'), which is not in the plan list "
        "(it has: 'gold')"
    )


def test_a_plan_id_in_another_unicode_form_is_the_same_plan() -> None:
    cafe, cafe_nfd = "caf\u00e9", "cafe\u0301"
    plan = Plan(cafe, "Caf\u00e9", cost=D(1), price=D(2))
    diff = reconcile_agreement(
        [plan], {cafe_nfd: 103}, CompanyUsage(1, {cafe_nfd: 3}), [], today=TODAY
    )
    assert [(op.plan_id, op.product_id) for op in diff.operations] == [(cafe, 103)]
    with pytest.raises(DuplicatePlanError, match="appears twice in the plan list"):
        check(CompanyUsage(1, {}), [plan, Plan(cafe_nfd, "Caf\u00e9", cost=D(1), price=D(3))])


@pytest.mark.parametrize(
    ("value", "why"),
    [
        (Decimal("NaN"), "it is not finite"),
        (Decimal("Infinity"), "it is not finite"),
        (Decimal("-0.0"), "it is negative"),
        (-1, "it is negative"),
        (Decimal("1e20"), "it is too large"),
        (1.5, "it is not an int or a Decimal"),
        ("50", "it is not an int or a Decimal"),
    ],
)
def test_a_guardrail_percentage_a_change_set_could_not_carry_is_refused(
    value: object, why: str
) -> None:
    with pytest.raises(ConfigurationError) as refused:
        SyncPolicy(guardrails=Guardrails(max_mrr_increase_percent=value))  # type: ignore[arg-type]
    said = str(refused.value)
    assert said.startswith("Guardrails.max_mrr_increase_percent must be a percentage")
    assert f"got {value!r}: {why}" in said


def test_a_share_over_the_limit_is_never_shown_equal_to_it() -> None:
    """+200.04% against a limit of 200 reads +200.04%, not a rounded +200.0%."""
    from connectwise_billing.reconcile._guardrails import _mrr_moves

    rule = "max_mrr_increase_percent"
    said = _mrr_moves(rule, D("100"), D("300.04"), D("200"))
    assert said is not None and "(+200.04%), more than max_mrr_increase_percent=200" in said
    assert _mrr_moves(rule, D("100"), D("300"), 200) is None
    dropped = _mrr_moves("max_mrr_drop_percent", D("100"), D("49.96"), 50)
    assert dropped is not None and "(-50.04%), more than max_mrr_drop_percent=50" in dropped
