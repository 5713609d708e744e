"""Pure reconciliation: plan counts, custom prices and discounts -> an addition diff.

Imports no HTTP: other PSA integrations can embed it with their own line items.

`connectwise_billing.reconcile` is this module (`import connectwise_billing.reconcile as r;
r.Plan`); the function that reconciles many agreements is
[`reconcile_all`][connectwise_billing.reconcile.reconcile_all]. Calling the module itself, as
the function `connectwise_billing.reconcile` was called up to 0.1, still works for one release,
with a `DeprecationWarning`.
"""

import sys
import types
import warnings
from typing import Any

from connectwise_billing.reconcile.billing import (
    BillingCheck,
    BillingProblem,
    BillingProblemKind,
)
from connectwise_billing.reconcile.diff import (
    AgreementDiff,
    CancelAddition,
    Change,
    CreateAddition,
    DiffWarning,
    DuplicateAdditions,
    Operation,
    UnchangedAddition,
    UpdateAddition,
)
from connectwise_billing.reconcile.engine import (
    AdditionLike,
    Reconciler,
    bills,
    is_active,
    reconcile_agreement,
    reconcile_all,
)
from connectwise_billing.reconcile.inputs import CompanyUsage, Plan, PlanMapping
from connectwise_billing.reconcile.lines import billed_quantity
from connectwise_billing.reconcile.policy import SyncPolicy
from connectwise_billing.reconcile.pricing import discounted_price

__all__ = [
    "AdditionLike",
    "AgreementDiff",
    "BillingCheck",
    "BillingProblem",
    "BillingProblemKind",
    "CancelAddition",
    "Change",
    "CompanyUsage",
    "CreateAddition",
    "DiffWarning",
    "DuplicateAdditions",
    "Operation",
    "Plan",
    "PlanMapping",
    "Reconciler",
    "SyncPolicy",
    "UnchangedAddition",
    "UpdateAddition",
    "billed_quantity",
    "bills",
    "discounted_price",
    "is_active",
    "reconcile_agreement",
    "reconcile_all",
]


class _CallableModule(types.ModuleType):
    """This module, callable as the function `reconcile` it used to be shadowed by."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        warnings.warn(
            "calling connectwise_billing.reconcile is deprecated: it is the module; call "
            "connectwise_billing.reconcile_all (the same function) instead",
            DeprecationWarning,
            stacklevel=2,
        )
        return reconcile_all(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
