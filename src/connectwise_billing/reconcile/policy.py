"""`SyncPolicy`: the choices an MSP makes about what a sync owns and how it behaves."""

from __future__ import annotations

import calendar
import warnings
from datetime import date, timedelta
from decimal import ROUND_HALF_UP
from typing import Any, Final, Literal

import attrs

from connectwise_billing.defaults import BILL_CUSTOMER_VALUES
from connectwise_billing.errors import ConfigurationError

OnZero = Literal["set_quantity_zero", "cancel", "leave"]
OnDuplicates = Literal["skip", "merge"]
EffectiveDateRule = Literal["today", "start_of_month", "start_of_next_month"]

_ON_ZERO: Final = ("set_quantity_zero", "cancel", "leave")
_ON_DUPLICATES: Final = ("skip", "merge")
_EFFECTIVE_RULES: Final = ("today", "start_of_month", "start_of_next_month")
_ROUNDINGS: Final = (
    "ROUND_HALF_UP", "ROUND_HALF_EVEN", "ROUND_HALF_DOWN", "ROUND_UP", "ROUND_DOWN",
    "ROUND_CEILING", "ROUND_FLOOR", "ROUND_05UP",
)  # fmt: skip


def _one_of(allowed: tuple[str, ...]) -> Any:
    def check(_instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if value not in allowed:
            raise ConfigurationError(
                f"SyncPolicy.{attribute.name} must be one of {', '.join(allowed)}; got {value!r}"
            )

    return check


def _effective_date_rule(_instance: Any, _attribute: Any, value: Any) -> None:
    if isinstance(value, date) or value in _EFFECTIVE_RULES:
        return
    raise ConfigurationError(
        "SyncPolicy.effective_date must be a date or one of "
        f"{', '.join(_EFFECTIVE_RULES)}; got {value!r}"
    )


def _decimals(_instance: Any, _attribute: Any, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 6:
        raise ConfigurationError(f"SyncPolicy.price_decimals must be 0..6, got {value!r}")


def _bill_customer(_instance: Any, _attribute: Any, value: Any) -> None:
    if value is None:
        return
    _one_of(BILL_CUSTOMER_VALUES)(_instance, _attribute, value)
    warnings.warn(
        "SyncPolicy.bill_customer is deprecated: it is a ConnectWise setting; pass "
        "ConnectWiseBackend(client, bill_customer=...) to the sync functions instead",
        DeprecationWarning,
        stacklevel=4,
    )


def _flag(_instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not isinstance(value, bool):
        raise ConfigurationError(
            f"SyncPolicy.{attribute.name} must be True or False, got {value!r}"
        )


@attrs.frozen(slots=False)
class SyncPolicy:
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
        on_duplicates: Two or more active additions for one mapped product on one agreement:
            `"skip"` (default) reports them and touches none; `"merge"` keeps the oldest
            (lowest id) and zeroes the others, or cancels them when `on_zero="cancel"`.
        verify_before_write: Before each update or cancel, re-read the addition and refuse
            to write if it changed since the diff was computed (default `False`).
        respect_manual_edits: Leave additions last changed by someone other than
            `api_member` untouched and report them (default `False`: overwrite, still report).
        api_member: The user the sync writes as, as the PSA records it on each line
            (ConnectWise: the API member's identifier in `_info.updatedBy`); needed to tell the
            sync's own writes from manual edits (default `None`: no drift detection).
    """

    price_decimals: int = attrs.field(default=2, validator=_decimals)
    rounding: str = attrs.field(default=ROUND_HALF_UP, validator=_one_of(_ROUNDINGS))
    manage_price: bool = attrs.field(default=True, validator=_flag)
    manage_cost: bool = attrs.field(default=True, validator=_flag)
    on_zero: OnZero = attrs.field(default="set_quantity_zero", validator=_one_of(_ON_ZERO))
    effective_date: date | EffectiveDateRule = attrs.field(
        default="today", validator=_effective_date_rule
    )
    bill_customer: str | None = attrs.field(default=None, validator=_bill_customer)
    on_duplicates: OnDuplicates = attrs.field(default="skip", validator=_one_of(_ON_DUPLICATES))
    verify_before_write: bool = attrs.field(default=False, validator=_flag)
    respect_manual_edits: bool = attrs.field(default=False, validator=_flag)
    api_member: str | None = None

    def effective_date_for(self, today: date) -> date:
        """The effective date of additions created on `today`."""
        rule = self.effective_date
        if isinstance(rule, date):
            return rule
        if rule == "start_of_month":
            return today.replace(day=1)
        if rule == "start_of_next_month":
            days = calendar.monthrange(today.year, today.month)[1]
            return today.replace(day=1) + timedelta(days=days)
        return today
