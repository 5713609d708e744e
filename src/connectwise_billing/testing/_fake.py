"""`FakeConnectWise`: an in-memory ConnectWise Manage that answers real HTTP requests."""

from __future__ import annotations

import contextlib
import random
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import httpx

from connectwise_billing.client import Credentials
from connectwise_billing.testing import _api
from connectwise_billing.testing._clock import RealTime, TimeSource
from connectwise_billing.testing._collections import (
    ADDITIONS,
    AGREEMENTS,
    CATALOG,
    COMPANIES,
)
from connectwise_billing.testing._faults import FaultPlan
from connectwise_billing.testing._format import API_VERSION, amount, camel, timestamp
from connectwise_billing.testing._http import LoggedRequest, Outcome, TokenBucket, process
from connectwise_billing.testing._records import (
    StoredAddition,
    StoredAgreement,
    StoredCompany,
    StoredProduct,
)
from connectwise_billing.testing._server import running_server
from connectwise_billing.testing._store import Member, Store
from connectwise_billing.testing._transport import AsyncFakeTransport, SyncFakeTransport


class FakeConnectWise(Store):
    """An in-memory ConnectWise Manage for tests, demos and benchmarks.

    Args:
        company_id: The site's company id (what users log in with).
        codebase: What `/login/companyinfo/<company_id>` answers as `Codebase`.
        api_version: The version served when a request does not ask for one.
        latency: Seconds added to every answer.
        rate_limit_per_minute: Answer 429 beyond this many requests per minute (a token bucket
            holding one second's worth); `None` for no limit.
        clock: Returns "now" for `_info.lastUpdated`; defaults to the real UTC time.
        seed: Makes request ids (and `example()` data) reproducible.
        time_source: The clock of delays: latency and the faults that make writes visible
            late. Real time by default; a [`VirtualClock`][connectwise_billing.testing.VirtualClock]
            lets tests move time on without sleeping (in process; the HTTP server always holds
            connections in real time).

    Plug it into a client in process with `transport()` or `async_transport()`, or over real
    HTTP on 127.0.0.1 with `serve()`.
    """

    def __init__(
        self,
        *,
        company_id: str = "fakemsp",
        codebase: str = "v2025_1/",
        api_version: str = API_VERSION,
        latency: float = 0.0,
        rate_limit_per_minute: float | None = None,
        clock: Callable[[], datetime] | None = None,
        seed: int = 0,
        time_source: TimeSource | None = None,
    ) -> None:
        self.company_id = company_id
        self.codebase = codebase
        self.api_version = api_version
        self.latency = latency
        self.faults = FaultPlan()
        """Scripted and random faults: see [`FaultPlan`][connectwise_billing.testing.FaultPlan]."""
        self.request_log: list[LoggedRequest] = []
        """Every request received, in order."""
        self.off_contract = False
        """Whether `set_raw` put values ConnectWise's schema does not allow into the records."""
        self.time: TimeSource = time_source or RealTime()
        """Where the simulator's clock comes from (`RealTime`, or a `VirtualClock`)."""
        super().__init__(
            clock or (lambda: datetime.now(UTC).replace(microsecond=0)), self._monotonic
        )
        self._rng = random.Random(seed)
        self.rate_limit = TokenBucket(rate_limit_per_minute) if rate_limit_per_minute else None
        """The server-side limit's token bucket (`None`: unlimited)."""
        self._members: dict[str, Member] = {}
        self._credentials: list[Credentials] = []

    def _monotonic(self) -> float:
        # Through `self.time` on every call: tests may swap the time source after construction.
        return self.time.monotonic()

    @classmethod
    def example(cls, companies: int = 50, *, seed: int = 1) -> FakeConnectWise:
        """A simulator seeded with a realistic example MSP (see
        [`build_example`][connectwise_billing.testing.build_example]); its API member's
        credentials are `fake.credentials`."""
        from connectwise_billing.testing._example import build_example

        return build_example(companies, seed=seed).fake

    def __repr__(self) -> str:
        return (
            f"FakeConnectWise(company_id={self.company_id!r}, companies={len(self._companies)}, "
            f"agreements={len(self._agreements)}, additions={len(self._additions)})"
        )

    @property
    def rate_limit_per_minute(self) -> float | None:
        """The server-side rate limit (`None`: unlimited)."""
        return self.rate_limit.per_minute if self.rate_limit else None

    @rate_limit_per_minute.setter
    def rate_limit_per_minute(self, value: float | None) -> None:
        with self._lock:
            self.rate_limit = TokenBucket(value) if value else None

    # --- seeding ------------------------------------------------------------------------

    def _new_id(self, requested: int | None) -> int:
        return requested if requested is not None else next(self._ids)

    def add_api_member(
        self,
        public_key: str | None = None,
        private_key: str | None = None,
        *,
        identifier: str = "CloudPanelAPI",
        companies: set[int] | frozenset[int] | None = None,
        client_id: str | None = None,
    ) -> Credentials:
        """Create an API member (keys generated when not given); return its `Credentials`.

        `companies` limits the companies its security role reaches (`None`: all of them).
        """
        number = len(self._members) + 1
        public_key = public_key or f"fakepublic{number:04d}"
        private_key = private_key or f"fakeprivate{self._rng.getrandbits(64):016x}"
        reach = frozenset(companies) if companies is not None else None
        self._members[public_key] = Member(public_key, private_key, identifier, reach)
        client_id = client_id or str(uuid.UUID(int=self._rng.getrandbits(128), version=4))
        credentials = Credentials(self.company_id, public_key, private_key, client_id)
        self._credentials.append(credentials)
        return credentials

    def revoke_api_member(self, public_key: str) -> None:
        """Delete an API member, as an administrator does: its keys are answered 401 from the
        next request on (`add_api_member` with the same keys brings it back)."""
        with self._lock:
            self._members.pop(public_key, None)

    @property
    def credentials(self) -> Credentials:
        """The first API member's credentials (one is created on first use if there is none)."""
        if not self._credentials:
            self.add_api_member()
        return self._credentials[0]

    def add_company(
        self, name: str, *, identifier: str | None = None, id: int | None = None
    ) -> int:
        """Create a company; return its id."""
        with self._lock:
            company_id = self._new_id(id)
            self._companies[company_id] = {
                "id": company_id,
                "identifier": identifier or "".join(ch for ch in name if ch.isalnum())[:25],
                "name": name,
                "status": {"id": 1, "name": "Active"},
                "deletedFlag": False,
                "_info": _api.info_block(self._clock(), "Admin"),
            }
            return company_id

    def add_product(
        self,
        identifier: str,
        *,
        price: Decimal | int | str,
        cost: Decimal | int | str,
        description: str | None = None,
        customer_description: str | None = None,
        product_class: str = "Agreement",
        inactive: bool = False,
        id: int | None = None,
    ) -> int:
        """Create a catalog item; return its id."""
        with self._lock:
            product_id = self._new_id(id)
            self._catalog[product_id] = {
                "id": product_id,
                "identifier": identifier,
                "description": description or identifier,
                "customerDescription": customer_description or description or identifier,
                "inactiveFlag": inactive,
                "subcategory": {"id": 1, "name": "Hosted Email"},
                "type": {"id": 1, "name": "Service"},
                "productClass": product_class,
                "price": amount(price, "price"),
                "cost": amount(cost, "cost"),
                "taxableFlag": False,
                "_info": _api.info_block(self._clock(), "Admin"),
            }
            return product_id

    def add_agreement(
        self,
        company_id: int,
        name: str = "Email Hosting",
        *,
        status: str = "Active",
        start_date: date | datetime | None = None,
        end_date: date | datetime | None = None,
        prorate: bool = False,
        id: int | None = None,
    ) -> int:
        """Create an agreement for a company; return its id. A `"Cancelled"` status also sets
        `cancelledFlag`."""
        company = self._companies[company_id]
        with self._lock:
            agreement_id = self._new_id(id)
            start = start_date or date(2024, 1, 1)
            self._agreements[agreement_id] = {
                "id": agreement_id,
                "name": name,
                "type": {"id": 1, "name": "Email Hosting"},
                "company": {
                    "id": company_id,
                    "identifier": company["identifier"],
                    "name": company["name"],
                },
                "contact": {"id": company_id, "name": f"{company['name']} billing contact"},
                "startDate": timestamp(start),
                "endDate": end_date and timestamp(end_date),
                "noEndingDateFlag": end_date is None,
                "cancelledFlag": status == "Cancelled",
                "prorateFlag": prorate,
                "billingCycle": {"id": 2, "name": "Monthly"},
                "agreementStatus": status,
                "_info": _api.info_block(self._clock(), "Admin"),
            }
            return agreement_id

    def cancel_agreement(self, agreement_id: int) -> None:
        """Cancel an agreement, as a user would in ConnectWise."""
        with self._lock:
            agreement = self._agreements[agreement_id]
            agreement.update(
                agreementStatus="Cancelled",
                cancelledFlag=True,
                dateCancelled=timestamp(self._clock()),
            )

    def delete_agreement(self, agreement_id: int) -> None:
        """Delete an agreement and its additions (links to it now answer 404)."""
        with self._lock:
            del self._agreements[agreement_id]
            for addition_id in self._children.pop((ADDITIONS.name, agreement_id), set()):
                del self._additions[addition_id]

    def add_addition(
        self,
        agreement_id: int,
        product_id: int,
        quantity: Decimal | int | str,
        *,
        unit_price: Decimal | int | str | None = None,
        unit_cost: Decimal | int | str | None = None,
        bill_customer: str = "Billable",
        effective_date: date | datetime | None = None,
        cancelled_date: date | datetime | None = None,
        updated_by: str = "Admin",
        id: int | None = None,
    ) -> int:
        """Create an addition directly in the store (no API call, no request log entry)."""
        with self._lock:
            product = self._catalog[product_id]
            addition_id = self._new_id(id)
            self._put(
                ADDITIONS,
                addition_id,
                agreement_id,
                {
                    "product": {"id": product_id, "identifier": product["identifier"]},
                    "quantity": amount(quantity, "quantity"),
                    "unitPrice": amount(
                        unit_price if unit_price is not None else product["price"], "unit_price"
                    ),
                    "unitCost": amount(
                        unit_cost if unit_cost is not None else product["cost"], "unit_cost"
                    ),
                    "billCustomer": bill_customer,
                    "effectiveDate": timestamp(effective_date or date(2024, 1, 1)),
                    "cancelledDate": cancelled_date and timestamp(cancelled_date),
                    "description": product["description"],
                    "invoiceDescription": product["customerDescription"],
                    "taxableFlag": False,
                    "lessIncluded": Decimal(0),
                    "uom": "Each",
                },
                updated_by,
            )
            return addition_id

    def edit_addition(self, addition_id: int, *, updated_by: str = "jsmith", **fields: Any) -> None:
        """Change an addition as a person would in ConnectWise's UI (snake_case field names:
        `quantity=7`, `unit_price=Decimal("9")`); `_info.updatedBy` becomes `updated_by`."""
        with self._lock:
            record = self._additions[addition_id]
            for name, value in fields.items():
                stored = value
                if isinstance(value, date):
                    stored = timestamp(value)
                elif name in ("quantity", "unit_price", "unit_cost"):
                    stored = amount(value, name)
                record[camel(name)] = stored
            record["_info"] = _api.info_block(self._clock(), updated_by)

    def set_raw(self, addition_id: int, **fields: Any) -> None:
        """Set fields of a stored addition to raw JSON values, by wire name, unchecked: what a
        buggy proxy or a future ConnectWise might send (`unitPrice=""`, `product={}`). A value
        of `None` removes the field from answers."""
        with self._lock:
            self._additions[addition_id].update(fields)
            self.off_contract = True

    # --- reading the state ----------------------------------------------------------------

    def list_companies(self) -> list[StoredCompany]:
        """Every company."""
        return [StoredCompany.of(r) for r in self.records(COMPANIES)]

    def list_products(self) -> list[StoredProduct]:
        """Every catalog item."""
        return [StoredProduct.of(r) for r in self.records(CATALOG)]

    def list_agreements(self) -> list[StoredAgreement]:
        """Every agreement."""
        return [StoredAgreement.of(r) for r in self.records(AGREEMENTS)]

    def list_additions(self, agreement_id: int | None = None) -> list[StoredAddition]:
        """Additions (of one agreement, or all) as stored, ordered by id: writes reads do not
        see yet included."""
        with self._lock:
            return [StoredAddition.of(r) for r in self.records(ADDITIONS, agreement_id)]

    def get_addition(self, addition_id: int) -> StoredAddition:
        """One addition as stored."""
        with self._lock:
            return StoredAddition.of(self._additions[addition_id])

    def writes(self) -> list[LoggedRequest]:
        """The logged POST, PUT, PATCH and DELETE requests."""
        return [entry for entry in self.request_log if entry.is_write]

    def count_requests(self, method: str | None = None, path: str | None = None) -> int:
        """How many logged requests have this method and an `api_path` containing `path`."""
        return sum(
            1
            for entry in self.request_log
            if (method is None or entry.method == method.upper())
            and (path is None or path in entry.api_path)
        )

    # --- HTTP -------------------------------------------------------------------------------

    def transport(self) -> httpx.BaseTransport:
        """An httpx transport that sends requests to this simulator in process."""
        return SyncFakeTransport(self)

    def async_transport(self) -> httpx.AsyncBaseTransport:
        """An httpx async transport that sends requests to this simulator in process."""
        return AsyncFakeTransport(self)

    @contextlib.contextmanager
    def serve(self, port: int = 0) -> Iterator[str]:
        """Serve over real HTTP on 127.0.0.1 (an ephemeral port unless `port` is given) until the
        block ends; yields the API base URL (`http://127.0.0.1:<port>/<codebase>apis/3.0`)."""
        with self.serve_site(port) as site_url:
            yield f"{site_url}/{self.codebase}apis/3.0"

    def serve_site(self, port: int = 0) -> contextlib.AbstractContextManager[str]:
        """Like `serve`, yielding the site URL `ConnectWiseClient.from_site` takes."""
        return running_server(self, port)

    def process(self, request: httpx.Request) -> Outcome:
        """Answer one request (both transports and the HTTP server come through here)."""
        with self._lock:
            return process(self, request)

    def member(self, public_key: str) -> Member | None:
        """The API member with this public key, if any."""
        return self._members.get(public_key)

    def next_request_id(self) -> str:
        """A fresh `x-cw-request-id` (reproducible from the seed)."""
        return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))

    @property
    def now(self) -> datetime:
        """The simulator's current time."""
        return self._clock()
