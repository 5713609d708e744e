"""Pure reconciliation: plan counts, custom prices and discounts -> an addition diff.

Imports no HTTP: other PSA integrations can embed it with their own line items.
"""

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
    reconcile,
    reconcile_agreement,
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
    "reconcile",
    "reconcile_agreement",
]
