"""`sync_company` and `sync_all`, and their async twins: check, read, reconcile, apply, report.

A run writes through a billing backend: the one it is given, or a `ConnectWiseBackend` around
the ConnectWise client it is given. It first checks the mapping against the catalog (every
mapped product exists, is active and can be read), then asks for the agreements' state, and
then, per agreement, takes its lock, reads its lines, reconciles and applies (see `flows`). One
agreement failing never stops the others; what stops a run is told in `RunGuard` (the PSA
refusing the credentials, or unreachable from the start), the circuit breaker (agreements in a
row failing the same way), or the caller's `stop` event. Everything between the steps is shared
by the twins (`_Run` and the flows); they differ only in how they wait.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Final

import attrs

from connectwise_billing.accounting import count_requests
from connectwise_billing.backend import AgreementState
from connectwise_billing.defaults import LOGGER_NAME
from connectwise_billing.errors import InputError
from connectwise_billing.locks import InProcessLock, Lock
from connectwise_billing.reconcile import CompanyUsage, Plan, PlanMapping, Reconciler, SyncPolicy
from connectwise_billing.sync.apply import ApplySettings
from connectwise_billing.sync.audit import AuditLog
from connectwise_billing.sync.backends import async_backend_for, backend_for
from connectwise_billing.sync.flows import agreement_flow, preflight_flow
from connectwise_billing.sync.reports import AgreementReport, CompanyReport, SyncReport
from connectwise_billing.sync.steps import (
    DescribeAgreements,
    RunGuard,
    SyncFlow,
    arun,
    perform,
    run,
)

if TYPE_CHECKING:
    from connectwise_billing.backend import AsyncBillingBackend, BillingBackend
    from connectwise_billing.client import AsyncConnectWiseClient, ConnectWiseClient

logger = logging.getLogger(LOGGER_NAME)

CIRCUIT_BREAKER: Final = 5
"""A run stops after this many agreements in a row failed the same way (the PSA unreachable, or
answering 5xx): the rest would only fail too, and slowly."""

Progress = Callable[[int, int, int], None]
"""Called after each agreement with (agreements done, agreements in total, failures so far)."""


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
        backend: BillingBackend | AsyncBillingBackend,
        plans: Iterable[Plan],
        mapping: PlanMapping | Mapping[str, int],
        usages: Iterable[CompanyUsage],
        policy: SyncPolicy | None,
        *,
        dry_run: bool,
        today: date | None,
        audit_log: str | Path | None,
        lock: Lock | None,
        stop: threading.Event | None,
        progress: Progress | None = None,
    ) -> None:
        self.started_at = datetime.now(UTC)
        self.started = time.perf_counter()
        self.reconciler = Reconciler(plans, mapping, policy, today=today or self.started_at.date())
        self.usages = self.reconciler.check(usages)  # every usage valid before any request
        self.dry_run = dry_run
        self.backend = backend
        self.lock: Lock = lock if lock is not None else InProcessLock()
        self.stop = stop
        self.guard = RunGuard()
        self.settings = ApplySettings(
            retry=backend.retry,
            dry_run=dry_run,
            verify_before_write=self.reconciler.policy.verify_before_write,
            today=self.reconciler.today,
            audit=(
                AuditLog(audit_log, run_id=uuid.uuid4().hex, dry_run=dry_run) if audit_log else None
            ),
        )
        self.progress = progress
        self.reports: dict[int, AgreementReport] = {}
        self.stopped: str | None = None
        self._failing: tuple[str | None, int] = (None, 0)

    @property
    def agreement_ids(self) -> list[int]:
        return [usage.agreement_id for usage in self.usages]

    def preflight(self) -> SyncFlow[None]:
        return preflight_flow(self.reconciler.mapping, self.backend.name)

    def lookup(self) -> SyncFlow[Mapping[int, AgreementState]]:
        if not self.usages:
            return {}
        step = DescribeAgreements(self.agreement_ids, self.reconciler.today)
        return (yield from perform(step))

    def flow(
        self, usage: CompanyUsage, states: Mapping[int, AgreementState]
    ) -> SyncFlow[AgreementReport]:
        settings = attrs.evolve(self.settings, company=usage.company)
        state = states.get(usage.agreement_id) or AgreementState(
            usage.agreement_id, "unavailable", f"{self.backend.name} did not describe it"
        )
        return agreement_flow(self.reconciler, usage, state, settings, self.backend.name)

    def lock_key(self, usage: CompanyUsage, states: Mapping[int, AgreementState]) -> str | None:
        """The agreement's lock key, or `None` when the run will not write to it (a dry run, an
        agreement that is closed or could not be looked up)."""
        state = states.get(usage.agreement_id)
        if self.dry_run or state is None or state.status != "open":
            return None
        return self.backend.lock_key(usage.agreement_id)

    def should_stop(self) -> bool:
        """Whether the run stops before the next agreement (its breaker or its `stop` event)."""
        if self.stopped is None and self.stop is not None and self.stop.is_set():
            self.stopped = "the run was asked to stop"
        return self.stopped is not None

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
        kind, count = self._failing
        count = count + 1 if report.failure is not None and report.failure == kind else 1
        self._failing = (report.failure, count if report.failure else 0)
        if report.failure is not None and count >= CIRCUIT_BREAKER and self.stopped is None:
            self.stopped = (
                f"{count} agreements in a row failed the same way ({report.failure}); "
                "the run stopped"
            )
            logger.error("%s", self.stopped)
        if self.progress is not None:
            failures = sum(1 for r in self.reports.values() if not r.ok)
            self.progress(len(self.reports), len(self.usages), failures)

    def companies(self, *, as_one: bool = False) -> list[CompanyReport]:
        grouped: dict[str, list[AgreementReport]] = {}
        first = self.usages[0] if self.usages else None
        for usage in self.usages:
            owner = first if as_one and first is not None else usage
            name = owner.company or f"agreement {owner.agreement_id}"
            report = self.reports.get(usage.agreement_id) or AgreementReport(
                usage.agreement_id,
                usage.company,
                "stopped",
                error=f"not synced: {self.stopped or 'the run was stopped'}",
            )
            grouped.setdefault(name, []).append(report)
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
            stopped=self.stopped,
        )


def _as_company(report: SyncReport) -> CompanyReport:
    [company] = report.companies
    return attrs.evolve(
        company, api_calls=report.api_calls, duration=report.duration, stopped=report.stopped
    )


def _usages(usage: CompanyUsage | Sequence[CompanyUsage]) -> list[CompanyUsage]:
    return [usage] if isinstance(usage, CompanyUsage) else list(usage)


def sync_all(
    client: ConnectWiseClient | BillingBackend,
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
    stop: threading.Event | None = None,
) -> SyncReport:
    """Sync every linked agreement, one after the other.

    Args:
        client: The ConnectWise client (wrapped in a
            [`ConnectWiseBackend`][connectwise_billing.ConnectWiseBackend]), or any
            [`BillingBackend`][connectwise_billing.backend.BillingBackend].
        plans: Every plan the control panel sells.
        mapping: Plan id -> product id.
        usages: One per linked agreement.
        policy: The [`SyncPolicy`][connectwise_billing.SyncPolicy]; default `SyncPolicy()`.
        dry_run: Read and reconcile, but send no write (and take no lock).
        today: The day the sync runs; defaults to today's UTC date.
        audit_log: Append one JSON line per settled write to this file.
        progress: Called after each agreement with (done, total, failures).
        lock: Keeps other runs off an agreement while this one syncs it (see
            `connectwise_billing.locks`); default `InProcessLock()`. An agreement whose lock
            is not had within the lock's wait is reported `"busy"`.
        stop: Set it (from a signal handler, another thread) to stop the run after the
            agreement in flight; the rest are reported `"stopped"`.

    Returns:
        The report. A run stopped early (by `stop`, or by the circuit breaker after
        `CIRCUIT_BREAKER` agreements in a row failed the same way) says why in `stopped`.

    Raises:
        InputError: invalid input, before any request is sent.
        MappingError: a mapped product is missing from the catalog, inactive, or not readable
            by the integration; raised before anything is written.
        AuthenticationError: the PSA refused the credentials (the run stops at once).
        PermissionDeniedError: the integration may not read the catalog or agreements at all
            (a 403 before anything succeeded).
        APIConnectionError: the PSA could not be reached before anything succeeded.
    """
    backend = backend_for(client, policy)
    state = _Run(
        backend, plans, mapping, usages, policy,
        dry_run=dry_run, today=today, audit_log=audit_log, lock=lock, stop=stop, progress=progress,
    )  # fmt: skip
    return _sync(backend, state)


def _sync_one(
    backend: BillingBackend,
    state: _Run,
    usage: CompanyUsage,
    states: Mapping[int, AgreementState],
) -> AgreementReport:
    key = state.lock_key(usage, states)
    if key is None:
        return run(backend, state.flow(usage, states), state.guard)
    token = state.lock.acquire(key)
    if token is None:
        return state.busy(usage)
    try:
        return run(backend, state.flow(usage, states), state.guard)
    finally:
        state.lock.release(key, token)


def _sync(backend: BillingBackend, state: _Run, *, one_company: bool = False) -> SyncReport:
    with count_requests() as total:
        run(backend, state.preflight(), state.guard)
        states = run(backend, state.lookup(), state.guard)
        for usage in state.usages:
            if state.should_stop():
                break
            with count_requests() as calls:
                report = _sync_one(backend, state, usage, states)
            state.record(report, calls.count)
    return state.report(total.count, one_company=one_company)


def sync_company(
    client: ConnectWiseClient | BillingBackend,
    plans: Iterable[Plan],
    mapping: PlanMapping | Mapping[str, int],
    usage: CompanyUsage | Sequence[CompanyUsage],
    policy: SyncPolicy | None = None,
    *,
    dry_run: bool = False,
    today: date | None = None,
    audit_log: str | Path | None = None,
    lock: Lock | None = None,
    stop: threading.Event | None = None,
) -> CompanyReport:
    """Sync one company's agreement (or agreements): the "Update Now" button.

    `usage` is the company's usage, or its usages when it is linked to several agreements.
    Otherwise as [`sync_all`][connectwise_billing.sync_all], errors included.
    """
    backend = backend_for(client, policy)
    state = _Run(
        backend, plans, mapping, _usages(usage), policy,
        dry_run=dry_run, today=today, audit_log=audit_log, lock=lock, stop=stop,
    )  # fmt: skip
    return _as_company(_sync(backend, state, one_company=True))


async def async_sync_all(
    client: AsyncConnectWiseClient | AsyncBillingBackend,
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
    stop: threading.Event | None = None,
) -> SyncReport:
    """Sync every linked agreement, up to `concurrency` at a time (under the client's rate
    limiter, for ConnectWise). `concurrency` workers take agreements one after another: memory
    stays flat however many agreements there are. Otherwise as
    [`sync_all`][connectwise_billing.sync_all]."""
    backend = async_backend_for(client, policy)
    state = _Run(
        backend, plans, mapping, usages, policy,
        dry_run=dry_run, today=today, audit_log=audit_log, lock=lock, stop=stop, progress=progress,
    )  # fmt: skip
    return await _async_sync(backend, state, concurrency=concurrency)


async def _async_sync_one(
    backend: AsyncBillingBackend,
    state: _Run,
    usage: CompanyUsage,
    states: Mapping[int, AgreementState],
) -> AgreementReport:
    key = state.lock_key(usage, states)
    if key is None:
        return await arun(backend, state.flow(usage, states), state.guard)
    token = await state.lock.acquire_async(key)
    if token is None:
        return state.busy(usage)
    try:
        return await arun(backend, state.flow(usage, states), state.guard)
    finally:
        await state.lock.release_async(key, token)


async def _async_sync(
    backend: AsyncBillingBackend, state: _Run, *, concurrency: int, one_company: bool = False
) -> SyncReport:
    import asyncio

    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        raise InputError(f"concurrency must be a positive integer, got {concurrency!r}")
    with count_requests() as total:
        await arun(backend, state.preflight(), state.guard)
        states = await arun(backend, state.lookup(), state.guard)
        queue = iter(state.usages)

        async def worker() -> None:
            # Workers pull the next agreement when they are free: `concurrency` tasks in all,
            # not one per agreement.
            for usage in queue:
                if state.should_stop():
                    return
                with count_requests() as calls:
                    report = await _async_sync_one(backend, state, usage, states)
                state.record(report, calls.count)

        workers = [
            asyncio.create_task(worker()) for _ in range(min(concurrency, len(state.usages)))
        ]
        try:
            await asyncio.gather(*workers)
        finally:
            for task in workers:
                task.cancel()
    return state.report(total.count, one_company=one_company)


async def async_sync_company(
    client: AsyncConnectWiseClient | AsyncBillingBackend,
    plans: Iterable[Plan],
    mapping: PlanMapping | Mapping[str, int],
    usage: CompanyUsage | Sequence[CompanyUsage],
    policy: SyncPolicy | None = None,
    *,
    dry_run: bool = False,
    today: date | None = None,
    audit_log: str | Path | None = None,
    lock: Lock | None = None,
    stop: threading.Event | None = None,
    concurrency: int = 2,
) -> CompanyReport:
    """The async twin of [`sync_company`][connectwise_billing.sync_company]; a company's
    agreements are synced up to `concurrency` at a time."""
    backend = async_backend_for(client, policy)
    state = _Run(
        backend, plans, mapping, _usages(usage), policy,
        dry_run=dry_run, today=today, audit_log=audit_log, lock=lock, stop=stop,
    )  # fmt: skip
    return _as_company(await _async_sync(backend, state, concurrency=concurrency, one_company=True))
