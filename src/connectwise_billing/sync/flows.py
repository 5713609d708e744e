"""The flows of a sync run, as pure generators: check the mapping, look agreements up, sync one.

They yield typed operations (see `_flow`) and decide everything between the requests; the
drivers in `run.py` perform the operations with a sync or an async client.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import date
from typing import Final
from urllib.parse import quote

import attrs

from connectwise_billing.client.models import Addition, Agreement, Product
from connectwise_billing.defaults import LOGGER_NAME
from connectwise_billing.errors import (
    APIConnectionError,
    ConnectWiseBillingError,
    MappingError,
    NotFoundError,
    PermissionDeniedError,
    ServerError,
    UnexpectedResponseError,
)
from connectwise_billing.reconcile import CompanyUsage, PlanMapping, Reconciler
from connectwise_billing.sync._flow import (
    Flow,
    GetAgreement,
    ListAdditions,
    ListAgreements,
    ListProducts,
    perform,
)
from connectwise_billing.sync.apply import ApplySettings, apply_flow
from connectwise_billing.sync.reports import AgreementReport

logger = logging.getLogger(LOGGER_NAME)

AGREEMENT_FIELDS: Final = (
    "id",
    "name",
    "company/id",
    "company/name",
    "agreementStatus",
    "cancelledFlag",
    "endDate",
    "noEndingDateFlag",
)
MAX_CONDITION_CHARS: Final = 1500
"""Longest URL-encoded `id in (...)` condition: keeps request URLs under ~2,000 characters."""
NOT_FOUND: Final = (
    "agreement not found: it was deleted or replaced in ConnectWise; link the new one"
)
UNREACHABLE: Final = "ConnectWise could not be reached"
NO_ACCESS: Final = (
    "the API member has no access to this company: give its security role access, "
    "or unlink the agreement"
)


def id_chunks(ids: Sequence[int], max_chars: int = MAX_CONDITION_CHARS) -> list[list[int]]:
    """Split ids into groups whose URL-encoded `id in (...)` condition fits `max_chars`."""
    chunks: list[list[int]] = []
    current: list[int] = []
    length = len(quote("id in ()"))
    for record_id in ids:
        extra = len(quote(f",{record_id}"))
        if current and length + extra > max_chars:
            chunks.append(current)
            current, length = [], len(quote("id in ()"))
        current.append(record_id)
        length += extra
    if current:
        chunks.append(current)
    return chunks


def catalog_flow(product_ids: Sequence[int]) -> Flow[dict[int, Product]]:
    """Read catalog items in batches; product id -> item, for those the API member can read."""
    products: dict[int, Product] = {}
    for chunk in id_chunks(sorted(set(product_ids))):
        batch = yield from perform(ListProducts(chunk))
        products.update((product.id, product) for product in batch if product.id in chunk)
    return products


def mapping_problem(mapping: PlanMapping, products: dict[int, Product]) -> str | None:
    """Why the mapping cannot be synced against these catalog items, or `None`."""
    for plan_id in sorted(mapping):
        product_id = mapping[plan_id]
        product = products.get(product_id)
        if product is None:
            return (
                f"plan {plan_id!r} is mapped to product {product_id}, which is not in the "
                "catalog, or which the API member's security role cannot read"
            )
        if product.inactive:
            name = f" ({product.identifier})" if product.identifier else ""
            return (
                f"plan {plan_id!r} is mapped to product {product_id}{name}, which is inactive "
                "in ConnectWise: activate it or map the plan to another product"
            )
    return None


def preflight_flow(mapping: PlanMapping) -> Flow[None]:
    """Before anything is written: every mapped product exists, is active and can be read.

    Raises:
        MappingError: naming the plan and the product.
    """
    if not mapping:
        return
    products = yield from catalog_flow(list(mapping.values()))
    problem = mapping_problem(mapping, products)
    if problem:
        raise MappingError(problem)


def agreement_problem(agreement: Agreement, today: date) -> str | None:
    """Why an agreement must not be written to, or `None`."""
    status = agreement.agreement_status
    if agreement.cancelled_flag or status == "Cancelled":
        return "the agreement is cancelled in ConnectWise; nothing written"
    if status in ("Expired", "Inactive"):
        return f"the agreement is {status.lower()} in ConnectWise; nothing written"
    ended = agreement.end_date
    if ended is not None and not agreement.no_ending_date_flag and ended.date() < today:
        return f"the agreement ended on {ended.date().isoformat()}; nothing written"
    return None


def additions_problem(additions: Sequence[Addition]) -> str | None:
    """Why a read of an agreement's additions cannot be trusted to decide on, or `None`.

    Acting on such an answer costs money: an addition without its product would look unmanaged
    and be created again; one listed twice would look like a duplicate of itself.
    """
    seen: set[int] = set()
    for addition in additions:
        if addition.id in seen:
            return f"ConnectWise listed addition {addition.id} twice in one read; nothing written"
        seen.add(addition.id)
        if addition.product is None or addition.product.id is None:
            return f"addition {addition.id} came without its product id; nothing written"
    return None


def lookup_flow(agreement_ids: Sequence[int]) -> Flow[dict[int, Agreement | str]]:
    """Read agreements in batches; read the ones a batch did not return one by one, to tell a
    deleted agreement (404) from one the API member cannot see (403)."""
    found: dict[int, Agreement] = {}
    for chunk in id_chunks(agreement_ids):
        try:
            batch = yield from perform(ListAgreements(chunk, AGREEMENT_FIELDS))
        except ConnectWiseBillingError as error:
            logger.warning("batched agreement read failed, reading one by one: %s", error)
            continue
        found.update((agreement.id, agreement) for agreement in batch if agreement.id in chunk)
    outcome: dict[int, Agreement | str] = {}
    for agreement_id in agreement_ids:
        if agreement_id in found:
            outcome[agreement_id] = found[agreement_id]
            continue
        try:
            outcome[agreement_id] = yield from perform(GetAgreement(agreement_id, AGREEMENT_FIELDS))
        except NotFoundError:
            outcome[agreement_id] = NOT_FOUND
        except PermissionDeniedError:
            outcome[agreement_id] = NO_ACCESS
        except ConnectWiseBillingError as error:
            outcome[agreement_id] = f"could not read the agreement: {error}"
    return outcome


def failure_kind(error: ConnectWiseBillingError) -> str | None:
    """How an agreement's read failed, when the failure says something about ConnectWise rather
    than about the agreement (a 404, a 403 or one bad record are the agreement's own)."""
    if isinstance(error, APIConnectionError):
        return UNREACHABLE
    if isinstance(error, ServerError):
        return f"ConnectWise answered {error.status_code}"
    if isinstance(error, UnexpectedResponseError) and error.record is None:
        return "ConnectWise's answers were not what it sends"
    return None


def agreement_flow(
    reconciler: Reconciler,
    usage: CompanyUsage,
    agreement: Agreement | str,
    settings: ApplySettings,
) -> Flow[AgreementReport]:
    """Read one agreement's additions, reconcile them and apply the diff."""
    report = AgreementReport(usage.agreement_id, usage.company, "error")
    if isinstance(agreement, str):
        return attrs.evolve(report, error=agreement)
    problem = agreement_problem(agreement, reconciler.today)
    if problem:
        return attrs.evolve(report, status="skipped", warnings=(problem,))
    try:
        additions = yield from perform(ListAdditions(usage.agreement_id))
    except NotFoundError:
        return attrs.evolve(report, error=NOT_FOUND)
    except PermissionDeniedError:
        return attrs.evolve(report, error=NO_ACCESS)
    except ConnectWiseBillingError as error:
        return attrs.evolve(
            report, error=f"could not read the additions: {error}", failure=failure_kind(error)
        )
    problem = additions_problem(additions)
    if problem:
        return attrs.evolve(report, error=problem)
    diff = reconciler.agreement(usage, additions)
    known = frozenset(addition.id for addition in additions)
    results = yield from apply_flow(diff, attrs.evolve(settings, known_ids=known))
    return AgreementReport.settled(usage, diff, tuple(results), dry_run=settings.dry_run)
