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

What a backend raises, the applier understands through the SDK's errors:

| when | raise |
|---|---|
| a write's answer was lost: it may have landed | `APIConnectionError(request_sent=True)` |
| a write provably did not reach the PSA | `APIConnectionError(request_sent=False)` |
| the PSA refused a write | a `ConnectWiseAPIError` (`BadRequestError`, ...) |
| the agreement or line does not exist | `NotFoundError` |
| the integration may not see it | `PermissionDeniedError` |
| the credentials are refused | `AuthenticationError` (ends the run) |

A backend may also offer `find_agreements(company_id, company_name, today)`, a customer's
active agreements as [`AgreementCandidate`][connectwise_billing.backend.AgreementCandidate]s (by
its id, or else by its name): reports then name them as what to link in place of an agreement
that is gone or closed. It is optional; without it, reports name none.

Imports no HTTP library.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Literal, Protocol, runtime_checkable

import attrs

if TYPE_CHECKING:
    from connectwise_billing.reconcile import (
        AdditionLike,
        CancelAddition,
        CreateAddition,
        UpdateAddition,
    )
    from connectwise_billing.retry import RetryPolicy

__all__ = [
    "AgreementCandidate",
    "AgreementState",
    "AgreementStatus",
    "AsyncBillingBackend",
    "BillingBackend",
    "CatalogItem",
]

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
            rather than about the agreement (`ConnectWise could not be reached`): the run's
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
    """What the applier and the sync need from a PSA (the sync twin)."""

    @property
    def name(self) -> str:
        """How messages name the PSA (`"ConnectWise"`)."""

    @property
    def retry(self) -> RetryPolicy:
        """Its `settle_timeout` and `settle_interval` bound the re-reads that settle a write
        whose answer was lost; its `sleep` waits between them."""

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
        """One line; `NotFoundError` if it is gone."""

    def create_line(self, operation: CreateAddition) -> AdditionLike:
        """Create the line; return it as the PSA stored it. Never resend it after it may have
        reached the PSA: raise, and the applier settles the outcome by reading."""

    def update_line(self, operation: UpdateAddition) -> AdditionLike:
        """Write the new values of `operation.changes`; return the line as the PSA answered."""

    def cancel_line(self, operation: CancelAddition) -> AdditionLike:
        """Set the line's cancelled date (its billing history stays); return the line."""


@runtime_checkable
class AsyncBillingBackend(Protocol):
    """The asyncio twin of [`BillingBackend`][connectwise_billing.backend.BillingBackend]:
    the same operations, awaited."""

    @property
    def name(self) -> str:
        """How messages name the PSA."""

    @property
    def retry(self) -> RetryPolicy:
        """The policy of the settle re-reads and their waits."""

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
        """One line; `NotFoundError` if it is gone."""

    async def create_line(self, operation: CreateAddition) -> AdditionLike:
        """Create the line; return it as the PSA stored it."""

    async def update_line(self, operation: UpdateAddition) -> AdditionLike:
        """Write the new values of `operation.changes`; return the line."""

    async def cancel_line(self, operation: CancelAddition) -> AdditionLike:
        """Set the line's cancelled date; return the line."""
