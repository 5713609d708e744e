"""The simulator's records: one store per declared table, and what the API handlers do to them.

Records are the simulator's own JSON (camelCase dicts, `Decimal` numbers, timestamps as text).
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

import attrs

from connectwise_billing.testing import _api
from connectwise_billing.testing._collections import (
    ADDITIONS,
    AGREEMENTS,
    CATALOG,
    COMPANIES,
    TABLES,
    Table,
    invalid,
)
from connectwise_billing.testing._visibility import Visibility


@attrs.frozen(slots=False)
class Member:
    """An API member: its keys, the name ConnectWise shows in `_info.updatedBy`, and the
    companies its security role reaches (`None`: all).

    Attributes:
        public_key: The member's public key.
        private_key: Its private key (never shown).
        identifier: The name ConnectWise writes in `_info.updatedBy`.
        companies: The companies its security role reaches (`None`: all).
    """

    public_key: str
    private_key: str = attrs.field(repr=False)
    identifier: str
    companies: frozenset[int] | None


class Store:
    """The tables' records, and the reads and writes the API handlers make."""

    def __init__(self, clock: Callable[[], datetime], monotonic: Callable[[], float]) -> None:
        self._clock = clock
        self.visibility = Visibility(monotonic)
        """Writes that reads do not see yet (`commit_later` and `slow_visibility` faults)."""
        self._lock = threading.RLock()
        self._ids = itertools.count(1001)
        self._store: dict[str, dict[int, dict[str, Any]]] = {table.name: {} for table in TABLES}
        self._children: dict[tuple[str, int], set[int]] = {}  # (table, parent id) -> ids
        self._companies = self._store[COMPANIES.name]
        self._agreements = self._store[AGREEMENTS.name]
        self._catalog = self._store[CATALOG.name]
        self._additions = self._store[ADDITIONS.name]

    def _put(
        self,
        table: Table,
        record_id: int,
        parent_id: int | None,
        fields: dict[str, Any],
        updated_by: str,
    ) -> dict[str, Any]:
        record = {"id": record_id, **fields}
        if table.parent is not None and parent_id is not None:
            record[table.parent[1]] = parent_id
            self._children.setdefault((table.name, parent_id), set()).add(record_id)
        record["_info"] = _api.info_block(self._clock(), updated_by)
        store = self._store[table.name]
        self.visibility.before_write(table.name, record_id, store.get(record_id))
        store[record_id] = record
        return record

    def render(self, table: Table, record: Mapping[str, Any]) -> dict[str, Any]:
        """A stored record as the API answers it; an addition with the fields ConnectWise
        computes (left out when `set_raw` put something that is not a number in their way)."""
        if table is not ADDITIONS:
            return _api.render_record(record)
        agreement = self._agreements.get(record["agreementId"], {})
        computed: dict[str, Any] = {"agreementStatus": agreement.get("agreementStatus")}
        numbers = [record.get(key) or Decimal(0) for key in ("quantity", "unitPrice", "unitCost")]
        if all(isinstance(n, int | Decimal) and not isinstance(n, bool) for n in numbers):
            quantity, price, cost = (Decimal(n) for n in numbers)
            computed.update(
                extPrice=quantity * price,
                extCost=quantity * cost,
                margin=quantity * (price - cost),
                billedQuantity=quantity,
            )
        return _api.render_record({**record, **computed})

    # --- used by the API handlers -----------------------------------------------------------

    def records(
        self, table: Table, parent_id: int | None = None, *, as_read: bool = False
    ) -> list[dict[str, Any]]:
        """A table's records (those under `parent_id`, for a table with a parent), in id order;
        with `as_read`, as reads see them (writes not yet visible are left out)."""
        store = self._store[table.name]
        ids = store.keys() if parent_id is None else self._children.get((table.name, parent_id), ())
        stored = [(i, store[i]) for i in sorted(ids)]
        if not as_read:
            return [record for _, record in stored]
        field = table.parent[1] if table.parent else None
        return list(
            self.visibility.view(
                table.name, stored, lambda record: field is None or record.get(field) == parent_id
            )
        )

    def record(
        self, table: Table, record_id: int, parent_id: int | None = None, *, as_read: bool = False
    ) -> dict[str, Any] | None:
        """One record (under `parent_id`, for a table with a parent), or `None`; with `as_read`,
        the version reads see."""
        found = self._store[table.name].get(record_id)
        if as_read:
            found = self.visibility.seen(table.name, record_id, found)
        if found is not None and table.parent is not None and parent_id is not None:
            return found if found[table.parent[1]] == parent_id else None
        return found

    def visible_to(self, member: Member, table: Table, record: Mapping[str, Any]) -> bool:
        """Whether the member's security role reaches the record's company."""
        if table.company is None:
            return True
        return _api.member_may_see(member, table.company(record))

    def writes_refused(self, table: Table, parent_id: int | None) -> str | None:
        """Why writes to the table's records under `parent_id` are refused, or `None`: the
        additions of a cancelled agreement cannot be changed."""
        if table is ADDITIONS and parent_id is not None:
            agreement = self._agreements.get(parent_id, {})
            if agreement.get("cancelledFlag"):
                return f"agreement {parent_id} is cancelled; its additions cannot be changed"
        return None

    def reveal(self) -> None:
        """Make every write that reads do not see yet visible now."""
        with self._lock:
            self.visibility.reveal()

    def create(
        self, table: Table, parent_id: int | None, fields: dict[str, Any], member: Member
    ) -> dict[str, Any]:
        """Store a new record written through the API by `member`."""
        return self._put(table, next(self._ids), parent_id, fields, member.identifier)

    def replace(
        self, table: Table, record_id: int, fields: dict[str, Any], member: Member
    ) -> dict[str, Any]:
        """Replace a record's writable fields (PATCH gives the merged record, PUT a new one)."""
        old = self._store[table.name][record_id]
        parent_id = old.get(table.parent[1]) if table.parent else None
        kept = {k: v for k, v in fields.items() if k not in ("id", "_info")}
        if table.parent is not None:
            kept.pop(table.parent[1], None)
        return self._put(table, record_id, parent_id, kept, member.identifier)

    def remove(self, table: Table, record_id: int) -> None:
        """Delete a record."""
        store = self._store[table.name]
        self.visibility.before_write(table.name, record_id, store.get(record_id))
        record = store.pop(record_id)
        if table.parent is not None:
            self._children[(table.name, record[table.parent[1]])].discard(record_id)

    def remove_addition(self, addition_id: int) -> None:
        """Delete an addition, as a user would in ConnectWise."""
        with self._lock:
            self.remove(ADDITIONS, addition_id)

    def catalog_item(self, product_id: int) -> dict[str, Any]:
        """A catalog record by id, as stored (a test may change it in place)."""
        return self._catalog[product_id]

    def agreement_record(self, agreement_id: int) -> dict[str, Any] | None:
        """An agreement as stored (a test may change it in place), or `None`."""
        return self._agreements.get(agreement_id)

    def product_reference(self, value: Any) -> dict[str, Any]:
        """Resolve an addition's `product` (`{"id": ...}` or `{"identifier": ...}`)."""
        found: dict[str, Any] | None = None
        if isinstance(value, dict) and isinstance(value.get("id"), int):
            found = self._catalog.get(value["id"])
        elif isinstance(value, dict) and isinstance(value.get("identifier"), str):
            wanted = value["identifier"].lower()
            found = next(
                (p for p in self._catalog.values() if p["identifier"].lower() == wanted), None
            )
        else:
            raise invalid(
                "addition", "product", "product must be an object with an id or an identifier"
            )
        if found is None:
            raise invalid(
                "addition", "product", f"product {value!r} was not found", code="NotFound"
            )
        return {"id": found["id"], "identifier": found["identifier"]}
