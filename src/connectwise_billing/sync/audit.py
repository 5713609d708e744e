"""An append-only JSON Lines audit log: one line per settled write, with before and after values.

Each line records when, which run, which PSA tenant, agreement and addition, what was done and
its settled outcome (`applied`, `failed`, `conflict` or `unknown`). A line is written as soon as
the write's outcome is known; when a later re-read changes it (an `unknown` create found after
all), another line with the new outcome is appended. It never holds credentials: nothing about
the connection is written. [`runs`][connectwise_billing.sync.audit.runs] lists the runs in a
log; [`undo_changes`][connectwise_billing.undo_changes] turns one into a change set that undoes
it.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs

from connectwise_billing.errors import InputError
from connectwise_billing.sync.results import OperationResult

__all__ = ["AuditLog", "AuditRun", "read_audit_log", "runs"]


class AuditLog:
    """Appends one JSON line per settled operation to `path`.

    Args:
        path: The JSON Lines file.
        run_id: The run's id, on every line.
        dry_run: Whether the run writes nothing to the PSA.
        psa: The PSA's name (`"ConnectWise"`), on every line.
        scope: The PSA tenant (`BillingBackend.scope`), on every line: an undo applies to it.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        run_id: str,
        dry_run: bool,
        psa: str | None = None,
        scope: str | None = None,
    ) -> None:
        self.path = Path(path)
        """The JSON Lines file written to."""
        self.run_id = run_id
        """The run's id, on every line."""
        self.dry_run = dry_run
        """Whether the run writes nothing to the PSA (its lines say `planned`)."""
        self.psa = psa
        """The PSA's name."""
        self.scope = scope
        """The PSA tenant."""
        self._lock = threading.Lock()

    def line(
        self,
        result: OperationResult,
        company: str | None,
        when: datetime,
        company_id: int | None = None,
    ) -> dict[str, Any]:
        """The audit record of one operation's outcome: the result's own JSON form
        ([`OperationResult.to_dict`][connectwise_billing.OperationResult.to_dict]), with when,
        which run, tenant and agreement, and the kind named `operation`."""
        data = result.to_dict()
        return {
            "time": when.isoformat(),
            "run_id": self.run_id,
            "dry_run": self.dry_run,
            "psa": self.psa,
            "scope": self.scope,
            "agreement_id": result.operation.agreement_id,
            "company": company,
            "company_id": company_id,
            "operation": data.pop("kind"),
            "error": None,
            "note": None,
            **data,
        }

    def write(
        self, result: OperationResult, company: str | None, company_id: int | None = None
    ) -> None:
        """Append the line of one operation's outcome (blocking file I/O)."""
        record = self.line(result, company, datetime.now(UTC), company_id)
        text = json.dumps(record, sort_keys=True) + "\n"
        with self._lock, self.path.open("a", encoding="utf-8") as handle:
            handle.write(text)


def read_audit_log(path: str | Path) -> list[dict[str, Any]]:
    """Every line of an audit log, parsed (amounts stay exact strings).

    Raises:
        InputError: the file cannot be read, or a line is not a JSON object (named by number).
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise InputError(f"{path}: cannot read the audit log: {error.strerror}") from None
    except UnicodeDecodeError:
        raise InputError(f"{path}: not UTF-8 text") from None
    lines = []
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            record = json.loads(raw, parse_float=Decimal)
        except json.JSONDecodeError as error:
            raise InputError(f"{path}: line {number}: not JSON: {error.msg}") from None
        if not isinstance(record, dict) or not isinstance(record.get("run_id"), str):
            raise InputError(f"{path}: line {number}: not an audit line (no run_id)")
        lines.append(record)
    return lines


@attrs.frozen(slots=False)
class AuditRun:
    """One run in an audit log.

    Attributes:
        run_id: The run's id (what `undo_changes` takes).
        started: When its first line was written.
        ended: When its last line was written.
        dry_run: Whether it was a dry run (it wrote nothing).
        agreements: How many agreements it wrote to.
        counts: Settled outcome -> how many writes ended so (a write whose outcome a later
            line changed counts by its last line).
    """

    run_id: str
    started: datetime
    ended: datetime
    dry_run: bool
    agreements: int
    counts: Mapping[str, int]


def _write_key(record: Mapping[str, Any]) -> tuple[object, ...]:
    """Which write a line is about: a create by its plan (its line's id is unknown until it is
    settled), an update or a cancel by its line."""
    kind = record.get("operation")
    which = record.get("plan_id") if kind == "create" else record.get("addition_id")
    return (record.get("agreement_id"), kind, which)


def runs(audit_log: str | Path) -> list[AuditRun]:
    """The runs in an audit log, oldest first, each with its outcomes counted.

    Raises:
        InputError: the log cannot be read (see `read_audit_log`).
    """
    by_run: dict[str, list[dict[str, Any]]] = {}
    for record in read_audit_log(audit_log):
        by_run.setdefault(record["run_id"], []).append(record)
    found = []
    for run_id, records in by_run.items():
        last: dict[tuple[object, ...], str] = {}
        for record in records:
            last[_write_key(record)] = str(record.get("status"))
        counts: dict[str, int] = {}
        for status in last.values():
            counts[status] = counts.get(status, 0) + 1
        times = [datetime.fromisoformat(record["time"]) for record in records]
        found.append(
            AuditRun(
                run_id=run_id,
                started=min(times),
                ended=max(times),
                dry_run=bool(records[0].get("dry_run")),
                agreements=len({record.get("agreement_id") for record in records}),
                counts=counts,
            )
        )
    return sorted(found, key=lambda run: run.started)
