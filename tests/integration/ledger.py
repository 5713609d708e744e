"""An in-memory PSA that is not ConnectWise: a ledger of contract lines, with faults of its own.

It proves the applier is PSA-neutral: the same applier suite and fault soak run against it as
against the ConnectWise simulator, through `LedgerBackend`, a `BillingBackend` written only to
the protocol's contract: it imports nothing of ConnectWise, and raises only the neutral errors
of `connectwise_billing.backend`. Its faults are the ones any PSA's API has: a write whose answer is lost
after (or before) it was committed, a write committed later than its answer said, a write that
reads show only later, a refused write.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import threading
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal

import attrs

from connectwise_billing.backend import (
    AgreementState,
    CatalogItem,
    OutcomeUnknownError,
    PSANotFoundError,
    SettlePolicy,
    WriteRefusedError,
    record_request,
)
from connectwise_billing.reconcile import CancelAddition, CreateAddition, UpdateAddition
from connectwise_billing.testing import VirtualClock

FaultKind = Literal[
    "lost_after_commit", "lost_before_commit", "commit_later", "visible_later", "refused"
]
ALL_KINDS: tuple[FaultKind, ...] = (
    "lost_after_commit",
    "lost_before_commit",
    "commit_later",
    "visible_later",
    "refused",
)
WRITER = "ledger-sync"

__all__ = ["ALL_KINDS", "AsyncLedgerBackend", "Ledger", "LedgerBackend"]


@attrs.frozen
class Sku:
    """What the reconciler reads of a line's product."""

    id: int


@attrs.frozen
class Line:
    """A contract line, as the ledger stores and answers it (the reconciler's AdditionLike)."""

    id: int
    agreement_id: int
    product: Sku
    quantity: Decimal
    unit_price: Decimal | None
    unit_cost: Decimal | None
    cancelled_date: date | None = None
    updated_by: str | None = WRITER
    last_updated: datetime | None = None


class Ledger:
    """The PSA's state; thread-safe, on a virtual clock shared with the SDK's waits."""

    def __init__(self, clock: VirtualClock, *, name: str = "ledger") -> None:
        self.clock = clock
        self.name = name
        self.catalog: dict[int, CatalogItem] = {}
        self.agreements: dict[int, Literal["open", "closed"]] = {}
        self.lines: dict[int, Line] = {}
        self.writes: list[tuple[str, int]] = []  # (create | update | cancel, agreement id)
        self._ids = itertools.count(1001)
        self._faults: dict[str, list[tuple[FaultKind, float]]] = {}
        self._later: list[tuple[float, Line]] = []
        self._hidden: dict[int, tuple[float, Line | None]] = {}  # until, what reads show meanwhile
        self._random: tuple[random.Random, float] | None = None
        self.lost: set[tuple[str, int]] = set()  # (op, agreement or line): answers lost
        self._lock = threading.RLock()

    # --- arranging ----------------------------------------------------------------------------

    def add_product(self, price: str, cost: str, *, active: bool = True) -> int:
        product = next(self._ids)
        self.catalog[product] = CatalogItem(
            product, f"SKU-{product}", active, Decimal(price), Decimal(cost)
        )
        return product

    def add_agreement(self, status: Literal["open", "closed"] = "open") -> int:
        agreement = next(self._ids)
        self.agreements[agreement] = status
        return agreement

    def add_line(
        self,
        agreement_id: int,
        product_id: int,
        quantity: int | Decimal,
        *,
        unit_price: Decimal | None = None,
        unit_cost: Decimal | None = None,
    ) -> int:
        item = self.catalog[product_id]
        line = Line(
            next(self._ids),
            agreement_id,
            Sku(product_id),
            Decimal(quantity),
            item.price if unit_price is None else unit_price,
            item.cost if unit_cost is None else unit_cost,
        )
        self.lines[line.id] = line
        return line.id

    def edit(self, line_id: int, **values: Any) -> None:
        with self._lock:
            values.setdefault("updated_by", "someone")
            self.lines[line_id] = attrs.evolve(self.lines[line_id], **values)

    def remove(self, line_id: int) -> None:
        with self._lock:
            del self.lines[line_id]

    def fail(self, kind: FaultKind, op: str, *, seconds: float = 0.0, times: int = 1) -> None:
        """The next `times` writes of `op` (`create`, `update`, `cancel`) meet the fault."""
        self._faults.setdefault(op, []).extend([(kind, seconds)] * times)

    def randomly(self, probability: float, *, seed: int) -> None:
        """From now on, each write without a fault set meets a random one with `probability`
        (a commit or visibility 0.5, 3 or 8 seconds late: within the settle window)."""
        self._random = (random.Random(seed), probability)

    def clear(self) -> None:
        """No more faults."""
        self._faults.clear()
        self._random = None

    def _next_fault(self, op: str) -> tuple[FaultKind | None, float]:
        queued = self._faults.get(op)
        if queued:
            return queued.pop(0)
        if self._random is not None:
            chance, probability = self._random
            if chance.random() < probability:
                return chance.choice(ALL_KINDS), chance.choice((0.5, 3.0, 8.0))
        return None, 0.0

    def reveal(self) -> None:
        """Commit everything pending and show everything hidden (the end of a soak)."""
        with self._lock:
            for _, line in self._later:
                self.lines[line.id] = line
            self._later.clear()
            self._hidden.clear()

    # --- what the backend calls ---------------------------------------------------------------

    def _now(self) -> float:
        return self.clock.monotonic()

    def _catch_up(self) -> None:
        now = self._now()
        due = [(when, line) for when, line in self._later if when <= now]
        for item in due:
            self._later.remove(item)
            self.lines[item[1].id] = item[1]

    def stored(self) -> list[Line]:
        """Every line committed by now, visible to reads or not yet."""
        with self._lock:
            self._catch_up()
            return list(self.lines.values())

    def visible(self, agreement_id: int | None = None) -> list[Line]:
        """What reads show: a line written with `visible_later` shows as it was before (or not
        at all, when new) until its time has passed."""
        with self._lock:
            self._catch_up()
            now = self._now()
            shown = []
            for line in self.lines.values():
                until, before = self._hidden.get(line.id, (0.0, None))
                if until > now:
                    if before is None:
                        continue
                    line = before
                if agreement_id is None or line.agreement_id == agreement_id:
                    shown.append(line)
            return shown

    def read_line(self, agreement_id: int, line_id: int) -> Line:
        for line in self.visible(agreement_id):
            if line.id == line_id:
                return line
        raise PSANotFoundError(f"{self._where(agreement_id)}: no line {line_id}")

    def _where(self, agreement_id: int) -> str:
        return f"ledger {self.name}, agreement {agreement_id}"

    def write(self, op: str, agreement_id: int, line: Line) -> Line:
        """Store `line` as written by `op`, meeting the next fault of `op` if one is set."""
        with self._lock:
            self._catch_up()
            self.writes.append((op, agreement_id))
            kind, seconds = self._next_fault(op)
            where = self._where(agreement_id)
            if kind == "refused" or self.agreements.get(agreement_id) != "open":
                raise WriteRefusedError(f"{op} on {where}: the ledger refused the write")
            lost = OutcomeUnknownError(f"{op} on {where}: the answer was lost")
            if kind in ("lost_before_commit", "commit_later", "lost_after_commit"):
                self.lost.add((op, agreement_id if op == "create" else line.id))
            if kind == "lost_before_commit":
                raise lost
            if kind == "commit_later":
                self._later.append((self._now() + seconds, line))
                raise lost
            before = self.lines.get(line.id)
            self.lines[line.id] = line
            if kind == "visible_later":
                self._hidden[line.id] = (self._now() + seconds, before)
            if kind == "lost_after_commit":
                raise lost
            return line

    def create(self, op: CreateAddition) -> Line:
        line = Line(
            next(self._ids),
            op.agreement_id,
            Sku(op.product_id),
            op.quantity,
            op.unit_price,
            op.unit_cost,
        )
        return self.write("create", op.agreement_id, line)

    def change(self, op: UpdateAddition | CancelAddition) -> Line:
        with self._lock:
            current = self.lines.get(op.line_id)
            if current is None or current.agreement_id != op.agreement_id:
                raise PSANotFoundError(f"{self._where(op.agreement_id)}: no line {op.line_id}")
            if isinstance(op, CancelAddition):
                values: dict[str, Any] = {"cancelled_date": op.cancelled_date}
            else:
                values = {field: change.new for field, change in op.changes.items()}
            changed = attrs.evolve(current, **values, updated_by=WRITER)
            return self.write(op.kind, op.agreement_id, changed)


class LedgerBackend:
    """The ledger's `BillingBackend`: written to the protocol's contract, nothing else. Each
    call is one request to the ledger, counted for the reports with `record_request`."""

    name = "the ledger"

    def __init__(self, ledger: Ledger, *, settle: SettlePolicy | None = None) -> None:
        self.ledger = ledger
        self.settle = settle or SettlePolicy()

    @property
    def scope(self) -> str:
        return f"ledger/{self.ledger.name}"

    def read_catalog(self, product_ids: Sequence[int]) -> Mapping[int, CatalogItem]:
        record_request()
        return {i: self.ledger.catalog[i] for i in product_ids if i in self.ledger.catalog}

    def describe_agreements(
        self, agreement_ids: Sequence[int], today: date
    ) -> Mapping[int, AgreementState]:
        record_request()
        states = {}
        for agreement_id in agreement_ids:
            status = self.ledger.agreements.get(agreement_id)
            if status is None:
                states[agreement_id] = AgreementState(agreement_id, "unavailable", "not found")
            elif status == "closed":
                states[agreement_id] = AgreementState(agreement_id, "closed", "closed")
            else:
                states[agreement_id] = AgreementState(agreement_id, "open")
        return states

    def read_lines(self, agreement_id: int) -> Sequence[Line]:
        record_request()
        return self.ledger.visible(agreement_id)

    def read_line(self, agreement_id: int, line_id: int) -> Line:
        record_request()
        return self.ledger.read_line(agreement_id, line_id)

    def create_line(self, operation: CreateAddition) -> Line:
        record_request()
        return self.ledger.create(operation)

    def update_line(self, operation: UpdateAddition) -> Line:
        record_request()
        return self.ledger.change(operation)

    def cancel_line(self, operation: CancelAddition) -> Line:
        record_request()
        return self.ledger.change(operation)


class AsyncLedgerBackend:
    """The same ledger, awaited: each call lets other tasks run first, as network I/O would."""

    name = "the ledger"

    def __init__(self, ledger: Ledger, *, settle: SettlePolicy | None = None) -> None:
        self._sync = LedgerBackend(ledger, settle=settle)
        self.settle = self._sync.settle

    @property
    def scope(self) -> str:
        return self._sync.scope

    async def read_catalog(self, product_ids: Sequence[int]) -> Mapping[int, CatalogItem]:
        await asyncio.sleep(0)
        return self._sync.read_catalog(product_ids)

    async def describe_agreements(
        self, agreement_ids: Sequence[int], today: date
    ) -> Mapping[int, AgreementState]:
        await asyncio.sleep(0)
        return self._sync.describe_agreements(agreement_ids, today)

    async def read_lines(self, agreement_id: int) -> Sequence[Line]:
        await asyncio.sleep(0)
        return self._sync.read_lines(agreement_id)

    async def read_line(self, agreement_id: int, line_id: int) -> Line:
        await asyncio.sleep(0)
        return self._sync.read_line(agreement_id, line_id)

    async def create_line(self, operation: CreateAddition) -> Line:
        await asyncio.sleep(0)
        return self._sync.create_line(operation)

    async def update_line(self, operation: UpdateAddition) -> Line:
        await asyncio.sleep(0)
        return self._sync.update_line(operation)

    async def cancel_line(self, operation: CancelAddition) -> Line:
        await asyncio.sleep(0)
        return self._sync.cancel_line(operation)
