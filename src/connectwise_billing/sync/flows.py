"""The flows of a sync run, as pure generators: check the mapping, sync one agreement.

They yield backend steps (see [`steps`][connectwise_billing.sync.steps]) and decide everything
between them; `run.py` performs them with a sync or an async backend. Nothing here knows which
PSA is behind the backend.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import attrs

from connectwise_billing.backend import AgreementState, CatalogItem
from connectwise_billing.errors import (
    ConnectWiseBillingError,
    MappingError,
    NotFoundError,
    PermissionDeniedError,
)
from connectwise_billing.reconcile import AdditionLike, CompanyUsage, PlanMapping, Reconciler
from connectwise_billing.sync.apply import ApplySettings, apply_flow
from connectwise_billing.sync.failures import failure_kind
from connectwise_billing.sync.reports import AgreementReport
from connectwise_billing.sync.steps import ReadCatalog, ReadLines, SyncFlow, perform

__all__ = ["additions_problem", "agreement_flow", "mapping_problem", "preflight_flow"]


def mapping_problem(
    mapping: PlanMapping, items: Mapping[int, CatalogItem], name: str
) -> str | None:
    """Why the mapping cannot be synced against these catalog items of the PSA `name`, or
    `None`."""
    for plan_id in sorted(mapping):
        product_id = mapping[plan_id]
        item = items.get(product_id)
        if item is None:
            return (
                f"plan {plan_id!r} is mapped to product {product_id}, which is not in the "
                f"catalog, or which the {name} integration is not allowed to read"
            )
        if not item.active:
            called = f" ({item.name})" if item.name else ""
            return (
                f"plan {plan_id!r} is mapped to product {product_id}{called}, which is inactive "
                f"in {name}: activate it or map the plan to another product"
            )
    return None


def preflight_flow(mapping: PlanMapping, name: str) -> SyncFlow[None]:
    """Before anything is written: every mapped product exists, is active and can be read.

    Raises:
        MappingError: naming the plan and the product.
    """
    if not mapping:
        return
    items = yield from perform(ReadCatalog(sorted(set(mapping.values()))))
    problem = mapping_problem(mapping, items, name)
    if problem:
        raise MappingError(problem)


def additions_problem(lines: Sequence[AdditionLike], name: str) -> str | None:
    """Why a read of an agreement's lines cannot be trusted to decide on, or `None`.

    Acting on such an answer costs money: a line without its product would look unmanaged and
    be created again; one listed twice would look like a duplicate of itself.
    """
    seen: set[int] = set()
    for line in lines:
        if line.id in seen:
            return f"{name} listed addition {line.id} twice in one read; nothing written"
        seen.add(line.id)
        if line.product is None or line.product.id is None:
            return f"addition {line.id} came without its product id; nothing written"
    return None


def agreement_flow(
    reconciler: Reconciler,
    usage: CompanyUsage,
    state: AgreementState,
    settings: ApplySettings,
    name: str,
) -> SyncFlow[AgreementReport]:
    """Read one agreement's lines from the PSA `name`, reconcile them and apply the diff."""
    report = AgreementReport(usage.agreement_id, usage.company, "error")
    if state.status == "unavailable":
        return attrs.evolve(report, error=state.reason, failure=state.failure)
    if state.status == "closed":
        return attrs.evolve(report, status="skipped", warnings=(state.reason or "closed",))
    try:
        lines = yield from perform(ReadLines(usage.agreement_id))
    except NotFoundError:
        gone = f"agreement not found: it was deleted or replaced in {name}; link the new one"
        return attrs.evolve(report, error=gone)
    except PermissionDeniedError as error:
        return attrs.evolve(report, error=f"no access to the agreement's additions: {error}")
    except ConnectWiseBillingError as error:
        failure = failure_kind(error, name)
        return attrs.evolve(report, error=f"could not read the additions: {error}", failure=failure)
    problem = additions_problem(lines, name)
    if problem:
        return attrs.evolve(report, error=problem)
    diff = reconciler.agreement(usage, lines)
    known = frozenset(line.id for line in lines)
    results = yield from apply_flow(diff, attrs.evolve(settings, known_ids=known))
    return AgreementReport.settled(usage, diff, tuple(results), dry_run=settings.dry_run)
