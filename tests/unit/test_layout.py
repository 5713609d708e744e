"""The code base's shape: no module reaches into another package's private modules, and the
simulator does not borrow the SDK's code."""

from __future__ import annotations

import ast
from pathlib import Path

import connectwise_billing

SRC = Path(connectwise_billing.__file__).parent
ROOT = SRC.parent.parent


def _private_imports(path: Path) -> list[str]:
    """`from connectwise_billing.x._y import ...` where `x` is not the importing file's package."""
    package = path.relative_to(ROOT).with_suffix("").parts
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            parts = node.module.split(".")
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.Import):
            parts, names = [], []
            for alias in node.names:
                found += _private_in(package, alias.name.split("."), [])
            continue
        else:
            continue
        found += _private_in(package, parts, names)
    return [f"{path.relative_to(ROOT)}: {item}" for item in found]


CONSUMERS = ("cli", "testing")
"""Packages that use the SDK as its users do: through public names only."""


def _private_in(package: tuple[str, ...], parts: list[str], names: list[str]) -> list[str]:
    if not parts or parts[0] != "connectwise_billing":
        return []
    inside = package[1:]  # ("connectwise_billing", "client", "_client") for a file of the SDK
    if len(inside) > 2 and inside[1] in CONSUMERS:
        inside = (*inside[:2], "")  # a consumer's own package is its whole boundary
    for depth, part in enumerate(parts):
        if part.startswith("_") and not part.startswith("__"):
            owner = tuple(parts[:depth])
            if inside[: len(owner)] != owner or (
                len(inside) > 2 and inside[1] in CONSUMERS and owner[1:2] != inside[1:2]
            ):
                return [".".join(parts)]
    if parts == ["connectwise_billing"]:
        private = [name for name in names if name.startswith("_") and not name.startswith("__")]
        return [f"connectwise_billing.{name}" for name in private]
    return []


def test_no_private_module_is_imported_across_packages() -> None:
    files = [
        *(ROOT / "src").rglob("*.py"),
        *(ROOT / "tests").rglob("*.py"),
        *(ROOT / "benchmarks").rglob("*.py"),
        *(ROOT / "examples").rglob("*.py"),
        *(ROOT / "scripts").rglob("*.py"),
    ]
    found = [item for path in files for item in _private_imports(path)]
    assert found == []


SIMULATOR_MAY_USE = ("connectwise_billing.testing", "connectwise_billing.client.credentials")
"""What the simulator imports of the SDK: only the `Credentials` it hands out. It reads and
writes its own JSON, so a test compares the SDK with an independent implementation."""


def test_the_simulator_does_not_borrow_the_sdks_code() -> None:
    core = [
        path
        for path in (SRC / "testing").glob("*.py")
        if path.name not in ("__init__.py", "example.py", "recording.py", "__main__.py")
    ]
    borrowed = []
    for path in core:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                module = node.module
                if module.startswith("connectwise_billing") and not module.startswith(
                    SIMULATOR_MAY_USE
                ):
                    borrowed.append(f"{path.name}: {module}")
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
