"""An append-only JSON Lines audit log: one line per operation, with before and after values.

Each line records when, which run, which agreement and addition, what was done and its outcome.
It never holds credentials: nothing about the connection is written.
"""

from __future__ import annotations

import json
import threading
from datetime import datetime
from pathlib import Path
from typing import Any

from connectwise_billing._json import to_jsonable
from connectwise_billing.sync.reports import AgreementReport, operation_values


class AuditLog:
    """Appends one JSON line per operation of each agreement report to `path`."""

    def __init__(self, path: str | Path, *, run_id: str, dry_run: bool) -> None:
        self.path = Path(path)
        self.run_id = run_id
        self.dry_run = dry_run
        self._lock = threading.Lock()

    def lines(self, report: AgreementReport, when: datetime) -> list[dict[str, Any]]:
        """The audit records for one agreement report."""
        records = []
        for result in report.results:
            op = result.operation
            before, after = operation_values(result)
            records.append(
                {
                    "time": when.isoformat(),
                    "run_id": self.run_id,
                    "dry_run": self.dry_run,
                    "agreement_id": report.agreement_id,
                    "company": report.company,
                    "operation": op.kind,
                    "plan_id": op.plan_id,
                    "product_id": op.product_id,
                    "addition_id": result.addition_id,
                    "status": result.status,
                    "before": before,
                    "after": after,
                    "error": result.error,
                    "note": result.note,
                }
            )
        return records

    def write(self, report: AgreementReport, when: datetime) -> None:
        """Append the agreement's operations (nothing for an agreement without any)."""
        records = self.lines(report, when)
        if not records:
            return
        text = "".join(json.dumps(to_jsonable(record), sort_keys=True) + "\n" for record in records)
        with self._lock, self.path.open("a", encoding="utf-8") as handle:
            handle.write(text)
