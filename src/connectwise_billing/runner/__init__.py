"""Runs: apply a diff safely, sync one company or all of them, plan and apply change sets, audit
and undo, and the reports they return. The I/O shell around the pure
[`reconcile`][connectwise_billing.reconcile] module; its names are at the package root too."""

from connectwise_billing.runner._apply import apply_diff, async_apply_diff
from connectwise_billing.runner._audit import (
    AuditLog,
    AuditRun,
    Intent,
    iter_audit_log,
    read_audit_log,
    runs,
)
from connectwise_billing.runner._changes import (
    AgreementChanges,
    ChangeSet,
    apply_changes,
    async_apply_changes,
    async_plan_changes,
    plan_changes,
    undo_changes,
)
from connectwise_billing.runner._flows import LineFingerprint
from connectwise_billing.runner._html import render_html
from connectwise_billing.runner._prices import (
    PlanPriceChange,
    PriceRefresh,
    async_refresh_plan_prices,
    refresh_plan_prices,
)
from connectwise_billing.runner._reports import (
    AgreementReport,
    CompanyReport,
    SyncReport,
)
from connectwise_billing.runner._results import OperationResult, Status
from connectwise_billing.runner._run import (
    Approval,
    Progress,
    async_sync_all,
    async_sync_company,
    sync_all,
    sync_company,
)
from connectwise_billing.runner._schedule import run_every

__all__ = [
    "AgreementChanges",
    "AgreementReport",
    "Approval",
    "AuditLog",
    "AuditRun",
    "ChangeSet",
    "CompanyReport",
    "Intent",
    "LineFingerprint",
    "OperationResult",
    "PlanPriceChange",
    "PriceRefresh",
    "Progress",
    "Status",
    "SyncReport",
    "apply_changes",
    "apply_diff",
    "async_apply_changes",
    "async_apply_diff",
    "async_plan_changes",
    "async_refresh_plan_prices",
    "async_sync_all",
    "async_sync_company",
    "iter_audit_log",
    "plan_changes",
    "read_audit_log",
    "refresh_plan_prices",
    "render_html",
    "run_every",
    "runs",
    "sync_all",
    "sync_company",
    "undo_changes",
]
