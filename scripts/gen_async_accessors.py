"""Write the async client's resource accessors from the sync ones (`make generate`).

    python scripts/gen_async_accessors.py           # write async_accessors.py
    python scripts/gen_async_accessors.py --check   # exit 1 if it is not what this would write

As httpcore generates one twin from the other with `unasync`, the async accessors are the sync
ones with words substituted: the async names of classes and iterators, and `await` before each
call that the async client answers with a coroutine. A method that awaits becomes `async def`.
ruff then sorts the imports and formats the result as it does every file. Hand-copied twins
drift; a generated one cannot, and tests/unit/test_generated_accessors.py fails when the
committed file is not what this script writes.

Every substitution must apply at least once: one that no longer matches means the sync file
changed in a way the rules do not know, and the output would be silently wrong.
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
from generated import ruff, write_or_check  # noqa: E402

SOURCE = ROOT / "src" / "connectwise_billing" / "client" / "_accessors.py"
TARGET = SOURCE.with_name("_async_accessors.py")

HEADER = '''\
# Generated from _accessors.py by scripts/gen_async_accessors.py (`make generate`): edit that
# file, not this one.
"""The async client's resource accessors: the sync ones
([`connectwise_billing.client._accessors`][connectwise_billing.client._accessors]), awaited."""
'''
AWAITED = "    Its methods are awaited; `iter` and `iter_pages` are read with `async for`.\n"

# (pattern, replacement), applied in order to the whole text, `^` and `$` matching at lines.
SUBSTITUTIONS: list[tuple[str, str]] = [
    # Names: the async twins of the client, the accessors and the iterators.
    (r"\bConnectWiseClient\b", "AsyncConnectWiseClient"),
    (r"\b(Child)?Resource\b", r"Async\1Resource"),
    (r"\bListingIterator\b", "AsyncListingIterator"),
    (r"\bIterator\b", "AsyncIterator"),
    (r"(?<=_flow import )run\b", "arun"),
    # What the reader of a class is told first.
    (r"on the sync client: (.*)\n", r"on the async client: \1\n\n" + AWAITED),
    # What the async client answers with a coroutine.
    (r"\bself\._client\.(fetch|count)\(", r"await self._client.\1("),
    (r"\brecords\.collect\(\)", "await records.collect()"),
    (r"\breturn self\.list\(", "return await self.list("),
    (r"^(\s+)run\(self\._client,", r"\1await arun(self._client,"),
    # Last, so that the header keeps naming the sync module: the sync module's docstring, and
    # its note on these rules, give way to the header.
    (r'(?s)\A""".*?"""\n', HEADER),
    (r"(?s)^# scripts/gen_async_accessors\.py.*?\n\n", ""),
]


def asynchronous(source: str) -> str:
    """The async accessors for the sync accessors' `source`."""
    text = source
    for pattern, replacement in SUBSTITUTIONS:
        text, count = re.subn(pattern, replacement, text, flags=re.MULTILINE)
        if not count:
            raise ValueError(f"the substitution {pattern!r} no longer applies to {SOURCE.name}")
    return ruff(_awaiting_methods_are_coroutines(text), TARGET)


def _awaiting_methods_are_coroutines(text: str) -> str:
    lines = text.splitlines(keepends=True)
    # ast parses an `await` in a plain `def` (only compiling it fails), so it can say which.
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.FunctionDef) and any(
            isinstance(inner, ast.Await) for inner in ast.walk(node)
        ):
            row = node.lineno - 1
            lines[row] = lines[row].replace("def ", "async def ", 1)
    return "".join(lines)


def main(argv: list[str]) -> int:
    return write_or_check(TARGET, asynchronous(SOURCE.read_text(encoding="utf-8")), argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
