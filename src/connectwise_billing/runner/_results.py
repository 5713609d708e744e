"""What became of one operation of a diff."""

from __future__ import annotations

import warnings
from typing import Any, Literal

import attrs

from connectwise_billing.convert import to_json
from connectwise_billing.reconcile._diff import Operation

_ADDITION_ID = "OperationResult.addition_id is deprecated (it goes next release): use line_id"

Status = Literal["applied", "planned", "failed", "conflict", "unknown", "held", "stale"]
"""`applied` (the PSA has it), `planned` (a dry run: nothing sent), `failed` (the PSA
does not have it), `conflict` (the addition changed since the diff: not overwritten), `unknown`
(sent, but neither the answer nor the re-reads showed whether it landed: not retried, settled by
the next sync), `held` (a guardrail held it until a person approves: not sent; `rule` says
which), `stale` (a change set's agreement changed since it was planned: not sent)."""


@attrs.frozen(slots=False, init=False)
class OperationResult:
    """What became of one operation.

    Attributes:
        operation: The operation from the diff.
        status: See `Status`.
        line_id: The line (addition) written (for a create, the one the PSA made);
            `addition_id` is its deprecated name, as an attribute and a keyword.
        error: Why it failed, conflicted or is unknown.
        note: How the outcome was established when it was not plain (a create confirmed by
            re-reading after its answer was lost).
        rule: For a held operation, the guardrails that held it (`max_mrr_drop_percent`, ...;
            several are separated by commas).
        write_id: The id the audit log records the write under (its intent and outcome lines).
        failure: When the write failed in a way that says something about the PSA (it
            throttled the write, could not be reached, answered 5xx), what way: the run's
            circuit breaker counts agreements in a row that failed the same way.
    """

    operation: Operation
    status: Status
    line_id: int | None = None
    error: str | None = None
    note: str | None = None
    rule: str | None = None
    write_id: str | None = None
    failure: str | None = attrs.field(default=None, eq=False, repr=False)

    def __init__(
        self,
        operation: Operation,
        status: Status,
        line_id: int | None = None,
        error: str | None = None,
        note: str | None = None,
        rule: str | None = None,
        write_id: str | None = None,
        failure: str | None = None,
        **renamed: int | None,
    ) -> None:
        # `addition_id`, the name `line_id` had before, is still taken for one release.
        if renamed:
            if set(renamed) != {"addition_id"}:
                raise TypeError(f"unexpected keyword arguments {sorted(renamed)}")
            warnings.warn(_ADDITION_ID, DeprecationWarning, stacklevel=2)
            # The old name wins: `attrs.evolve(result, addition_id=...)` passes the current
            # `line_id` beside it.
            line_id = renamed["addition_id"]
        self.__attrs_init__(operation, status, line_id, error, note, rule, write_id, failure)

    @property
    def addition_id(self) -> int | None:
        """Deprecated: `line_id`."""
        warnings.warn(_ADDITION_ID, DeprecationWarning, stacklevel=2)
        return self.line_id

    @property
    def ok(self) -> bool:
        """Applied or planned."""
        return self.status in ("applied", "planned")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready data: the operation's kind, plan, product and addition, the status, the
        error and note when there is one, and the owned fields `before` and `after` it."""
        op = self.operation
        before, after = operation_values(op)
        data = {
            "kind": op.kind,
            "status": self.status,
            "plan_id": op.plan_id,
            "plan_name": op.plan_name,
            "product_id": op.product_id,
            # The key keeps its name: reports and audit logs already written use it, and they
            # carry no format version that a new key could be announced by.
            "addition_id": self.line_id,
            **({"error": self.error} if self.error else {}),
            **({"note": self.note} if self.note else {}),
            **({"rule": self.rule} if self.rule else {}),
            **({"write_id": self.write_id} if self.write_id else {}),
            "before": before,
            "after": after,
        }
        return to_json(data)  # type: ignore[no-any-return]


def operation_values(op: Operation) -> tuple[dict[str, Any], dict[str, Any]]:
    """The addition's owned fields before and after an operation (before is empty for a
    create)."""
    if op.kind == "create":
        return {}, {"quantity": op.quantity, "unit_price": op.unit_price, "unit_cost": op.unit_cost}
    before: dict[str, Any] = {str(field): value for field, value in op.expected.items()}
    if op.kind == "update":
        return before, {**before, **{field: change.new for field, change in op.changes.items()}}
    before["cancelled_date"] = op.previous_cancelled_date
    return before, {**before, "cancelled_date": op.cancelled_date}
