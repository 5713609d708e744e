"""A realistic example MSP: a ConnectWise site and the control panel that bills through it.

`build_example(companies=50, seed=1)` seeds a `FakeConnectWise` with mailbox products and
companies with "Email Hosting" agreements, and describes what the control panel sells to each
company. The ConnectWise side is deliberately out of step in the ways real sites are: some
additions are missing, some have stale quantities or prices, one company has a second,
unrelated addition, one agreement was deleted, one was cancelled, and one company is out of the
API member's reach.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from decimal import Decimal
from typing import Final

import attrs

from connectwise_billing.client import Credentials
from connectwise_billing.reconcile import CompanyUsage, Plan, PlanMapping, discounted_price
from connectwise_billing.testing._clock import TimeSource
from connectwise_billing.testing._fake import FakeConnectWise

PLANS: Final = (
    Plan("basic-10", "Basic 10 GB", cost=Decimal("1.50"), price=Decimal("4.00")),
    Plan("gold-50", "Gold 50 GB", cost=Decimal("3.25"), price=Decimal("8.00")),
    Plan("platinum-100", "Platinum 100 GB", cost=Decimal("5.00"), price=Decimal("12.50")),
    Plan("archive-1tb", "Archive 1 TB", cost=Decimal("1.00"), price=Decimal("3.00")),
)
"""The example's mailbox plans; the archive plan is sold but deliberately not mapped."""
PRODUCT_IDENTIFIERS: Final = {
    "basic-10": "MBX-BASIC-10",
    "gold-50": "MBX-GOLD-50",
    "platinum-100": "MBX-PLAT-100",
}

_NAMES: Final = (
    "Contoso", "Fabrikam", "Northwind Traders", "Adventure Works", "Tailspin Toys", "Wingtip Toys",
    "Litware", "Proseware", "Woodgrove Bank", "Coho Winery", "Alpine Ski House", "Blue Yonder",
    "Fourth Coffee", "Lucerne Publishing", "Margie's Travel", "Trey Research",
    "Wide World Importers", "Humongous Insurance", "Datum Corporation", "Relecloud",
    "Graphic Design Institute",
    "School of Fine Art", "Southridge Video", "VanArsdel", "Bellows College", "Munson's Pickles",
)  # fmt: skip
_SUFFIXES: Final = ("Ltd", "Inc", "LLC", "GmbH", "Pty", "BV")


@attrs.frozen(slots=False)
class ExampleMSP:
    """The example: the simulator, the API member's credentials, and the control panel's data.

    Attributes:
        fake: The seeded simulator.
        credentials: The API member's credentials (it cannot see `hidden_company`).
        plans: The control panel's plans.
        mapping: Plan id -> catalog item id, for the mapped plans (the archive plan is not).
        usages: The control panel's companies, each linked to one agreement.
        deleted_agreement_id: An agreement a company is linked to but that no longer exists.
        cancelled_agreement_id: An agreement that was cancelled in ConnectWise.
        hidden_company: The name of the company the API member has no access to.
    """

    fake: FakeConnectWise
    credentials: Credentials
    plans: tuple[Plan, ...]
    mapping: PlanMapping
    usages: tuple[CompanyUsage, ...]
    deleted_agreement_id: int | None
    cancelled_agreement_id: int | None
    hidden_company: str | None


def _company_name(index: int) -> str:
    base = _NAMES[index % len(_NAMES)]
    round_ = index // len(_NAMES)
    suffix = _SUFFIXES[index % len(_SUFFIXES)]
    return f"{base} {suffix}" if round_ == 0 else f"{base} {round_ + 1} {suffix}"


def build_example(
    companies: int = 50, *, seed: int = 1, time_source: TimeSource | None = None
) -> ExampleMSP:
    """Seed a simulator with an example MSP of `companies` customer companies (at least 1).

    The same `seed` always gives the same data. `time_source` is the simulator's (see
    [`FakeConnectWise`][connectwise_billing.testing.FakeConnectWise]).
    """
    if companies < 1:
        raise ValueError(f"companies must be at least 1, got {companies!r}")
    rng = random.Random(seed)
    fake = FakeConnectWise(seed=seed, time_source=time_source)
    product_ids = {
        plan.id: fake.add_product(
            PRODUCT_IDENTIFIERS[plan.id],
            price=plan.price,
            cost=plan.cost,
            description=f"{plan.name} mailbox",
            customer_description=f"Hosted mailbox, {plan.name}",
        )
        for plan in PLANS
        if plan.id in PRODUCT_IDENTIFIERS
    }
    backup = fake.add_product("BACKUP-365", price="5.00", cost="2.00", description="M365 backup")
    fake.add_product("LABOR-REMOTE", price="95", cost="40", product_class="Service")
    company_ids = [fake.add_company(_company_name(i)) for i in range(companies)]
    hidden = company_ids[-1] if companies >= 4 else None
    credentials = fake.add_api_member(
        identifier="CloudPanelAPI",
        companies={c for c in company_ids if c != hidden},
    )
    panel: list[CompanyUsage] = []
    cancelled_id = deleted_id = None
    for index, company_id in enumerate(company_ids):
        agreement_id = fake.add_agreement(company_id, "Email Hosting")
        if index % 3 == 0:
            fake.add_agreement(company_id, "Managed Services")
        seats = {plan.id: rng.choice((0, 0, 1, 2, 3, 5, 8, 12, 20, 35)) for plan in PLANS}
        custom = (
            {"gold-50": Decimal(rng.choice(("6.50", "7.25", "7.99")))}
            if rng.random() < 0.15
            else {}
        )
        discount = Decimal(rng.choice((0, 0, 0, 0, 5, 10, 12.5)))
        company = CompanyUsage(agreement_id, seats, custom, discount, _company_name(index))
        _seed_additions(fake, rng, company, product_ids)
        if rng.random() < 0.2:
            fake.add_addition(agreement_id, backup, rng.randint(1, 20))
        panel.append(company)
    if companies >= 4:
        cancelled_id = panel[-2].agreement_id
        fake.cancel_agreement(cancelled_id)
        deleted_id = panel[-3].agreement_id
        fake.delete_agreement(deleted_id)
    return ExampleMSP(
        fake=fake,
        credentials=credentials,
        plans=PLANS,
        mapping=PlanMapping(product_ids),
        usages=tuple(panel),
        deleted_agreement_id=deleted_id,
        cancelled_agreement_id=cancelled_id,
        hidden_company=_company_name(companies - 1) if hidden else None,
    )


def _seed_additions(
    fake: FakeConnectWise,
    rng: random.Random,
    company: CompanyUsage,
    product_ids: Mapping[str, int],
) -> None:
    """Give the agreement additions that are in step, stale, or missing."""
    state = rng.choice(("in_step", "in_step", "stale", "stale", "missing", "partial"))
    if state == "missing":
        return
    for plan in PLANS:
        product_id = product_ids.get(plan.id)
        seats = company.seats[plan.id]
        if product_id is None or seats == 0 or (state == "partial" and rng.random() < 0.5):
            continue
        base = company.custom_prices.get(plan.id, plan.price)
        price = discounted_price(base, company.discount_percent)
        quantity = seats
        cost = plan.cost
        if state == "stale":
            change = rng.choice(("quantity", "price", "cost", "none"))
            quantity = seats + rng.choice((-2, -1, 1, 3)) if change == "quantity" else seats
            price = price + Decimal("0.50") if change == "price" else price
            cost = cost - Decimal("0.25") if change == "cost" else cost
        fake.add_addition(
            company.agreement_id,
            product_id,
            max(quantity, 1),
            unit_price=price,
            unit_cost=cost,
            updated_by="CloudPanelAPI",
        )
