"""One exception tree for the whole SDK.

Everything raised on purpose derives from `ConnectWiseBillingError`:

- The PSA-neutral errors a billing backend raises, rooted at
  [`PSAError`][connectwise_billing.errors.PSAError]: a line or agreement not found, a write's
  outcome unknown, a write refused, the credentials refused, the PSA unreachable. The ConnectWise
  errors below derive from them, so code written against the neutral ones (the applier, the
  sync) handles ConnectWise's too, and `except NotFoundError` still works.
- [`ConnectWiseAPIError`][connectwise_billing.errors.ConnectWiseAPIError] and its per-status
  subclasses: ConnectWise answered with an error status.
- [`APIConnectionError`][connectwise_billing.errors.APIConnectionError] (and
  [`APITimeoutError`][connectwise_billing.errors.APITimeoutError]): no usable answer came back.
- [`UnexpectedResponseError`][connectwise_billing.errors.UnexpectedResponseError]: something came
  back that is not ConnectWise's JSON (an HTML proxy page, a body that does not fit the model).
- [`InputError`][connectwise_billing.errors.InputError] (also a `ValueError`): the caller's input is
  wrong; raised before anything is sent to ConnectWise or any diff is produced. Its subclasses
  name the kind of problem (`MappingError`, `InvalidSeatsError`, ...).

No exception carries the private key, the `Authorization` header or the `clientId`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple

__all__ = [
    "STATUS_ERRORS",
    "APIConnectionError",
    "APITimeoutError",
    "AccessDeniedError",
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
    "FieldError",
    "InputError",
    "InvalidDiscountError",
    "InvalidPriceError",
    "InvalidSeatsError",
    "LockError",
    "MappingError",
    "NotFoundError",
    "OutcomeUnknownError",
    "PSAError",
    "PSANotFoundError",
    "PSAUnreachableError",
    "PermissionDeniedError",
    "RateLimitError",
    "RateLimiterError",
    "ServerError",
    "SmallDiscountWarning",
    "ThrottleBudgetSpent",
    "UnexpectedResponseError",
    "UnknownCompanyError",
    "UnknownPlanError",
    "WriteRefusedError",
    "error_class_for",
    "redact",
    "redact_value",
]


if TYPE_CHECKING:
    from connectwise_billing.backend import WriteOutcome


def redact(text: str, secrets: Sequence[str]) -> str:
    """`text` with each of `secrets` replaced by `***`."""
    for secret in secrets:
        text = text.replace(secret, "***")
    return text


def redact_value(value: Any, secrets: Sequence[str]) -> Any:
    """A JSON-like value (text, lists, mappings, field errors) with `secrets` blanked out."""
    if not secrets:
        return value
    if isinstance(value, str):
        return redact(value, secrets)
    if isinstance(value, FieldError):
        return FieldError(*(redact_value(item, secrets) for item in value))
    if isinstance(value, tuple | list):
        return type(value)(redact_value(item, secrets) for item in value)
    if isinstance(value, Mapping):
        return {
            redact_value(key, secrets): redact_value(item, secrets) for key, item in value.items()
        }
    return value


class ConnectWiseBillingError(Exception):
    """Base class of every error this SDK raises on purpose.

    Attributes:
        report: When the error stopped a sync run, the report of what the run did until then
            (a `SyncReport`; empty when it stopped before its first write): nothing it wrote
            is lost with the error.
    """

    report: Any = None

    def redact(self, secrets: Sequence[str]) -> None:
        """Replace each of `secrets` with `***` in the message and every text attribute.

        The client calls it on every error it raises, with its private key, `Authorization`
        value and clientId: a gateway that echoes request headers in its error page does not
        put them into exceptions, logs or reports.
        """

        if secrets:
            self.args = tuple(redact_value(arg, secrets) for arg in self.args)
            for name, value in list(vars(self).items()):
                setattr(self, name, redact_value(value, secrets))


class PSAError(ConnectWiseBillingError):
    """Base of the PSA-neutral errors: what a billing backend raises to tell the applier what
    happened, in words any PSA can say (no HTTP status, no URL).

    The class says what an error means in general; `outcome` says exactly what one failed write
    tells, because for some errors that depends on the answer (a ConnectWise connection dropped
    before or after the request was sent; a 5xx with or without ConnectWise's own error body).
    """

    _outcome: ClassVar[WriteOutcome] = "unknown"

    @property
    def outcome(self) -> WriteOutcome:
        """What this error says about a write it ended: `not_sent`, `unknown` (it may have
        landed) or `refused` (see [`WriteOutcome`][connectwise_billing.backend.WriteOutcome])."""
        return self._outcome

    def failure(self, name: str) -> str | None:
        """What this error says about the PSA called `name` rather than about one agreement
        (`ConnectWise could not be reached`), or `None`: it is the agreement's own. A run's
        circuit breaker counts agreements in a row that failed the same way."""
        return None


class PSANotFoundError(PSAError):
    """The agreement or line does not exist in the PSA (deleted, or replaced): a write to it
    is refused, and a sync reports the agreement gone."""

    _outcome: ClassVar[WriteOutcome] = "refused"


class OutcomeUnknownError(PSAError):
    """A write's answer was lost after the request may have reached the PSA: it may have
    landed. Never send it again yourself: the applier reads to learn what happened."""

    def failure(self, name: str) -> str | None:
        return f"{name} could not be reached"


class WriteRefusedError(PSAError):
    """The PSA answered that it did not do what was asked (invalid values, a conflicting
    change): nothing was written, and the same request would be refused again, so it is not
    retried."""

    _outcome: ClassVar[WriteOutcome] = "refused"


class AccessDeniedError(WriteRefusedError):
    """The PSA refuses the integration access to a record (or to all of them): reported as
    no access; before anything of a run has succeeded, it ends the run."""


class CredentialsRefusedError(PSAError):
    """The PSA refused the integration's credentials: every other request would be refused
    too, so the run ends (with its report)."""

    _outcome: ClassVar[WriteOutcome] = "refused"


class PSAUnreachableError(PSAError):
    """The PSA could not be reached, and the request provably did not reach it (no
    connection could be made): a write did not land. Before anything of a run has succeeded,
    it ends the run."""

    _outcome: ClassVar[WriteOutcome] = "not_sent"

    def failure(self, name: str) -> str | None:
        return f"{name} could not be reached"


class AuditLogError(ConnectWiseBillingError):
    """The audit log could not be written (a full disk, a removed directory): the run sends no
    further write, and its report says why it stopped."""


class LockError(ConnectWiseBillingError):
    """A lock could not be used: its Redis failed or went away, its directory refused a file.
    The agreement is reported (not ok), and its lock is let go as far as it can be."""


class InputError(ConnectWiseBillingError, ValueError):
    """The caller's input is invalid; nothing was sent to ConnectWise."""


class ConfigurationError(InputError):
    """A client or CLI setting is invalid (a non-HTTPS URL, malformed credentials, ...)."""


class UnknownCompanyError(ConfigurationError):
    """The ConnectWise site does not know the login company id (`Credentials.company_id`): its
    `/login/companyinfo/<company id>` answered 404 or named no codebase.

    Attributes:
        company_id: The company id it does not know.
    """

    def __init__(self, message: str, *, company_id: str) -> None:
        super().__init__(message)
        self.company_id = company_id


class FieldError(NamedTuple):
    """One entry of a ConnectWise error body's `errors` list.

    Attributes:
        code: ConnectWise's code for the problem (`InvalidField`, `Required`, ...).
        message: What ConnectWise says is wrong.
        resource: The resource concerned (`agreementAddition`).
        field: The field concerned (`unitPrice`).
        details: More detail, when ConnectWise gives it.
    """

    code: str | None = None
    message: str | None = None
    resource: str | None = None
    field: str | None = None
    details: str | None = None


class ConnectWiseAPIError(PSAError):
    """ConnectWise answered with an HTTP error status (for a write: `outcome` `refused`, but
    for a 429 and some 5xx).

    Attributes:
        status_code: The HTTP status.
        code: ConnectWise's error `code` (`"InvalidObject"`, `"NotFound"`, ...), if any.
        message: ConnectWise's `message`, or a description of the body when it was not JSON.
        errors (tuple[FieldError, ...]): The body's `errors` list (field-level problems),
            possibly empty.
        method: The request's HTTP method.
        url: The request URL without its query string.
        request_id: The `x-cw-request-id` response header: quote it to ConnectWise support.
        has_error_body: `True` when the body was ConnectWise's own JSON error (with a `code`):
            ConnectWise itself answered. `False` for a gateway's or proxy's page, or no body:
            for a write, whether ConnectWise applied it is then unknown.
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        method: str,
        url: str,
        code: str | None = None,
        errors: Sequence[FieldError] = (),
        request_id: str | None = None,
        has_error_body: bool = False,
    ) -> None:
        self.status_code = status_code
        self.code = code
        self.message = message
        self.errors = tuple(errors)
        self.method = method
        self.url = url
        self.request_id = request_id
        self.has_error_body = has_error_body
        super().__init__(self._describe())

    _outcome: ClassVar[WriteOutcome] = "refused"

    def _describe(self) -> str:
        head = f"{self.method} {self.url} -> {self.status_code}"
        if self.code:
            head += f" {self.code}"
        text = f"{head}: {self.message}"
        details = "; ".join(
            f"{e.field or e.resource or '?'}: {e.message or e.code or ''}".strip()
            for e in self.errors
        )
        if details:
            text += f" ({details})"
        if self.request_id:
            text += f" [request id {self.request_id}]"
        return text


class BadRequestError(ConnectWiseAPIError, WriteRefusedError):
    """400: ConnectWise rejected the request as invalid."""


class AuthenticationError(ConnectWiseAPIError, CredentialsRefusedError):
    """401: the credentials (company id, public/private key or clientId) were refused."""


class PermissionDeniedError(ConnectWiseAPIError, AccessDeniedError):
    """403: the API member's security role lacks access (for example to that company)."""


class NotFoundError(ConnectWiseAPIError, PSANotFoundError):
    """404: no such record (on cloud sites also a wrong codebase or bad credentials)."""


class ConflictError(ConnectWiseAPIError, WriteRefusedError):
    """409: the record changed or conflicts with another."""


class RateLimitError(ConnectWiseAPIError):
    """429: ConnectWise throttled the request.

    Attributes:
        retry_after: Seconds the server asked us to wait, if it said.
    """

    def __init__(self, message: str, *, retry_after: float | None = None, **kw: Any) -> None:
        self.retry_after = retry_after
        super().__init__(message, **kw)

    # ConnectWise throttles a request before it processes it.
    _outcome: ClassVar[WriteOutcome] = "not_sent"

    def failure(self, name: str) -> str | None:
        return f"{name} throttled it"


_GATEWAY_STATUSES = frozenset({502, 504})


class ServerError(ConnectWiseAPIError, OutcomeUnknownError):
    """5xx: ConnectWise (or a proxy in front of it) failed.

    A write's outcome is `unknown` after a 502 or 504, or a 5xx without ConnectWise's JSON
    error body (a gateway's page: the write may well have gone through); `refused` after a
    500 or 503 with ConnectWise's own error body.
    """

    @property
    def outcome(self) -> WriteOutcome:
        """`unknown` after a 502 or 504 or without ConnectWise's error body; else `refused`."""
        if self.status_code in _GATEWAY_STATUSES or not self.has_error_body:
            return "unknown"
        return "refused"

    def failure(self, name: str) -> str | None:
        return f"{name} answered {self.status_code}"


class ThrottleBudgetSpent(RateLimitError):
    """A 429 whose wait the run's throttle budget (`RetryPolicy.throttle_budget`) no longer
    covers: a run ends with its report (`stopped` says `throttled`) instead of waiting on."""


STATUS_ERRORS: Mapping[int, type[ConnectWiseAPIError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    429: RateLimitError,
}
"""HTTP status -> exception class; 5xx map to `ServerError`, anything else to the base class."""


def error_class_for(status_code: int) -> type[ConnectWiseAPIError]:
    """The exception class for an HTTP error status."""
    if status_code >= 500:
        return ServerError
    return STATUS_ERRORS.get(status_code, ConnectWiseAPIError)


class APIConnectionError(PSAUnreachableError):
    """No usable HTTP answer: connection refused or dropped, TLS failure, ...

    A neutral [`PSAUnreachableError`][connectwise_billing.errors.PSAUnreachableError] whether
    or not the request was sent: the circuit breaker counts both as ConnectWise unreachable.
    For a write, `outcome` is `not_sent` only when `request_sent` is `False`.

    Attributes:
        method: The request's HTTP method.
        url: The request URL without its query string.
        request_sent: `False` when no connection was ever established, so the server cannot
            have seen the request; `True` when it may have been received (and, for a write,
            applied).
    """

    def __init__(self, message: str, *, method: str, url: str, request_sent: bool = True) -> None:
        self.method = method
        self.url = url
        self.request_sent = request_sent
        super().__init__(f"{method} {url}: {message}")

    @property
    def outcome(self) -> WriteOutcome:
        """`unknown` when the request may have been received (`request_sent`), else
        `not_sent`."""
        return "unknown" if self.request_sent else "not_sent"


class APITimeoutError(APIConnectionError):
    """The request timed out (connect, read, write or pool timeout)."""


class UnexpectedResponseError(OutcomeUnknownError):
    """The answer is not what ConnectWise sends: a redirect, not JSON, JSON of the wrong shape,
    a listing that never ends, or a record whose field a sync decides with cannot be used. A
    redirect is never followed: it would carry the credentials to another address. A write
    answered so may have gone through (a proxy answered): its outcome is unknown.

    For a record, the message names it, the field and the value:
    `addition 77 on agreement 314: unitPrice '' is not a number`.

    Attributes:
        message: What was wrong.
        status_code: The HTTP status of the answer.
        method: The request's HTTP method.
        url: The request URL without its query string.
        record: The record, for a record's problem (`addition 77 on agreement 314`).
        field: The field's wire name, for a record's problem (`unitPrice`).
        value: The field's raw value, for a record's problem.
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        method: str,
        url: str,
        record: str | None = None,
        field: str | None = None,
        value: Any = None,
    ) -> None:
        self.message = message
        self.status_code = status_code
        self.method = method
        self.url = url
        self.record = record
        self.field = field
        self.value = value
        if record is not None:
            super().__init__(f"{message} (in the answer to {method} {url})")
        else:
            super().__init__(f"{method} {url} -> {status_code}: {message}")

    def failure(self, name: str) -> str | None:
        # One record's bad field is the agreement's own problem, not ConnectWise's.
        return None if self.record is not None else f"{name}'s answers were not what it sends"


class MappingError(InputError):
    """A plan mapping is invalid: one product mapped to two plans, or a malformed entry.

    Sharing a product between plans would make the synced quantities wrong (each plan would
    overwrite the other's seat count on the same addition).
    """


class UnknownPlanError(InputError):
    """Seats or a custom price name a plan that is not in the plan list."""


class DuplicatePlanError(InputError):
    """Two plans in the plan list share one id."""


class InvalidSeatsError(InputError):
    """A seat count is negative or not a whole number."""


class InvalidPriceError(InputError):
    """A price or cost is negative, NaN, infinite or not a number."""


class InvalidDiscountError(InputError):
    """A discount is outside 0..100 percent or not a number."""


class SmallDiscountWarning(UserWarning):
    """A discount between 0 and 1 percent: most likely 10% written as 0.1 (`discount_percent`
    is a percentage). The sync goes on with it as given."""


class ChangeSetError(InputError):
    """A change set cannot be applied: malformed (the message names the place in the file),
    expired, or planned against another PSA tenant; or an undo names a run its audit log does
    not hold. Nothing was written."""


class DuplicateAgreementError(InputError):
    """Two usages name the same agreement: a company linked to two agreements is two usages,
    but one agreement cannot be billed for two usages."""


class RateLimiterError(PSAError):
    """The client's rate limiter could not be used: the Redis of a
    [`RedisRateLimiter`][connectwise_billing.client._ratelimit.RedisRateLimiter] failed, timed
    out or went away. Raised before the request was sent: nothing reached ConnectWise."""

    _outcome: ClassVar[WriteOutcome] = "not_sent"
