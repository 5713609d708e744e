"""connectwise-billing: keep ConnectWise Manage agreement additions in step with what you sell.

The public API, importable from the package root:

- the client layer: `ConnectWiseClient`, `AsyncConnectWiseClient`, `Credentials`, `RetryPolicy`,
  the models (`Product`, `Company`, `Agreement`, `Addition`, `NewAddition`) and the condition
  builder (`Field`, `Condition`);
- reconciliation: `Plan`, `PlanMapping`, `CompanyUsage`, `SyncPolicy`, `reconcile_agreement`,
  `reconcile_all` and the diff types (`AgreementDiff`, `CreateAddition`, `UpdateAddition`,
  `CancelAddition`);
- sync: `apply_diff`, `sync_company`, `sync_all`, their async twins, `refresh_plan_prices`,
  `run_every` and the reports (`CompanyReport`, `SyncReport`);
- notifications: `notify`, `async_notify` (one POST of a report's summary to a webhook);
- the PSA-neutral billing backend the sync writes through (`BillingBackend`,
  `AsyncBillingBackend`, `AgreementState`, `CatalogItem`, `SettlePolicy`, and the neutral errors
  rooted at `PSAError`) and ConnectWise's (`ConnectWiseBackend`, `AsyncConnectWiseBackend`);
- the locks that keep two syncs off one agreement: `InProcessLock`, `FileLock`, `RedisLock`
  (the `Lock` protocol is in `connectwise_billing.locks`);
- the error tree rooted at `ConnectWiseBillingError`.

The names are declared once, in `_PUBLIC` below: `__all__` and the loading of each name are read
from it, and the package's stub (`__init__.pyi`, what type checkers read) is generated from it
(`make generate`; a test fails when the stub is stale). Importing the package is cheap: each
name is imported on first use (PEP 562), so `from connectwise_billing import
reconcile_agreement` loads no HTTP library.
"""

# Imported under a private name: the package's public names are exactly `__all__`.
import importlib as _importlib

# The reconciliation module, bound eagerly: it is pure, and loads no HTTP library.
from connectwise_billing import reconcile as reconcile
from connectwise_billing._version import __version__ as __version__

_PUBLIC = {
    "connectwise_billing._accounting": (
        "RequestCounter",
        "count_requests",
    ),
    "connectwise_billing.backend": (
        "AgreementState",
        "AsyncBillingBackend",
        "BillingBackend",
        "CatalogItem",
        "SettlePolicy",
    ),
    "connectwise_billing.client": (
        "NOT_GIVEN",
        "Addition",
        "Agreement",
        "AsyncConnectWiseClient",
        "Company",
        "Condition",
        "ConnectWiseClient",
        "Credentials",
        "Field",
        "NewAddition",
        "Product",
        "RateLimiter",
        "RedisRateLimiter",
        "Reference",
        "RetryPolicy",
    ),
    "connectwise_billing.errors": (
        "AccessDeniedError",
        "APIConnectionError",
        "APITimeoutError",
        "AuditLogError",
        "AuthenticationError",
        "BadRequestError",
        "ChangeSetError",
        "ConfigurationError",
        "ConflictError",
        "ConnectWiseAPIError",
        "ConnectWiseBillingError",
        "CredentialsRefusedError",
        "DuplicateAgreementError",
        "DuplicatePlanError",
        "InputError",
        "InvalidDiscountError",
        "InvalidPriceError",
        "InvalidSeatsError",
        "LockError",
        "MappingError",
        "NotFoundError",
        "OutcomeUnknownError",
        "PermissionDeniedError",
        "PSAError",
        "PSANotFoundError",
        "PSAUnreachableError",
        "RateLimiterError",
        "RateLimitError",
        "ServerError",
        "ThrottleBudgetSpent",
        "UnexpectedResponseError",
        "UnknownCompanyError",
        "UnknownPlanError",
        "WriteRefusedError",
    ),
    "connectwise_billing.locks": (
        "FileLock",
        "InProcessLock",
        "RedisLock",
    ),
    "connectwise_billing.notifications": (
        "async_notify",
        "notify",
    ),
    "connectwise_billing.reconcile": (
        "AgreementDiff",
        "CancelAddition",
        "Change",
        "CompanyUsage",
        "CreateAddition",
        "DiffWarning",
        "DuplicateAdditions",
        "Guardrails",
        "Plan",
        "PlanMapping",
        "SyncPolicy",
        "UnchangedAddition",
        "UpdateAddition",
        "reconcile_agreement",
        "reconcile_all",
    ),
    "connectwise_billing.runner": (
        "AgreementReport",
        "ChangeSet",
        "CompanyReport",
        "OperationResult",
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
    ),
    "connectwise_billing.runner._connectwise": (
        "AsyncConnectWiseBackend",
        "ConnectWiseBackend",
    ),
}
"""The public names, by the module that defines them."""

_EXPORTS = {name: module for module, names in _PUBLIC.items() for name in names}

__all__ = sorted(["__version__", "reconcile", *_EXPORTS])  # noqa: PLE0605 (read from _PUBLIC)


def __getattr__(name: str) -> object:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'connectwise_billing' has no attribute {name!r}")
    value = getattr(_importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})
