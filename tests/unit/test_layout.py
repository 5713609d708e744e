"""The code base's shape: few public modules, private modules used only inside the SDK, no
import cycle, and a simulator that does not borrow the SDK's code."""

from __future__ import annotations

import ast
from pathlib import Path

import connectwise_billing

SRC = Path(connectwise_billing.__file__).parent
ROOT = SRC.parent.parent


def _private_imports(path: Path) -> list[str]:
    """The private modules (`connectwise_billing.x._y`) and private root names that `path` may
    not import."""
    package = _module_name(path).split(".")[:-1] if path.is_relative_to(ROOT / "src") else []
    if path.name == "__init__.py":
        package = _module_name(path).split(".")
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            found += _private_in(package, node.module.split("."), [a.name for a in node.names])
        elif isinstance(node, ast.Import):
            for alias in node.names:
                found += _private_in(package, alias.name.split("."), [])
    return [f"{path.relative_to(ROOT)}: {item}" for item in found]


CONSUMERS = ("cli", "testing")
"""Packages that use the SDK as its users do, through public names (and the shared helpers at
the top, `connectwise_billing._values`, ...): the command line and the simulator."""


def _private_in(package: list[str], parts: list[str], names: list[str]) -> list[str]:
    """A private module is the SDK's own: its core packages (client, reconcile, runner) work
    through each other's private modules, a consumer only through its own and the shared helpers
    at the top, and code outside the SDK through none."""
    if not parts or parts[0] != "connectwise_billing":
        return []
    consumer = len(package) > 1 and package[1] in CONSUMERS
    if package[:1] == ["connectwise_billing"] and not consumer:
        return []
    found = []
    for module in [[*parts, name] for name in names] or [parts]:
        for depth, part in enumerate(module):
            if part.startswith("_") and not part.startswith("__"):
                owner = module[:depth]
                if package[: len(owner)] != owner or not package:
                    found.append(".".join(module))
                break
    return found


def test_no_private_module_is_imported_across_packages() -> None:
    """Examples and scripts are written as users write code, with public names only; tests and
    benchmarks may open a private module to check or time it directly."""
    files = [
        *(ROOT / "src").rglob("*.py"),
        *(ROOT / "examples").rglob("*.py"),
        *(ROOT / "scripts").rglob("*.py"),
    ]
    found = [item for path in files for item in _private_imports(path)]
    assert found == []


def test_the_public_modules_are_few() -> None:
    """Everything else of the SDK is private: a module users import is one we document."""
    public = sorted(
        name
        for name in map(_module_name, SRC.rglob("*.py"))
        if not any(part.startswith("_") for part in name.split(".")[1:])
    )
    assert public == [
        "connectwise_billing",
        "connectwise_billing.backend",
        "connectwise_billing.cli",
        "connectwise_billing.client",
        "connectwise_billing.convert",
        "connectwise_billing.defaults",
        "connectwise_billing.errors",
        "connectwise_billing.locks",
        "connectwise_billing.notifications",
        "connectwise_billing.reconcile",
        "connectwise_billing.runner",
        "connectwise_billing.sync",
        "connectwise_billing.testing",
    ]


SIMULATOR_MAY_USE = {"connectwise_billing.client": ["Credentials"]}
"""What the simulator imports of the SDK: only the `Credentials` it hands out. It reads and
writes its own JSON, so a test compares the SDK with an independent implementation."""


def test_the_simulator_does_not_borrow_the_sdks_code() -> None:
    core = [
        path
        for path in (SRC / "testing").glob("*.py")
        if path.name not in ("__init__.py", "_example.py", "_recording.py", "__main__.py")
    ]
    borrowed = []
    for path in core:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                module, names = node.module, [alias.name for alias in node.names]
                own = module.startswith("connectwise_billing.testing")
                sdk = module.startswith("connectwise_billing") and not own
                if sdk and SIMULATOR_MAY_USE.get(module) != names:
                    borrowed.append(f"{path.name}: {module} {names}")
    assert borrowed == []


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT / "src").with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imported_at_load(path: Path, modules: set[str]) -> set[str]:
    """The SDK modules `path` imports when it is loaded (not under TYPE_CHECKING, not inside a
    function)."""
    found: set[str] = set()
    for node in ast.parse(path.read_text()).body:
        statements: list[ast.stmt] = [node]
        if isinstance(node, ast.If):
            test = node.test
            name = test.id if isinstance(test, ast.Name) else getattr(test, "attr", "")
            statements = [] if name == "TYPE_CHECKING" else [*node.body, *node.orelse]
        for statement in statements:
            if isinstance(statement, ast.ImportFrom) and statement.module:
                for alias in statement.names:
                    inner = f"{statement.module}.{alias.name}"
                    found.add(inner if inner in modules else statement.module)
            elif isinstance(statement, ast.Import):
                found.update(alias.name for alias in statement.names)
    return found & modules


def test_no_module_imports_itself_back_when_it_loads() -> None:
    paths = {_module_name(path): path for path in SRC.rglob("*.py")}
    graph = {name: _imported_at_load(path, set(paths)) for name, path in paths.items()}
    cycles = []
    for start in graph:
        seen, frontier = set(), [(start, (start,))]
        while frontier:
            module, trail = frontier.pop()
            for imported in graph[module]:
                if imported == start:
                    cycles.append(" -> ".join((*trail, start)))
                elif imported not in seen:
                    seen.add(imported)
                    frontier.append((imported, (*trail, imported)))
    assert cycles == []
