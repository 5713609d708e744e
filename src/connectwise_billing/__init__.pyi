"""The names importable from the package root, each from the module that defines it.

This stub is the one declaration of the public API: type checkers read it, and the package's
`__init__` reads it to load each name on first use and to build `__all__`.
"""

from connectwise_billing import reconcile as reconcile
from connectwise_billing._accounting import (
    RequestCounter as RequestCounter,
    count_requests as count_requests,
)
from connectwise_billing._version import __version__ as __version__
from connectwise_billing.backend import (
    AgreementState as AgreementState,
    AsyncBillingBackend as AsyncBillingBackend,
    BillingBackend as BillingBackend,
    CatalogItem as CatalogItem,
    SettlePolicy as SettlePolicy,
)
from connectwise_billing.client import (
    NOT_GIVEN as NOT_GIVEN,
    Addition as Addition,
    Agreement as Agreement,
    AsyncConnectWiseClient as AsyncConnectWiseClient,
    Company as Company,
    Condition as Condition,
    ConnectWiseClient as ConnectWiseClient,
    Credentials as Credentials,
    Field as Field,
    NewAddition as NewAddition,
    Product as Product,
    RateLimiter as RateLimiter,
    RedisRateLimiter as RedisRateLimiter,
    Reference as Reference,
    RetryPolicy as RetryPolicy,
)
from connectwise_billing.errors import (
    AccessDeniedError as AccessDeniedError,
    APIConnectionError as APIConnectionError,
    APITimeoutError as APITimeoutError,
    AuditLogError as AuditLogError,
    AuthenticationError as AuthenticationError,
    BadRequestError as BadRequestError,
    ChangeSetError as ChangeSetError,
    ConfigurationError as ConfigurationError,
    ConflictError as ConflictError,
    ConnectWiseAPIError as ConnectWiseAPIError,
    ConnectWiseBillingError as ConnectWiseBillingError,
    CredentialsRefusedError as CredentialsRefusedError,
    DuplicateAgreementError as DuplicateAgreementError,
    DuplicatePlanError as DuplicatePlanError,
    InputError as InputError,
    InvalidDiscountError as InvalidDiscountError,
    InvalidPriceError as InvalidPriceError,
    InvalidSeatsError as InvalidSeatsError,
    LockError as LockError,
    MappingError as MappingError,
    NotFoundError as NotFoundError,
    OutcomeUnknownError as OutcomeUnknownError,
    PermissionDeniedError as PermissionDeniedError,
    PSAError as PSAError,
    PSANotFoundError as PSANotFoundError,
    PSAUnreachableError as PSAUnreachableError,
    RateLimiterError as RateLimiterError,
    RateLimitError as RateLimitError,
    ServerError as ServerError,
    ThrottleBudgetSpent as ThrottleBudgetSpent,
    UnexpectedResponseError as UnexpectedResponseError,
    UnknownCompanyError as UnknownCompanyError,
    UnknownPlanError as UnknownPlanError,
    WriteRefusedError as WriteRefusedError,
)
from connectwise_billing.locks import (
    FileLock as FileLock,
    InProcessLock as InProcessLock,
    RedisLock as RedisLock,
)
from connectwise_billing.notifications import (
    async_notify as async_notify,
    notify as notify,
)
from connectwise_billing.reconcile import (
    AgreementDiff as AgreementDiff,
    CancelAddition as CancelAddition,
    Change as Change,
    CompanyUsage as CompanyUsage,
    CreateAddition as CreateAddition,
    DiffWarning as DiffWarning,
    DuplicateAdditions as DuplicateAdditions,
    Guardrails as Guardrails,
    Plan as Plan,
    PlanMapping as PlanMapping,
    SyncPolicy as SyncPolicy,
    UnchangedAddition as UnchangedAddition,
    UpdateAddition as UpdateAddition,
    reconcile_agreement as reconcile_agreement,
    reconcile_all as reconcile_all,
)
from connectwise_billing.runner import (
    AgreementReport as AgreementReport,
    ChangeSet as ChangeSet,
    CompanyReport as CompanyReport,
    OperationResult as OperationResult,
    PriceRefresh as PriceRefresh,
    SyncReport as SyncReport,
    apply_changes as apply_changes,
    apply_diff as apply_diff,
    async_apply_changes as async_apply_changes,
    async_apply_diff as async_apply_diff,
    async_plan_changes as async_plan_changes,
    async_refresh_plan_prices as async_refresh_plan_prices,
    async_sync_all as async_sync_all,
    async_sync_company as async_sync_company,
    plan_changes as plan_changes,
    refresh_plan_prices as refresh_plan_prices,
    run_every as run_every,
    runs as runs,
    sync_all as sync_all,
    sync_company as sync_company,
    undo_changes as undo_changes,
)
from connectwise_billing.runner._connectwise import (
    AsyncConnectWiseBackend as AsyncConnectWiseBackend,
    ConnectWiseBackend as ConnectWiseBackend,
)
