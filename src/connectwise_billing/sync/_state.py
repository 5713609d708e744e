"""One sync run's state: everything but the waiting, shared by the sync and the async twin."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Final

import attrs

from connectwise_billing.backend import AgreementState
from connectwise_billing.locks import InProcessLock, Lease, Lock, lock_key
from connectwise_billing.log import logger
from connectwise_billing.reconcile import CompanyUsage, Plan, PlanMapping, Reconciler, SyncPolicy
from connectwise_billing.sync.apply import ApplySettings
from connectwise_billing.sync.audit import AuditLog
from connectwise_billing.sync.flows import agreement_flow, preflight_flow
from connectwise_billing.sync.links import company_mismatch
from connectwise_billing.sync.reports import AgreementReport, CompanyReport, SyncReport
from connectwise_billing.sync.steps import DescribeAgreements, RunGuard, SyncFlow, perform

if TYPE_CHECKING:
    from connectwise_billing.backend import AsyncBillingBackend, BillingBackend


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


class RunState:
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
        self.states: Mapping[int, AgreementState] = {}
        self.stopped: str | None = None
        self._failing: tuple[str | None, int] = (None, 0)

    @property
    def agreement_ids(self) -> list[int]:
        return [usage.agreement_id for usage in self.usages]

    def preflight(self) -> SyncFlow[None]:
        return preflight_flow(self.reconciler.mapping, self.backend.name)

    def lookup(self) -> SyncFlow[Mapping[int, AgreementState]]:
        """Each agreement's state; one that belongs to another company than its usage names
        is unavailable, with the reason (nothing is written there)."""
        if not self.usages:
            return {}
        step = DescribeAgreements(self.agreement_ids, self.reconciler.today)
        states = dict((yield from perform(step)))
        for usage in self.usages:
            state = states.get(usage.agreement_id)
            mismatch = state and company_mismatch(usage, state, self.backend.name)
            if state is not None and mismatch:
                states[usage.agreement_id] = attrs.evolve(
                    state, status="unavailable", reason=mismatch, failure=None
                )
        self.states = states
        return states

    def flow(
        self, usage: CompanyUsage, states: Mapping[int, AgreementState], lease: Lease | None
    ) -> SyncFlow[AgreementReport]:
        settings = attrs.evolve(self.settings, company=usage.company, lease=lease)
        state = states.get(usage.agreement_id) or AgreementState(
            usage.agreement_id, "unavailable", f"{self.backend.name} did not describe it"
        )
        return agreement_flow(self.reconciler, usage, state, settings, self.backend.name)

    def lock_key(self, usage: CompanyUsage, states: Mapping[int, AgreementState]) -> str | None:
        """The agreement's lock key (the PSA tenant and the agreement), or `None` when the run
        will not write to it (a dry run, an agreement that is closed or could not be looked
        up)."""
        state = states.get(usage.agreement_id)
        if self.dry_run or state is None or state.status != "open":
            return None
        return lock_key(self.backend.scope, usage.agreement_id)

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

    def company_id(self, usage: CompanyUsage) -> int | None:
        """The PSA's id of the company an agreement belongs to: the usage's, or the PSA's."""
        state = self.states.get(usage.agreement_id)
        return usage.company_id or (state.company_id if state is not None else None)

    def companies(self, *, as_one: bool = False) -> list[CompanyReport]:
        """The agreement reports by company: told apart by the PSA's company id, never merged
        by name (an agreement whose company is not known is a company of its own)."""
        grouped: dict[object, tuple[str, int | None, list[AgreementReport]]] = {}
        first = self.usages[0] if self.usages else None
        for usage in self.usages:
            owner = first if as_one and first is not None else usage
            company_id = self.company_id(owner)
            name = owner.company or f"agreement {owner.agreement_id}"
            report = self.reports.get(usage.agreement_id) or AgreementReport(
                usage.agreement_id,
                usage.company,
                "stopped",
                error=f"not synced: {self.stopped or 'the run was stopped'}",
            )
            report = attrs.evolve(report, company_id=self.company_id(usage))
            group = ("agreement", owner.agreement_id) if company_id is None else company_id
            grouped.setdefault(group, (name, company_id, []))[2].append(report)
        return [
            CompanyReport(
                company=name,
                agreements=tuple(reports),
                dry_run=self.dry_run,
                api_calls=sum(report.api_calls for report in reports),
                company_id=company_id,
            )
            for name, company_id, reports in grouped.values()
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
