"""The examples in docstrings are true: each module's doctests run."""

import doctest
import importlib

import pytest

MODULES_WITH_EXAMPLES = ["connectwise_billing.reconcile._pricing"]


@pytest.mark.parametrize("name", MODULES_WITH_EXAMPLES)
def test_docstring_examples_hold(name: str) -> None:
    results = doctest.testmod(importlib.import_module(name))
    assert results.attempted > 0
    assert results.failed == 0
