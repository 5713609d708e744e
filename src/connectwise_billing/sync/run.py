"""`sync_company` and `sync_all`, and their async twins: check, read, reconcile, apply, report.

A run writes through a billing backend: the one it is given, or a `ConnectWiseBackend` around
the ConnectWise client it is given. It first checks the mapping against the catalog (every
mapped product exists, is active and can be read), then asks for the agreements' state, and
then, per agreement, takes its lock, reads its lines, reconciles and applies (see `flows`). One
agreement failing never stops the others; what stops a run is told in `RunGuard` (the PSA
refusing the credentials, or unreachable from the start), the circuit breaker (agreements in a
row failing the same way), or the caller's `stop` event. Everything between the steps is shared
by the twins (`RunState` and the flows); they differ only in how they wait.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import attrs

from connectwise_billing.accounting import count_requests
from connectwise_billing.backend import AgreementState
from connectwise_billing.errors import InputError
from connectwise_billing.locks import Lease, Lock
from connectwise_billing.reconcile import CompanyUsage, Plan, PlanMapping, SyncPolicy
from connectwise_billing.sync._state import CIRCUIT_BREAKER, Progress, RunState
from connectwise_billing.sync.backends import async_backend_for, backend_for
from connectwise_billing.sync.reports import AgreementReport, CompanyReport, SyncReport
from connectwise_billing.sync.steps import (
    arun,
    run,
)

if TYPE_CHECKING:
    from connectwise_billing.backend import AsyncBillingBackend, BillingBackend
    from connectwise_billing.client import AsyncConnectWiseClient, ConnectWiseClient

__all__ = [
    "CIRCUIT_BREAKER",
    "Progress",
    "async_sync_all",
    "async_sync_company",
    "sync_all",
    "sync_company",
]


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
    state = RunState(
        backend, plans, mapping, usages, policy,
        dry_run=dry_run, today=today, audit_log=audit_log, lock=lock, stop=stop, progress=progress,
    )  # fmt: skip
    return _sync(backend, state)


def _sync_one(
    backend: BillingBackend,
    state: RunState,
    usage: CompanyUsage,
    states: Mapping[int, AgreementState],
) -> AgreementReport:
    key = state.lock_key(usage, states)
    if key is None:
        return run(backend, state.flow(usage, states, None), state.guard)
    token = state.lock.acquire(key)
    if token is None:
        return state.busy(usage)
    with Lease(state.lock, key, token) as lease:
        return run(backend, state.flow(usage, states, lease), state.guard)


def _sync(backend: BillingBackend, state: RunState, *, one_company: bool = False) -> SyncReport:
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
    state = RunState(
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
    state = RunState(
        backend, plans, mapping, usages, policy,
        dry_run=dry_run, today=today, audit_log=audit_log, lock=lock, stop=stop, progress=progress,
    )  # fmt: skip
    return await _async_sync(backend, state, concurrency=concurrency)


async def _async_sync_one(
    backend: AsyncBillingBackend,
    state: RunState,
    usage: CompanyUsage,
    states: Mapping[int, AgreementState],
) -> AgreementReport:
    key = state.lock_key(usage, states)
    if key is None:
        return await arun(backend, state.flow(usage, states, None), state.guard)
    token = await state.lock.acquire_async(key)
    if token is None:
        return state.busy(usage)
    async with Lease(state.lock, key, token) as lease:
        return await arun(backend, state.flow(usage, states, lease), state.guard)


async def _async_sync(
    backend: AsyncBillingBackend, state: RunState, *, concurrency: int, one_company: bool = False
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
    state = RunState(
        backend, plans, mapping, _usages(usage), policy,
        dry_run=dry_run, today=today, audit_log=audit_log, lock=lock, stop=stop,
    )  # fmt: skip
    return _as_company(await _async_sync(backend, state, concurrency=concurrency, one_company=True))
