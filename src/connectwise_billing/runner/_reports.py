"""What a sync did: per agreement, per company and in total.

`str(report)` and `report.render()` give the table the command line prints; `summary()` the
totals and what needs attention; `to_dict()` JSON-ready data.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal

import attrs

from connectwise_billing._text import plural
from connectwise_billing.backend import AgreementCandidate
from connectwise_billing.convert import to_json
from connectwise_billing.reconcile._billing import BillingCheck, BillingProblem
from connectwise_billing.reconcile._diff import AgreementDiff, DuplicateAdditions, operation_delta
from connectwise_billing.runner._html import render_html
from connectwise_billing.runner._render import (
    UNCONFIRMED,
    render_agreement,
    render_report,
    render_summary,
)
from connectwise_billing.runner._results import OperationResult

if TYPE_CHECKING:
    from connectwise_billing.reconcile import CompanyUsage

AgreementStatus = Literal["synced", "planned", "skipped", "error", "busy", "stopped", "stale"]
"""`synced` (read, reconciled, writes attempted; its `billing` says whether the lines read back
bill what the usage says), `planned` (dry run), `skipped` (cancelled, expired or inactive
agreement: nothing written), `error` (the agreement could not be read, its answer could not be
trusted, or it belongs to another customer than the usage names: nothing written), `busy`
(another sync held the agreement's lock past the lock's wait: nothing read or written; or this
run lost the lock midway and wrote nothing more), `stopped` (the run stopped before this
agreement: nothing written), `stale` (a change set's agreement no longer shows the lines it was
planned on: nothing written)."""

ZERO = Decimal(0)


@attrs.frozen(slots=False)
class AgreementReport:
    """The outcome for one agreement.

    Attributes:
        agreement_id: The ConnectWise agreement.
        company: The control panel's company name.
        status: See `AgreementStatus`.
        diff: What reconciliation decided (absent when the agreement could not be read).
        results: One result per operation of the diff.
        warnings: Everything worth a look: the diff's warnings, why it was skipped.
        error: Why the agreement could not be synced (not found, no access, ...).
        api_calls: HTTP requests made for this agreement, retries included (the batched
            agreement look-up is counted on the run, not here).
        failure: When reading the agreement failed in a way that says something about
            ConnectWise (unreachable, answering 5xx), what way: the run's circuit breaker counts
            agreements in a row that failed the same way.
        billing: What the agreement's lines bill, checked against the usage: on the lines read
            back after the writes (or as read, when nothing was written; as read plus the plan,
            in a dry run). `None` when the agreement was not reconciled, or its lines could not
            be read back.
        company_id: The PSA's id of the company the agreement belongs to (the usage's
            `company_id`, or what the PSA said).
        candidates: When the agreement is gone, cancelled, ended, or another company's: the
            usage's company's active agreements, one of which a person may link instead.
    """

    agreement_id: int
    company: str | None
    status: AgreementStatus
    diff: AgreementDiff | None = None
    results: tuple[OperationResult, ...] = ()
    warnings: tuple[str, ...] = ()
    error: str | None = None
    api_calls: int = 0
    failure: str | None = attrs.field(default=None, eq=False, repr=False)
    billing: BillingCheck | None = None
    company_id: int | None = None
    candidates: tuple[AgreementCandidate, ...] = ()

    @classmethod
    def settled(
        cls,
        usage: CompanyUsage,
        diff: AgreementDiff,
        results: tuple[OperationResult, ...],
        *,
        dry_run: bool,
        billing: BillingCheck | None = None,
    ) -> AgreementReport:
        """The report of an agreement whose diff was applied (or planned), with what its lines
        bill. A warning about a write says what was done once the write is applied, and what
        would be done until."""
        applied = {
            getattr(result.operation, "line_id", None)
            for result in results
            if result.status == "applied"
        }
        warnings = tuple(
            warning.after
            if warning.after and applied.intersection(warning.addition_ids)
            else warning.message
            for warning in diff.warnings
        )
        if billing is None:
            warnings += (f"billing not confirmed: {UNCONFIRMED} (the next sync reads them)",)
        status: AgreementStatus = "planned" if dry_run else "synced"
        return cls(
            usage.agreement_id,
            usage.company,
            status,
            diff,
            results,
            warnings=warnings,
            billing=billing,
            company_id=usage.company_id,
        )

    @property
    def ok(self) -> bool:
        """The money is right: every operation applied (or planned), and the agreement's lines,
        as read back (in a dry run: as read, with the plan), bill exactly what the usage says
        (see [`BillingCheck`][connectwise_billing.reconcile.BillingCheck]). A skipped
        (closed) agreement is ok when the usage has no seats on it; an error, a busy, a stale or
        a stopped one is not."""
        if self.status == "skipped":  # closed: ok unless seats are in use there
            return self.billing is None or self.billing.ok
        return (
            self.status in ("synced", "planned")
            and all(result.ok for result in self.results)
            and self.billing is not None
            and self.billing.ok
        )

    @property
    def billing_problems(self) -> tuple[BillingProblem, ...]:
        """Every way the agreement's lines do not bill what the usage says (see `billing`)."""
        return self.billing.problems if self.billing is not None else ()

    @property
    def mrr_unmanaged(self) -> Decimal:
        """Monthly revenue of the agreement's active additions the sync does not manage."""
        return self.diff.mrr_unmanaged if self.diff else ZERO

    def count(self, kind: str, status: str) -> int:
        """How many operations of `kind` (`create`, `update`, `cancel`) ended with `status`."""
        return sum(1 for r in self.results if r.operation.kind == kind and r.status == status)

    @property
    def duplicates(self) -> tuple[DuplicateAdditions, ...]:
        """Mapped products that more than one active addition bills, as read by this sync."""
        return self.diff.duplicates if self.diff else ()

    def _count(self, status: str) -> int:
        return sum(1 for result in self.results if result.status == status)

    @property
    def applied(self) -> int:
        """Operations applied."""
        return self._count("applied")

    @property
    def planned(self) -> int:
        """Operations planned (dry run)."""
        return self._count("planned")

    @property
    def failed(self) -> int:
        """Operations that failed."""
        return self._count("failed")

    @property
    def conflicts(self) -> int:
        """Operations refused because the addition changed since the diff."""
        return self._count("conflict")

    @property
    def unknown(self) -> int:
        """Operations whose outcome could not be settled (not retried; the next sync settles)."""
        return self._count("unknown")

    @property
    def held(self) -> int:
        """Operations a guardrail held (not written until a person approves)."""
        return self._count("held")

    @property
    def mrr_before(self) -> Decimal:
        """Monthly revenue of the managed additions before the sync."""
        return self.diff.mrr_before if self.diff else ZERO

    @property
    def cost_before(self) -> Decimal:
        """Monthly cost of the managed additions before the sync."""
        return self.diff.cost_before if self.diff else ZERO

    def _after(self) -> tuple[Decimal, Decimal]:
        # What the lines bill, as read back (or as planned); without that, what was applied.
        if self.billing is not None:
            return self.billing.mrr, self.billing.cost
        mrr, cost = self.mrr_before, self.cost_before
        for result in self.results:
            if result.ok:
                revenue, spend = operation_delta(result.operation)
                mrr += revenue
                cost += spend
        return mrr, cost

    @property
    def mrr_after(self) -> Decimal:
        """Monthly revenue of the billing lines after the sync, as read back (in a dry run:
        as planned)."""
        return self._after()[0]

    @property
    def cost_after(self) -> Decimal:
        """Monthly cost of the billing lines after the sync, as read back (or planned)."""
        return self._after()[1]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready data; Decimals as exact strings."""
        return {
            "agreement_id": self.agreement_id,
            "company": self.company,
            "company_id": self.company_id,
            "status": self.status,
            "ok": self.ok,
            "error": self.error,
            "warnings": list(self.warnings),
            "billing_checked": self.billing is not None,
            "billing_problems": to_json(self.billing_problems),
            "duplicates": to_json(self.duplicates),
            "operations": [result.to_dict() for result in self.results],
            "mrr_before": str(self.mrr_before),
            "mrr_after": str(self.mrr_after),
            "mrr_unmanaged": str(self.mrr_unmanaged),
            "cost_before": str(self.cost_before),
            "cost_after": str(self.cost_after),
            "api_calls": self.api_calls,
            "candidates": to_json(self.candidates),
        }

    def render(self) -> str:
        """The agreement's diff as a table, with what became of each operation."""
        return render_agreement(self)


class Totals:
    """Sums over agreement reports, shared by company and run reports."""

    @property
    def agreement_reports(self) -> Sequence[AgreementReport]:
        """The agreement reports summed over."""
        raise NotImplementedError

    def _sum(self, name: str) -> Any:
        return sum((getattr(report, name) for report in self.agreement_reports), start=0)

    stopped: str | None

    @property
    def ok(self) -> bool:
        """The money is right: every agreement ok (every operation applied or planned, and its
        lines, as read back, bill exactly what the usage says; no errors, nothing busy), and
        the run was not stopped early."""
        return self.stopped is None and all(report.ok for report in self.agreement_reports)

    def count(self, kind: str, status: str) -> int:
        """How many operations of `kind` (`create`, `update`, `cancel`) ended with `status`."""
        return sum(report.count(kind, status) for report in self.agreement_reports)

    @property
    def applied(self) -> int:
        """Operations applied."""
        return int(self._sum("applied"))

    @property
    def planned(self) -> int:
        """Operations planned (dry run)."""
        return int(self._sum("planned"))

    @property
    def failed(self) -> int:
        """Operations that failed."""
        return int(self._sum("failed"))

    @property
    def conflicts(self) -> int:
        """Operations refused because the addition changed since the diff."""
        return int(self._sum("conflicts"))

    @property
    def unknown(self) -> int:
        """Operations whose outcome could not be settled."""
        return int(self._sum("unknown"))

    @property
    def held(self) -> int:
        """Operations a guardrail held (not written)."""
        return int(self._sum("held"))

    @property
    def stale(self) -> int:
        """Agreements of a change set that changed since it was planned (nothing written)."""
        return sum(1 for report in self.agreement_reports if report.status == "stale")

    @property
    def busy(self) -> int:
        """Agreements another sync held past the lock's wait (not synced)."""
        return sum(1 for report in self.agreement_reports if report.status == "busy")

    @property
    def billing_problems(self) -> list[tuple[AgreementReport, BillingProblem]]:
        """Every agreement's billing problems (see `AgreementReport.billing`), with its
        report."""
        return [
            (report, problem)
            for report in self.agreement_reports
            for problem in report.billing_problems
        ]

    @property
    def billed_twice(self) -> Decimal:
        """What additions of mapped products bill a month on top of the one meant."""
        return sum(
            (d.billed_twice for report in self.agreement_reports for d in report.duplicates),
            ZERO,
        )

    @property
    def mrr_before(self) -> Decimal:
        """Monthly revenue of the managed additions before."""
        return Decimal(self._sum("mrr_before"))

    @property
    def mrr_after(self) -> Decimal:
        """Monthly revenue of the managed additions after the sync, as read back (or
        planned)."""
        return Decimal(self._sum("mrr_after"))

    @property
    def mrr_unmanaged(self) -> Decimal:
        """Monthly revenue of the other active additions (unmapped, or previously mapped
        products), which the sync leaves alone: add it to `mrr_before`/`mrr_after` for every
        active addition."""
        return Decimal(self._sum("mrr_unmanaged"))

    @property
    def cost_before(self) -> Decimal:
        """Monthly cost before."""
        return Decimal(self._sum("cost_before"))

    @property
    def cost_after(self) -> Decimal:
        """Monthly cost after."""
        return Decimal(self._sum("cost_after"))

    @property
    def warnings(self) -> list[str]:
        """Every agreement's warnings, prefixed with the agreement."""
        return [
            f"agreement {report.agreement_id}: {warning}"
            for report in self.agreement_reports
            for warning in report.warnings
        ]

    def _totals_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "applied": self.applied,
            "planned": self.planned,
            "failed": self.failed,
            "conflicts": self.conflicts,
            "unknown": self.unknown,
            "held": self.held,
            "stale": self.stale,
            "busy": self.busy,
            "billing_problems": len(self.billing_problems),
            "stopped": self.stopped,
            "billed_twice": str(self.billed_twice),
            "mrr_before": str(self.mrr_before),
            "mrr_after": str(self.mrr_after),
            "mrr_unmanaged": str(self.mrr_unmanaged),
            "cost_before": str(self.cost_before),
            "cost_after": str(self.cost_after),
        }


@attrs.frozen(slots=False)
class CompanyReport(Totals):
    """The outcome for one company (one or more agreements): the "Update Now" button.

    Attributes:
        company: The company's name.
        agreements: One report per linked agreement.
        dry_run: Whether nothing was written.
        api_calls: HTTP requests made, retries included.
        duration: Seconds the sync took.
        stopped: Why the run stopped before its end, if it did.
        company_id: The company's id in the PSA, when known: a run's companies are told apart
            by it (two customers that share a name are two companies).
    """

    company: str
    agreements: tuple[AgreementReport, ...]
    dry_run: bool = False
    api_calls: int = 0
    duration: float = 0.0
    stopped: str | None = None
    company_id: int | None = None

    @property
    def agreement_reports(self) -> Sequence[AgreementReport]:
        """The company's agreement reports."""
        return self.agreements

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready data; Decimals as exact strings."""
        return {
            "company": self.company,
            "company_id": self.company_id,
            "dry_run": self.dry_run,
            **self._totals_dict(),
            "api_calls": self.api_calls,
            "duration_seconds": round(self.duration, 3),
            "agreements": [report.to_dict() for report in self.agreements],
        }

    def summary(self) -> str:
        """Totals, what changed (or would), and what needs attention."""
        return render_summary(self.company, self, self.agreements)

    def render(self, *, show_diffs: int | None = None, show_warnings: int = 10) -> str:
        """The table the command line prints: each agreement's changes (the first
        `show_diffs` of them), the warnings (the first `show_warnings`), then the summary."""
        return render_report(self, show_diffs=show_diffs, show_warnings=show_warnings)

    def to_html(self, *, title: str | None = None, currency: str = "") -> str:
        """The report as one self-contained HTML page (inline CSS and SVG, no script, nothing
        fetched), to mail or open offline; `currency` goes before every amount. See
        [`render_html`][connectwise_billing.runner._html.render_html]."""
        return render_html(self, title=title, currency=currency)

    def __str__(self) -> str:
        return self.render()


@attrs.frozen(slots=False)
class SyncReport(Totals):
    """The outcome of a sync of many companies.

    Attributes:
        companies: One report per company.
        started_at: When the run started (UTC).
        dry_run: Whether nothing was written.
        api_calls: HTTP requests made by the whole run, retries included.
        duration: Seconds the run took.
        stopped: Why the run stopped before its end, if it did: its `stop` event, the
            circuit breaker, an audit log that could not be written, or `"throttled"` (its
            `RetryPolicy.throttle_budget` of 429 waits spent); the agreements it did not reach
            are `stopped`.
        held_all: Why a guardrail over the whole run (`max_zeroed_percent`) held every
            operation: nothing was written.
        intents_settled: Writes an earlier run recorded in the audit log as about to be sent,
            and died before settling, that this run settled by reading their agreements (the
            outcomes are in the audit log).
        intents_unsettled: Such writes this run could not settle (their agreement could not
            be read or locked, or the run stopped first): the next run tries again.
    """

    companies: tuple[CompanyReport, ...]
    started_at: datetime
    dry_run: bool = False
    api_calls: int = 0
    duration: float = 0.0
    stopped: str | None = None
    held_all: str | None = None
    intents_settled: int = 0
    intents_unsettled: int = 0

    @property
    def agreement_reports(self) -> Sequence[AgreementReport]:
        """Every agreement report of every company."""
        return [report for company in self.companies for report in company.agreements]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready data; Decimals as exact strings."""
        return {
            "started_at": self.started_at.isoformat(),
            "dry_run": self.dry_run,
            "held_all": self.held_all,
            "intents_settled": self.intents_settled,
            "intents_unsettled": self.intents_unsettled,
            **self._totals_dict(),
            "api_calls": self.api_calls,
            "duration_seconds": round(self.duration, 3),
            "companies": [company.to_dict() for company in self.companies],
        }

    def summary(self) -> str:
        """Totals, what changed (or would), and what needs attention."""
        title = plural(len(self.companies), "company", "companies")
        return render_summary(title, self, self.agreement_reports)

    def render(self, *, show_diffs: int | None = None, show_warnings: int = 10) -> str:
        """The table the command line prints: each agreement's changes (the first
        `show_diffs` of them), the warnings (the first `show_warnings`), then the summary."""
        return render_report(self, show_diffs=show_diffs, show_warnings=show_warnings)

    def to_html(self, *, title: str | None = None, currency: str = "") -> str:
        """The report as one self-contained HTML page (inline CSS and SVG, no script, nothing
        fetched), to mail or open offline; `currency` goes before every amount. See
        [`render_html`][connectwise_billing.runner._html.render_html]."""
        return render_html(self, title=title, currency=currency)

    def __str__(self) -> str:
        return self.render()
