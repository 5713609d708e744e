"""Take plan costs and prices from the mapped catalog items (ConnectWise's, or any backend's).

The seed integration: "The cost and price from Connectwise will be synced with the mailbox plan".
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal

import attrs

from connectwise_billing._flow import arun, ask, run
from connectwise_billing.reconcile import Plan, PlanMapping
from connectwise_billing.runner._backends import async_backend_for, backend_for
from connectwise_billing.runner._steps import ReadCatalog, SyncFlow

if TYPE_CHECKING:
    from connectwise_billing.backend import AsyncBillingBackend, BillingBackend
    from connectwise_billing.client import AsyncConnectWiseClient, ConnectWiseClient


@attrs.frozen(slots=False)
class PlanPriceChange:
    """One plan field that takes a new value from its catalog item.

    Attributes:
        plan_id: The plan.
        field: `price` or `cost`.
        old: The plan's value.
        new: The catalog item's value, which the refreshed plan takes.
    """

    plan_id: str
    field: Literal["cost", "price"]
    old: Decimal
    new: Decimal


@attrs.frozen(slots=False)
class PriceRefresh:
    """Plans with the catalog's cost and price, what changed, and mapped products not found.

    Attributes:
        plans: Every plan given, in order; mapped ones carry the catalog's cost and price.
        changes: The values that differ from the plans given.
        missing_products: Mapped product ids the catalog did not return (their plans are kept
            as they were).
    """

    plans: tuple[Plan, ...]
    changes: tuple[PlanPriceChange, ...]
    missing_products: tuple[int, ...]

    def __iter__(self) -> Iterator[Any]:
        """Unpacks as `plans, changes, missing = refresh_plan_prices(...)`."""
        return iter((self.plans, self.changes, self.missing_products))


def refresh_flow(plans: Iterable[Plan], mapping: Mapping[str, int]) -> SyncFlow[PriceRefresh]:
    """Read the mapped catalog items and derive the refreshed plans."""
    plan_list = list(plans)
    mapping = mapping if isinstance(mapping, PlanMapping) else PlanMapping(mapping)
    wanted = sorted({mapping[plan.id] for plan in plan_list if plan.id in mapping})
    products = yield from ask(ReadCatalog(wanted))
    refreshed: list[Plan] = []
    changes: list[PlanPriceChange] = []
    for plan in plan_list:
        product = products.get(mapping.get(plan.id, 0))
        if product is None:
            refreshed.append(plan)
            continue
        cost = product.cost if product.cost is not None else plan.cost
        price = product.price if product.price is not None else plan.price
        if cost != plan.cost:
            changes.append(PlanPriceChange(plan.id, "cost", plan.cost, cost))
        if price != plan.price:
            changes.append(PlanPriceChange(plan.id, "price", plan.price, price))
        refreshed.append(plan._replace(cost=cost, price=price))
    missing = tuple(product_id for product_id in wanted if product_id not in products)
    return PriceRefresh(tuple(refreshed), tuple(changes), missing)


def refresh_plan_prices(
    client: ConnectWiseClient | BillingBackend, plans: Iterable[Plan], mapping: Mapping[str, int]
) -> PriceRefresh:
    """Plans with cost and price taken from their mapped catalog items, and what changed.

    `client` is a ConnectWise client or any billing backend.
    """
    return run(backend_for(client), refresh_flow(plans, mapping))


async def async_refresh_plan_prices(
    client: AsyncConnectWiseClient | AsyncBillingBackend,
    plans: Iterable[Plan],
    mapping: Mapping[str, int],
) -> PriceRefresh:
    """The async twin of [`refresh_plan_prices`][connectwise_billing.refresh_plan_prices]."""
    return await arun(async_backend_for(client), refresh_flow(plans, mapping))
