"""The I/O shell around reconciliation: apply a diff safely, sync one company or all of them."""

from connectwise_billing.sync.apply import apply_diff, async_apply_diff
from connectwise_billing.sync.audit import AuditLog
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
    "AgreementReport",
    "AuditLog",
    "CompanyReport",
    "OperationResult",
    "PlanPriceChange",
    "PriceRefresh",
    "SyncReport",
    "apply_diff",
    "async_apply_diff",
    "async_refresh_plan_prices",
    "async_sync_all",
    "async_sync_company",
    "refresh_plan_prices",
    "run_every",
    "sync_all",
    "sync_company",
]
