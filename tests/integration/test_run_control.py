"""What stops a run, what it checks first, and how its report reads."""

from __future__ import annotations

import threading
from datetime import date
from decimal import Decimal

import attrs
import httpx
import pytest

from connectwise_billing import (
    APIConnectionError,
    AuthenticationError,
    CompanyUsage,
    ConnectWiseClient,
    Credentials,
    MappingError,
    PermissionDeniedError,
    PlanMapping,
    SyncPolicy,
    sync_all,
)
from connectwise_billing.errors import SmallDiscountWarning
from connectwise_billing.runner._run import CIRCUIT_BREAKER
from connectwise_billing.testing import ExampleMSP, Fault
from tests.integration.conftest import API_URL, Syncer
from tests.integration.oracle import unreachable

TODAY = date(2026, 11, 28)


def test_refused_credentials_stop_the_run_after_one_request(
    quick_syncer: Syncer, example: ExampleMSP
) -> None:
    wrong = Credentials(example.fake.company_id, example.credentials.public_key, "nope", "x")
    wrong_example = attrs.evolve(example, credentials=wrong)
    with pytest.raises(AuthenticationError):
        quick_syncer.sync_all(wrong_example, example.usages, today=TODAY)
    assert len(example.fake.request_log) == 1


def test_refused_credentials_mid_run_stop_it_too(example: ExampleMSP) -> None:
    """Keys revoked while a run goes on: every other request would be refused as well."""
    first = next(u for u in example.usages if u.agreement_id not in unreachable(example))
    example.fake.faults.add(
        Fault.server_error(401), method="GET", path=f"/{first.agreement_id}/additions$"
    )
    with (
        ConnectWiseClient(
            API_URL, example.credentials, transport=example.fake.transport()
        ) as client,
        pytest.raises(AuthenticationError),
    ):
        sync_all(client, example.plans, example.mapping, example.usages, today=TODAY)
    assert example.fake.count_requests("GET", "/additions") == 1


def test_a_403_on_the_first_request_stops_the_run(example: ExampleMSP) -> None:
    example.fake.faults.add(Fault.server_error(403), method="GET", times=None)
    with (
        ConnectWiseClient(
            API_URL, example.credentials, transport=example.fake.transport()
        ) as client,
        pytest.raises(PermissionDeniedError),
    ):
        sync_all(client, example.plans, example.mapping, example.usages, today=TODAY)
    assert len(example.fake.request_log) == 1


def test_an_unreachable_connectwise_stops_the_run_after_two_attempts(example: ExampleMSP) -> None:
    attempts: list[httpx.Request] = []

    def refuse(request: httpx.Request) -> httpx.Response:
        attempts.append(request)
        raise httpx.ConnectError("connection refused", request=request)

    with (
        ConnectWiseClient(
            API_URL, example.credentials, transport=httpx.MockTransport(refuse)
        ) as client,
        pytest.raises(APIConnectionError),
    ):
        sync_all(client, example.plans, example.mapping, example.usages, today=TODAY)
    assert len(attempts) == 2


def test_the_circuit_breaker_stops_a_run_failing_the_same_way(example: ExampleMSP) -> None:
    example.fake.faults.add(Fault.server_error(503), method="GET", path="/additions$", times=None)
    with ConnectWiseClient(
        API_URL, example.credentials, transport=example.fake.transport()
    ) as client:
        report = sync_all(client, example.plans, example.mapping, example.usages, today=TODAY)
    assert report.stopped is not None
    assert report.stopped.startswith(f"{CIRCUIT_BREAKER} agreements in a row failed the same way")
    assert "ConnectWise answered 503" in report.stopped
    statuses = [r.status for r in report.agreement_reports]
    assert statuses.count("stopped") > 30
    assert not report.ok
    read = example.fake.count_requests("GET", "/additions")
    assert read <= CIRCUIT_BREAKER * 5  # five agreements, each read with its retries
    assert "STOPPED: 5 agreements in a row failed the same way" in report.summary()


def test_a_stop_event_ends_the_run_after_the_agreement_in_flight(example: ExampleMSP) -> None:
    stop = threading.Event()
    seen: list[int] = []

    def progress(done: int, total: int, failures: int) -> None:
        seen.append(done)
        stop.set()

    with ConnectWiseClient(
        API_URL, example.credentials, transport=example.fake.transport()
    ) as client:
        report = sync_all(
            client,
            example.plans,
            example.mapping,
            example.usages,
            today=TODAY,
            stop=stop,
            progress=progress,
        )
    assert seen == [1]
    assert report.stopped == "the run was asked to stop"
    statuses = [r.status for r in report.agreement_reports]
    assert statuses.count("stopped") == len(example.usages) - 1
    assert example.fake.writes() == []  # asked to stop while planning: nothing written


def test_mapped_products_are_checked_before_anything_is_written(example: ExampleMSP) -> None:
    mapping = PlanMapping({**example.mapping, "gold-50": 999_999})
    with (
        ConnectWiseClient(
            API_URL, example.credentials, transport=example.fake.transport()
        ) as client,
        pytest.raises(MappingError, match="plan 'gold-50' is mapped to product 999999"),
    ):
        sync_all(client, example.plans, mapping, example.usages, today=TODAY)
    assert [e.api_path for e in example.fake.request_log] == ["/procurement/catalog"]


def test_additions_of_a_product_mapped_before_are_reported_still_billed(
    quick_syncer: Syncer, example: ExampleMSP
) -> None:
    policy = SyncPolicy(api_member="CloudPanelAPI")
    quick_syncer.sync_all(example, example.usages, policy, today=TODAY)
    old_gold = example.mapping["gold-50"]
    new_gold = example.fake.add_product("MBX-GOLD-50-V2", price="8.00", cost="3.25")
    remapped = attrs.evolve(example, mapping=PlanMapping({**example.mapping, "gold-50": new_gold}))
    report = quick_syncer.sync_all(remapped, example.usages, policy, today=TODAY, dry_run=True)
    still = [w for w in report.warnings if "previously mapped, still billed" in w]
    assert still and all(f"of product {old_gold} (the sync wrote it)" in w for w in still)
    billed = sum(
        (a.quantity or 0) * (a.unit_price or 0)
        for a in example.fake.list_additions()
        if a.product and a.product.id in (old_gold, 1004) and a.cancelled_date is None
    )  # the old Gold additions, and the example's unmapped backup product
    assert report.mrr_unmanaged == billed


def test_a_small_discount_is_a_warning_in_python(example: ExampleMSP) -> None:
    usage = CompanyUsage(example.usages[0].agreement_id, {"gold-50": 3}, {}, Decimal("0.1"))
    with (
        ConnectWiseClient(
            API_URL, example.credentials, transport=example.fake.transport()
        ) as client,
        pytest.warns(SmallDiscountWarning, match="if 10% was meant, write 10"),
    ):
        sync_all(client, example.plans, example.mapping, [usage], today=TODAY, dry_run=True)


def test_the_summary_says_what_would_change_and_render_shows_each_change(
    quick_syncer: Syncer, example: ExampleMSP
) -> None:
    preview = quick_syncer.sync_all(example, example.usages, today=TODAY, dry_run=True)
    creates = preview.count("create", "planned")
    updates = preview.count("update", "planned")
    assert f"would create {creates} and update {updates} additions on" in preview.summary()
    rendered = preview.render()
    assert rendered == str(preview)
    changing = [r for r in preview.agreement_reports if r.diff and r.diff.operations]
    for agreement in changing:
        assert f"Agreement {agreement.agreement_id}" in rendered
    applied = quick_syncer.sync_all(example, example.usages, today=TODAY)
    assert f"created {creates} and updated {updates} additions on" in applied.summary()


def test_the_summary_lists_the_first_warnings_and_counts_the_rest(example: ExampleMSP) -> None:
    unmapped = next(plan.id for plan in example.plans if plan.id not in example.mapping)
    usages = [
        usage._replace(seats={**usage.seats, unmapped: 2})
        for usage in example.usages
        if usage.agreement_id not in unreachable(example)
    ][:7]
    with ConnectWiseClient(API_URL, example.credentials, transport=example.fake.transport()) as c:
        report = sync_all(c, example.plans, example.mapping, usages, today=TODAY, dry_run=True)
    warned = [
        (agreement, warning)
        for agreement in report.agreement_reports
        for warning in agreement.warnings
    ]
    assert len(warned) >= 7
    summary = report.summary()
    shown = [line.strip() for line in summary.splitlines() if line.strip().startswith("warning ")]
    assert len(shown) == 5
    for line, (agreement, warning) in zip(shown, warned, strict=False):
        assert str(agreement.agreement_id) in line and str(warning)[:30] in line
    assert f"... and {len(warned) - 5} more warnings" in summary
