"""The async accessors are generated from the sync ones (`make generate`), and stay so."""

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]


def generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "gen_async_accessors", ROOT / "scripts" / "gen_async_accessors.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["gen_async_accessors"] = module
    spec.loader.exec_module(module)
    return module


def test_the_committed_async_accessors_are_what_the_generator_writes() -> None:
    gen = generator()
    expected = gen.asynchronous(gen.SOURCE.read_text(encoding="utf-8"))
    assert gen.TARGET.read_text(encoding="utf-8") == expected, (
        "src/connectwise_billing/client/_async_accessors.py is stale: run `make generate`"
    )


def test_a_substitution_that_no_longer_applies_stops_the_generator() -> None:
    gen = generator()
    source = gen.SOURCE.read_text(encoding="utf-8").replace("records.collect()", "list(records)")
    with pytest.raises(ValueError, match="collect"):
        gen.asynchronous(source)
