"""An append-only JSON Lines audit log: one line per settled write, with before and after values.

Each line records when, which run, which agreement and addition, what was done and its settled
outcome (`applied`, `failed`, `conflict` or `unknown`). A line is written as soon as the write's
outcome is known; when a later re-read changes it (an `unknown` create found after all), another
line with the new outcome is appended. It never holds credentials: nothing about the connection
is written.
"""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from connectwise_billing.sync.results import OperationResult


class AuditLog:
    """Appends one JSON line per settled operation to `path`."""

    def __init__(self, path: str | Path, *, run_id: str, dry_run: bool) -> None:
        self.path = Path(path)
        """The JSON Lines file written to."""
        self.run_id = run_id
        """The run's id, on every line."""
        self.dry_run = dry_run
        """Whether the run writes nothing to the PSA (its lines say `planned`)."""
        self._lock = threading.Lock()

    def line(self, result: OperationResult, company: str | None, when: datetime) -> dict[str, Any]:
        """The audit record of one operation's outcome: the result's own JSON form
        ([`OperationResult.to_dict`][connectwise_billing.OperationResult.to_dict]), with when,
        which run and which agreement, and the kind named `operation`."""
        data = result.to_dict()
        return {
            "time": when.isoformat(),
            "run_id": self.run_id,
            "dry_run": self.dry_run,
            "agreement_id": result.operation.agreement_id,
            "company": company,
            "operation": data.pop("kind"),
            "error": None,
            "note": None,
            **data,
        }

    def write(self, result: OperationResult, company: str | None) -> None:
        """Append the line of one operation's outcome (blocking file I/O)."""
        record = self.line(result, company, datetime.now(UTC))
        text = json.dumps(record, sort_keys=True) + "\n"
        with self._lock, self.path.open("a", encoding="utf-8") as handle:
            handle.write(text)
