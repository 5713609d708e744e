"""`sync_company` and `sync_all`, and their async twins: read, reconcile, apply, report.

Per agreement: look the agreement up (batched for many: `id in (...)`), skip it if it is
cancelled, expired or inactive, take its lock, read its additions in one paged read trimmed with
`fields=`, check the answer, reconcile, apply, let the lock go. One agreement failing never stops
the others. Everything between the requests is shared by the twins (`_Run` and the flows); they
differ only in how they wait.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Final
from urllib.parse import quote

import attrs
import httpx

from connectwise_billing._constants import LOGGER_NAME
from connectwise_billing.client.accounting import count_requests
from connectwise_billing.client.models import Addition, Agreement
from connectwise_billing.errors import (
    ConnectWiseBillingError,
    InputError,
    NotFoundError,
    PermissionDeniedError,
)
from connectwise_billing.locks import InProcessLock, Lock
from connectwise_billing.reconcile import CompanyUsage, Plan, PlanMapping, Reconciler, SyncPolicy
from connectwise_billing.sync._flow import (
    Flow,
    GetAgreement,
    ListAdditions,
    ListAgreements,
    perform,
    run,
    run_async,
)
from connectwise_billing.sync.apply import ApplySettings, apply_flow
from connectwise_billing.sync.audit import AuditLog
from connectwise_billing.sync.reports import AgreementReport, CompanyReport, SyncReport

if TYPE_CHECKING:
    from connectwise_billing.client import AsyncConnectWiseClient, ConnectWiseClient

logger = logging.getLogger(LOGGER_NAME)

AGREEMENT_FIELDS: Final = (
    "id",
    "name",
    "company/id",
    "company/name",
    "agreementStatus",
    "cancelledFlag",
    "endDate",
    "noEndingDateFlag",
)
MAX_CONDITION_CHARS: Final = 1500
"""Longest URL-encoded `id in (...)` condition: keeps request URLs under ~2,000 characters."""
NOT_FOUND: Final = (
    "agreement not found: it was deleted or replaced in ConnectWise; link the new one"
)
NO_ACCESS: Final = (
    "the API member has no access to this company: give its security role access, "
    "or unlink the agreement"
)

Progress = Callable[[int, int, int], None]
"""Called after each agreement with (agreements done, agreements in total, failures so far)."""


def id_chunks(ids: Sequence[int], max_chars: int = MAX_CONDITION_CHARS) -> list[list[int]]:
    """Split ids into groups whose URL-encoded `id in (...)` condition fits `max_chars`."""
    chunks: list[list[int]] = []
    current: list[int] = []
    length = len(quote("id in ()"))
    for agreement_id in ids:
        extra = len(quote(f",{agreement_id}"))
        if current and length + extra > max_chars:
            chunks.append(current)
            current, length = [], len(quote("id in ()"))
        current.append(agreement_id)
        length += extra
    if current:
        chunks.append(current)
    return chunks


def agreement_problem(agreement: Agreement, today: date) -> str | None:
    """Why an agreement must not be written to, or `None`."""
    status = agreement.agreement_status
    if agreement.cancelled_flag or status == "Cancelled":
        return "the agreement is cancelled in ConnectWise; nothing written"
    if status in ("Expired", "Inactive"):
        return f"the agreement is {status.lower()} in ConnectWise; nothing written"
    ended = agreement.end_date
    if ended is not None and not agreement.no_ending_date_flag and ended.date() < today:
        return f"the agreement ended on {ended.date().isoformat()}; nothing written"
    return None


def additions_problem(additions: Sequence[Addition]) -> str | None:
    """Why a read of an agreement's additions cannot be trusted to decide on, or `None`.

    Acting on such an answer costs money: an addition without its product would look unmanaged
    and be created again; one listed twice would look like a duplicate of itself.
    """
    seen: set[int] = set()
    for addition in additions:
        if addition.id in seen:
            return f"ConnectWise listed addition {addition.id} twice in one read; nothing written"
        seen.add(addition.id)
        if addition.product is None or addition.product.id is None:
            return f"addition {addition.id} came without its product id; nothing written"
    return None


def lookup_flow(agreement_ids: Sequence[int]) -> Flow[dict[int, Agreement | str]]:
    """Read agreements in batches; read the ones a batch did not return one by one, to tell a
    deleted agreement (404) from one the API member cannot see (403)."""
    found: dict[int, Agreement] = {}
    for chunk in id_chunks(agreement_ids):
        try:
            batch = yield from perform(ListAgreements(chunk, AGREEMENT_FIELDS))
        except ConnectWiseBillingError as error:
            logger.warning("batched agreement read failed, reading one by one: %s", error)
            continue
        found.update((agreement.id, agreement) for agreement in batch if agreement.id in chunk)
    outcome: dict[int, Agreement | str] = {}
    for agreement_id in agreement_ids:
        if agreement_id in found:
            outcome[agreement_id] = found[agreement_id]
            continue
        try:
            outcome[agreement_id] = yield from perform(GetAgreement(agreement_id, AGREEMENT_FIELDS))
        except NotFoundError:
            outcome[agreement_id] = NOT_FOUND
        except PermissionDeniedError:
            outcome[agreement_id] = NO_ACCESS
        except ConnectWiseBillingError as error:
            outcome[agreement_id] = f"could not read the agreement: {error}"
    return outcome


def agreement_flow(
    reconciler: Reconciler,
    usage: CompanyUsage,
    agreement: Agreement | str,
    settings: ApplySettings,
) -> Flow[AgreementReport]:
    """Read one agreement's additions, reconcile them and apply the diff."""
    report = AgreementReport(usage.agreement_id, usage.company, "error")
    if isinstance(agreement, str):
        return attrs.evolve(report, error=agreement)
    problem = agreement_problem(agreement, reconciler.today)
    if problem:
        return attrs.evolve(report, status="skipped", warnings=(problem,))
    try:
        additions = yield from perform(ListAdditions(usage.agreement_id))
    except NotFoundError:
        return attrs.evolve(report, error=NOT_FOUND)
    except PermissionDeniedError:
        return attrs.evolve(report, error=NO_ACCESS)
    except ConnectWiseBillingError as error:
        return attrs.evolve(report, error=f"could not read the additions: {error}")
    problem = additions_problem(additions)
    if problem:
        return attrs.evolve(report, error=problem)
    diff = reconciler.agreement(usage, additions)
    known = frozenset(addition.id for addition in additions)
    results = yield from apply_flow(diff, attrs.evolve(settings, known_ids=known))
    return AgreementReport(
        usage.agreement_id,
        usage.company,
        "planned" if settings.dry_run else "synced",
        diff=diff,
        results=tuple(results),
        warnings=tuple(warning.message for warning in diff.warnings),
    )


def lock_key(client: ConnectWiseClient | AsyncConnectWiseClient, agreement_id: int) -> str:
    """The lock of one agreement: the ConnectWise site, the company id and the agreement id."""
    site = httpx.URL(client.base_url).host.lower()
    company = client.credentials.company_id.lower()
    return f"connectwise-billing/{site}/{company}/agreement/{agreement_id}"


def _log(report: AgreementReport) -> None:
    name = f"agreement {report.agreement_id}" + (f" ({report.company})" if report.company else "")
    if report.error:
        logger.error("%s: %s", name, report.error)
        return
    for warning in report.warnings:
        logger.warning("%s: %s", name, warning)
    for result in report.results:
        op = result.operation
        if result.ok:
            logger.info("%s: %s %s %s", name, result.status, op.kind, op.plan_id)
        else:
            logger.error("%s: %s %s %s: %s", name, result.status, op.kind, op.plan_id, result.error)
    if not report.results and report.status != "skipped":
        logger.info("%s: in step, nothing to change", name)


class _Run:
    """One sync run: everything but the waiting."""

    def __init__(
        self,
        client: ConnectWiseClient | AsyncConnectWiseClient,
        plans: Iterable[Plan],
        mapping: PlanMapping | Mapping[str, int],
        usages: Iterable[CompanyUsage],
        policy: SyncPolicy | None,
        *,
        dry_run: bool,
        today: date | None,
        audit_log: str | Path | None,
        lock: Lock | None,
        progress: Progress | None = None,
    ) -> None:
        self.started_at = datetime.now(UTC)
        self.started = time.perf_counter()
        self.reconciler = Reconciler(plans, mapping, policy, today=today or self.started_at.date())
        self.usages = self.reconciler.check(usages)  # every usage valid before any request
        self.dry_run = dry_run
        self.client = client
        self.lock: Lock = lock if lock is not None else InProcessLock()
        self.settings = ApplySettings(
            retry=client.retry,
            dry_run=dry_run,
            verify_before_write=self.reconciler.policy.verify_before_write,
            audit=(
                AuditLog(audit_log, run_id=uuid.uuid4().hex, dry_run=dry_run) if audit_log else None
            ),
        )
        self.progress = progress
        self.reports: dict[int, AgreementReport] = {}

    @property
    def agreement_ids(self) -> list[int]:
        return [usage.agreement_id for usage in self.usages]

    def flow(
        self, usage: CompanyUsage, agreements: Mapping[int, Agreement | str]
    ) -> Flow[AgreementReport]:
        settings = attrs.evolve(self.settings, company=usage.company)
        return agreement_flow(self.reconciler, usage, agreements[usage.agreement_id], settings)

    def lock_key(
        self, usage: CompanyUsage, agreements: Mapping[int, Agreement | str]
    ) -> str | None:
        """The agreement's lock key, or `None` when the run will not write to it (a dry run, an
        agreement that could not be looked up or must not be written to)."""
        agreement = agreements[usage.agreement_id]
        if self.dry_run or isinstance(agreement, str):
            return None
        if agreement_problem(agreement, self.reconciler.today):
            return None
        return lock_key(self.client, usage.agreement_id)

    def busy(self, usage: CompanyUsage) -> AgreementReport:
        return AgreementReport(
            usage.agreement_id,
            usage.company,
            "busy",
            error=(
                "another sync is working on this agreement and kept it past the lock's wait; "
                "not synced (the next sync will)"
            ),
        )

    def record(self, report: AgreementReport, api_calls: int) -> None:
        report = attrs.evolve(report, api_calls=api_calls)
        self.reports[report.agreement_id] = report
        _log(report)
        if self.progress is not None:
            failures = sum(1 for r in self.reports.values() if not r.ok)
            self.progress(len(self.reports), len(self.usages), failures)

    def companies(self, *, as_one: bool = False) -> list[CompanyReport]:
        grouped: dict[str, list[AgreementReport]] = {}
        first = self.usages[0] if self.usages else None
        for usage in self.usages:
            owner = first if as_one and first is not None else usage
            name = owner.company or f"agreement {owner.agreement_id}"
            grouped.setdefault(name, []).append(self.reports[usage.agreement_id])
        return [
            CompanyReport(
                company=name,
                agreements=tuple(reports),
                dry_run=self.dry_run,
                api_calls=sum(report.api_calls for report in reports),
            )
            for name, reports in grouped.items()
        ]

    def report(self, api_calls: int, *, one_company: bool = False) -> SyncReport:
        return SyncReport(
            companies=tuple(self.companies(as_one=one_company)),
            started_at=self.started_at,
            dry_run=self.dry_run,
            api_calls=api_calls,
            duration=time.perf_counter() - self.started,
        )


def _as_company(report: SyncReport) -> CompanyReport:
    [company] = report.companies
    return attrs.evolve(company, api_calls=report.api_calls, duration=report.duration)


def _usages(usage: CompanyUsage | Sequence[CompanyUsage]) -> list[CompanyUsage]:
    return [usage] if isinstance(usage, CompanyUsage) else list(usage)


def sync_all(
    client: ConnectWiseClient,
    plans: Iterable[Plan],
    mapping: PlanMapping | Mapping[str, int],
    usages: Iterable[CompanyUsage],
    policy: SyncPolicy | None = None,
    *,
    dry_run: bool = False,
    today: date | None = None,
    audit_log: str | Path | None = None,
    progress: Progress | None = None,
    lock: Lock | None = None,
) -> SyncReport:
    """Sync every linked agreement, one after the other.

    Args:
        client: The ConnectWise client.
        plans: Every plan the control panel sells.
        mapping: Plan id -> ConnectWise product id.
        usages: One per linked agreement.
        policy: The [`SyncPolicy`][connectwise_billing.SyncPolicy]; default `SyncPolicy()`.
        dry_run: Read and reconcile, but send no write (and take no lock).
        today: The day the sync runs; defaults to today's UTC date.
        audit_log: Append one JSON line per settled write to this file.
        progress: Called after each agreement with (done, total, failures).
        lock: Keeps other runs off an agreement while this one syncs it (see
            `connectwise_billing.locks`); default `InProcessLock()`. An agreement whose lock
            is not had within the lock's wait is reported `"busy"`.

    Raises:
        InputError: invalid input, before any request is sent.
    """
    state = _Run(
        client, plans, mapping, usages, policy,
        dry_run=dry_run, today=today, audit_log=audit_log, lock=lock, progress=progress,
    )  # fmt: skip
    return _sync(client, state)


def _sync_one(
    client: ConnectWiseClient,
    state: _Run,
    usage: CompanyUsage,
    agreements: Mapping[int, Agreement | str],
) -> AgreementReport:
    key = state.lock_key(usage, agreements)
    if key is None:
        return run(client, state.flow(usage, agreements))
    token = state.lock.acquire(key)
    if token is None:
        return state.busy(usage)
    try:
        return run(client, state.flow(usage, agreements))
    finally:
        state.lock.release(key, token)


def _sync(client: ConnectWiseClient, state: _Run, *, one_company: bool = False) -> SyncReport:
    with count_requests() as total:
        agreements = run(client, lookup_flow(state.agreement_ids))
        for usage in state.usages:
            with count_requests() as calls:
                report = _sync_one(client, state, usage, agreements)
            state.record(report, calls.count)
    return state.report(total.count, one_company=one_company)


def sync_company(
    client: ConnectWiseClient,
    plans: Iterable[Plan],
    mapping: PlanMapping | Mapping[str, int],
    usage: CompanyUsage | Sequence[CompanyUsage],
    policy: SyncPolicy | None = None,
    *,
    dry_run: bool = False,
    today: date | None = None,
    audit_log: str | Path | None = None,
    lock: Lock | None = None,
) -> CompanyReport:
    """Sync one company's agreement (or agreements): the "Update Now" button.

    `usage` is the company's usage, or its usages when it is linked to several agreements.
    Otherwise as [`sync_all`][connectwise_billing.sync_all].
    """
    state = _Run(
        client, plans, mapping, _usages(usage), policy,
        dry_run=dry_run, today=today, audit_log=audit_log, lock=lock,
    )  # fmt: skip
    return _as_company(_sync(client, state, one_company=True))


async def async_sync_all(
    client: AsyncConnectWiseClient,
    plans: Iterable[Plan],
    mapping: PlanMapping | Mapping[str, int],
    usages: Iterable[CompanyUsage],
    policy: SyncPolicy | None = None,
    *,
    dry_run: bool = False,
    today: date | None = None,
    audit_log: str | Path | None = None,
    progress: Progress | None = None,
    concurrency: int = 8,
    lock: Lock | None = None,
) -> SyncReport:
    """Sync every linked agreement, up to `concurrency` at a time, under the client's rate
    limiter. Otherwise as [`sync_all`][connectwise_billing.sync_all]."""
    state = _Run(
        client, plans, mapping, usages, policy,
        dry_run=dry_run, today=today, audit_log=audit_log, lock=lock, progress=progress,
    )  # fmt: skip
    return await _async_sync(client, state, concurrency=concurrency)


async def _async_sync_one(
    client: AsyncConnectWiseClient,
    state: _Run,
    usage: CompanyUsage,
    agreements: Mapping[int, Agreement | str],
) -> AgreementReport:
    key = state.lock_key(usage, agreements)
    if key is None:
        return await run_async(client, state.flow(usage, agreements))
    token = await state.lock.acquire_async(key)
    if token is None:
        return state.busy(usage)
    try:
        return await run_async(client, state.flow(usage, agreements))
    finally:
        await state.lock.release_async(key, token)


async def _async_sync(
    client: AsyncConnectWiseClient, state: _Run, *, concurrency: int, one_company: bool = False
) -> SyncReport:
    import asyncio

    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        raise InputError(f"concurrency must be a positive integer, got {concurrency!r}")
    slots = asyncio.Semaphore(concurrency)
    with count_requests() as total:
        agreements = await run_async(client, lookup_flow(state.agreement_ids))

        async def one(usage: CompanyUsage) -> None:
            async with slots:
                with count_requests() as calls:
                    report = await _async_sync_one(client, state, usage, agreements)
                state.record(report, calls.count)

        await asyncio.gather(*(one(usage) for usage in state.usages))
    return state.report(total.count, one_company=one_company)


async def async_sync_company(
    client: AsyncConnectWiseClient,
    plans: Iterable[Plan],
    mapping: PlanMapping | Mapping[str, int],
    usage: CompanyUsage | Sequence[CompanyUsage],
    policy: SyncPolicy | None = None,
    *,
    dry_run: bool = False,
    today: date | None = None,
    audit_log: str | Path | None = None,
    lock: Lock | None = None,
) -> CompanyReport:
    """The async twin of [`sync_company`][connectwise_billing.sync_company]."""
    state = _Run(
        client, plans, mapping, _usages(usage), policy,
        dry_run=dry_run, today=today, audit_log=audit_log, lock=lock,
    )  # fmt: skip
    return _as_company(await _async_sync(client, state, concurrency=2, one_company=True))
