"""What importing the SDK costs: the reconciler alone loads no HTTP library, and every public
name resolves."""

from __future__ import annotations

import subprocess
import sys
from datetime import date

import pytest

import connectwise_billing


def loaded_after(statement: str) -> set[str]:
    """The modules a fresh interpreter has loaded after running `statement`."""
    code = f"{statement}\nimport sys\nprint('\\n'.join(sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(done.stdout.split())


@pytest.mark.parametrize(
    "statement",
    [
        "import connectwise_billing.reconcile",
        "from connectwise_billing import reconcile_agreement, Plan, PlanMapping, CompanyUsage",
        "import connectwise_billing",
    ],
)
def test_the_reconciler_loads_no_http_library(statement: str) -> None:
    loaded = loaded_after(statement)
    assert "httpx" not in loaded
    assert "connectwise_billing.client" not in loaded
    assert not {"cattrs", "tenacity", "asyncio"} & loaded


def test_a_sync_through_another_psa_loads_no_http_library() -> None:
    loaded = loaded_after(
        "from connectwise_billing import sync_all, apply_diff, BillingBackend, AgreementState"
    )
    assert "httpx" not in loaded
    assert "connectwise_billing.client" not in loaded


def test_every_public_name_resolves() -> None:
    for name in connectwise_billing.__all__:
        assert getattr(connectwise_billing, name) is not None, name
    assert set(connectwise_billing.__all__) <= set(dir(connectwise_billing))
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        connectwise_billing.Nope  # noqa: B018


def test_reconcile_is_the_module_and_calling_it_still_works_with_a_warning() -> None:
    import connectwise_billing.reconcile as reconcile_module
    from connectwise_billing import Plan, PlanMapping, reconcile, reconcile_all

    assert reconcile is reconcile_module is sys.modules["connectwise_billing.reconcile"]
    assert reconcile_module.Plan is Plan and reconcile_module.reconcile_all is reconcile_all
    arguments = (
        [Plan("gold", "Gold", cost="3.25", price="8.00")],
        PlanMapping({"gold": 7}),
        [],
        {},
    )
    with pytest.warns(DeprecationWarning, match="reconcile_all"):
        called = reconcile(*arguments, today=date(2026, 12, 7))  # type: ignore[operator]
    assert called == reconcile_all(*arguments, today=date(2026, 12, 7)) == []
