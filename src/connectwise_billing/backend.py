"""The PSA-neutral billing backend: the few operations the applier and the sync need from a PSA.

The reconciler speaks of plans, products and billable lines (ConnectWise calls them agreement
additions); the applier writes its operations through a backend. `ConnectWiseBackend`
([`connectwise_billing.ConnectWiseBackend`][connectwise_billing.ConnectWiseBackend]) is one;
another PSA (Autotask, HaloPSA, Syncro) implements the same
[`BillingBackend`][connectwise_billing.backend.BillingBackend] (or its async twin) and gets the
whole applier: writes sent once and settled by reading, per-agreement locks, reports.

What a backend returns, the reconciler reads: a line has `id`, `product` (with an `id`),
`quantity`, `unit_price`, `unit_cost` and `cancelled_date` (see
[`AdditionLike`][connectwise_billing.reconcile.AdditionLike]), and may have `updated_by` and
`last_updated` for manual-edit detection.

What a backend raises, the applier understands through the PSA-neutral errors defined here
(the ConnectWise errors derive from them: `NotFoundError` is a `PSANotFoundError`, ...):

| when | raise |
|---|---|
| a write's answer was lost: it may have landed | `OutcomeUnknownError` |
| the request provably did not reach the PSA | `PSAUnreachableError` |
| the PSA refused a write | `WriteRefusedError` (not sent again) |
| the agreement or line does not exist | `PSANotFoundError` |
| the integration may not see it | `AccessDeniedError` |
| the credentials are refused | `CredentialsRefusedError` (ends the run) |

Their messages are the backend's own; the applier names the PSA by the backend's `name`.

Besides the operations of [`BillingBackend`][connectwise_billing.backend.BillingBackend], a
backend may have a `settle` attribute, the
[`SettlePolicy`][connectwise_billing.backend.SettlePolicy] of the re-reads that settle a write
whose answer was lost (without it, the defaults); and it counts each request it sends to its PSA
with [`record_request`][connectwise_billing.backend.record_request], for the reports'
`api_calls` (the ConnectWise client does so for every attempt).

A backend may also offer `find_agreements(company_id, company_name, today)`, a customer's
active agreements as [`AgreementCandidate`][connectwise_billing.backend.AgreementCandidate]s (by
its id, or else by its name): reports then name them as what to link in place of an agreement
that is gone or closed. It is optional; without it, reports name none.

Imports no HTTP library.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

import attrs

from connectwise_billing import _waits
from connectwise_billing._accounting import record_request
from connectwise_billing.errors import (
    AccessDeniedError,
    CredentialsRefusedError,
    InputError,
    OutcomeUnknownError,
    PSAError,
    PSANotFoundError,
    PSAUnreachableError,
    WriteRefusedError,
)

if TYPE_CHECKING:
    from connectwise_billing.reconcile import (
        AdditionLike,
        CancelAddition,
        CreateAddition,
        UpdateAddition,
    )

__all__ = [
    "AccessDeniedError",
    "AgreementCandidate",
    "AgreementState",
    "AgreementStatus",
    "AsyncBillingBackend",
    "BillingBackend",
    "CatalogItem",
    "CredentialsRefusedError",
    "OutcomeUnknownError",
    "PSAError",
    "PSANotFoundError",
    "PSAUnreachableError",
    "SettlePolicy",
    "WriteOutcome",
    "WriteRefusedError",
    "record_request",
    "write_outcome",
]

WriteOutcome = Literal["not_sent", "unknown", "refused"]
"""What a failed write says about the PSA's state: `not_sent` (it never reached the PSA, or the
PSA turned it away unprocessed), `unknown` (it was sent and may have been applied), or `refused`
(the PSA answered that it did not apply it)."""


def write_outcome(error: BaseException) -> WriteOutcome:
    """Classify the error a write ended with, by the neutral errors alone: a
    [`PSAError`][connectwise_billing.errors.PSAError] says (its `outcome`); an `InputError` is
    raised before anything is sent (`not_sent`); anything else may have happened after the write
    reached the PSA (`unknown`)."""
    if isinstance(error, PSAError):
        return error.outcome
    if isinstance(error, InputError):
        return "not_sent"
    return "unknown"


def _not_negative(name: str) -> Any:
    def check(_instance: Any, _attribute: Any, value: float) -> None:
        if not value >= 0:
            raise ValueError(f"SettlePolicy.{name} must not be negative, got {value!r}")

    return check


@attrs.frozen(slots=False)
class SettlePolicy:
    """How the applier learns what became of a write whose answer was lost: by reading, never
    by sending a create again.

    Attributes:
        settle_timeout: How long, in seconds, the applier keeps re-reading (default 10). A
            write the re-reads do not show by then is reported `"unknown"` and left to the
            next sync, which reads the truth.
        settle_interval: Seconds between those re-reads (default 2); the first is immediate.
        max_attempts: Sends of one update or cancel in all (default 5): one the re-reads show
            did not land is sent again, since it replaces fields and a second copy changes
            nothing more. A create is sent once.
        initial_backoff: Seconds before the first such send again (default 0.5); the wait
            doubles with each one, up to `max_backoff`.
        max_backoff: The longest of those waits, in seconds (default 30).
        jitter: Spread each of those waits randomly over [wait/2, wait].
        wait: `False` makes every wait zero (meant for tests: `SettlePolicy(wait=False)`).
    """

    settle_timeout: float = attrs.field(default=10.0, validator=_not_negative("settle_timeout"))
    settle_interval: float = attrs.field(default=2.0)
    max_attempts: int = attrs.field(default=5)
    initial_backoff: float = attrs.field(default=0.5, validator=_not_negative("initial_backoff"))
    max_backoff: float = attrs.field(default=30.0, validator=_not_negative("max_backoff"))
    jitter: bool = True
    wait: bool = True

    @settle_interval.validator
    def _check_interval(self, _attribute: Any, value: float) -> None:
        if not value > 0:
            raise ValueError(f"SettlePolicy.settle_interval must be positive, got {value!r}")

    @max_attempts.validator
    def _check_attempts(self, _attribute: Any, value: int) -> None:
        if value < 1:
            raise ValueError(f"SettlePolicy.max_attempts must be at least 1, got {value!r}")

    def settle_waits(self, within: float | None = None) -> list[float]:
        """The waits between the re-reads that settle a write: one every `settle_interval`,
        adding up to `settle_timeout` (or to `within` seconds, what is left of it)."""
        waits: list[float] = []
        left = self.settle_timeout if within is None else within
        while left > 1e-9:
            waits.append(min(self.settle_interval, left))
            left -= waits[-1]
        return waits

    def resend_wait(
        self, sent: int, rng: Callable[[float, float], float] = random.uniform
    ) -> float:
        """Seconds to wait before sending an update or cancel again, after `sent` sends."""
        backoff = min(self.max_backoff, self.initial_backoff * 2 ** (sent - 1))
        return rng(backoff / 2, backoff) if self.jitter else backoff

    def sleep(self, seconds: float) -> None:
        """Wait `seconds`, unless `wait` is off (and no time at all in testing mode: see
        [`set_testing`][connectwise_billing._waits.set_testing])."""
        if self.wait:
            _waits.sleep(seconds)

    async def asleep(self, seconds: float) -> None:
        """The asyncio twin of [`sleep`][connectwise_billing.backend.SettlePolicy.sleep]."""
        if self.wait:
            await _waits.asleep(seconds)


AgreementStatus = Literal["open", "closed", "unavailable"]
"""`open` (a sync may write to it), `closed` (cancelled, expired, ended: nothing is written, and
the agreement is reported skipped), `unavailable` (it cannot be read: not found, no access)."""


@attrs.frozen(slots=False)
class AgreementState:
    """Whether a sync may write to one agreement, as its PSA says.

    Attributes:
        agreement_id: The agreement.
        status: See `AgreementStatus`.
        reason: Why it is closed or unavailable, as a report should say it.
        failure: For an unavailable agreement, when the failure says something about the PSA
            rather than about the agreement (`<PSA name> could not be reached`; see
            [`PSAError.failure`][connectwise_billing.errors.PSAError.failure]): the run's
            circuit breaker counts agreements in a row that failed the same way.
        company_id: The PSA's id of the customer the agreement bills, when it says: a sync
            refuses to write to an agreement of another customer than the usage names.
        company_name: That customer's name.
        company_identifier: That customer's short identifier, if the PSA has one.
        gone: The agreement is not the customer's to bill: the PSA says it does not exist
            (deleted, or replaced), or it belongs to another customer. A report offers the
            customer's active agreements to link instead (as for a closed one).
    """

    agreement_id: int
    status: AgreementStatus
    reason: str | None = None
    failure: str | None = None
    company_id: int | None = None
    company_name: str | None = None
    company_identifier: str | None = None
    gone: bool = False


@attrs.frozen(slots=False)
class AgreementCandidate:
    """An active agreement of a customer: what a person may link in place of one that is gone,
    closed, or another customer's.

    Attributes:
        id: The agreement's id in the PSA.
        name: Its name.
        type: Its type (ConnectWise: the agreement type's name), if the PSA has types.
        start_date: When it starts.
        company_id: The customer it bills.
        company_name: That customer's name.
    """

    id: int
    name: str | None
    type: str | None = None
    start_date: date | None = None
    company_id: int | None = None
    company_name: str | None = None


@attrs.frozen(slots=False)
class CatalogItem:
    """A product of the PSA's catalog, as the mapping check and the price refresh read it.

    Attributes:
        id: The product's id: what a plan is mapped to.
        name: How the PSA names it (ConnectWise: its identifier).
        active: Whether it may be billed.
        price: Its catalog price per unit, if the PSA gives one.
        cost: Its catalog cost per unit, if the PSA gives one.
    """

    id: int
    name: str | None
    active: bool
    price: Decimal | None = None
    cost: Decimal | None = None


@runtime_checkable
class BillingBackend(Protocol):
    """What the applier and the sync need from a PSA (the sync twin).

    Optional, and read when present: `settle` (a
    [`SettlePolicy`][connectwise_billing.backend.SettlePolicy]; without it, the defaults) and
    `find_agreements` (see the module). A backend written before `settle` existed and that has
    a `retry` [`RetryPolicy`][connectwise_billing.RetryPolicy] keeps its settle timings: they
    are read from it.
    """

    @property
    def name(self) -> str:
        """How messages name the PSA (`"ConnectWise"`)."""

    @property
    def scope(self) -> str:
        """The PSA tenant, as the key of an agreement's lock names it (ConnectWise:
        `connectwise/<login company id>`): the same for every run against this tenant,
        whatever URL it reaches it by, and different for any other tenant."""

    def read_catalog(self, product_ids: Sequence[int]) -> Mapping[int, CatalogItem]:
        """The catalog items with these ids that the integration can read (others are left
        out)."""

    def describe_agreements(
        self, agreement_ids: Sequence[int], today: date
    ) -> Mapping[int, AgreementState]:
        """The state of each agreement on `today` (an agreement that ended before it is
        closed), with the customer it bills when the PSA says."""

    def read_lines(self, agreement_id: int) -> Sequence[AdditionLike]:
        """Every billable line of one agreement, of every product (the reconciler warns about
        the lines of products that are not mapped, and leaves them alone). Raise rather than
        return a line whose quantity, price, cost or product cannot be read."""

    def read_line(self, agreement_id: int, line_id: int) -> AdditionLike:
        """One line; `PSANotFoundError` if it is gone."""

    def create_line(self, operation: CreateAddition) -> AdditionLike:
        """Create the line; return it as the PSA stored it. Never resend it after it may have
        reached the PSA: raise, and the applier settles the outcome by reading."""

    def update_line(self, operation: UpdateAddition) -> AdditionLike:
        """Write the new values of `operation.changes` to line `operation.line_id`; return the
        line as the PSA answered."""

    def cancel_line(self, operation: CancelAddition) -> AdditionLike:
        """Set the cancelled date of line `operation.line_id` (its billing history stays);
        return the line."""


@runtime_checkable
class AsyncBillingBackend(Protocol):
    """The asyncio twin of [`BillingBackend`][connectwise_billing.backend.BillingBackend]:
    the same operations, awaited (and the same optional `settle`)."""

    @property
    def name(self) -> str:
        """How messages name the PSA."""

    @property
    def scope(self) -> str:
        """The PSA tenant, as lock keys name it."""

    async def read_catalog(self, product_ids: Sequence[int]) -> Mapping[int, CatalogItem]:
        """The catalog items with these ids that the integration can read."""

    async def describe_agreements(
        self, agreement_ids: Sequence[int], today: date
    ) -> Mapping[int, AgreementState]:
        """The state of each agreement on `today`."""

    async def read_lines(self, agreement_id: int) -> Sequence[AdditionLike]:
        """Every billable line of one agreement."""

    async def read_line(self, agreement_id: int, line_id: int) -> AdditionLike:
        """One line; `PSANotFoundError` if it is gone."""

    async def create_line(self, operation: CreateAddition) -> AdditionLike:
        """Create the line; return it as the PSA stored it."""

    async def update_line(self, operation: UpdateAddition) -> AdditionLike:
        """Write the new values of `operation.changes`; return the line."""

    async def cancel_line(self, operation: CancelAddition) -> AdditionLike:
        """Set the line's cancelled date; return the line."""
