"""Properties of reconciliation that must hold for any input (hypothesis)."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import attrs
from hypothesis import given, settings, strategies as st

from connectwise_billing import (
    Addition,
    AgreementDiff,
    CancelAddition,
    CompanyUsage,
    CreateAddition,
    Plan,
    PlanMapping,
    Reference,
    SyncPolicy,
    UpdateAddition,
    reconcile_agreement,
)
from connectwise_billing.reconcile import Reconciler, discounted_price

TODAY = date(2026, 11, 28)
MAPPED = {"basic": 101, "gold": 102, "platinum": 103}
RETIRED = {"gold": 902}
UNMAPPED_PRODUCTS = (900, 901, 902)
AGREEMENT = 42

money = st.decimals(min_value=0, max_value=500, places=2, allow_nan=False, allow_infinity=False)
plans_strategy = st.builds(
    lambda prices: [
        Plan(plan_id, plan_id.title(), cost=cost, price=price)
        for plan_id, (cost, price) in zip(
            ["basic", "gold", "platinum", "archive"], prices, strict=True
        )
    ],
    st.lists(st.tuples(money, money), min_size=4, max_size=4),
)
usage_strategy = st.builds(
    CompanyUsage,
    st.just(AGREEMENT),
    st.dictionaries(st.sampled_from(["basic", "gold", "platinum", "archive"]), st.integers(0, 60)),
    custom_prices=st.dictionaries(
        st.sampled_from(["basic", "gold", "platinum"]), money, max_size=2
    ),
    discount_percent=st.decimals(min_value=0, max_value=100, places=2),
    company=st.none(),
    company_id=st.none(),
)
cancelled_strategy = st.sampled_from(
    [None, None, None, TODAY - timedelta(days=30), TODAY, TODAY + timedelta(days=10)]
)


@st.composite
def additions_strategy(draw: st.DrawFn) -> list[Addition]:
    products = draw(st.lists(st.sampled_from([*MAPPED.values(), *UNMAPPED_PRODUCTS]), max_size=7))
    additions = []
    for number, product in enumerate(products, start=1):
        cancelled = draw(cancelled_strategy)
        additions.append(
            Addition(
                id=number * 10,
                agreement_id=AGREEMENT,
                product=Reference(id=product),
                quantity=Decimal(draw(st.integers(0, 60))),
                unit_price=draw(money),
                unit_cost=draw(money),
                cancelled_date=None
                if cancelled is None
                else datetime.combine(cancelled, datetime.min.time(), UTC),
                updated_by=draw(st.sampled_from(["CloudPanelAPI", "jsmith", None])),
                bill_customer=draw(
                    st.sampled_from(["Billable", "Billable", "DoNotBill", "NoCharge", None])
                ),
            )
        )
    return additions


policy_strategy = st.builds(
    SyncPolicy,
    price_decimals=st.just(2),
    rounding=st.just("ROUND_HALF_UP"),
    effective_date=st.just("today"),
    bill_customer=st.none(),
    verify_before_write=st.booleans(),
    manage_price=st.booleans(),
    manage_cost=st.booleans(),
    on_zero=st.sampled_from(["set_quantity_zero", "cancel", "leave"]),
    on_duplicates=st.sampled_from(["skip", "merge"]),
    respect_manual_edits=st.booleans(),
    api_member=st.sampled_from([None, "CloudPanelAPI"]),
    on_non_billing=st.sampled_from(["report", "create_billable"]),
    on_retired=st.sampled_from(["report", "zero"]),
    guardrails=st.none(),  # the rules of reconciliation alone; guardrails have their own tests
)
owning_policy_strategy = st.builds(
    SyncPolicy,
    price_decimals=st.just(2),
    rounding=st.just("ROUND_HALF_UP"),
    effective_date=st.just("today"),
    bill_customer=st.none(),
    verify_before_write=st.booleans(),
    respect_manual_edits=st.just(False),
    manage_price=st.booleans(),
    manage_cost=st.booleans(),
    on_zero=st.sampled_from(["set_quantity_zero", "cancel"]),
    on_duplicates=st.just("merge"),
    api_member=st.sampled_from([None, "CloudPanelAPI"]),
    on_non_billing=st.just("create_billable"),
    on_retired=st.just("zero"),
    guardrails=st.none(),
)
"""Policies under which a sync owns every managed line: applying its diff bills right."""


def apply(additions: list[Addition], diff: AgreementDiff) -> list[Addition]:
    """What ConnectWise holds once every operation of `diff` succeeded."""
    state = {a.id: a for a in additions}
    for number, op in enumerate(diff.operations, start=1):
        if isinstance(op, CreateAddition):
            state[10_000 + number] = Addition(
                id=10_000 + number,
                product=Reference(id=op.product_id),
                quantity=op.quantity,
                unit_price=op.unit_price,
                unit_cost=op.unit_cost,
                updated_by="CloudPanelAPI",
                bill_customer="Billable",
            )
        elif isinstance(op, UpdateAddition):
            old = state[op.line_id]
            fields = {field: new for field, (_old, new) in op.changes.items()}
            state[op.line_id] = Addition(
                **{**_fields(old), **fields, "updated_by": "CloudPanelAPI"}
            )
        else:
            old = state[op.line_id]
            cancelled = datetime.combine(op.cancelled_date, datetime.min.time(), UTC)
            state[op.line_id] = Addition(**{**_fields(old), "cancelled_date": cancelled})
    return list(state.values())


def _fields(addition: Addition) -> dict[str, Any]:
    return attrs.asdict(addition, recurse=False)


def run(
    plans: list[Plan], usage: CompanyUsage, additions: list[Addition], policy: SyncPolicy
) -> AgreementDiff:
    mapping = PlanMapping(MAPPED, retired=RETIRED)
    return reconcile_agreement(plans, mapping, usage, additions, policy, today=TODAY)


def reconciler(plans: list[Plan], policy: SyncPolicy) -> Reconciler:
    return Reconciler(plans, PlanMapping(MAPPED, retired=RETIRED), policy, today=TODAY)


def is_active(addition: Addition) -> bool:
    return addition.cancelled_date is None or addition.cancelled_date.date() > TODAY


@settings(max_examples=300, deadline=None)
@given(plans_strategy, usage_strategy, additions_strategy(), policy_strategy)
def test_applying_a_diff_then_reconciling_again_gives_an_empty_diff(
    plans: list[Plan], usage: CompanyUsage, additions: list[Addition], policy: SyncPolicy
) -> None:
    diff = run(plans, usage, additions, policy)
    again = run(plans, usage, apply(additions, diff), policy)
    assert again.operations == ()
    assert again.mrr_before == diff.mrr_after
    assert again.cost_before == diff.cost_after


@settings(max_examples=300, deadline=None)
@given(plans_strategy, usage_strategy, additions_strategy(), policy_strategy)
def test_never_touches_unmapped_products_non_billing_or_inactive_additions(
    plans: list[Plan], usage: CompanyUsage, additions: list[Addition], policy: SyncPolicy
) -> None:
    by_id = {a.id: a for a in additions}
    owned = {*MAPPED.values(), *(RETIRED.values() if policy.on_retired == "zero" else ())}
    for op in run(plans, usage, additions, policy).operations:
        if isinstance(op, UpdateAddition | CancelAddition):
            touched = by_id[op.line_id]
            assert touched.product is not None and touched.product.id in owned
            assert touched.bill_customer in ("Billable", None)
            assert is_active(touched)


@settings(max_examples=200, deadline=None)
@given(plans_strategy, usage_strategy, policy_strategy)
def test_when_nothing_changed_nothing_is_emitted(
    plans: list[Plan], usage: CompanyUsage, policy: SyncPolicy
) -> None:
    by_id = {plan.id: plan for plan in plans}
    in_step = []
    for plan_id, product in MAPPED.items():
        seats = usage.seats.get(plan_id, 0)
        if seats == 0:
            continue
        base = usage.custom_prices.get(plan_id, by_id[plan_id].price)
        in_step.append(
            Addition(
                id=product,
                product=Reference(id=product),
                quantity=Decimal(seats),
                unit_price=discounted_price(base, usage.discount_percent),
                unit_cost=by_id[plan_id].cost,
            )
        )
    diff = run(plans, usage, in_step, policy)
    assert diff.operations == ()
    assert diff.mrr_before == diff.mrr_after


@settings(max_examples=300, deadline=None)
@given(plans_strategy, usage_strategy, additions_strategy())
def test_mrr_after_is_what_the_rules_predict(
    plans: list[Plan], usage: CompanyUsage, additions: list[Addition]
) -> None:
    # Every managed addition is then owned: duplicates, retired and non-billing lines too.
    policy = SyncPolicy(on_duplicates="merge", on_retired="zero", on_non_billing="create_billable")
    by_id = {plan.id: plan for plan in plans}
    expected_mrr = expected_cost = Decimal(0)
    for plan_id in MAPPED:
        seats = usage.seats.get(plan_id, 0)
        base = usage.custom_prices.get(plan_id, by_id[plan_id].price)
        expected_mrr += seats * discounted_price(base, usage.discount_percent)
        expected_cost += seats * by_id[plan_id].cost
    diff = run(plans, usage, additions, policy)
    assert diff.mrr_after == expected_mrr
    assert diff.cost_after == expected_cost


@settings(max_examples=200, deadline=None)
@given(plans_strategy, usage_strategy, additions_strategy(), policy_strategy, st.randoms())
def test_the_result_does_not_depend_on_input_order(
    plans: list[Plan],
    usage: CompanyUsage,
    additions: list[Addition],
    policy: SyncPolicy,
    rng: random.Random,
) -> None:
    shuffled_plans = rng.sample(plans, len(plans))
    shuffled_additions = rng.sample(additions, len(additions))
    mapping = PlanMapping(rng.sample(list(MAPPED.items()), len(MAPPED)), retired=RETIRED)
    seats = dict(rng.sample(list(usage.seats.items()), len(usage.seats)))
    shuffled_usage = CompanyUsage(
        AGREEMENT, seats, usage.custom_prices, usage.discount_percent, usage.company
    )
    first = run(plans, usage, additions, policy)
    second = reconcile_agreement(
        shuffled_plans, mapping, shuffled_usage, shuffled_additions, policy, today=TODAY
    )
    assert first.to_dict() == second.to_dict()
    assert first.to_text() == second.to_text()


@settings(max_examples=300, deadline=None)
@given(plans_strategy, usage_strategy, additions_strategy(), owning_policy_strategy)
def test_a_sync_that_owns_every_line_bills_right_once_applied(
    plans: list[Plan], usage: CompanyUsage, additions: list[Addition], policy: SyncPolicy
) -> None:
    """The post-condition `ok` stands for: with a policy that owns every managed line, the
    lines once the diff is applied bill exactly what the usage says, and what they bill is
    the diff's MRR after."""
    diff = run(plans, usage, additions, policy)
    after = apply(additions, diff)
    check = reconciler(plans, policy).billing(usage, after)
    assert check.problems == ()
    assert (check.mrr, check.cost) == (diff.mrr_after, diff.cost_after)


@settings(max_examples=300, deadline=None)
@given(plans_strategy, usage_strategy, additions_strategy(), policy_strategy)
def test_a_dry_run_checks_the_billing_the_sync_would_leave(
    plans: list[Plan], usage: CompanyUsage, additions: list[Addition], policy: SyncPolicy
) -> None:
    """A dry run's check (the lines as read, with the plan) says what the real run's check
    (the lines read back) will say, problem for problem, whatever the policy."""
    diff = run(plans, usage, additions, policy)
    checker = reconciler(plans, policy)
    planned = checker.billing(usage, additions, diff.operations)
    real = checker.billing(usage, apply(additions, diff))
    assert [(p.kind, p.plan_id, p.product_id) for p in planned.problems] == [
        (p.kind, p.plan_id, p.product_id) for p in real.problems
    ]
    assert (planned.mrr, planned.cost) == (real.mrr, real.cost) == (diff.mrr_after, diff.cost_after)
