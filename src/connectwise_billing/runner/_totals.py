"""Sums over agreement reports, shared by the company and the run report."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from connectwise_billing.reconcile import BillingProblem
    from connectwise_billing.runner._reports import AgreementReport

ZERO = Decimal(0)


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
