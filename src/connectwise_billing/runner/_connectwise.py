"""`ConnectWiseBackend`: the billing backend for ConnectWise Manage, over the typed client.

Billable lines are agreement additions; the catalog is `/procurement/catalog`. What only
ConnectWise has is an option of this backend: `bill_customer`, the `billCustomer` of the
additions it creates. Each operation is a flow of client calls written once (see
[`connectwise_billing.client._calls`][connectwise_billing.client._calls]); the sync and the
async backend only run it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any, Final, TypeVar
from urllib.parse import quote

from connectwise_billing._flow import Flow, arun, ask, run
from connectwise_billing._log import logger
from connectwise_billing._retry import RetryPolicy
from connectwise_billing.backend import (
    AgreementCandidate,
    AgreementState,
    CatalogItem,
    SettlePolicy,
)
from connectwise_billing.client import AsyncConnectWiseClient, ConnectWiseClient
from connectwise_billing.client._api import NO_OPTIONS
from connectwise_billing.client._calls import Call, Collect, Fetch
from connectwise_billing.client._conditions import Field
from connectwise_billing.client._models import Addition, Agreement, NewAddition, Product
from connectwise_billing.defaults import BILL_CUSTOMER_VALUES, DEFAULT_PAGE_SIZE
from connectwise_billing.errors import (
    ConfigurationError,
    ConnectWiseBillingError,
    NotFoundError,
    PermissionDeniedError,
)
from connectwise_billing.reconcile import CancelAddition, CreateAddition, UpdateAddition
from connectwise_billing.runner._failures import failure_kind
from connectwise_billing.runner._links import normalise_company_name

__all__ = [
    "NOT_FOUND",
    "NO_ACCESS",
    "AsyncConnectWiseBackend",
    "ConnectWiseBackend",
    "agreement_problem",
    "id_chunks",
]

T = TypeVar("T")

LINE_FIELDS: Final = (
    "id",
    "product/id",
    "product/identifier",
    "quantity",
    "lessIncluded",
    "unitPrice",
    "unitCost",
    "billCustomer",
    "effectiveDate",
    "cancelledDate",
    "agreementId",
    "_info/lastUpdated",
    "_info/updatedBy",
)
"""What a sync reads of each addition: what reconciliation and drift detection need."""
PRODUCT_FIELDS: Final = ("identifier", "price", "cost", "inactiveFlag")
"""What a sync reads of a mapped catalog item: whether it is usable, and its price and cost."""
AGREEMENT_FIELDS: Final = (
    "id",
    "name",
    "company/id",
    "company/identifier",
    "company/name",
    "agreementStatus",
    "cancelledFlag",
    "endDate",
    "noEndingDateFlag",
)
CANDIDATE_FIELDS: Final = (
    "id",
    "name",
    "type/name",
    "startDate",
    "company/id",
    "company/name",
    "agreementStatus",
    "cancelledFlag",
    "endDate",
    "noEndingDateFlag",
)
"""What a sync reads of a company's agreements to offer them for re-linking."""
MAX_CONDITION_CHARS: Final = 1500
"""Longest URL-encoded `id in (...)` condition: keeps request URLs under ~2,000 characters."""
NOT_FOUND: Final = (
    "agreement not found: it was deleted or replaced in ConnectWise; link the new one"
)
"""What a report says of a linked agreement ConnectWise does not find (a 404)."""
NO_ACCESS: Final = (
    "the API member has no access to this company: give its security role access, "
    "or unlink the agreement"
)
"""What a report says of an agreement whose company the API member cannot see (a 403)."""

_ADDITIONS = ConnectWiseClient.additions
_AGREEMENTS = ConnectWiseClient.agreements
_PRODUCTS = ConnectWiseClient.products


def id_chunks(ids: Sequence[int], max_chars: int = MAX_CONDITION_CHARS) -> list[list[int]]:
    """Split ids into groups whose URL-encoded `id in (...)` condition fits `max_chars`."""
    chunks: list[list[int]] = []
    current: list[int] = []
    length = len(quote("id in ()"))
    for record_id in ids:
        extra = len(quote(f",{record_id}"))
        if current and length + extra > max_chars:
            chunks.append(current)
            current, length = [], len(quote("id in ()"))
        current.append(record_id)
        length += extra
    if current:
        chunks.append(current)
    return chunks


def agreement_problem(agreement: Agreement, today: date) -> str | None:
    """Why an agreement must not be written to, or `None`."""
    status = agreement.agreement_status
    if agreement.cancelled_flag or status == "Cancelled":
        return "the agreement is cancelled in ConnectWise; nothing written"
    if status in ("Expired", "Inactive"):
        return f"the agreement is {status.lower()} in ConnectWise; nothing written"
    ended = agreement.end_date
    if ended is not None and not agreement.no_ending_date_flag and ended.date() < today:
        return f"the agreement ended on {ended.date().isoformat()}; nothing written"
    return None


def _state(agreement: Agreement, today: date) -> AgreementState:
    problem = agreement_problem(agreement, today)
    company = agreement.company
    return AgreementState(
        agreement.id,
        "closed" if problem else "open",
        problem,
        company_id=company.id if company else None,
        company_name=company.name if company else None,
        company_identifier=company.identifier if company else None,
    )


def _candidate(agreement: Agreement) -> AgreementCandidate:
    company, kind, start = agreement.company, agreement.type, agreement.start_date
    return AgreementCandidate(
        agreement.id,
        agreement.name,
        kind.name if kind else None,
        start.date() if start else None,
        company.id if company else None,
        company.name if company else None,
    )


class _ConnectWise:
    """The flows of every operation, shared by both backends (pure: no I/O)."""

    name = "ConnectWise"
    """The PSA's name, as reports say it."""

    def __init__(
        self, client: ConnectWiseClient | AsyncConnectWiseClient, bill_customer: str
    ) -> None:
        if bill_customer not in BILL_CUSTOMER_VALUES:
            allowed = ", ".join(BILL_CUSTOMER_VALUES)
            raise ConfigurationError(
                f"bill_customer must be one of {allowed}; got {bill_customer!r}"
            )
        self.bill_customer = bill_customer
        """The `billCustomer` of the additions it creates."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.client!r}, bill_customer={self.bill_customer!r})"

    client: ConnectWiseClient | AsyncConnectWiseClient
    """The client it reads and writes through."""

    @property
    def retry(self) -> RetryPolicy:
        """The client's retry policy."""
        return self.client.retry

    @property
    def settle(self) -> SettlePolicy:
        """The applier's settle re-reads and resends, from the client's retry policy
        (`settle_timeout`, `settle_interval`, `max_attempts`, its backoff and `wait`)."""
        return self.client.retry.settle

    @property
    def throttle_budget(self) -> float | None:
        """Seconds of 429 waits a run may spend: the client's `RetryPolicy.throttle_budget`."""
        return self.client.retry.throttle_budget

    @property
    def scope(self) -> str:
        """`connectwise/<login company id>`, case-folded: the tenant, however the site, the
        host or the base URL are spelled."""
        return f"connectwise/{self.client.credentials.company_id.strip().casefold()}"

    def _lines(self, agreement_id: int) -> Flow[Call[Any], list[Addition]]:
        query = _ADDITIONS.query(
            _ADDITIONS.parents(agreement_id), None, {}, LINE_FIELDS, None, DEFAULT_PAGE_SIZE,
            NO_OPTIONS,
        )  # fmt: skip
        return (yield from ask(Collect(query, Addition, strict=True)))

    def _line(self, agreement_id: int, line_id: int) -> Flow[Call[Any], Addition]:
        request = _ADDITIONS.get(_ADDITIONS.parents(agreement_id), line_id, None, NO_OPTIONS)
        return (yield from ask(Fetch(request, Addition)))

    def _create(self, op: CreateAddition) -> Flow[Call[Any], Addition]:
        new = NewAddition(
            op.product_id,
            op.quantity,
            unit_price=op.unit_price,
            unit_cost=op.unit_cost,
            bill_customer=op.bill_customer or self.bill_customer,
            effective_date=op.effective_date,
        )
        request = _ADDITIONS.create(op.agreement_id, new, NO_OPTIONS)
        return (yield from ask(Fetch(request, Addition)))

    def _patch(
        self, agreement_id: int, line_id: int, values: Mapping[str, Any]
    ) -> Flow[Call[Any], Addition]:
        request = _ADDITIONS.update(agreement_id, line_id, values, NO_OPTIONS)
        return (yield from ask(Fetch(request, Addition)))

    def _update(self, op: UpdateAddition) -> Flow[Call[Any], Addition]:
        values: dict[str, Any] = {field: change.new for field, change in op.changes.items()}
        return (yield from self._patch(op.agreement_id, op.line_id, values))

    def _cancel(self, op: CancelAddition) -> Flow[Call[Any], Addition]:
        values: dict[str, Any] = {"cancelled_date": op.cancelled_date}
        return (yield from self._patch(op.agreement_id, op.line_id, values))

    def _catalog(self, product_ids: Sequence[int]) -> Flow[Call[Any], dict[int, CatalogItem]]:
        """Catalog items in batches; a failed batch fails the read (it decides whether a
        sync may start)."""
        items: dict[int, CatalogItem] = {}
        for chunk in id_chunks(sorted(set(product_ids))):
            query = _PRODUCTS.query(
                (), Field("id").in_(chunk), {}, PRODUCT_FIELDS, None, DEFAULT_PAGE_SIZE,
                NO_OPTIONS,
            )  # fmt: skip
            batch: list[Product] = yield from ask(Collect(query, Product, strict=True))
            items.update(
                (p.id, CatalogItem(p.id, p.identifier, not p.inactive, p.price, p.cost))
                for p in batch
                if p.id in chunk
            )
        return items

    def _candidates(
        self, company_id: int | None, company_name: str | None, today: date
    ) -> Flow[Call[Any], list[AgreementCandidate]]:
        """One read: the company's agreements (by id; or, without one, those whose company
        name contains the name's longest word, kept when the whole name matches once
        normalised, and only when they are all one company's), active on `today`."""
        if company_id is not None:
            where = Field("company/id") == company_id
        elif company_name and normalise_company_name(company_name):
            wanted = normalise_company_name(company_name)
            where = Field("company/name").contains(max(wanted.split(), key=len))
        else:
            return []
        where = where & (Field("cancelledFlag") == False)  # noqa: E712 - a condition, not a test
        query = _AGREEMENTS.query(
            (), where, {}, CANDIDATE_FIELDS, "id", DEFAULT_PAGE_SIZE, NO_OPTIONS
        )
        agreements: list[Agreement] = yield from ask(Collect(query, Agreement))
        found = [
            _candidate(agreement)
            for agreement in agreements
            if agreement_problem(agreement, today) is None
            and (
                company_id is not None
                or (
                    agreement.company is not None
                    and normalise_company_name(agreement.company.name or "") == wanted
                )
            )
        ]
        # Found by name, agreements of two companies are two customers who share a name:
        # offering them would invite linking another customer's agreement. None is offered.
        return found if len({c.company_id for c in found}) <= 1 else []

    def _agreements(
        self, agreement_ids: Sequence[int], today: date
    ) -> Flow[Call[Any], dict[int, AgreementState]]:
        """Agreements in batches; the ones a batch did not return are read one by one, to tell
        a deleted agreement (404) from one the API member cannot see (403)."""
        found: dict[int, Agreement] = {}
        for chunk in id_chunks(agreement_ids):
            found.update((yield from self._agreement_batch(chunk)))
        return (yield from self._agreement_states(agreement_ids, found, today))

    def _agreement_batch(self, chunk: Sequence[int]) -> Flow[Call[Any], dict[int, Agreement]]:
        """One batch of agreements, by id; none when the batch read fails (they are read one
        by one then)."""
        query = _AGREEMENTS.query(
            (), Field("id").in_(chunk), {}, AGREEMENT_FIELDS, None, DEFAULT_PAGE_SIZE,
            NO_OPTIONS,
        )  # fmt: skip
        try:
            batch: list[Agreement] = yield from ask(Collect(query, Agreement, strict=True))
        except ConnectWiseBillingError as error:
            logger.warning("batched agreement read failed, reading one by one: %s", error)
            return {}
        return {agreement.id: agreement for agreement in batch if agreement.id in chunk}

    def _agreement_states(
        self, agreement_ids: Sequence[int], found: Mapping[int, Agreement], today: date
    ) -> Flow[Call[Any], dict[int, AgreementState]]:
        """Each agreement's state: from the batches' `found`, or read one by one."""
        states: dict[int, AgreementState] = {}
        for agreement_id in agreement_ids:
            if agreement_id in found:
                states[agreement_id] = _state(found[agreement_id], today)
                continue
            request = _AGREEMENTS.get((), agreement_id, AGREEMENT_FIELDS, NO_OPTIONS)
            try:
                agreement: Agreement = yield from ask(Fetch(request, Agreement))
            except NotFoundError:
                states[agreement_id] = AgreementState(
                    agreement_id, "unavailable", NOT_FOUND, gone=True
                )
            except PermissionDeniedError:
                states[agreement_id] = AgreementState(agreement_id, "unavailable", NO_ACCESS)
            except ConnectWiseBillingError as error:
                states[agreement_id] = AgreementState(
                    agreement_id,
                    "unavailable",
                    f"could not read the agreement: {error}",
                    failure_kind(error, self.name),
                )
            else:
                states[agreement_id] = _state(agreement, today)
        return states


class ConnectWiseBackend(_ConnectWise):
    """The [`BillingBackend`][connectwise_billing.backend.BillingBackend] of ConnectWise
    Manage, over a [`ConnectWiseClient`][connectwise_billing.ConnectWiseClient].

    Args:
        client: The client; its retry policy also bounds the applier's settle re-reads.
        bill_customer: The `billCustomer` of the additions it creates: `"Billable"`
            (default), `"DoNotBill"` or `"NoCharge"`.

    `sync_all(client, ...)` wraps a client in one; pass a backend yourself to set its options.
    """

    def __init__(self, client: ConnectWiseClient, *, bill_customer: str = "Billable") -> None:
        super().__init__(client, bill_customer)
        self.client: ConnectWiseClient = client

    def read_catalog(self, product_ids: Sequence[int]) -> dict[int, CatalogItem]:
        """The mapped catalog items the API member can read, in `id in (...)` batches."""
        return run(self.client, self._catalog(product_ids))

    def describe_agreements(
        self, agreement_ids: Sequence[int], today: date
    ) -> dict[int, AgreementState]:
        """Agreements in batches, the missing ones one by one (404 or 403)."""
        return run(self.client, self._agreements(agreement_ids, today))

    def read_lines(self, agreement_id: int) -> list[Addition]:
        """The agreement's additions, trimmed to what a sync needs; strict."""
        return run(self.client, self._lines(agreement_id))

    def find_agreements(
        self, company_id: int | None, company_name: str | None, today: date
    ) -> list[AgreementCandidate]:
        """A company's active agreements, by its id or else its name (one request): what a
        person may link in place of an agreement that is gone."""
        return run(self.client, self._candidates(company_id, company_name, today))

    def read_line(self, agreement_id: int, line_id: int) -> Addition:
        """One addition."""
        return run(self.client, self._line(agreement_id, line_id))

    def create_line(self, operation: CreateAddition) -> Addition:
        """POST the addition (with this backend's `bill_customer`)."""
        return run(self.client, self._create(operation))

    def update_line(self, operation: UpdateAddition) -> Addition:
        """PATCH the changed fields."""
        return run(self.client, self._update(operation))

    def cancel_line(self, operation: CancelAddition) -> Addition:
        """PATCH the cancelled date."""
        return run(self.client, self._cancel(operation))


class AsyncConnectWiseBackend(_ConnectWise):
    """The asyncio twin of [`ConnectWiseBackend`][connectwise_billing.ConnectWiseBackend], over
    an [`AsyncConnectWiseClient`][connectwise_billing.AsyncConnectWiseClient]."""

    def __init__(self, client: AsyncConnectWiseClient, *, bill_customer: str = "Billable") -> None:
        super().__init__(client, bill_customer)
        self.client: AsyncConnectWiseClient = client

    async def read_catalog(self, product_ids: Sequence[int]) -> dict[int, CatalogItem]:
        """The mapped catalog items the API member can read."""
        return await arun(self.client, self._catalog(product_ids))

    async def describe_agreements(
        self, agreement_ids: Sequence[int], today: date
    ) -> dict[int, AgreementState]:
        """Agreements in batches, read side by side (under the client's rate limiter), the
        missing ones one by one."""
        import asyncio

        chunks = id_chunks(agreement_ids)
        if len(chunks) <= 1:
            return await arun(self.client, self._agreements(agreement_ids, today))
        async with asyncio.TaskGroup() as group:  # one failing for good cancels the others
            batches = [
                group.create_task(arun(self.client, self._agreement_batch(chunk)))
                for chunk in chunks
            ]
        found: dict[int, Agreement] = {}
        for batch in batches:
            found.update(batch.result())
        return await arun(self.client, self._agreement_states(agreement_ids, found, today))

    async def read_lines(self, agreement_id: int) -> list[Addition]:
        """The agreement's additions."""
        return await arun(self.client, self._lines(agreement_id))

    async def find_agreements(
        self, company_id: int | None, company_name: str | None, today: date
    ) -> list[AgreementCandidate]:
        """A company's active agreements (see `ConnectWiseBackend.find_agreements`)."""
        return await arun(self.client, self._candidates(company_id, company_name, today))

    async def read_line(self, agreement_id: int, line_id: int) -> Addition:
        """One addition."""
        return await arun(self.client, self._line(agreement_id, line_id))

    async def create_line(self, operation: CreateAddition) -> Addition:
        """POST the addition."""
        return await arun(self.client, self._create(operation))

    async def update_line(self, operation: UpdateAddition) -> Addition:
        """PATCH the changed fields."""
        return await arun(self.client, self._update(operation))

    async def cancel_line(self, operation: CancelAddition) -> Addition:
        """PATCH the cancelled date."""
        return await arun(self.client, self._cancel(operation))
