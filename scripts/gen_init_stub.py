"""Write the package's stub, `connectwise_billing/__init__.pyi`, from its `_PUBLIC` table
(`make generate`).

    python scripts/gen_init_stub.py           # write __init__.pyi
    python scripts/gen_init_stub.py --check   # exit 1 if it is not what this would write

The root's public names are declared once, in `_PUBLIC` (module -> names) of `__init__.py`,
which loads each on first use. Type checkers cannot follow that loading, so they read this
stub: each name imported `as` itself from its module (an explicit re-export) and the same
`__all__`. tests/unit/test_imports.py fails when the committed stub is not what this writes.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
from generated import ruff, write_or_check  # noqa: E402

SOURCE = ROOT / "src" / "connectwise_billing" / "__init__.py"
TARGET = SOURCE.with_suffix(".pyi")

HEADER = '''\
# Generated from _PUBLIC in __init__.py by scripts/gen_init_stub.py (`make generate`): edit that
# table, not this file.
"""The names importable from the package root, for type checkers (the package loads each on
first use)."""

from connectwise_billing import reconcile as reconcile
from connectwise_billing._version import __version__ as __version__
'''


def public(source: str) -> dict[str, list[str]]:
    """The `_PUBLIC` table of the package's `__init__.py` source."""
    for node in ast.parse(source).body:
        target = node.targets[0] if isinstance(node, ast.Assign) else None
        if isinstance(target, ast.Name) and target.id == "_PUBLIC":
            table = ast.literal_eval(node.value)
            return {module: list(names) for module, names in table.items()}
    raise ValueError(f"no _PUBLIC table in {SOURCE.name}")


def stub(source: str) -> str:
    """The stub for the package's `__init__.py` source."""
    table = public(source)
    lines = [HEADER]
    for module, names in table.items():
        lines.append(f"from {module} import (")
        lines += [f"    {name} as {name}," for name in names]
        lines.append(")")
    every = sorted(["__version__", "reconcile", *(n for names in table.values() for n in names)])
    lines.append("\n__all__ = [")
    lines += [f'    "{name}",' for name in every]
    lines.append("]")
    return ruff("\n".join(lines) + "\n", TARGET, select="I,RUF022")


def main(argv: list[str]) -> int:
    return write_or_check(TARGET, stub(SOURCE.read_text(encoding="utf-8")), argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
