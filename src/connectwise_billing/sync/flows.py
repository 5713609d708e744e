"""The flows of a sync run, as pure generators: check the mapping, sync one agreement.

They yield backend steps (see [`steps`][connectwise_billing.sync.steps]) and decide everything
between them; `run.py` performs them with a sync or an async backend. Nothing here knows which
PSA is behind the backend.
"""

from __future__ import annotations

from collections.abc import Mapping

import attrs

from connectwise_billing.backend import AgreementState, CatalogItem
from connectwise_billing.errors import (
    ConnectWiseBillingError,
    MappingError,
    NotFoundError,
    PermissionDeniedError,
)
from connectwise_billing.reconcile import CompanyUsage, PlanMapping, Reconciler
from connectwise_billing.sync.apply import ApplySettings, additions_problem, apply_and_read_back
from connectwise_billing.sync.failures import failure_kind
from connectwise_billing.sync.reports import AgreementReport
from connectwise_billing.sync.steps import ReadCatalog, ReadLines, SyncFlow, perform

__all__ = ["agreement_flow", "mapping_problem", "preflight_flow"]


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
    applied = yield from apply_and_read_back(diff, attrs.evolve(settings, known_ids=known))
    results = tuple(applied.results)
    if applied.lost is not None:
        lost = (
            f"this run lost the agreement's lock ({applied.lost}) and wrote nothing more; "
            "another run has it (the next sync settles the rest)"
        )
        return attrs.evolve(report, status="busy", diff=diff, results=results, error=lost)
    if settings.dry_run:  # the lines as read, with the plan applied: what the plan promises
        billing = reconciler.billing(usage, lines, diff.operations)
    elif not results:  # nothing written: the lines as read are the truth
        billing = reconciler.billing(usage, lines)
    elif applied.lines is not None:  # the lines as read back after the writes
        billing = reconciler.billing(usage, applied.lines)
    else:
        billing = None
    return AgreementReport.settled(usage, diff, results, dry_run=settings.dry_run, billing=billing)
