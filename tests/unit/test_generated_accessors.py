"""The async accessors are generated from the sync ones (`make generate`), and stay so."""

from pathlib import Path
from types import ModuleType

import pytest

from tests.conftest import load_file

ROOT = Path(__file__).resolve().parents[2]


def generator() -> ModuleType:
    return load_file(ROOT / "scripts" / "gen_async_accessors.py")


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
