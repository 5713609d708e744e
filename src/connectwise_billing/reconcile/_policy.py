"""`SyncPolicy`: the choices an MSP makes about what a sync owns and how it behaves.

A named tuple whose values are checked as it is built (also by `_replace`): a wrong setting is a
`ConfigurationError` naming it, before anything is reconciled."""

from __future__ import annotations

import warnings
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any, Final, Literal, NamedTuple

from connectwise_billing._values import unwritable
from connectwise_billing.defaults import BILL_CUSTOMER_VALUES
from connectwise_billing.errors import ConfigurationError
from connectwise_billing.reconcile._guardrails import PERCENT_RULES, Guardrails
from connectwise_billing.reconcile._inputs import Rebuilt

OnZero = Literal["set_quantity_zero", "cancel", "leave"]
"""What happens to an addition whose plan has no seats left (`SyncPolicy.on_zero`)."""
OnDuplicates = Literal["skip", "merge"]
"""What happens when a mapped product has several active additions
(`SyncPolicy.on_duplicates`)."""
EffectiveDateRule = Literal["today", "start_of_month", "start_of_next_month"]
"""The effective date of a created addition (`SyncPolicy.effective_date`)."""
OnNonBilling = Literal["report", "create_billable"]
"""What happens when the only lines of a mapped product do not bill
(`SyncPolicy.on_non_billing`)."""
OnRetired = Literal["report", "zero"]
"""What happens to a line of a retired product that still bills (`SyncPolicy.on_retired`)."""

_ON_ZERO: Final = ("set_quantity_zero", "cancel", "leave")
_ON_DUPLICATES: Final = ("skip", "merge")
_EFFECTIVE_RULES: Final = ("today", "start_of_month", "start_of_next_month")
_ON_NON_BILLING: Final = ("report", "create_billable")
_ON_RETIRED: Final = ("report", "zero")
_ROUNDINGS: Final = (
    "ROUND_HALF_UP", "ROUND_HALF_EVEN", "ROUND_HALF_DOWN", "ROUND_UP", "ROUND_DOWN",
    "ROUND_CEILING", "ROUND_FLOOR", "ROUND_05UP",
)  # fmt: skip


def _one_of(name: str, allowed: tuple[str, ...], value: Any) -> None:
    if value not in allowed:
        raise ConfigurationError(
            f"SyncPolicy.{name} must be one of {', '.join(allowed)}; got {value!r}"
        )


def _flag(name: str, value: Any) -> None:
    if not isinstance(value, bool):
        raise ConfigurationError(f"SyncPolicy.{name} must be True or False, got {value!r}")


def _percentage_problem(value: object) -> str | None:
    """Why `value` is not a guardrail percentage a change set can carry (finite, not negative
    nor -0, not beyond what it reads back), or `None`."""
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        return "it is not an int or a Decimal"
    number = Decimal(value)
    if not number.is_finite():
        return "it is not finite"
    if number.is_signed():
        return "it is negative"
    problem = unwritable(number)
    return None if problem is None else f"it {problem}"


def _check_guardrails(guardrails: object) -> None:
    if not isinstance(guardrails, Guardrails):
        raise ConfigurationError(
            f"SyncPolicy.guardrails must be a Guardrails or None, got {guardrails!r}"
        )
    for rule in PERCENT_RULES:
        value = getattr(guardrails, rule)
        if value is None:
            continue
        problem = _percentage_problem(value)
        if problem:
            raise ConfigurationError(
                f"Guardrails.{rule} must be a percentage >= 0 or None, got {value!r}: {problem}"
            )
    for rule, allowed in (("below_cost", ("hold", "warn")), ("unmapped_usage", ("warn", "fail"))):
        value = getattr(guardrails, rule)
        if value is not None and value not in allowed:
            raise ConfigurationError(
                f"Guardrails.{rule} must be one of {', '.join(allowed)} or None; got {value!r}"
            )


def _check(policy: SyncPolicy) -> None:
    """Every field of a policy, checked as it is built."""
    decimals = policy.price_decimals
    if isinstance(decimals, bool) or not isinstance(decimals, int) or not 0 <= decimals <= 6:
        raise ConfigurationError(f"SyncPolicy.price_decimals must be 0..6, got {decimals!r}")
    _one_of("rounding", _ROUNDINGS, policy.rounding)
    for name in ("manage_price", "manage_cost", "verify_before_write", "respect_manual_edits"):
        _flag(name, getattr(policy, name))
    _one_of("on_zero", _ON_ZERO, policy.on_zero)
    rule = policy.effective_date
    if not isinstance(rule, date) and rule not in _EFFECTIVE_RULES:
        raise ConfigurationError(
            "SyncPolicy.effective_date must be a date or one of "
            f"{', '.join(_EFFECTIVE_RULES)}; got {rule!r}"
        )
    _one_of("on_duplicates", _ON_DUPLICATES, policy.on_duplicates)
    _one_of("on_non_billing", _ON_NON_BILLING, policy.on_non_billing)
    _one_of("on_retired", _ON_RETIRED, policy.on_retired)
    if policy.guardrails is not None:
        _check_guardrails(policy.guardrails)
    if policy.bill_customer is not None:
        _one_of("bill_customer", BILL_CUSTOMER_VALUES, policy.bill_customer)
        warnings.warn(
            "SyncPolicy.bill_customer is deprecated: it is a ConnectWise setting; pass "
            "ConnectWiseBackend(client, bill_customer=...) to the sync functions instead",
            DeprecationWarning,
            stacklevel=3,
        )


class _PolicyFields(NamedTuple):
    price_decimals: int = 2
    rounding: str = ROUND_HALF_UP
    manage_price: bool = True
    manage_cost: bool = True
    on_zero: OnZero = "set_quantity_zero"
    effective_date: date | EffectiveDateRule = "today"
    bill_customer: str | None = None
    on_duplicates: OnDuplicates = "skip"
    verify_before_write: bool = False
    respect_manual_edits: bool = False
    api_member: str | None = None
    on_non_billing: OnNonBilling = "report"
    on_retired: OnRetired = "report"
    guardrails: Guardrails | None = Guardrails()


class SyncPolicy(Rebuilt, _PolicyFields):
    """What a sync owns and how it behaves. Every field has a documented default.

    Attributes:
        price_decimals: Decimal places of unit prices after the discount (default 2).
        rounding: How prices are rounded (a `decimal` rounding name, default `ROUND_HALF_UP`).
        manage_price: Sync unit prices (default `True`). Turn off if you edit prices by hand in
            ConnectWise; only quantities (and costs, if managed) are then owned by the sync.
        manage_cost: Sync unit costs (default `True`).
        on_zero: What happens to an addition whose seats fell to 0: `"set_quantity_zero"`
            (default; the addition stays, billing nothing), `"cancel"` (its cancelled date is
            set to today, keeping billing history), or `"leave"` (untouched, with a warning).
        effective_date: Effective date of new additions: a `date`, or `"today"` (default),
            `"start_of_month"` or `"start_of_next_month"`, resolved against the `today` the
            caller passes.
        bill_customer: Deprecated: a ConnectWise setting, now
            `ConnectWiseBackend(client, bill_customer=...)`. When set, the sync functions
            pass it to the ConnectWise backend they wrap a client in (default `None`: the
            backend's own, `"Billable"`).
        on_duplicates: Two or more active, billing additions for one mapped product on one
            agreement (zero-quantity ones too): `"skip"` (default) reports them and touches
            none, and the agreement is not ok until someone resolves them; `"merge"` keeps the
            oldest (lowest id), syncs it, and cancels the others (their billing history stays),
            so the agreement is in step once the merge is applied.
        verify_before_write: Before each update or cancel, re-read the addition and refuse
            to write if it changed since the diff was computed (default `False`).
        respect_manual_edits: Leave additions last changed by someone other than
            `api_member` untouched and report them (default `False`: overwrite, still report).
        api_member: The user the sync writes as, as the PSA records it on each line
            (ConnectWise: the API member's identifier in `_info.updatedBy`); needed to tell the
            sync's own writes from manual edits (default `None`: no drift detection).
        on_non_billing: A mapped product whose only active additions do not bill
            (`billCustomer` `DoNotBill` or `NoCharge`: invoiced at zero) while the plan has
            seats: `"report"` (default) leaves them untouched and reports the plan "not
            billed" (not ok); `"create_billable"` creates a billable addition for the seats
            beside them. A non-billing addition is never written to either way.
        on_retired: An active addition of a retired product (`PlanMapping(retired=...)`)
            that still bills seats: `"report"` (default) leaves it and reports it ("billed
            twice" when the plan's new product bills too; not ok); `"zero"` applies `on_zero`
            to it in the same run.
        guardrails: The rules that hold a planned change until a person approves it (a drop
            in MRR, a price move, a price below cost, a run that zeroes many customers, seats on
            unmapped plans): see
            [`Guardrails`][connectwise_billing.reconcile._guardrails.Guardrails]. On by
            default; `None` turns them all off.
    """

    __slots__ = ()

    if not TYPE_CHECKING:  # mypy checks calls against the fields; here, the values are checked

        def __new__(cls, *args, **kwargs):
            policy = super().__new__(cls, *args, **kwargs)
            _check(policy)
            return policy

        __new__.__wrapped__ = _PolicyFields.__new__  # `inspect.signature` shows the fields

    def effective_date_for(self, today: date) -> date:
        """The effective date of additions created on `today`."""
        rule = self.effective_date
        if isinstance(rule, date):
            return rule
        if rule == "start_of_month":
            return today.replace(day=1)
        if rule == "start_of_next_month":
            return (today.replace(day=28) + timedelta(days=4)).replace(day=1)
        return today
