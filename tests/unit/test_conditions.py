"""The condition builder: user text can never change what a condition means."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from connectwise_billing import Field, InputError
from connectwise_billing.client._conditions import combine, format_value


@pytest.mark.parametrize(
    ("value", "literal"),
    [
        ("Acme", '"Acme"'),
        ("O'Brien & Sons", '"O\'Brien & Sons"'),
        (12, "12"),
        (-3, "-3"),
        (Decimal("12.10"), "12.10"),
        (Decimal("1E+2"), "100"),
        (True, "true"),
        (False, "false"),
        (None, "null"),
        (date(2026, 1, 31), "[2026-01-31T00:00:00Z]"),
        (datetime(2026, 1, 31, 12, 30, tzinfo=UTC), "[2026-01-31T12:30:00Z]"),
    ],
)
def test_values_are_formatted_as_connectwise_literals(value: object, literal: str) -> None:
    assert format_value(value) == literal  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "text",
    ['Acme" or id>0 or name="', "back\\slash", "line\nbreak", "tab\there"],
)
def test_text_that_could_escape_its_quotes_is_refused(text: str) -> None:
    with pytest.raises(InputError, match="cannot use"):
        Field("name").contains(text)


@pytest.mark.parametrize("value", [1.5, Decimal("NaN"), object(), datetime(2026, 1, 1)])
def test_unsafe_values_are_refused(value: object) -> None:
    with pytest.raises(InputError):
        format_value(value)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["name) or (id", "a b", "", "1abc", "company//id", "x=1"])
def test_field_names_are_checked(name: str) -> None:
    with pytest.raises(InputError, match="field name"):
        Field(name)


def test_comparisons_and_combinations() -> None:
    cond = (Field("company/id") == 12) & Field("name").contains("Acme")
    assert str(cond) == 'company/id=12 and name contains "Acme"'
    either = (Field("agreementStatus") == "Active") | (Field("agreementStatus") == "Inactive")
    both = either & (Field("id") >= 5)
    assert str(both) == '(agreementStatus="Active" or agreementStatus="Inactive") and id>=5'
    assert str(Field("a") != None) == "a!=null"  # noqa: E711 - builds a condition
    assert str(Field("a") < 1) == "a<1"
    assert str(Field("a") <= 1) == "a<=1"
    assert str(Field("a") > 1) == "a>1"


def test_in_lists() -> None:
    assert str(Field("id").in_([1, 2, 3])) == "id in (1,2,3)"
    assert str(Field("identifier").not_in(["A", "B"])) == 'identifier not in ("A","B")'
    with pytest.raises(InputError, match="at least one"):
        Field("id").in_([])


def test_combine_parenthesises_raw_strings_and_skips_empty_parts() -> None:
    assert combine(None, "") is None
    assert combine("a=1 or b=2") == "a=1 or b=2"
    assert combine("a=1 or b=2", Field("c") == 3) == "(a=1 or b=2) and c=3"
