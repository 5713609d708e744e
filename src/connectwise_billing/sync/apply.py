"""Execute an `AgreementDiff` against ConnectWise, safely.

- Updates and cancels are PATCHes with one `replace` per changed field: idempotent, retried by
  the client's retry policy.
- Creates are POSTs and are never repeated blindly. When a POST ends with an unknown outcome (a
  timeout, a dropped connection, a 5xx), the agreement's additions for that product are read
  again: if one is there now, the create counts as applied; if not, the POST is tried again.
  If the outcome cannot be established, the operation is reported as failed and nothing more
  is sent: the next sync sees the truth and acts on it. A sync never leaves two additions where
  it meant one.
- With `policy.verify_before_write`, each update or cancel first re-reads its addition and
  refuses to write over a change made since the diff was computed (a conflict).
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any, Final, Literal

import attrs

from connectwise_billing.client.conditions import Field as ConditionField
from connectwise_billing.client.models import Addition, NewAddition
from connectwise_billing.errors import (
    APIConnectionError,
    ConnectWiseBillingError,
    NotFoundError,
    ServerError,
)
from connectwise_billing.reconcile.diff import (
    AgreementDiff,
    CancelAddition,
    CreateAddition,
    Operation,
    UpdateAddition,
)
from connectwise_billing.reconcile.engine import is_active
from connectwise_billing.sync._flow import Call, Flow, run, run_async

if TYPE_CHECKING:
    from connectwise_billing.client import AsyncConnectWiseClient, ConnectWiseClient

Status = Literal["applied", "skipped", "failed", "conflict"]
CREATE_ATTEMPTS: Final = 3
"""POST attempts for one create, each after re-reading showed the previous one did not land."""
READ_FIELDS: Final = (
    "id",
    "product/id",
    "product/identifier",
    "quantity",
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


@attrs.frozen(slots=False)
class OperationResult:
    """What became of one operation.

    Attributes:
        operation: The operation from the diff.
        status: `"applied"`, `"skipped"` (dry run), `"failed"` or `"conflict"` (the addition
            changed since the diff was computed; not overwritten).
        addition_id: The addition written (for a create, the one ConnectWise made).
        error: Why it failed or conflicted.
        note: How the outcome was established when it was not plain (a create confirmed by
            re-reading after a dropped connection).
    """

    operation: Operation
    status: Status
    addition_id: int | None = None
    error: str | None = None
    note: str | None = None

    @property
    def ok(self) -> bool:
        """Applied or skipped."""
        return self.status in ("applied", "skipped")


def _unknown_outcome(error: ConnectWiseBillingError) -> bool:
    """The request may have been applied, or not."""
    if isinstance(error, APIConnectionError):
        return error.request_sent
    return isinstance(error, ServerError)


def _new_addition(op: CreateAddition) -> NewAddition:
    return NewAddition(
        op.product_id,
        op.quantity,
        unit_price=op.unit_price,
        unit_cost=op.unit_cost,
        bill_customer=op.bill_customer,
        effective_date=op.effective_date,
    )


def _create_flow(op: CreateAddition, today: date) -> Flow[OperationResult]:
    missed: list[str] = []
    for _attempt in range(CREATE_ATTEMPTS):
        try:
            created: Addition = yield Call(
                "additions", "create", (op.agreement_id, _new_addition(op))
            )
        except ConnectWiseBillingError as error:
            if not _unknown_outcome(error):
                return OperationResult(op, "failed", error=str(error))
            # The POST may have landed. The diff creates only where no active addition of the
            # product existed, so an active one there now is ours.
            try:
                found: list[Addition] = yield Call(
                    "additions",
                    "list",
                    (op.agreement_id, ConditionField("product/id") == op.product_id),
                    {"fields": READ_FIELDS},
                )
            except ConnectWiseBillingError as reread:
                return OperationResult(
                    op,
                    "failed",
                    error=f"outcome unknown: {error}; re-reading the agreement failed: {reread}",
                )
            landed = [a for a in found if is_active(a.cancelled_date, today)]
            if landed:
                found_note = f"confirmed by re-reading after: {error}"
                return OperationResult(op, "applied", addition_id=landed[0].id, note=found_note)
            missed.append(str(error))
            continue
        note = f"landed after {len(missed)} failed attempt(s)" if missed else None
        return OperationResult(op, "applied", addition_id=created.id, note=note)
    return OperationResult(
        op, "failed", error=f"did not land after {CREATE_ATTEMPTS} attempts: {missed[-1]}"
    )


def _patch_fields(op: UpdateAddition | CancelAddition) -> dict[str, Any]:
    if isinstance(op, CancelAddition):
        return {"cancelled_date": op.cancelled_date}
    return {field: new for field, (_old, new) in op.changes.items()}


def _changed_since(op: UpdateAddition | CancelAddition, current: Addition) -> list[str]:
    return [
        f"{field} {expected} -> {getattr(current, field)}"
        for field, expected in op.expected.items()
        if getattr(current, field) != expected
    ]


def _patch_flow(op: UpdateAddition | CancelAddition, verify: bool) -> Flow[OperationResult]:
    try:
        if verify:
            current: Addition = yield Call("additions", "get", (op.agreement_id, op.addition_id))
            changed = _changed_since(op, current)
            if current.cancelled_date is not None or changed:
                why = ", ".join(changed) or "it was cancelled"
                return OperationResult(
                    op,
                    "conflict",
                    addition_id=op.addition_id,
                    error=f"changed in ConnectWise since the diff ({why}); not overwritten",
                )
        target = (op.agreement_id, op.addition_id)
        yield Call("additions", "update", target, _patch_fields(op))
    except NotFoundError:
        return OperationResult(
            op, "failed", addition_id=op.addition_id, error="the addition no longer exists"
        )
    except ConnectWiseBillingError as error:
        return OperationResult(op, "failed", addition_id=op.addition_id, error=str(error))
    return OperationResult(op, "applied", addition_id=op.addition_id)


def apply_flow(diff: AgreementDiff, *, dry_run: bool = False) -> Flow[list[OperationResult]]:
    """The flow that applies every operation of a diff; one failure does not stop the rest."""
    results: list[OperationResult] = []
    for op in diff.operations:
        if dry_run:
            results.append(OperationResult(op, "skipped"))
        elif isinstance(op, CreateAddition):
            results.append((yield from _create_flow(op, diff.today or op.effective_date)))
        else:
            results.append((yield from _patch_flow(op, diff.policy.verify_before_write)))
    return results


def apply_diff(
    client: ConnectWiseClient, diff: AgreementDiff, *, dry_run: bool = False
) -> list[OperationResult]:
    """Apply a diff with the sync client; return a result per operation, in order.

    With `dry_run=True` nothing is sent and every operation is `"skipped"`.
    """
    return run(client, apply_flow(diff, dry_run=dry_run))


async def async_apply_diff(
    client: AsyncConnectWiseClient, diff: AgreementDiff, *, dry_run: bool = False
) -> list[OperationResult]:
    """Apply a diff with the async client (see [`apply_diff`][connectwise_billing.apply_diff])."""
    return await run_async(client, apply_flow(diff, dry_run=dry_run))
