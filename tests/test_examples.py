"""Every script in examples/ runs to the end against the simulator."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

EXPECTED = {
    "quickstart.py": [
        "Connected to http://127.0.0.1:",
        "product 1001: MBX-BASIC-10",
        "Sync of Contoso Ltd",
        "OK",
    ],
    "map_plans.py": ["gold-50 -> product 1002 (MBX-GOLD-50)", "Fabrikam Inc: agreement", "wrote "],
    "scheduled_sync.py": [
        "ok=True\nrun: 0 applied, 0 failed, ok=True\nrun: 0 applied, 0 failed, ok=True\n",
        "applied per run: [",
        ", 0, 0]",
        "audit log ",
    ],
    "async_bulk_sync.py": [
        "Sync of 5 companies (5 agreements)",
        "\n  OK\n",
        " requests a run; at 950 a minute (one every 63 ms) they take at least ",
        "answers in  20 ms: 1 at a time",
        "s: the limit sets the pace",
        "answers in 150 ms: 1 at a time",
        "s: 8 at a time overlap the waits",
    ],
    "custom_psa_adapter.py": [
        "created 1 and updated 1 additions on 1 agreement",
        "skipped agreement 9002 (Globex): the contract is ended\n  OK\n",
        "line 1: SKU 501 x 12 at 3.80",
        "line 2: SKU 502 x 3 at 7.60",
        "second sync: 0 writes; the contracts are in step",
    ],
    "rq_jobs.py": [
        "24 jobs for 12 companies on 3 workers: 24 finished, 24 ok",
        "; 0 products billed twice",
    ],
}


def test_every_example_is_listed() -> None:
    assert sorted(p.name for p in EXAMPLES.glob("*.py")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_example_runs(name: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    arguments = {"map_plans.py": ["--out", str(tmp_path / "out")], "scheduled_sync.py": ["3"]}
    if name == "rq_jobs.py":
        request.getfixturevalue("redis_client")  # an empty Redis
        arguments[name] = [request.getfixturevalue("redis_url")]
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / name), *arguments.get(name, [])],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    for text in EXPECTED[name]:
        assert text in result.stdout, f"{name}: {text!r} not in output:\n{result.stdout}"
    # Examples write only where they are told to (or into a temp directory), and stay quiet.
    assert sorted(p.name for p in tmp_path.iterdir()) == (["out"] if name == "map_plans.py" else [])
    assert result.stderr == "", result.stderr
