"""Which backend the sync functions write through, and the ConnectWise backend's own options."""

from __future__ import annotations

import asyncio
from datetime import date
from decimal import Decimal

import attrs
import pytest

from connectwise_billing import (
    AsyncConnectWiseBackend,
    AsyncConnectWiseClient,
    CompanyUsage,
    ConfigurationError,
    ConnectWiseBackend,
    ConnectWiseClient,
    InputError,
    Plan,
    SyncPolicy,
    async_sync_all,
    sync_all,
)
from connectwise_billing.locks import lock_key
from connectwise_billing.testing import ExampleMSP, VirtualClock
from tests.integration.conftest import API_URL, Syncer
from tests.integration.ledger import AsyncLedgerBackend, Ledger, LedgerBackend

TODAY = date(2026, 11, 28)


def created(example: ExampleMSP, before: set[int]) -> set[str | None]:
    """The billCustomer of every addition made since `before` (the ids there were)."""
    return {a.bill_customer for a in example.fake.list_additions() if a.id not in before}


def ids(example: ExampleMSP) -> set[int]:
    return {a.id for a in example.fake.list_additions()}


def backend(syncer: Syncer, client: object, **options: str) -> object:
    kind = ConnectWiseBackend if syncer.kind == "sync" else AsyncConnectWiseBackend
    return kind(client, **options)  # type: ignore[arg-type]


def test_new_additions_bill_the_customer_by_default(syncer: Syncer, example: ExampleMSP) -> None:
    before = ids(example)
    report = syncer.sync_all(example, example.usages, today=TODAY)
    assert report.applied and created(example, before) == {"Billable"}


def test_the_connectwise_backend_sets_bill_customer(syncer: Syncer, example: ExampleMSP) -> None:
    fn = sync_all if syncer.kind == "sync" else async_sync_all
    before = ids(example)
    with syncer.connect(example) as call:
        report = call(
            lambda c: fn(
                backend(syncer, c, bill_customer="NoCharge"),
                example.plans,
                example.mapping,
                example.usages,
                today=TODAY,
            )
        )
    assert report.applied and created(example, before) == {"NoCharge"}


def test_the_deprecated_policy_setting_still_reaches_connectwise(
    quick_syncer: Syncer, example: ExampleMSP
) -> None:
    with pytest.warns(DeprecationWarning, match=r"ConnectWiseBackend\(client, bill_customer"):
        policy = SyncPolicy(bill_customer="DoNotBill")
    before = ids(example)
    report = quick_syncer.sync_all(example, example.usages, policy, today=TODAY)
    assert report.applied and created(example, before) == {"DoNotBill"}


def test_a_policy_bill_customer_with_a_backend_is_refused_before_anything_is_sent(
    example: ExampleMSP,
) -> None:
    with pytest.warns(DeprecationWarning, match="deprecated"):
        policy = SyncPolicy(bill_customer="DoNotBill")
    transport = example.fake.transport()
    with (
        ConnectWiseClient(API_URL, example.credentials, transport=transport) as c,
        pytest.raises(ConfigurationError, match="set bill_customer on the ConnectWiseBackend"),
    ):
        sync_all(ConnectWiseBackend(c), example.plans, example.mapping, example.usages, policy)
    assert example.fake.request_log == []


def test_bill_customer_is_checked(example: ExampleMSP) -> None:
    with (
        ConnectWiseClient(API_URL, example.credentials) as client,
        pytest.raises(ConfigurationError, match="bill_customer must be one of Billable"),
    ):
        ConnectWiseBackend(client, bill_customer="Maybe")


def test_a_client_or_backend_of_the_wrong_kind_is_named(example: ExampleMSP) -> None:
    arguments = (example.plans, example.mapping, example.usages)
    async_client = AsyncConnectWiseClient(API_URL, example.credentials)
    with pytest.raises(InputError, match="AsyncConnectWiseClient needs the async_ function"):
        sync_all(async_client, *arguments)  # type: ignore[arg-type]
    with pytest.raises(InputError, match="AsyncLedgerBackend is an async backend"):
        sync_all(AsyncLedgerBackend(Ledger(VirtualClock())), *arguments)  # type: ignore[arg-type]
    with pytest.raises(
        InputError, match="expected a ConnectWiseClient or a BillingBackend, got dict"
    ):
        sync_all({}, *arguments)  # type: ignore[arg-type]


def test_the_async_functions_name_a_wrong_kind_too(example: ExampleMSP) -> None:
    arguments = (example.plans, example.mapping, example.usages)

    def refused(target: object) -> str:
        with pytest.raises(InputError) as raised:
            asyncio.run(async_sync_all(target, *arguments))  # type: ignore[arg-type]
        return str(raised.value)

    with ConnectWiseClient(API_URL, example.credentials) as client:
        assert "a ConnectWiseClient needs the sync function (not async_)" in refused(client)
    assert "LedgerBackend is a sync backend" in refused(LedgerBackend(Ledger(VirtualClock())))
    assert "expected an AsyncConnectWiseClient or an AsyncBillingBackend, got dict" in refused({})


def test_the_lock_key_names_the_tenant_and_the_agreement_not_the_url(
    example: ExampleMSP,
) -> None:
    """Every spelling of the host, the site or the base URL meets on one lock: the key names
    ConnectWise's login company (case-folded), not the address."""
    credentials = example.credentials
    spellings = [
        "https://api-na.myconnectwise.net/v2025_1/apis/3.0",
        "https://na.myconnectwise.net/v2025_1/apis/3.0",
        "https://API-NA.myconnectwise.net./v4_6_release/apis/3.0/",
    ]
    keys = set()
    for url in spellings:
        for company in ("fakemsp", " FakeMSP "):
            shouted = attrs.evolve(credentials, company_id=company)
            with ConnectWiseClient(url, shouted) as client:
                keys.add(lock_key(ConnectWiseBackend(client).scope, 1042))
    assert keys == {"connectwise-billing/connectwise/fakemsp/agreement/1042"}


def test_the_ledger_backend_runs_the_whole_sync(clock: object) -> None:
    """A second PSA, through nothing but the backend protocol: a full sync, then nothing to do."""
    ledger = Ledger(clock)  # type: ignore[arg-type]
    plans = [Plan("gold", "Gold 50 GB", cost=Decimal("3.25"), price=Decimal("8.00"))]
    mapping = {"gold": ledger.add_product("8.00", "3.25")}
    agreement = ledger.add_agreement()
    stale = ledger.add_line(agreement, mapping["gold"], 2)
    usages = [CompanyUsage(agreement, {"gold": 7}, company="Contoso Ltd")]
    report = sync_all(LedgerBackend(ledger), plans, mapping, usages, today=TODAY)
    assert report.ok and report.applied == 1
    assert ledger.lines[stale].quantity == 7
    again = sync_all(LedgerBackend(ledger), plans, mapping, usages, today=TODAY)
    assert again.ok and again.applied == 0 and again.api_calls == 3  # catalog, state, lines
