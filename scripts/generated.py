"""What the generators (`make generate`) share: ruff over the text they write, and writing the
file or checking that the committed one is current."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def ruff(text: str, target: Path, select: str = "I") -> str:
    """`text` with the `select`ed fixes applied (imports sorted, ...) and formatted, by the
    project's ruff settings, as if it were the file `target`."""
    for command in (["check", "--fix", "--select", select, "--quiet"], ["format", "--quiet"]):
        # The command is fixed: this interpreter's ruff, on text a generator wrote.
        text = subprocess.run(  # noqa: S603
            [sys.executable, "-m", "ruff", *command, "--stdin-filename", str(target), "-"],
            input=text, capture_output=True, text=True, check=True, cwd=ROOT,
        ).stdout  # fmt: skip
    return text


def write_or_check(target: Path, expected: str, argv: list[str]) -> int:
    """Write `expected` to `target`; with `--check` in `argv`, exit status 1 (and say so) when
    the committed file is not `expected` instead."""
    if "--check" in argv:
        if target.read_text(encoding="utf-8") != expected:
            print(f"{target.relative_to(ROOT)} is stale: run `make generate`", file=sys.stderr)
            return 1
        return 0
    target.write_text(expected, encoding="utf-8")
    return 0
