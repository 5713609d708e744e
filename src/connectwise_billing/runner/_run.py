"""`sync_company` and `sync_all`, and their async twins: check, plan, guard, write, report.

A run writes through a billing backend: the one it is given, or a `ConnectWiseBackend` around
the ConnectWise client it is given. It first checks the mapping against the catalog (every
mapped product exists, is active and can be read) and asks for the agreements' state. Then it
plans every agreement (reads its lines, reconciles, applies the guardrails), and, unless a
guardrail over the whole run holds it, writes each agreement that has something to write: under
its lock, after reading it again (see `flows`). One agreement failing never stops the others;
what stops a run is told in `RunGuard` (the PSA refusing the credentials, or unreachable from
the start), the circuit breaker (agreements in a row failing the same way), or the caller's
`stop` event. Everything between the steps is shared by the twins (`RunState` and the flows);
they differ only in how they wait.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import attrs

from connectwise_billing._accounting import count_requests, throttle_budget
from connectwise_billing._flow import arun, run
from connectwise_billing.errors import InputError, LockError
from connectwise_billing.locks import Lease, Lock, lock_key
from connectwise_billing.reconcile import CompanyUsage, Plan, PlanMapping, SyncPolicy
from connectwise_billing.runner._backends import async_backend_for, backend_for
from connectwise_billing.runner._flows import Planned
from connectwise_billing.runner._reports import AgreementReport, CompanyReport, SyncReport
from connectwise_billing.runner._state import CIRCUIT_BREAKER, Approval, Progress, RunState

if TYPE_CHECKING:
    from connectwise_billing.backend import AsyncBillingBackend, BillingBackend
    from connectwise_billing.client import AsyncConnectWiseClient, ConnectWiseClient

__all__ = [
    "CIRCUIT_BREAKER",
    "Approval",
    "Progress",
    "async_sync_all",
    "async_sync_company",
    "sync_all",
    "sync_company",
]

T = TypeVar("T")
"""What a pool of workers works on."""


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
    approve: Approval = (),
) -> SyncReport:
    """Sync every linked agreement, one after the other.

    Args:
        client: The ConnectWise client (wrapped in a
            [`ConnectWiseBackend`][connectwise_billing.ConnectWiseBackend]), or any
            [`BillingBackend`][connectwise_billing.backend.BillingBackend].
        plans: Every plan the control panel sells.
        mapping: Plan id -> product id.
        usages: One per linked agreement.
        policy: The [`SyncPolicy`][connectwise_billing.SyncPolicy]; default `SyncPolicy()`,
            whose guardrails hold suspicious changes.
        dry_run: Read and reconcile, but send no write (and take no lock).
        today: The day the sync runs; defaults to today's UTC date.
        audit_log: Append one JSON line per settled write to this file.
        progress: Called after each agreement with (done, total, failures).
        lock: Keeps other runs off an agreement while this one writes it (see
            `connectwise_billing.locks`); default `InProcessLock()`. An agreement whose lock
            is not had within the lock's wait is reported `"busy"`.
        stop: Set it (from a signal handler, another thread) to stop the run after the
            agreement in flight; the rest are reported `"stopped"`.
        approve: Agreement ids whose operations a guardrail holds that a person approved (they
            are written), or `"all"`. By default held operations are reported `"held"` and not
            written.

    Returns:
        The report. A run stopped early (by `stop`, or by the circuit breaker after
        `CIRCUIT_BREAKER` agreements in a row failed the same way) says why in `stopped`; a
        run a guardrail held as a whole (`max_zeroed_percent`) says why in `held`.

    Raises:
        InputError: invalid input, before any request is sent.
        MappingError: a mapped product is missing from the catalog, inactive, or not readable
            by the integration; raised before anything is written.
        CredentialsRefusedError: the PSA refused the credentials (the run stops at once;
            ConnectWise's `AuthenticationError`).
        AccessDeniedError: the integration may not read the catalog or agreements at all
            (before anything succeeded; ConnectWise's `PermissionDeniedError`).
        PSAUnreachableError: the PSA could not be reached before anything succeeded
            (ConnectWise's `APIConnectionError`).
    """
    backend = backend_for(client, policy)
    state = RunState.for_usages(
        backend, plans, mapping, usages, policy,
        today=today, dry_run=dry_run, audit_log=audit_log, lock=lock, stop=stop,
        progress=progress, approve=approve,
    )  # fmt: skip
    return sync_run(backend, state)


def _write_one(backend: BillingBackend, state: RunState, planned: Planned) -> AgreementReport:
    key = state.lock_key(planned)
    if key is None:
        return run(backend, state.write(planned, None), state.guard)
    try:
        token = state.lock.acquire(key)
    except LockError as error:
        return state.lock_failed(planned.usage, error)
    if token is None:
        return state.busy(planned.usage)
    lease = Lease(state.lock, key, token)
    with lease:
        report = run(backend, state.write(planned, lease), state.guard)
    return state.let_go(report, lease)


def _settle_one(backend: BillingBackend, state: RunState, agreement_id: int, intents: Any) -> None:
    key = lock_key(backend.scope, agreement_id)
    try:
        token = state.lock.acquire(key)
    except LockError:
        token = None  # the next run settles them
    if token is None:  # or a live run holds the agreement: its intents may be in flight
        state.intents_unsettled += len(intents)
        return
    with Lease(state.lock, key, token):
        run(backend, state.settle(agreement_id, intents), state.guard)


def sync_run(
    backend: BillingBackend, state: RunState, *, one_company: bool = False, plan: bool = True
) -> SyncReport:
    """Run `state` with a sync backend: check, settle what an earlier run left in flight,
    plan each agreement (unless `plan` is false: the plans are given), guard the run, write,
    report. An exception that ends the run carries the report so far (`error.report`)."""
    with count_requests() as total, throttle_budget(state.throttle_budget) as meter:
        state.meter = meter
        try:
            state.open_audit()
            if plan:
                run(backend, state.preflight(), state.guard)
            run(backend, state.lookup(), state.guard)
            for agreement_id, intents in state.unsettled():
                if state.should_stop():
                    state.intents_unsettled += len(intents)
                    continue
                _settle_one(backend, state, agreement_id, intents)
            if not plan:
                state.drop_closed()
            if plan:
                for usage in state.usages:
                    if state.should_stop():
                        break
                    with count_requests() as calls:
                        outcome = run(backend, state.plan(usage), state.guard)
                    state.add(outcome, calls.count)
                state.hold_run()
            for planned in state.to_write():
                if state.should_stop():
                    break
                with count_requests() as calls:
                    report = _write_one(backend, state, planned)
                state.record(report, calls.count)
        except BaseException as error:
            state.interrupted(error)
            keep_report(error, state.report(total.count, one_company=one_company))
            raise
    return state.report(total.count, one_company=one_company)


def keep_report(error: BaseException, report: SyncReport) -> None:
    """Attach the report of what a run did to the exception that ends it (`error.report`), so
    that nothing it wrote is lost with it."""
    if getattr(error, "report", None) is None:
        with contextlib.suppress(AttributeError):
            error.report = report  # type: ignore[attr-defined]


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
    approve: Approval = (),
) -> CompanyReport:
    """Sync one company's agreement (or agreements): the "Update Now" button.

    `usage` is the company's usage, or its usages when it is linked to several agreements.
    Otherwise as [`sync_all`][connectwise_billing.sync_all], errors included.
    """
    backend = backend_for(client, policy)
    state = RunState.for_usages(
        backend, plans, mapping, _usages(usage), policy,
        today=today, dry_run=dry_run, audit_log=audit_log, lock=lock, stop=stop, approve=approve,
    )  # fmt: skip
    return _as_company(sync_run(backend, state, one_company=True))


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
    approve: Approval = (),
) -> SyncReport:
    """Sync every linked agreement, up to `concurrency` at a time (under the client's rate
    limiter, for ConnectWise). `concurrency` workers take agreements one after another: memory
    stays flat however many agreements there are. Otherwise as
    [`sync_all`][connectwise_billing.sync_all]."""
    backend = async_backend_for(client, policy)
    state = RunState.for_usages(
        backend, plans, mapping, usages, policy,
        today=today, dry_run=dry_run, audit_log=audit_log, lock=lock, stop=stop,
        progress=progress, approve=approve,
    )  # fmt: skip
    return await async_sync_run(backend, state, concurrency=concurrency)


async def _async_write_one(
    backend: AsyncBillingBackend, state: RunState, planned: Planned
) -> AgreementReport:
    key = state.lock_key(planned)
    if key is None:
        return await arun(backend, state.write(planned, None), state.guard)
    try:
        token = await state.lock.acquire_async(key)
    except LockError as error:
        return state.lock_failed(planned.usage, error)
    if token is None:
        return state.busy(planned.usage)
    lease = Lease(state.lock, key, token)
    async with lease:
        report = await arun(backend, state.write(planned, lease), state.guard)
    return state.let_go(report, lease)


async def _async_settle_one(
    backend: AsyncBillingBackend, state: RunState, agreement_id: int, intents: Any
) -> None:
    key = lock_key(backend.scope, agreement_id)
    try:
        token = await state.lock.acquire_async(key)
    except LockError:
        token = None
    if token is None:
        state.intents_unsettled += len(intents)
        return
    async with Lease(state.lock, key, token):
        await arun(backend, state.settle(agreement_id, intents), state.guard)


async def _each(
    items: Iterable[T], concurrency: int, state: RunState, work: Callable[[T], Awaitable[None]]
) -> None:
    """`work` on each item, `concurrency` workers at a time, until the run stops."""
    import asyncio

    queue = iter(items)

    async def worker() -> None:
        # Workers pull the next item when they are free: `concurrency` tasks in all.
        for item in queue:
            if state.should_stop():
                return
            await work(item)

    workers = [asyncio.create_task(worker()) for _ in range(concurrency)]
    try:
        await asyncio.gather(*workers)
    finally:
        for task in workers:
            task.cancel()
        # Until each worker has ended, its agreement's lock is held: they are let go first.
        await asyncio.gather(*workers, return_exceptions=True)


async def async_sync_run(
    backend: AsyncBillingBackend,
    state: RunState,
    *,
    concurrency: int,
    one_company: bool = False,
    plan: bool = True,
) -> SyncReport:
    """The async twin of `sync_run`: agreements are planned, then written, up to
    `concurrency` at a time."""
    import asyncio

    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        raise InputError(f"concurrency must be a positive integer, got {concurrency!r}")

    async def plan_one(usage: CompanyUsage) -> None:
        with count_requests() as calls:
            outcome = await arun(backend, state.plan(usage), state.guard)
        state.add(outcome, calls.count)

    async def write_one(planned: Planned) -> None:
        with count_requests() as calls:
            report = await _async_write_one(backend, state, planned)
        state.record(report, calls.count)

    with count_requests() as total, throttle_budget(state.throttle_budget) as meter:
        state.meter = meter
        try:
            writes_audit = state.settings.audit is not None and not state.dry_run
            if writes_audit:  # file I/O, off the event loop
                await asyncio.to_thread(state.open_audit)
            if plan:
                await arun(backend, state.preflight(), state.guard)
            await arun(backend, state.lookup(), state.guard)
            for agreement_id, intents in (
                await asyncio.to_thread(state.unsettled) if writes_audit else []
            ):
                if state.should_stop():
                    state.intents_unsettled += len(intents)
                    continue
                await _async_settle_one(backend, state, agreement_id, intents)
            if not plan:
                state.drop_closed()
            if plan:
                await _each(state.usages, concurrency, state, plan_one)
                state.hold_run()
            if not state.should_stop():
                to_write = state.to_write(longest_first=True)
                await _each(to_write, concurrency, state, write_one)
        except BaseException as error:
            state.interrupted(error)
            keep_report(error, state.report(total.count, one_company=one_company))
            raise
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
    approve: Approval = (),
) -> CompanyReport:
    """The async twin of [`sync_company`][connectwise_billing.sync_company]; a company's
    agreements are synced up to `concurrency` at a time."""
    backend = async_backend_for(client, policy)
    state = RunState.for_usages(
        backend, plans, mapping, _usages(usage), policy,
        today=today, dry_run=dry_run, audit_log=audit_log, lock=lock, stop=stop, approve=approve,
    )  # fmt: skip
    report = await async_sync_run(backend, state, concurrency=concurrency, one_company=True)
    return _as_company(report)
