"""connectwise-billing: keep ConnectWise Manage agreement additions in step with what you sell.

The public API, importable from the package root:

- the client layer: `ConnectWiseClient`, `AsyncConnectWiseClient`, `Credentials`, `RetryPolicy`,
  the models (`Product`, `Company`, `Agreement`, `Addition`, `NewAddition`) and the condition
  builder (`Field`, `Condition`);
- reconciliation: `Plan`, `PlanMapping`, `CompanyUsage`, `SyncPolicy`, `reconcile_agreement`,
  `reconcile` and the diff types (`AgreementDiff`, `CreateAddition`, `UpdateAddition`,
  `CancelAddition`);
- sync: `apply_diff`, `sync_company`, `sync_all`, their async twins, `refresh_plan_prices`,
  `run_every` and the reports (`CompanyReport`, `SyncReport`);
- notifications: `notify`, `async_notify` (one POST of a report's summary to a webhook);
- the PSA-neutral billing backend the sync writes through (`BillingBackend`,
  `AsyncBillingBackend`, `AgreementState`, `CatalogItem`) and ConnectWise's
  (`ConnectWiseBackend`, `AsyncConnectWiseBackend`);
- the locks that keep two syncs off one agreement: `InProcessLock`, `FileLock`, `RedisLock`
  (the `Lock` protocol is in `connectwise_billing.locks`);
- the error tree rooted at `ConnectWiseBillingError`.

Importing the package is cheap: each name is imported on first use (PEP 562), so
`from connectwise_billing import reconcile_agreement` loads no HTTP library.
"""

import importlib
from typing import TYPE_CHECKING, Any, Final

from connectwise_billing._version import __version__

# `reconcile` names both the function and its package: bound eagerly, the function wins (the
# pure reconciler loads no HTTP library).
from connectwise_billing.reconcile import reconcile

if TYPE_CHECKING:
    from connectwise_billing.accounting import (
        count_requests,
    )
    from connectwise_billing.backend import (
        AgreementState,
        AsyncBillingBackend,
        BillingBackend,
        CatalogItem,
    )
    from connectwise_billing.client import (
        NOT_GIVEN,
        Addition,
        Agreement,
        AsyncConnectWiseClient,
        Company,
        Condition,
        ConnectWiseClient,
        Credentials,
        Field,
        NewAddition,
        Product,
        RateLimiter,
        RedisRateLimiter,
        Reference,
        RetryPolicy,
    )
    from connectwise_billing.errors import (
        APIConnectionError,
        APITimeoutError,
        AuditLogError,
        AuthenticationError,
        BadRequestError,
        ChangeSetError,
        ConfigurationError,
        ConflictError,
        ConnectWiseAPIError,
        ConnectWiseBillingError,
        DuplicateAgreementError,
        DuplicatePlanError,
        InputError,
        InvalidDiscountError,
        InvalidPriceError,
        InvalidSeatsError,
        LockError,
        MappingError,
        NotFoundError,
        PermissionDeniedError,
        RateLimiterError,
        RateLimitError,
        ServerError,
        ThrottleBudgetSpent,
        UnexpectedResponseError,
        UnknownCompanyError,
        UnknownPlanError,
    )
    from connectwise_billing.locks import (
        FileLock,
        InProcessLock,
        RedisLock,
    )
    from connectwise_billing.notifications import async_notify, notify
    from connectwise_billing.reconcile import (
        AgreementDiff,
        CancelAddition,
        Change,
        CompanyUsage,
        CreateAddition,
        DiffWarning,
        DuplicateAdditions,
        Plan,
        PlanMapping,
        SyncPolicy,
        UnchangedAddition,
        UpdateAddition,
        reconcile,
        reconcile_agreement,
    )
    from connectwise_billing.reconcile.guardrails import Guardrails
    from connectwise_billing.sync import (
        AgreementReport,
        ChangeSet,
        CompanyReport,
        OperationResult,
        PriceRefresh,
        SyncReport,
        apply_changes,
        apply_diff,
        async_apply_changes,
        async_apply_diff,
        async_plan_changes,
        async_refresh_plan_prices,
        async_sync_all,
        async_sync_company,
        plan_changes,
        refresh_plan_prices,
        run_every,
        runs,
        sync_all,
        sync_company,
        undo_changes,
    )
    from connectwise_billing.sync.connectwise import AsyncConnectWiseBackend, ConnectWiseBackend

_EXPORTS: Final = {
    "AgreementState": "connectwise_billing.backend",
    "AsyncBillingBackend": "connectwise_billing.backend",
    "BillingBackend": "connectwise_billing.backend",
    "CatalogItem": "connectwise_billing.backend",
    "AsyncConnectWiseBackend": "connectwise_billing.sync.connectwise",
    "ConnectWiseBackend": "connectwise_billing.sync.connectwise",
    "NOT_GIVEN": "connectwise_billing.client",
    "Addition": "connectwise_billing.client",
    "Agreement": "connectwise_billing.client",
    "AsyncConnectWiseClient": "connectwise_billing.client",
    "Company": "connectwise_billing.client",
    "Condition": "connectwise_billing.client",
    "ConnectWiseClient": "connectwise_billing.client",
    "Credentials": "connectwise_billing.client",
    "Field": "connectwise_billing.client",
    "NewAddition": "connectwise_billing.client",
    "Product": "connectwise_billing.client",
    "RateLimiter": "connectwise_billing.client",
    "RedisRateLimiter": "connectwise_billing.client",
    "Reference": "connectwise_billing.client",
    "RetryPolicy": "connectwise_billing.client",
    "count_requests": "connectwise_billing.accounting",
    "APIConnectionError": "connectwise_billing.errors",
    "APITimeoutError": "connectwise_billing.errors",
    "AuditLogError": "connectwise_billing.errors",
    "AuthenticationError": "connectwise_billing.errors",
    "BadRequestError": "connectwise_billing.errors",
    "ChangeSetError": "connectwise_billing.errors",
    "LockError": "connectwise_billing.errors",
    "ThrottleBudgetSpent": "connectwise_billing.errors",
    "ConfigurationError": "connectwise_billing.errors",
    "ConflictError": "connectwise_billing.errors",
    "ConnectWiseAPIError": "connectwise_billing.errors",
    "ConnectWiseBillingError": "connectwise_billing.errors",
    "DuplicateAgreementError": "connectwise_billing.errors",
    "DuplicatePlanError": "connectwise_billing.errors",
    "InputError": "connectwise_billing.errors",
    "InvalidDiscountError": "connectwise_billing.errors",
    "InvalidPriceError": "connectwise_billing.errors",
    "InvalidSeatsError": "connectwise_billing.errors",
    "MappingError": "connectwise_billing.errors",
    "NotFoundError": "connectwise_billing.errors",
    "PermissionDeniedError": "connectwise_billing.errors",
    "RateLimitError": "connectwise_billing.errors",
    "RateLimiterError": "connectwise_billing.errors",
    "ServerError": "connectwise_billing.errors",
    "UnexpectedResponseError": "connectwise_billing.errors",
    "UnknownCompanyError": "connectwise_billing.errors",
    "UnknownPlanError": "connectwise_billing.errors",
    "notify": "connectwise_billing.notifications",
    "async_notify": "connectwise_billing.notifications",
    "FileLock": "connectwise_billing.locks",
    "InProcessLock": "connectwise_billing.locks",
    "RedisLock": "connectwise_billing.locks",
    "AgreementDiff": "connectwise_billing.reconcile",
    "CancelAddition": "connectwise_billing.reconcile",
    "Change": "connectwise_billing.reconcile",
    "CompanyUsage": "connectwise_billing.reconcile",
    "CreateAddition": "connectwise_billing.reconcile",
    "DiffWarning": "connectwise_billing.reconcile",
    "DuplicateAdditions": "connectwise_billing.reconcile",
    "Plan": "connectwise_billing.reconcile",
    "PlanMapping": "connectwise_billing.reconcile",
    "SyncPolicy": "connectwise_billing.reconcile",
    "UnchangedAddition": "connectwise_billing.reconcile",
    "UpdateAddition": "connectwise_billing.reconcile",
    "Guardrails": "connectwise_billing.reconcile.guardrails",
    "reconcile_agreement": "connectwise_billing.reconcile",
    "AgreementReport": "connectwise_billing.sync",
    "ChangeSet": "connectwise_billing.sync",
    "CompanyReport": "connectwise_billing.sync",
    "OperationResult": "connectwise_billing.sync",
    "PriceRefresh": "connectwise_billing.sync",
    "SyncReport": "connectwise_billing.sync",
    "apply_changes": "connectwise_billing.sync",
    "apply_diff": "connectwise_billing.sync",
    "async_apply_changes": "connectwise_billing.sync",
    "async_apply_diff": "connectwise_billing.sync",
    "async_plan_changes": "connectwise_billing.sync",
    "async_refresh_plan_prices": "connectwise_billing.sync",
    "async_sync_all": "connectwise_billing.sync",
    "async_sync_company": "connectwise_billing.sync",
    "refresh_plan_prices": "connectwise_billing.sync",
    "plan_changes": "connectwise_billing.sync",
    "run_every": "connectwise_billing.sync",
    "runs": "connectwise_billing.sync",
    "sync_all": "connectwise_billing.sync",
    "sync_company": "connectwise_billing.sync",
    "undo_changes": "connectwise_billing.sync",
}
"""Public name -> the module that defines it."""


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'connectwise_billing' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})


__all__ = [
    "NOT_GIVEN",
    "APIConnectionError",
    "APITimeoutError",
    "Addition",
    "Agreement",
    "AgreementDiff",
    "AgreementReport",
    "AgreementState",
    "AsyncBillingBackend",
    "AsyncConnectWiseBackend",
    "AsyncConnectWiseClient",
    "AuditLogError",
    "AuthenticationError",
    "BadRequestError",
    "BillingBackend",
    "CancelAddition",
    "CatalogItem",
    "Change",
    "ChangeSet",
    "ChangeSetError",
    "Company",
    "CompanyReport",
    "CompanyUsage",
    "Condition",
    "ConfigurationError",
    "ConflictError",
    "ConnectWiseAPIError",
    "ConnectWiseBackend",
    "ConnectWiseBillingError",
    "ConnectWiseClient",
    "CreateAddition",
    "Credentials",
    "DiffWarning",
    "DuplicateAdditions",
    "DuplicateAgreementError",
    "DuplicatePlanError",
    "Field",
    "FileLock",
    "Guardrails",
    "InProcessLock",
    "InputError",
    "InvalidDiscountError",
    "InvalidPriceError",
    "InvalidSeatsError",
    "LockError",
    "MappingError",
    "NewAddition",
    "NotFoundError",
    "OperationResult",
    "PermissionDeniedError",
    "Plan",
    "PlanMapping",
    "PriceRefresh",
    "Product",
    "RateLimitError",
    "RateLimiter",
    "RateLimiterError",
    "RedisLock",
    "RedisRateLimiter",
    "Reference",
    "RetryPolicy",
    "ServerError",
    "SyncPolicy",
    "SyncReport",
    "ThrottleBudgetSpent",
    "UnchangedAddition",
    "UnexpectedResponseError",
    "UnknownCompanyError",
    "UnknownPlanError",
    "UpdateAddition",
    "__version__",
    "apply_changes",
    "apply_diff",
    "async_apply_changes",
    "async_apply_diff",
    "async_notify",
    "async_plan_changes",
    "async_refresh_plan_prices",
    "async_sync_all",
    "async_sync_company",
    "count_requests",
    "notify",
    "plan_changes",
    "reconcile",
    "reconcile_agreement",
    "refresh_plan_prices",
    "run_every",
    "runs",
    "sync_all",
    "sync_company",
    "undo_changes",
]
