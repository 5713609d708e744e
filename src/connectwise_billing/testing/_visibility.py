"""Writes that reads do not see yet: the simulator's model of a late commit.

While a `commit_later` or `slow_visibility` fault is in force, each write to a record leaves
behind what reads keep seeing until the write becomes visible: the record as it was, or nothing
for a record that did not exist before.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Iterator
from typing import Any


class Visibility:
    """Per record (a table's name and the record's id): until when reads see an older version
    (or no record at all).

    `now` reads the simulator's clock (its `time_source`, which may be replaced meanwhile).
    """

    def __init__(self, now: Callable[[], float]) -> None:
        self._now = now
        self._unseen: dict[tuple[str, int], tuple[float, dict[str, Any] | None]] = {}
        self.delay = 0.0
        """Seconds the writes made now stay unseen (set while a fault is in force)."""

    def before_write(self, table: str, record_id: int, previous: dict[str, Any] | None) -> None:
        """Remember what reads should go on seeing, if writes are being delayed now."""
        if self.delay <= 0:
            return
        now = self._now()
        key = (table, record_id)
        current = self._unseen.get(key)
        if current is not None and current[0] > now:
            # Still unseen from an earlier write: reads keep seeing the oldest version.
            self._unseen[key] = (max(current[0], now + self.delay), current[1])
        else:
            self._unseen[key] = (now + self.delay, copy.deepcopy(previous))

    def _pending(self, table: str) -> dict[int, dict[str, Any] | None]:
        now = self._now()
        for key in [key for key, (until, _) in self._unseen.items() if until <= now]:
            del self._unseen[key]
        return {key[1]: seen for key, (_, seen) in self._unseen.items() if key[0] == table}

    def seen(
        self, table: str, record_id: int, current: dict[str, Any] | None
    ) -> dict[str, Any] | None:
        """What a read of the record sees, given the stored record (or `None`)."""
        return self._pending(table).get(record_id, current)

    def view(
        self, table: str, stored: Iterable[tuple[int, dict[str, Any]]], belongs: Any
    ) -> Iterator[dict[str, Any]]:
        """What a list read sees of `stored` records (id order), including records deleted
        unseen; `belongs(record)` says whether an older version belongs to this list."""
        pending = self._pending(table)
        records = dict(stored)
        for record_id, seen in pending.items():
            if seen is not None and belongs(seen):
                records.setdefault(record_id, seen)
        for record_id in sorted(records):
            shown = pending[record_id] if record_id in pending else records[record_id]
            if shown is not None and belongs(shown):
                yield shown

    def reveal(self) -> None:
        """Make every write visible now."""
        self._unseen.clear()
