"""Import cost: the SDK against httpx, in fresh interpreters. Prints figures; asserts nothing.

    python benchmarks/bench_import.py

Each statement is timed in 9 fresh processes per mode (the median is printed), alternating
between statements so that machine noise hits them alike, in two modes:

- with bytecode: every module was compiled before (an installed wheel, a second run);
- without bytecode: nothing compiled, for httpx and the SDK alike (`PYTHONPYCACHEPREFIX` is a new
  empty directory for each process, so every module is compiled as it is imported).

Targets: `import connectwise_billing` at most 1.5x `import httpx`; the reconciler alone at most
0.3x. Also shown: importing what a ConnectWise sync needs (`ConnectWiseClient`, `sync_all`), which
imports httpx itself.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile

RUNS = 9
STATEMENTS = {
    "httpx": "import httpx",
    "connectwise_billing": "import connectwise_billing",
    "the reconciler": "import connectwise_billing.reconcile",
    "a ConnectWise sync": "from connectwise_billing import ConnectWiseClient, sync_all",
}


def once(statement: str, *, bytecode: bool, cache: str) -> float:
    code = f"import time; t = time.perf_counter(); {statement}; print(time.perf_counter() - t)"
    env = dict(os.environ)
    if bytecode:
        env["PYTHONPYCACHEPREFIX"] = cache
        env.pop("PYTHONDONTWRITEBYTECODE", None)
    else:
        env["PYTHONPYCACHEPREFIX"] = tempfile.mkdtemp(prefix="cold-pycache-")
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    )
    return float(done.stdout)


def medians(*, bytecode: bool) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="warm-pycache-") as cache:
        if bytecode:  # compile everything once, into the cache every timed run reads
            for statement in STATEMENTS.values():
                once(statement, bytecode=True, cache=cache)
        samples: dict[str, list[float]] = {name: [] for name in STATEMENTS}
        for _ in range(RUNS):
            for name, statement in STATEMENTS.items():
                samples[name].append(once(statement, bytecode=bytecode, cache=cache))
    return {name: statistics.median(times) for name, times in samples.items()}


def main() -> None:
    for bytecode in (True, False):
        figures = medians(bytecode=bytecode)
        httpx_time = figures["httpx"]
        mode = "with bytecode" if bytecode else "without bytecode"
        print(f"import, {mode} (median of {RUNS} fresh processes):")
        for name, seconds in figures.items():
            ratio = seconds / httpx_time
            target = {"connectwise_billing": " (target <= 1.5)", "the reconciler": " (<= 0.3)"}
            print(
                f"  {name:<20} {seconds * 1000:6.1f} ms  {ratio:4.2f} x httpx{target.get(name, '')}"
            )


if __name__ == "__main__":
    main()
