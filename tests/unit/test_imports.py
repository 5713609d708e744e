"""What importing the SDK costs: the reconciler alone loads no HTTP library, and every public
name resolves."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
import types
from datetime import date
from pathlib import Path

import pytest

import connectwise_billing
from tests.conftest import load_file

ROOT = Path(__file__).resolve().parents[2]


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


@pytest.mark.parametrize(
    "name",
    [
        "connectwise_billing",
        "connectwise_billing.cli",
        "connectwise_billing.client",
        "connectwise_billing.reconcile",
        "connectwise_billing.runner",
        "connectwise_billing.testing",
    ],
)
def test_a_packages_public_names_are_exactly_its_all(name: str) -> None:
    package = importlib.import_module(name)
    public = {
        attribute
        for attribute in dir(package)
        if not attribute.startswith("_")
        # a submodule is bound on its package once imported; `reconcile` is also a root name
        and (attribute in package.__all__ or not _is_submodule(getattr(package, attribute), name))
    }
    assert public == {attribute for attribute in package.__all__ if not attribute.startswith("_")}


def _is_submodule(value: object, package: str) -> bool:
    return isinstance(value, types.ModuleType) and value.__name__.startswith(f"{package}.")


def test_the_committed_stub_is_what_the_root_table_generates() -> None:
    """The root's names are declared once (`_PUBLIC`); type checkers read the stub made from it."""
    generator = load_file(ROOT / "scripts" / "gen_init_stub.py")
    expected = generator.stub(generator.SOURCE.read_text(encoding="utf-8"))
    assert generator.TARGET.read_text(encoding="utf-8") == expected, (
        "src/connectwise_billing/__init__.pyi is stale: run `make generate`"
    )


def test_the_stub_declares_what_the_package_gives() -> None:
    stub = ast.parse(Path(connectwise_billing.__file__).with_suffix(".pyi").read_text())
    declared = {
        alias.asname: f"{node.module}.{alias.name}"
        for node in stub.body
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }
    [listed] = [
        ast.literal_eval(node.value)
        for node in stub.body
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "__all__"
    ]
    assert set(declared) == set(listed) == set(connectwise_billing.__all__)
    for name, path in declared.items():
        module, _, attribute = path.rpartition(".")
        assert getattr(importlib.import_module(module), attribute) is getattr(
            connectwise_billing, name
        ), name


def test_the_deprecated_sync_module_still_gives_the_runners_names(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import connectwise_billing.runner as runner

    monkeypatch.delitem(sys.modules, "connectwise_billing.sync", raising=False)
    with pytest.warns(DeprecationWarning, match="import its names from connectwise_billing.runner"):
        old = importlib.import_module("connectwise_billing.sync")
    assert old.__all__ == runner.__all__
    assert all(getattr(old, name) is getattr(runner, name) for name in runner.__all__)
    star: dict[str, object] = {}
    exec("from connectwise_billing.sync import *", star)
    assert star["sync_all"] is connectwise_billing.sync_all
