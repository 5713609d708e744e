"""Input validation for reconciliation: every problem named before anything is produced."""

from __future__ import annotations

import difflib
import warnings
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from decimal import Decimal

from connectwise_billing._values import shown, shown_text, unwritable
from connectwise_billing.errors import (
    DuplicatePlanError,
    InputError,
    InvalidDiscountError,
    InvalidPriceError,
    InvalidSeatsError,
    SmallDiscountWarning,
    UnknownPlanError,
)
from connectwise_billing.reconcile._inputs import CompanyUsage, Plan


def check_money(value: object, what: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, Decimal | int):
        raise InvalidPriceError(f"{what} must be a number, got {shown(value)}")
    amount = Decimal(value)
    if not amount.is_finite():
        raise InvalidPriceError(f"{what} must be a finite number, got {shown(value)}")
    if amount < 0 or amount.is_signed():  # -0 too: it would be written as -0.00
        raise InvalidPriceError(f"{what} must not be negative, got {shown(value)}")
    problem = unwritable(amount)
    if problem:
        raise InvalidPriceError(f"{what} {problem}, got {shown(value)}")
    return amount


def check_plans(plans: Iterable[Plan]) -> dict[str, Plan]:
    by_id: dict[str, Plan] = {}
    for plan in plans:
        if not isinstance(plan, Plan):
            raise InputError(f"plans must be Plan objects, got {type(plan).__name__} {plan!r}")
        if plan.id in by_id:
            raise DuplicatePlanError(
                f"plan id {shown_text(plan.id)} appears twice in the plan list"
            )
        check_money(plan.price, f"price of plan {plan.id!r}")
        check_money(plan.cost, f"cost of plan {plan.id!r}")
        by_id[plan.id] = plan
    return by_id


def _close(plan_id: object, plans: Mapping[str, Plan]) -> str:
    """A known plan id like an unknown one, as a hint: spelled out, a lookalike (a Cyrillic
    letter in place of a Latin one) shows where the two differ."""
    if not isinstance(plan_id, str):
        return ""
    close = difflib.get_close_matches(plan_id, sorted(plans), n=1)
    return f"; did you mean {shown_text(close[0])}?" if close else ""


def check_usage(usage: CompanyUsage, plans: Mapping[str, Plan]) -> None:
    if not isinstance(usage, CompanyUsage):
        raise InputError(f"usage must be a CompanyUsage, got {type(usage).__name__}")
    company = f" ({usage.company})" if usage.company else ""
    where = f"agreement {shown(usage.agreement_id)}{company}"
    if isinstance(usage.agreement_id, bool) or not isinstance(usage.agreement_id, int):
        raise InputError(f"agreement_id must be an integer, got {shown(usage.agreement_id)}")
    if usage.agreement_id <= 0:
        raise InputError(f"agreement_id must be positive, got {shown(usage.agreement_id)}")
    if usage.company is not None and not isinstance(usage.company, str):
        raise InputError(f"the company of {where} must be text, got {shown(usage.company)}")
    company_id = usage.company_id
    if company_id is not None and (
        isinstance(company_id, bool) or not isinstance(company_id, int) or company_id <= 0
    ):
        raise InputError(
            f"company_id on {where} must be a positive integer, got {shown(company_id)}"
        )
    for plan_id, seats in usage.seats.items():
        if plan_id not in plans:
            raise UnknownPlanError(
                f"seats on {where} name unknown plan {shown_text(plan_id)}{_close(plan_id, plans)}"
            )
        if isinstance(seats, bool) or not isinstance(seats, int):
            raise InvalidSeatsError(
                f"seats for plan {plan_id!r} on {where} must be a whole number (an int), got "
                f"{type(seats).__name__} {shown(seats)}"
            )
        if seats < 0:
            raise InvalidSeatsError(
                f"seats for plan {plan_id!r} on {where} must not be negative, got {shown(seats)}"
            )
        problem = unwritable(Decimal(seats))
        if problem:
            raise InvalidSeatsError(
                f"seats for plan {plan_id!r} on {where} {problem}, got {shown(seats)}"
            )
    for plan_id, price in usage.custom_prices.items():
        if plan_id not in plans:
            raise UnknownPlanError(
                f"a custom price on {where} names unknown plan {shown_text(plan_id)}"
                f"{_close(plan_id, plans)}"
            )
        check_money(price, f"custom price for plan {plan_id!r} on {where}")
    discount = usage.discount_percent
    if isinstance(discount, bool) or not isinstance(discount, Decimal | int):
        raise InvalidDiscountError(f"discount on {where} must be a number, got {shown(discount)}")
    if not Decimal(discount).is_finite() or not 0 <= discount <= 100:
        raise InvalidDiscountError(
            f"discount on {where} must be between 0 and 100 percent, got {shown(discount)}"
        )
    if 0 < discount < 1:
        meant = f"{(discount * 100).normalize():f}"
        warnings.warn(
            f"discount on {where} is {discount} percent: if {meant}% was meant, write {meant}",
            SmallDiscountWarning,
            stacklevel=4,
        )


def check_today(today: object) -> date:
    if isinstance(today, datetime):
        return today.date()
    if not isinstance(today, date):
        raise InputError(f"today must be a date, got {today!r}")
    return today
