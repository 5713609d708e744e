"""One sync run's state: everything but the waiting, shared by the sync and the async twin.

A run has two phases. It plans every agreement (reads its lines, reconciles, puts the
guardrails' holds on the diff), then, unless a rule over the whole run holds it all, writes each
agreement that has something to write, under its lock. A change set is a run whose plans come
from a file.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Final, Literal

import attrs

from connectwise_billing._accounting import ThrottleMeter
from connectwise_billing._flow import ask, drive
from connectwise_billing._log import logger
from connectwise_billing.backend import AgreementCandidate, AgreementState
from connectwise_billing.errors import (
    AuditLogError,
    ConnectWiseBillingError,
    InputError,
    LockError,
    PSANotFoundError,
)
from connectwise_billing.locks import InProcessLock, Lease, Lock, lock_key
from connectwise_billing.reconcile import (
    AdditionLike,
    AgreementDiff,
    CompanyUsage,
    Plan,
    PlanMapping,
    Reconciler,
    SyncPolicy,
)
from connectwise_billing.reconcile._guardrails import zeroed_hold
from connectwise_billing.reconcile._lines import BILLABLE
from connectwise_billing.runner._apply import ApplySettings, Written, additions_problem, reread
from connectwise_billing.runner._audit import AuditLog, Intent, iter_audit_log, unsettled
from connectwise_billing.runner._backends import settle_of, throttle_budget_of
from connectwise_billing.runner._flows import (
    BillingChecker,
    Planned,
    plan_flow,
    preflight_flow,
    write_flow,
)
from connectwise_billing.runner._links import company_mismatch, normalise_company_name
from connectwise_billing.runner._reports import AgreementReport, CompanyReport, SyncReport
from connectwise_billing.runner._results import OperationResult
from connectwise_billing.runner._steps import (
    AnsweredIntents,
    DescribeAgreements,
    FindAgreements,
    ReadLines,
    RunGuard,
    SettleIntents,
    SyncFlow,
)

if TYPE_CHECKING:
    from connectwise_billing.backend import AsyncBillingBackend, BillingBackend


CIRCUIT_BREAKER: Final = 5
"""A run stops after this many agreements in a row failed the same way (the PSA unreachable, or
answering 5xx): the rest would only fail too, and slowly."""

Progress = Callable[[int, int, int], None]
"""Called after each agreement with (agreements done, agreements in total, failures so far)."""

Approval = Collection[int] | Literal["all"]
"""What a person approved: the agreement ids whose held operations may be written, or `"all"`."""


def approval(approve: object) -> frozenset[int] | Literal["all"]:
    """`approve` checked: `"all"`, or agreement ids.

    Raises:
        InputError: anything else, naming it.
    """
    if approve == "all":
        return "all"
    if isinstance(approve, str | bytes) or not isinstance(approve, Iterable):
        raise InputError(f"approve must be agreement ids or 'all', got {approve!r}")
    ids = list(approve)
    for agreement_id in ids:
        if isinstance(agreement_id, bool) or not isinstance(agreement_id, int):
            raise InputError(f"approve must be agreement ids or 'all', got {agreement_id!r}")
    return frozenset(ids)


def _no_steps(step: object) -> object:
    raise AssertionError(f"a plan with nothing to write asked for {step!r}")


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
    """One run: everything but the waiting.

    Args:
        backend: The PSA.
        reconciler: Plans, mapping, policy and today, validated.
        usages: The run's usages, checked, by agreement id.
        replan: When an agreement changed between its plan and its write: plan it again (a
            sync), or report it stale (a change set).
        checks: Per agreement, how its billing is checked (default: against its usage).
        reread: Read every agreement again before writing it, also one with nothing to write
            (a change set: its plan holds no lines, only their fingerprint).
    """

    def __init__(
        self,
        backend: BillingBackend | AsyncBillingBackend,
        reconciler: Reconciler,
        usages: list[CompanyUsage],
        *,
        dry_run: bool,
        audit_log: str | Path | None,
        lock: Lock | None,
        stop: threading.Event | None,
        progress: Progress | None = None,
        approve: Approval = (),
        replan: bool = True,
        checks: Mapping[int, BillingChecker] | None = None,
        reread: bool = False,
    ) -> None:
        if lock is not None and not isinstance(lock, Lock):
            raise InputError(f"lock must be a Lock (InProcessLock, FileLock, ...), got {lock!r}")
        if progress is not None and not callable(progress):
            raise InputError(f"progress must be callable, got {progress!r}")
        self.started_at = datetime.now(UTC)
        self.started = time.perf_counter()
        self.reconciler = reconciler
        self.usages = usages
        self.dry_run = dry_run
        self.backend = backend
        self.lock: Lock = lock if lock is not None else InProcessLock()
        self.stop = stop
        self.guard = RunGuard()
        self.approve = approval(approve)
        self.replan = replan
        self.checks = checks or {}
        self.reread = reread
        self.settings = ApplySettings(
            settle=settle_of(backend),
            dry_run=dry_run,
            verify_before_write=reconciler.policy.verify_before_write,
            today=reconciler.today,
            audit=(
                AuditLog(
                    audit_log,
                    run_id=uuid.uuid4().hex,
                    dry_run=dry_run,
                    psa=backend.name,
                    scope=backend.scope,
                )
                if audit_log
                else None
            ),
            name=backend.name,
        )
        self.progress = progress
        self.planned: dict[int, Planned] = {}
        self.reports: dict[int, AgreementReport] = {}
        self.calls: dict[int, int] = {}
        self.states: Mapping[int, AgreementState] = {}
        self.stopped: str | None = None
        self.held_all: str | None = None
        self.intents_settled = 0
        self.intents_unsettled = 0  # what an earlier run left in flight, left so again
        self.candidates: dict[int, tuple[AgreementCandidate, ...]] = {}  # to re-link instead
        self.writing: dict[int, tuple[CompanyUsage, Written]] = {}  # agreements being written
        self.meter: ThrottleMeter | None = None  # the run's 429 waits, once it runs
        self._diffs: list[AgreementDiff] = []  # every plan's, for the guardrail over the run
        self._failing: tuple[str | None, int] = (None, 0)
        self._failed: set[int] = set()  # the agreements whose report is not ok, for `progress`

    @classmethod
    def for_usages(
        cls,
        backend: BillingBackend | AsyncBillingBackend,
        plans: Iterable[Plan],
        mapping: PlanMapping | Mapping[str, int],
        usages: Iterable[CompanyUsage],
        policy: SyncPolicy | None,
        *,
        today: date | None,
        **options: object,
    ) -> RunState:
        """The state of a sync (or a plan) of `usages`: every one checked before any request."""
        reconciler = Reconciler(
            plans, mapping, policy, today=today or datetime.now(UTC).date(), psa=backend.name
        )
        checked = reconciler.check(usages)
        return cls(backend, reconciler, checked, **options)  # type: ignore[arg-type]

    @property
    def throttle_budget(self) -> float | None:
        """Seconds a run may spend waiting out its PSA's throttling (`throttle_budget_of`)."""
        return throttle_budget_of(self.backend)

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
        states = dict((yield from ask(step)))
        for usage in self.usages:
            state = states.get(usage.agreement_id)
            mismatch = state and company_mismatch(usage, state, self.backend.name)
            if state is not None and mismatch:
                # Reported under the usage's company, not the one the agreement belongs to.
                states[usage.agreement_id] = AgreementState(
                    usage.agreement_id, "unavailable", mismatch, gone=True
                )
        self.states = states
        yield from self._find_candidates()
        return states

    def _find_candidates(self) -> SyncFlow[None]:
        """For each agreement that cannot be written (gone, closed, another company's), the
        usage's company's active agreements: one request per company, whatever it costs the
        run nothing more when it fails."""
        found: dict[tuple[int | None, str | None], tuple[AgreementCandidate, ...]] = {}
        for usage in self.usages:
            state = self.states.get(usage.agreement_id)
            if state is None or not (state.status == "closed" or state.gone):
                continue
            # A mismatch's state no longer says whose the agreement is: the usage does.
            company_id = usage.company_id or state.company_id
            name = None if company_id is not None else usage.company
            key = (company_id, normalise_company_name(name) if name else None)
            if key == (None, None):
                continue
            if key not in found:
                step = FindAgreements(company_id, name, self.reconciler.today)
                try:
                    candidates = yield from ask(step)
                except ConnectWiseBillingError as error:
                    logger.warning(
                        "agreement %s: no re-link candidates: %s", usage.agreement_id, error
                    )
                    candidates = ()
                found[key] = tuple(c for c in candidates if c.id != usage.agreement_id)
            if found[key]:
                self.candidates[usage.agreement_id] = found[key]

    def _state(self, usage: CompanyUsage) -> AgreementState:
        return self.states.get(usage.agreement_id) or AgreementState(
            usage.agreement_id, "unavailable", f"{self.backend.name} did not describe it"
        )

    # --- planning ------------------------------------------------------------------------

    def plan(self, usage: CompanyUsage) -> SyncFlow[Planned | AgreementReport]:
        return plan_flow(self.reconciler, usage, self._state(usage), self.backend.name)

    def add(self, outcome: Planned | AgreementReport, api_calls: int) -> None:
        """Keep the plan of an agreement with operations for the writing phase; record the
        report of one with nothing to do, or that could not be planned."""
        if isinstance(outcome, AgreementReport):
            self.record(outcome, api_calls)
            return
        self._diffs.append(outcome.diff)
        agreement_id = outcome.usage.agreement_id
        if not outcome.diff.operations:  # its report is its plan's: no I/O
            report = drive(self.write(outcome, None), _no_steps)
            self.record(report, api_calls)
            return
        self.calls[agreement_id] = self.calls.get(agreement_id, 0) + api_calls
        self.planned[agreement_id] = outcome
        self._note(None)

    def hold_run(self) -> None:
        """Put the run-wide guardrail on every plan, when the run trips it."""
        guardrails = self.reconciler.policy.guardrails
        if guardrails is None:
            return
        hold = zeroed_hold(guardrails, self._diffs)
        if hold is None:
            return
        self.held_all = hold.message
        logger.error("%s", hold.message)
        for agreement_id, planned in self.planned.items():
            diff = planned.diff._replace(holds=(*planned.diff.holds, hold))
            self.planned[agreement_id] = attrs.evolve(planned, diff=diff)

    def drop_closed(self) -> None:
        """Report the planned agreements that are no longer open (closed, gone, no access, of
        another company) instead of writing them: a change set's, planned earlier."""
        for agreement_id, planned in list(self.planned.items()):
            state = self._state(planned.usage)
            if state.status == "open":
                continue
            del self.planned[agreement_id]
            report = drive(
                plan_flow(self.reconciler, planned.usage, state, self.backend.name), _no_steps
            )
            assert isinstance(report, AgreementReport)  # noqa: S101 - not open: never planned
            self.record(attrs.evolve(report, diff=planned.diff), 0)

    # --- writing ---------------------------------------------------------------------------

    def approved(self, agreement_id: int) -> bool:
        """Whether a person approved the held operations of the agreement."""
        return self.approve == "all" or agreement_id in self.approve

    def to_write(self, *, longest_first: bool = False) -> list[Planned]:
        """The planned agreements, in the run's order; with `longest_first`, those with the
        most operations first (the rest in the run's order), so that workers running side by
        side do not end the run waiting on one long agreement. The reports keep the run's
        order either way: they are ordered by the usages, never by when they were written."""
        planned = list(self.planned.values())
        if longest_first:
            planned.sort(key=lambda p: len(p.diff.operations), reverse=True)  # stable
        return planned

    def lock_key(self, planned: Planned) -> str | None:
        """The agreement's lock key (the PSA tenant and the agreement), or `None` when the run
        writes nothing there (a dry run, nothing to write, or only held operations)."""
        if self.dry_run:
            return None
        approved = self.approved(planned.usage.agreement_id)
        diff = planned.diff
        if not any(approved or diff.hold_of(i) is None for i in range(len(diff.operations))):
            return None
        return lock_key(self.backend.scope, planned.usage.agreement_id)

    def _check(self, usage: CompanyUsage) -> BillingChecker:
        check = self.checks.get(usage.agreement_id)
        if check is not None:
            return check
        reconciler = self.reconciler
        # What the backend creates lines as (ConnectWise: its `bill_customer`), for a dry run.
        created = getattr(self.backend, "bill_customer", BILLABLE)
        return lambda lines, planned: reconciler.billing(
            usage, lines, planned, created_bill_customer=created
        )

    def write(self, planned: Planned, lease: Lease | None) -> SyncFlow[AgreementReport]:
        """Write a planned agreement (with its lock's `lease`), or, without a lease, report
        what its plan leaves (nothing to write, or a dry run)."""
        usage = planned.usage
        written = Written()
        if lease is not None:
            self.writing[usage.agreement_id] = (usage, written)
        settings = attrs.evolve(
            self.settings,
            company=usage.company,
            company_id=planned.company_id,
            lease=lease,
            approved=self.approved(usage.agreement_id),
            written=written,
        )
        reconciler = self.reconciler

        def replan(lines: Sequence[AdditionLike]) -> AgreementDiff:
            return reconciler.agreement(usage, lines)

        return write_flow(
            planned,
            settings,
            self.backend.name,
            self._check(usage),
            reread=lease is not None or self.reread,
            replan=replan if self.replan else None,
        )

    # --- the run -----------------------------------------------------------------------------

    def should_stop(self) -> bool:
        """Whether the run stops before the next agreement: its breaker, its `stop` event, a
        broken audit log, or its throttle budget spent."""
        if self.stopped is None and self.stop is not None and self.stop.is_set():
            self.stopped = "the run was asked to stop"
        audit = self.settings.audit
        if audit is not None and audit.broken and self.stopped is None:
            self.stopped = f"{audit.broken}: the run stopped, and sent no further write"
            logger.error("%s", self.stopped)
        if self.meter is not None and self.meter.exhausted and self.stopped is None:
            self.stopped = "throttled"
            logger.error("the run stopped: %s", self.meter.exhausted)
        return self.stopped is not None

    # --- what a run must not lose ------------------------------------------------------------

    def open_audit(self) -> None:
        """Before anything is sent: the audit log of a run that writes can be written.

        Raises:
            ConfigurationError: naming the log and why it cannot be written.
        """
        audit = self.settings.audit
        if audit is not None and not self.dry_run:
            audit.open()

    def unsettled(self) -> list[tuple[int, list[Intent]]]:
        """Writes earlier runs with this audit log recorded as about to be sent, and never
        settled (they died meanwhile), of this tenant, by agreement."""
        audit = self.settings.audit
        if audit is None or self.dry_run:
            return []
        by_agreement: dict[int, list[Intent]] = {}
        for intent in unsettled(iter_audit_log(audit.path)):
            if intent.record.get("scope") == self.backend.scope:
                by_agreement.setdefault(intent.agreement_id, []).append(intent)
        return sorted(by_agreement.items())

    def settle(self, agreement_id: int, intents: list[Intent]) -> SyncFlow[None]:
        """Read the agreement and record whether each intent landed (under its lock).

        A write sent less than `settle_timeout` ago may still be committing (its run was
        killed while waiting for the answer): until that long after the youngest intent, the
        agreement is read again every `settle_interval` while any of them does not show. An
        intent its own run answered meanwhile (it was alive, and held the lock) is left alone;
        one of an agreement that is gone is settled `unknown`.
        """
        audit = self.settings.audit
        assert audit is not None  # noqa: S101 - there are intents only with an audit log
        answered = yield from ask(AnsweredIntents(audit, tuple(i.write_id for i in intents)))
        waiting = [intent for intent in intents if intent.write_id not in answered]
        if not waiting:
            return
        settle = self.settings.settle
        youngest = max(intent.sent_at for intent in waiting)
        age = (datetime.now(UTC) - youngest).total_seconds()
        window = min(settle.settle_timeout, settle.settle_timeout - age)  # a clock ahead: no more
        lines: Sequence[AdditionLike] | None = None

        def seen(read: Sequence[AdditionLike]) -> SyncFlow[bool]:
            nonlocal lines, waiting
            if additions_problem(read, self.backend.name):
                return False
            lines = read
            today = self.reconciler.today
            landed = [i for i in waiting if i.outcome(read, today)[0] == "applied"]
            waiting = [i for i in waiting if i not in landed]
            yield from self._settled(audit, landed, read)
            return not waiting

        def failed(error: ConnectWiseBillingError) -> None:
            logger.warning("agreement %s: reading it to settle writes: %s", agreement_id, error)

        try:
            reads = yield from reread(
                settle,
                ReadLines(agreement_id),
                seen,
                within=window,
                stop=self.should_stop,
                failed=failed,
                not_found_ends=True,
            )
        except PSANotFoundError:
            yield from self._settled(audit, waiting, (), gone=True)
            return
        if reads.settled:
            return
        if lines is None or self.stopped is not None:
            logger.warning("agreement %s: its unsettled writes stay so", agreement_id)
            self.intents_unsettled += len(waiting)
            return
        yield from self._settled(audit, waiting, lines)

    def _settled(
        self,
        audit: AuditLog,
        intents: list[Intent],
        lines: Sequence[AdditionLike],
        *,
        gone: bool = False,
    ) -> SyncFlow[None]:
        if not intents:
            return
        if audit.broken:
            self.intents_unsettled += len(intents)
            return
        today, read = self.reconciler.today, tuple(lines)
        # One at a time: when the log fails midway, those settled and those not are told apart.
        for index, intent in enumerate(intents):
            try:
                self.intents_settled += yield from ask(
                    SettleIntents(audit, (intent,), read, today, gone=gone)
                )
            except AuditLogError:
                self.intents_unsettled += len(intents) - index
                self.stopped = f"{audit.broken}: the run stopped, and sent no write"
                return

    def interrupted(self, error: BaseException) -> None:
        """Report the agreements being written when `error` ended the run: what their writes
        came to so far, and the write in flight as `unknown` (its intent is in the audit log,
        when there is one: the next run with it settles it)."""
        why = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
        if self.stopped is None:  # the report says why the rest was not reached
            self.stopped = f"the run ended with an error: {why}"
        for agreement_id, (usage, written) in list(self.writing.items()):
            results = list(written.results)
            if written.in_flight is not None:
                op = written.in_flight
                note = (
                    "recorded as an intent in the audit log: the next run with it settles it"
                    if self.settings.audit is not None
                    else "the next sync reads whether it landed"
                )
                results.append(
                    OperationResult(
                        op,
                        "unknown",
                        line_id=getattr(op, "line_id", None),
                        error=f"the run ended while it was in flight ({why})",
                        note=note,
                    )
                )
            self._report(
                AgreementReport(
                    agreement_id,
                    usage.company,
                    "error",
                    results=tuple(results),
                    error=f"the run ended while writing this agreement ({why})",
                )
            )
        self.writing.clear()

    def lock_failed(self, usage: CompanyUsage, error: LockError) -> AgreementReport:
        """The report of an agreement whose lock could not be used: nothing written."""
        return AgreementReport(
            usage.agreement_id,
            usage.company,
            "error",
            error=f"not synced: its lock could not be taken: {error}",
            failure="the lock could not be used",
        )

    def let_go(self, report: AgreementReport, lease: Lease) -> AgreementReport:
        """The report of an agreement once its lock was let go: a release that failed is said
        (a lock with a lifetime frees itself when it runs out)."""
        if lease.release_failed is None:
            return report
        said = f"its lock could not be released ({lease.release_failed}); it frees itself"
        return attrs.evolve(report, warnings=(*report.warnings, said))

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

    def _note(self, failure: str | None) -> None:
        kind, count = self._failing
        count = count + 1 if failure is not None and failure == kind else 1
        self._failing = (failure, count if failure else 0)
        if failure is not None and count >= CIRCUIT_BREAKER and self.stopped is None:
            self.stopped = (
                f"{count} agreements in a row failed the same way ({failure}); the run stopped"
            )
            logger.error("%s", self.stopped)

    def record(self, report: AgreementReport, api_calls: int) -> None:
        """An agreement's final report."""
        agreement_id = report.agreement_id
        self.writing.pop(agreement_id, None)
        calls = self.calls.pop(agreement_id, 0) + api_calls
        report = attrs.evolve(report, api_calls=calls)
        self._report(report)
        _log(report)
        self._note(report.failure)
        self.should_stop()
        if self.progress is not None:
            self.progress(len(self.reports), len(self.usages), len(self._failed))

    def _report(self, report: AgreementReport) -> None:
        """Keep an agreement's report, and the count of failures (a running count: a run's
        progress costs nothing more per agreement however many there are)."""
        self.reports[report.agreement_id] = report
        if report.ok:
            self._failed.discard(report.agreement_id)
        else:
            self._failed.add(report.agreement_id)

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
            report = attrs.evolve(
                report,
                company_id=self.company_id(usage),
                candidates=self.candidates.get(usage.agreement_id, ()),
            )
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
            held_all=self.held_all,
            intents_settled=self.intents_settled,
            intents_unsettled=self.intents_unsettled,
        )
