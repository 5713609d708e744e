"""What the simulator's records say, judged without the SDK's sync code: the tests' oracle."""

from __future__ import annotations

from datetime import date

from connectwise_billing import SyncPolicy, reconcile
from connectwise_billing.testing import ExampleMSP


def unreachable(example: ExampleMSP) -> set[int]:
    """Agreements no sync can write to: deleted, cancelled, or out of the member's reach."""
    hidden = {u.agreement_id for u in example.usages if u.company == example.hidden_company}
    gone = {example.deleted_agreement_id, example.cancelled_agreement_id} - {None}
    return gone | hidden  # type: ignore[operator]


def duplicates(example: ExampleMSP) -> list[tuple[int, int]]:
    """(agreement, product) pairs of mapped products with more than one active addition."""
    seen: dict[tuple[int, int], int] = {}
    for addition in example.fake.list_additions():
        product = addition.product.id if addition.product else None
        if addition.cancelled_date is None and product in example.mapping.product_ids:
            key = (addition.agreement_id or 0, product or 0)
            seen[key] = seen.get(key, 0) + 1
    return sorted(key for key, count in seen.items() if count > 1)


def still_to_do(
    example: ExampleMSP, today: date, policy: SyncPolicy | None = None
) -> dict[int, int]:
    """Agreement id -> operations a fresh reconcile of the simulator's records still wants."""
    by_agreement: dict[int, list[object]] = {}
    for addition in example.fake.list_additions():
        by_agreement.setdefault(addition.agreement_id or 0, []).append(addition)
    usable = [u for u in example.usages if u.agreement_id not in unreachable(example)]
    diffs = reconcile(example.plans, example.mapping, usable, by_agreement, policy, today=today)  # type: ignore[arg-type]
    return {d.agreement_id: len(d.operations) for d in diffs if d.operations}
