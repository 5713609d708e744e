"""A write-ahead, append-only JSON Lines audit log: every write recorded before it is sent.

A run that writes first checks that the log can be appended to (a log in a missing directory,
or that it may not write, is a `ConfigurationError` before anything is sent). Before each write
it appends an *intent* line (`"event": "intent"`: a `write_id`, the run, tenant, agreement,
operation and the values before and after), and flushes and fsyncs the file; once the write's
outcome is settled, an *outcome* line (`"event": "outcome"`, the same `write_id`, and the
`status`: `applied`, `failed`, `conflict`, `unknown`, ...). When a later read changes an
outcome (an `unknown` create found after all), another outcome line is appended.

A run that dies (SIGKILL, Ctrl-C, a cancelled task) leaves intents without outcomes. The next run
given the same log settles each by reading its agreement (landed or not) and appends the outcome
([`settle`][connectwise_billing.runner._audit.settle]).
[`runs`][connectwise_billing.runner._audit.runs] lists a log's runs with their unsettled intents;
[`undo_changes`][connectwise_billing.undo_changes] undoes one. The log never holds credentials:
nothing about the connection is written.
"""

from __future__ import annotations

import json
import os
import stat
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Final

import attrs

from connectwise_billing._log import logger
from connectwise_billing.errors import AuditLogError, ConfigurationError, InputError
from connectwise_billing.reconcile import (
    AdditionLike,
    CreateAddition,
    Operation,
    is_active,
)
from connectwise_billing.runner._results import OperationResult, operation_values

__all__ = [
    "AuditLog",
    "AuditRun",
    "Intent",
    "answered",
    "iter_audit_log",
    "read_audit_log",
    "runs",
    "settle",
    "unsettled",
]


class AuditLog:
    """Appends a run's lines to `path`: the run, each write's intent, each outcome.

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
        """Whether the run writes nothing to the PSA."""
        self.psa = psa
        """The PSA's name."""
        self.scope = scope
        """The PSA tenant."""
        self.broken: str | None = None
        """Why the log could not be written, once it could not: nothing more is sent."""
        self._lock = threading.Lock()

    def _common(self, when: datetime) -> dict[str, Any]:
        return {
            "time": when.isoformat(),
            "run_id": self.run_id,
            "dry_run": self.dry_run,
            "psa": self.psa,
            "scope": self.scope,
        }

    def _append(self, record: Mapping[str, Any]) -> None:
        """Append one line and make it durable (flushed and fsynced) before returning.

        Raises:
            AuditLogError: the file cannot be written; the log is broken from then on.
        """
        text = json.dumps(record, sort_keys=True) + "\n"
        with self._lock:
            if self.broken is not None:
                raise AuditLogError(self.broken)
            try:
                with self.path.open("a+b") as handle:
                    # A run that died (or a disk that filled up) mid-append left a line without
                    # its end: this line must not be glued to it, or both are lost.
                    if handle.seek(0, os.SEEK_END) > 0:
                        handle.seek(-1, os.SEEK_END)
                        if handle.read(1) != b"\n":
                            text = "\n" + text
                    handle.write(text.encode("utf-8"))
                    handle.flush()
                    os.fsync(handle.fileno())
            except OSError as error:
                self.broken = (
                    f"the audit log {str(self.path)!r} cannot be written: {error.strerror}"
                )
                raise AuditLogError(self.broken) from None

    def open(self) -> None:
        """Check, before anything is sent, that the log can be appended to (it is created if
        missing; nothing is written to it).

        Raises:
            ConfigurationError: naming the file and why (a missing directory, no permission, a
                named pipe).
        """
        # A log is read back (the next run settles its intents from it): a named pipe cannot
        # be, and opening one waits for its other end, so a run with it would hang or lose them.
        if self.path.is_fifo():
            raise self._unusable("it is a named pipe, not a file")
        try:
            # Non-blocking all the same: a pipe made since, that nobody reads, is not waited on.
            flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NONBLOCK
            os.close(os.open(self.path, flags, 0o644))
        except OSError as error:
            raise self._unusable(error.strerror or str(error)) from None

    def _unusable(self, why: str) -> ConfigurationError:
        return ConfigurationError(
            f"the audit log {str(self.path)!r} cannot be written: {why}; nothing was sent"
        )

    def intent(
        self,
        write_id: str,
        operation: Operation,
        company: str | None,
        company_id: int | None,
        known_ids: Iterable[int],
    ) -> None:
        """Record a write about to be sent, durably (blocking file I/O).

        Raises:
            AuditLogError: the file cannot be written: the write must not be sent.
        """
        before, after = operation_values(operation)
        record = {
            **self._common(datetime.now(UTC)),
            "event": "intent",
            "write_id": write_id,
            "agreement_id": operation.agreement_id,
            "company": company,
            "company_id": company_id,
            "operation": operation.kind,
            "plan_id": operation.plan_id,
            "plan_name": operation.plan_name,
            "product_id": operation.product_id,
            "addition_id": getattr(operation, "line_id", None),
            "before": before,
            "after": after,
            # A create is found, when its answer was lost, as a line that was not there.
            "lines_before": sorted(known_ids) if isinstance(operation, CreateAddition) else None,
        }
        self._append(_json(record))

    def line(
        self,
        result: OperationResult,
        company: str | None,
        when: datetime,
        company_id: int | None = None,
    ) -> dict[str, Any]:
        """The outcome line of one operation: the result's own JSON form
        ([`OperationResult.to_dict`][connectwise_billing.OperationResult.to_dict]), with when,
        which run, tenant and agreement, the kind named `operation`, and its `write_id`."""
        data = result.to_dict()
        return {
            **self._common(when),
            "event": "outcome",
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
        """Record one operation's settled outcome, durably (blocking file I/O).

        Raises:
            AuditLogError: the file cannot be written.
        """
        self._append(self.line(result, company, datetime.now(UTC), company_id))

    def settled(self, intent: Intent, status: str, line_id: int | None, note: str) -> None:
        """Record the outcome of an earlier run's intent, as this run settled it."""
        record = {
            **intent.record,
            "time": datetime.now(UTC).isoformat(),
            "event": "outcome",
            "status": status,
            "addition_id": line_id if line_id is not None else intent.record.get("addition_id"),
            "note": note,
            "error": None,
            "settled_by": self.run_id,
        }
        record.pop("lines_before", None)
        self._append(_json(record))  # amounts a person typed as numbers were read as Decimal


def _json(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {key: _json(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_json(item) for item in value]
    return value


def read_audit_log(path: str | Path) -> list[dict[str, Any]]:
    """Every line of an audit log, parsed (amounts stay exact strings); none when the file does
    not exist yet, or is not a regular file (a device such as `/dev/null` keeps no lines). A
    line that cannot be read (cut short when a run died mid-append, damaged, an intent or an
    outcome without what it must say) is left out, with a warning in the log: one bad line must
    not make every run of the log impossible to list or undo.

    Raises:
        InputError: the file cannot be read.
    """
    return list(iter_audit_log(path))


def iter_audit_log(path: str | Path) -> Iterator[dict[str, Any]]:
    """The lines of `read_audit_log`, one at a time: a long log is never held in memory.

    Raises:
        InputError: the file cannot be read.
    """
    try:
        # Non-blocking: opening a named pipe waits for a writer; it keeps no lines to read.
        with open(path, "rb", opener=_without_waiting) as handle:
            if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
                return
            for number, raw in enumerate(handle, start=1):
                record = _audit_line(raw, path, number)
                if record is not None:
                    yield record
    except FileNotFoundError:
        return
    except OSError as error:
        raise InputError(f"{path}: cannot read the audit log: {error.strerror}") from None


def _without_waiting(path: str, flags: int) -> int:
    return os.open(path, flags | os.O_NONBLOCK)


_OPERATIONS: Final = frozenset({"create", "update", "cancel"})


def _audit_line(raw: bytes, path: str | Path, number: int) -> dict[str, Any] | None:
    if not raw.strip():
        return None
    try:
        record = json.loads(raw.decode("utf-8"), parse_float=Decimal)
        when = datetime.fromisoformat(record["time"])
        if not isinstance(record.get("run_id"), str) or when.utcoffset() is None:
            raise ValueError("no run_id, or a time without its zone")
        # A line without an event is an outcome of a log written before intents.
        if record.get("event", "outcome") in ("intent", "outcome"):
            _check_write_line(record)
    except (
        ValueError,
        ArithmeticError,
        TypeError,
        KeyError,
        AttributeError,
        RecursionError,
    ) as error:
        logger.warning("%s: line %d is not an audit line, left out: %s", path, number, error)
        return None
    return record  # type: ignore[no-any-return]


def _is_id(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_write_line(record: Mapping[str, Any]) -> None:
    """An intent or an outcome says which write (an outcome written before intents has no
    `write_id`), agreement and operation; an intent's values are amounts or dates, and the
    lines it knew before a create are ids.

    Raises:
        ValueError: naming what is missing or wrong.
    """
    agreement = record.get("agreement_id")
    if "event" in record and not isinstance(record.get("write_id"), str):
        raise ValueError("no write_id")
    if not _is_id(agreement):
        raise ValueError(f"agreement_id {agreement!r} is not an id")
    if record.get("operation") not in _OPERATIONS:
        raise ValueError(f"operation {record.get('operation')!r} is not one")
    if record.get("event") != "intent":
        return
    known = record.get("lines_before")
    if known is not None and not (isinstance(known, list) and all(map(_is_id, known))):
        raise ValueError(f"lines_before {known!r} are not addition ids")
    for side in ("before", "after"):
        values = record.get(side) or {}
        for field, value in values.items():
            if value is None:
                continue
            if field == "cancelled_date":
                date.fromisoformat(value)
            elif not Decimal(str(value)).is_finite():
                raise ValueError(f"{side}.{field} {value!r} is not an amount")


@attrs.frozen(slots=False)
class Intent:
    """A write an earlier run recorded as about to be sent, with no outcome recorded.

    Attributes:
        write_id: The write's id.
        agreement_id: The agreement written to.
        record: The intent line as written.
    """

    write_id: str
    agreement_id: int
    record: Mapping[str, Any]

    @property
    def sent_at(self) -> datetime:
        """When the intent was recorded: just before the write was sent."""
        return datetime.fromisoformat(self.record["time"])

    def outcome(self, lines: Sequence[AdditionLike], today: date) -> tuple[str, int | None, str]:
        """Whether the write landed, judged by the agreement's lines now: its status (applied,
        failed, or unknown when the line shows neither), the line, and how it was judged."""
        kind = self.record.get("operation")
        after = self.record.get("after") or {}
        before = self.record.get("before") or {}
        if kind == "create":
            known = set(self.record.get("lines_before") or ())
            product = self.record.get("product_id")
            found = [
                line
                for line in lines
                if line.id not in known
                and line.product is not None
                and line.product.id == product
                and is_active(line.cancelled_date, today)
                and _shows(line, after)
            ]
            if found:
                line = min(found, key=lambda line: line.id)
                return "applied", line.id, "a line it created is there"
            new = [
                line
                for line in lines
                if line.id not in known and line.product is not None and line.product.id == product
            ]
            if new:  # a line it may have made, changed since (or another's): not "not landed"
                line = min(new, key=lambda line: line.id)
                return "unknown", line.id, "a new line of the product shows other values"
            return "failed", None, "no line it could have created is there"
        line_id = self.record.get("addition_id")
        current = next((line for line in lines if line.id == line_id), None)
        if current is None:
            return "unknown", line_id, "the line is gone"
        if _shows(current, after):
            return "applied", line_id, "the line shows the values written"
        if _shows(current, before):
            return "failed", line_id, "the line shows the values before"
        return "unknown", line_id, "the line shows other values: it changed since"


def _shows(line: AdditionLike, values: Mapping[str, Any]) -> bool:
    for field, value in values.items():
        shown = getattr(line, field, None)
        if field == "cancelled_date":
            shown = shown.date() if isinstance(shown, datetime) else shown
            wanted = date.fromisoformat(value) if isinstance(value, str) else value
        else:
            wanted = None if value is None else Decimal(str(value))
        if shown != wanted:
            return False
    return True


def unsettled(records: Iterable[Mapping[str, Any]]) -> list[Intent]:
    """The intents no outcome line answers, oldest first."""
    intents: dict[str, Mapping[str, Any]] = {}
    answered: set[str] = set()
    for record in records:
        write_id = record.get("write_id")
        if not isinstance(write_id, str):
            continue
        if record.get("event") == "intent":
            intents[write_id] = record
        elif record.get("event") == "outcome":
            answered.add(write_id)
    return [
        Intent(write_id, int(record["agreement_id"]), record)
        for write_id, record in intents.items()
        if write_id not in answered
    ]


def answered(path: str | Path, write_ids: Iterable[str]) -> frozenset[str]:
    """Which of `write_ids` an outcome line of the log at `path` answers.

    Raises:
        InputError: the log cannot be read.
    """
    asked = set(write_ids)
    return frozenset(
        record["write_id"]
        for record in iter_audit_log(path)
        if record.get("event") == "outcome" and record.get("write_id") in asked
    )


def settle(
    log: AuditLog,
    intents: Sequence[Intent],
    lines: Sequence[AdditionLike],
    today: date,
    *,
    gone: bool = False,
) -> int:
    """Append the outcome of each intent of one agreement, judged by its `lines` as read now
    (`unknown` for all when the agreement is `gone`); how many were settled.

    Raises:
        AuditLogError: the log cannot be written.
    """
    for intent in intents:
        status, line_id, how = (
            ("unknown", intent.record.get("addition_id"), "the agreement is gone")
            if gone
            else intent.outcome(lines, today)
        )
        note = f"settled by run {log.run_id}: {how}"
        log.settled(intent, status, line_id, note)
    return len(intents)


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
        unsettled: Writes it recorded as about to be sent and no outcome answers: the run died
            while they were in flight (the next run with this log settles them).
    """

    run_id: str
    started: datetime
    ended: datetime
    dry_run: bool
    agreements: int
    counts: Mapping[str, int]
    unsettled: int = 0


def write_key(record: Mapping[str, Any]) -> tuple[object, ...]:
    """Which write a line is about: its `write_id`; in logs written before intents, a create by
    its plan (its line's id is unknown until settled), an update or a cancel by its line."""
    write_id = record.get("write_id")
    if isinstance(write_id, str):
        return (write_id,)
    kind = record.get("operation")
    which = record.get("plan_id") if kind == "create" else record.get("addition_id")
    return (record.get("agreement_id"), kind, which)


def runs(audit_log: str | Path) -> list[AuditRun]:
    """The runs in an audit log, oldest first, each with its outcomes counted and its unsettled
    intents (the log is read line by line).

    Raises:
        InputError: the log cannot be read (see `read_audit_log`).
    """
    seen: dict[str, _RunSeen] = {}
    intents: dict[str, str] = {}  # write id -> run, until an outcome answers it
    for record in iter_audit_log(audit_log):
        when = datetime.fromisoformat(record["time"])
        run = seen.get(record["run_id"])
        if run is None:
            run = seen[record["run_id"]] = _RunSeen(when, bool(record.get("dry_run")))
        run.started, run.ended = min(run.started, when), max(run.ended, when)
        run.agreements.add(record.get("agreement_id"))
        event = record.get("event", "outcome")
        if event == "intent":
            intents[record["write_id"]] = record["run_id"]
        elif event == "outcome":
            run.last[write_key(record)] = str(record.get("status"))
            intents.pop(record.get("write_id"), None)  # type: ignore[arg-type]
    open_intents: dict[str, int] = {}
    for run_id in intents.values():
        open_intents[run_id] = open_intents.get(run_id, 0) + 1
    found = []
    for run_id, run in seen.items():
        counts: dict[str, int] = {}
        for status in run.last.values():
            counts[status] = counts.get(status, 0) + 1
        found.append(
            AuditRun(
                run_id=run_id,
                started=run.started,
                ended=run.ended,
                dry_run=run.dry_run,
                agreements=len(run.agreements),
                counts=counts,
                unsettled=open_intents.get(run_id, 0),
            )
        )
    return sorted(found, key=lambda run: run.started)


@attrs.define(slots=False)
class _RunSeen:
    """What `runs` keeps of a run while it reads the log."""

    started: datetime
    dry_run: bool
    ended: datetime = attrs.field()
    agreements: set[object] = attrs.Factory(set)
    last: dict[tuple[object, ...], str] = attrs.Factory(dict)  # a write's last outcome

    @ended.default
    def _ended(self) -> datetime:
        return self.started
