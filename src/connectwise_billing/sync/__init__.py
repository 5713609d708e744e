"""The I/O shell around reconciliation: apply a diff safely, sync one company or all of them."""

from connectwise_billing.sync.apply import apply_diff, async_apply_diff
from connectwise_billing.sync.audit import AuditLog, AuditRun, runs
from connectwise_billing.sync.changes import (
    AgreementChanges,
    ChangeSet,
    apply_changes,
    async_apply_changes,
    async_plan_changes,
    plan_changes,
    undo_changes,
)
from connectwise_billing.sync.prices import (
    PlanPriceChange,
    PriceRefresh,
    async_refresh_plan_prices,
    refresh_plan_prices,
)
from connectwise_billing.sync.reports import AgreementReport, CompanyReport, SyncReport
from connectwise_billing.sync.results import OperationResult
from connectwise_billing.sync.run import (
    async_sync_all,
    async_sync_company,
    sync_all,
    sync_company,
)
from connectwise_billing.sync.schedule import run_every

__all__ = [
    "AgreementChanges",
    "AgreementReport",
    "AuditLog",
    "AuditRun",
    "ChangeSet",
    "CompanyReport",
    "OperationResult",
    "PlanPriceChange",
    "PriceRefresh",
    "SyncReport",
    "apply_changes",
    "apply_diff",
    "async_apply_changes",
    "async_apply_diff",
    "async_plan_changes",
    "async_refresh_plan_prices",
    "async_sync_all",
    "async_sync_company",
    "plan_changes",
    "refresh_plan_prices",
    "run_every",
    "runs",
    "sync_all",
    "sync_company",
    "undo_changes",
]
