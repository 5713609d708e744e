"""What a sync did: per agreement, per company and in total."""

from __future__ import annotations

import textwrap
from collections.abc import Iterable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

import attrs

from connectwise_billing._json import to_jsonable
from connectwise_billing.reconcile.diff import AgreementDiff, DuplicateAdditions, operation_delta
from connectwise_billing.sync.results import OperationResult, operation_values

AgreementStatus = Literal["synced", "planned", "skipped", "error", "busy"]
"""`synced` (writes attempted), `planned` (dry run), `skipped` (cancelled, expired or inactive
agreement: nothing written), `error` (the agreement could not be read, or its answer could not be
trusted: nothing written), `busy` (another sync held the agreement's lock past the lock's wait:
nothing read or written)."""

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
    """

    agreement_id: int
    company: str | None
    status: AgreementStatus
    diff: AgreementDiff | None = None
    results: tuple[OperationResult, ...] = ()
    warnings: tuple[str, ...] = ()
    error: str | None = None
    api_calls: int = 0

    @property
    def ok(self) -> bool:
        """In step, or planned: no error, not busy, every operation applied (or planned), and no
        mapped product billed twice."""
        return (
            self.status not in ("error", "busy")
            and all(result.ok for result in self.results)
            and not self.duplicates
        )

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
    def mrr_before(self) -> Decimal:
        """Monthly revenue of the managed additions before the sync."""
        return self.diff.mrr_before if self.diff else ZERO

    @property
    def cost_before(self) -> Decimal:
        """Monthly cost of the managed additions before the sync."""
        return self.diff.cost_before if self.diff else ZERO

    def _after(self) -> tuple[Decimal, Decimal]:
        # A dry run reports the planned outcome; a real run only what was applied.
        mrr, cost = self.mrr_before, self.cost_before
        for result in self.results:
            if result.ok:
                revenue, spend = operation_delta(result.operation)
                mrr += revenue
                cost += spend
        return mrr, cost

    @property
    def mrr_after(self) -> Decimal:
        """Monthly revenue after the operations that were applied (or planned, in a dry run)."""
        return self._after()[0]

    @property
    def cost_after(self) -> Decimal:
        """Monthly cost after the operations that were applied (or planned, in a dry run)."""
        return self._after()[1]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready data; Decimals as exact strings."""
        return {
            "agreement_id": self.agreement_id,
            "company": self.company,
            "status": self.status,
            "ok": self.ok,
            "error": self.error,
            "warnings": list(self.warnings),
            "duplicates": [
                to_jsonable({**attrs.asdict(d), "addition_ids": list(d.addition_ids)})
                for d in self.duplicates
            ],
            "operations": [_result_dict(result) for result in self.results],
            "mrr_before": str(self.mrr_before),
            "mrr_after": str(self.mrr_after),
            "cost_before": str(self.cost_before),
            "cost_after": str(self.cost_after),
            "api_calls": self.api_calls,
        }


def _result_dict(result: OperationResult) -> dict[str, Any]:
    op = result.operation
    data: dict[str, Any] = {
        "kind": op.kind,
        "status": result.status,
        "plan_id": op.plan_id,
        "product_id": op.product_id,
        "addition_id": result.addition_id,
    }
    if result.error:
        data["error"] = result.error
    if result.note:
        data["note"] = result.note
    data["before"], data["after"] = operation_values(result)
    return to_jsonable(data)  # type: ignore[no-any-return]


class _Totals:
    """Sums over agreement reports, shared by company and run reports."""

    @property
    def agreement_reports(self) -> Sequence[AgreementReport]:
        """The agreement reports summed over."""
        raise NotImplementedError

    def _sum(self, name: str) -> Any:
        return sum((getattr(report, name) for report in self.agreement_reports), start=0)

    @property
    def ok(self) -> bool:
        """Every agreement ok: no errors, no busy agreement, every operation applied (or
        planned), nothing billed twice."""
        return all(report.ok for report in self.agreement_reports)

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
    def busy(self) -> int:
        """Agreements another sync held past the lock's wait (not synced)."""
        return sum(1 for report in self.agreement_reports if report.status == "busy")

    @property
    def billed_twice(self) -> Decimal:
        """What additions of mapped products bill a month on top of the one meant."""
        return sum(
            (d.billed_twice for report in self.agreement_reports for d in report.duplicates),
            ZERO,
        )

    @property
    def mrr_before(self) -> Decimal:
        """Monthly revenue before."""
        return Decimal(self._sum("mrr_before"))

    @property
    def mrr_after(self) -> Decimal:
        """Monthly revenue after."""
        return Decimal(self._sum("mrr_after"))

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
            "busy": self.busy,
            "billed_twice": str(self.billed_twice),
            "mrr_before": str(self.mrr_before),
            "mrr_after": str(self.mrr_after),
            "cost_before": str(self.cost_before),
            "cost_after": str(self.cost_after),
        }


@attrs.frozen(slots=False)
class CompanyReport(_Totals):
    """The outcome for one company (one or more agreements): the "Update Now" button.

    Attributes:
        company: The company's name.
        agreements: One report per linked agreement.
        dry_run: Whether nothing was written.
        api_calls: HTTP requests made, retries included.
        duration: Seconds the sync took.
    """

    company: str
    agreements: tuple[AgreementReport, ...]
    dry_run: bool = False
    api_calls: int = 0
    duration: float = 0.0

    @property
    def agreement_reports(self) -> Sequence[AgreementReport]:
        """The company's agreement reports."""
        return self.agreements

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready data; Decimals as exact strings."""
        return {
            "company": self.company,
            "dry_run": self.dry_run,
            **self._totals_dict(),
            "api_calls": self.api_calls,
            "duration_seconds": round(self.duration, 3),
            "agreements": [report.to_dict() for report in self.agreements],
        }

    def summary(self) -> str:
        """A human summary."""
        return render_summary(self.company, self, self.agreements)

    def __str__(self) -> str:
        return self.summary()


@attrs.frozen(slots=False)
class SyncReport(_Totals):
    """The outcome of a sync of many companies.

    Attributes:
        companies: One report per company.
        started_at: When the run started (UTC).
        dry_run: Whether nothing was written.
        api_calls: HTTP requests made by the whole run, retries included.
        duration: Seconds the run took.
    """

    companies: tuple[CompanyReport, ...]
    started_at: datetime
    dry_run: bool = False
    api_calls: int = 0
    duration: float = 0.0

    @property
    def agreement_reports(self) -> Sequence[AgreementReport]:
        """Every agreement report of every company."""
        return [report for company in self.companies for report in company.agreements]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready data; Decimals as exact strings."""
        return {
            "started_at": self.started_at.isoformat(),
            "dry_run": self.dry_run,
            **self._totals_dict(),
            "api_calls": self.api_calls,
            "duration_seconds": round(self.duration, 3),
            "companies": [company.to_dict() for company in self.companies],
        }

    def summary(self) -> str:
        """A human summary: totals, then only what needs attention."""
        title = plural(len(self.companies), "company", "companies")
        return render_summary(title, self, self.agreement_reports)

    def __str__(self) -> str:
        return self.summary()


def plural(count: int, singular: str, many: str | None = None) -> str:
    """`1 agreement`, `2 agreements`."""
    return f"{count} {singular if count == 1 else many or singular + 's'}"


def _wrap(text: str, width: int = 100) -> list[str]:
    return textwrap.wrap(text, width, subsequent_indent="      ", break_on_hyphens=False)


def render_summary(
    title: str, totals: CompanyReport | SyncReport, reports: Iterable[AgreementReport]
) -> str:
    """Totals first, then errors, skipped agreements, failed operations and warnings."""
    reports = list(reports)
    verb = "Dry run for" if totals.dry_run else "Sync of"
    lines = [
        f"{verb} {title} ({plural(len(reports), 'agreement')}) in {totals.duration:.1f} s, "
        f"{plural(totals.api_calls, 'API call')}",
        f"  operations: {totals.applied} applied, {totals.planned} planned, "
        f"{totals.failed} failed, {totals.conflicts} conflicts, {totals.unknown} unknown",
        f"  MRR {totals.mrr_before:,.2f} -> {totals.mrr_after:,.2f} "
        f"({totals.mrr_after - totals.mrr_before:+,.2f})   "
        f"cost {totals.cost_before:,.2f} -> {totals.cost_after:,.2f}",
    ]
    for report in reports:
        name = f"agreement {report.agreement_id}" + (
            f" ({report.company})" if report.company else ""
        )
        if report.status == "busy":
            lines += _wrap(f"  BUSY {name}: {report.error}")
        elif report.error:
            lines += _wrap(f"  ERROR {name}: {report.error}")
        elif report.status == "skipped":
            lines += _wrap(f"  skipped {name}: {'; '.join(report.warnings)}")
        for result in report.results:
            if not result.ok:
                op = result.operation
                lines += _wrap(
                    f"  {result.status.upper()} {name} {op.kind} {op.plan_id}: {result.error}"
                )
        for duplicate in report.duplicates:
            lines += _wrap(f"  BILLED TWICE {name}: {duplicate.describe()}")
    warning_count = sum(len(r.warnings) for r in reports if r.status != "skipped")
    if warning_count:
        lines.append(f"  {plural(warning_count, 'warning')}")
    lines.append("  OK" if totals.ok else "  NOT OK: see above")
    return "\n".join(lines)
