"""Pure reconciliation: plan counts, custom prices and discounts -> an addition diff.

Imports no HTTP: other PSA integrations can embed it with their own line items.

`connectwise_billing.reconcile` is this module (`import connectwise_billing.reconcile as r;
r.Plan`); the function that reconciles many agreements is
[`reconcile_all`][connectwise_billing.reconcile.reconcile_all]. Calling the module itself, as
the function `connectwise_billing.reconcile` was called up to 0.1, still works for one release,
with a `DeprecationWarning`.
"""

# Imported under private names: the module's public names are exactly `__all__`.
import sys as _sys
import types as _types
import warnings as _warnings
from typing import Any as _Any

from connectwise_billing.reconcile._billing import (
    BillingCheck,
    BillingProblem,
    BillingProblemKind,
)
from connectwise_billing.reconcile._diff import (
    AgreementDiff,
    CancelAddition,
    Change,
    CreateAddition,
    DiffWarning,
    DuplicateAdditions,
    Hold,
    Operation,
    UnchangedAddition,
    UpdateAddition,
    WarningKind,
)
from connectwise_billing.reconcile._engine import (
    AdditionLike,
    Reconciler,
    bills,
    is_active,
    reconcile_agreement,
    reconcile_all,
)
from connectwise_billing.reconcile._guardrails import (
    BelowCost,
    GuardrailRule,
    Guardrails,
    UnmappedUsage,
)
from connectwise_billing.reconcile._inputs import CompanyUsage, Plan, PlanMapping
from connectwise_billing.reconcile._lines import billed_quantity
from connectwise_billing.reconcile._policy import (
    EffectiveDateRule,
    OnDuplicates,
    OnNonBilling,
    OnRetired,
    OnZero,
    SyncPolicy,
)
from connectwise_billing.reconcile._pricing import discounted_price

__all__ = [
    "AdditionLike",
    "AgreementDiff",
    "BelowCost",
    "BillingCheck",
    "BillingProblem",
    "BillingProblemKind",
    "CancelAddition",
    "Change",
    "CompanyUsage",
    "CreateAddition",
    "DiffWarning",
    "DuplicateAdditions",
    "EffectiveDateRule",
    "GuardrailRule",
    "Guardrails",
    "Hold",
    "OnDuplicates",
    "OnNonBilling",
    "OnRetired",
    "OnZero",
    "Operation",
    "Plan",
    "PlanMapping",
    "Reconciler",
    "SyncPolicy",
    "UnchangedAddition",
    "UnmappedUsage",
    "UpdateAddition",
    "WarningKind",
    "billed_quantity",
    "bills",
    "discounted_price",
    "is_active",
    "reconcile_agreement",
    "reconcile_all",
]


class _CallableModule(_types.ModuleType):
    """This module, callable as the function `reconcile` it used to be shadowed by."""

    def __call__(self, *args: _Any, **kwargs: _Any) -> _Any:
        _warnings.warn(
            "calling connectwise_billing.reconcile is deprecated: it is the module; call "
            "connectwise_billing.reconcile_all (the same function) instead",
            DeprecationWarning,
            stacklevel=2,
        )
        return reconcile_all(*args, **kwargs)


_sys.modules[__name__].__class__ = _CallableModule
