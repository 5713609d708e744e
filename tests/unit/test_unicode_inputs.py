"""Input edge cases of the usage and configuration files: digits of other scripts in seat counts,
line separators inside quoted CSV fields, plan ids in two Unicode forms, and lookalike plan ids."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from connectwise_billing import (
    CompanyUsage,
    CreateAddition,
    Credentials,
    InputError,
    MappingError,
    Plan,
    PlanMapping,
    reconcile_agreement,
)
from connectwise_billing.cli import ConfigFileError, load_config, load_usage, main
from connectwise_billing.testing import FakeConnectWise

CAFE = "caf\u00e9"  # NFC: one code point for the accented e, as most keyboards type it
CAFE_NFD = "cafe\u0301"  # NFD: e and a combining acute accent, as some systems export it
GOLD_CYRILLIC = "g\u043eld"  # a Cyrillic o: looks like "gold", is another plan id
PLANS = [Plan("gold-50", "Gold 50 GB", cost="3.25", price="8.00")]
HEADER = "company,agreement_id,plan,seats\n"


def usage(tmp_path: Path, text: str, suffix: str = ".csv") -> Path:
    path = tmp_path / f"usage{suffix}"
    # newline="": the file holds exactly the line ends the test writes.
    with path.open("w", encoding="utf-8", newline="") as file:
        file.write(text)
    return path


def config(
    tmp_path: Path,
    plans: str,
    mapping: str,
    *,
    base_url: str = "https://api-na.myconnectwise.net/v2025_1/apis/3.0",
    credentials: Credentials | None = None,
) -> Path:
    company_id, client_id = (
        (credentials.company_id, credentials.client_id)
        if credentials
        else ("mymsp", "6a3e8d2c-41f7-4a57-9a64-0d8f4b1f2e77")
    )
    path = tmp_path / "billing.toml"
    path.write_text(
        f'[connectwise]\nbase_url = "{base_url}"\n'
        f'company_id = "{company_id}"\nclient_id = "{client_id}"\n'
        f"[plans]\n{plans}\n[mapping]\n{mapping}\n",
        encoding="utf-8",
    )
    return path


# Seat counts: ASCII digits only


@pytest.mark.parametrize(
    ("seats", "escaped"),
    [
        ("\u00b2", r"'\xb2'"),  # superscript two: "²".isdigit() is true, int() refuses it
        ("\u0663", r"'\u0663'"),  # Arabic-Indic three: int() reads it as 3
        ("\uff13", r"'\uff13'"),  # full-width three: int() reads it as 3
        ("1\u00b2", r"'1\xb2'"),
    ],
)
def test_a_csv_seat_count_in_other_digits_is_named_with_its_escapes(
    tmp_path: Path, seats: str, escaped: str
) -> None:
    path = usage(
        tmp_path, f"{HEADER}Contoso Ltd,1056,gold-50,3\nFabrikam Inc,1058,gold-50,{seats}\n"
    )
    with pytest.raises(ConfigFileError) as raised:
        load_usage(path, PLANS)
    assert str(raised.value) == (
        f"{path}: line 3: seats: must be a whole number >= 0, got {seats!r} ({escaped})"
    )


@pytest.mark.parametrize(
    ("seats", "shown"),
    [
        ("2.5", "2.5"),
        ("2.0", "2.0"),
        ("1e2", "1E+2"),
        ("-1", "-1"),
        ("true", "True"),
        ("null", "None"),
        ("[3]", "[3]"),
        ('"\u00b2"', r"'²' ('\xb2')"),
        ('"\uff13"', "'\uff13' ('\\uff13')"),
    ],
)
def test_a_json_seat_count_must_be_a_whole_number(tmp_path: Path, seats: str, shown: str) -> None:
    path = usage(tmp_path, f'[{{"agreement_id": 1056, "seats": {{"gold-50": {seats}}}}}]', ".json")
    with pytest.raises(ConfigFileError) as raised:
        load_usage(path, PLANS)
    assert str(raised.value) == (
        f"{path}: entry 0: seats.gold-50: must be a whole number >= 0, got {shown}"
    )


def test_a_seat_count_in_other_digits_exits_2_with_one_line_and_sends_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The configured host does not exist: a run that got past the files would fail to connect.
    path = usage(tmp_path, f"{HEADER}Contoso Ltd,1056,gold-50,\uff13\n")
    cfg = config(tmp_path, "gold-50 = { cost = 3.25, price = 8 }", "gold-50 = 1043")
    status = main(["plan", "--config", str(cfg), "--usage", str(path)])
    out, err = capsys.readouterr()
    assert (status, out) == (2, "")
    assert err == (
        f"connectwise-billing: {path}: line 2: seats: must be a whole number >= 0, "
        f"got '\uff13' ('\\uff13')\n"
    )


# Line separators inside quoted fields


@pytest.mark.parametrize(
    "separator",
    ["\u2028", "\u2029", "\x85", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\n", "\r\n"],
)
def test_a_quoted_company_name_keeps_its_line_separators(tmp_path: Path, separator: str) -> None:
    company = f"Contoso{separator}Ltd"
    path = usage(tmp_path, f'{HEADER}"{company}",1056,gold-50,3\nFabrikam Inc,1058,gold-50,2\n')
    contoso, fabrikam = load_usage(path, PLANS)
    assert (contoso.company, contoso.seats) == (company, {"gold-50": 3})
    assert (fabrikam.company, fabrikam.agreement_id) == ("Fabrikam Inc", 1058)


@pytest.mark.parametrize(
    ("separator", "bad_line"),
    [("\u2028", 3), ("\x85", 3), ("\n", 4), ("\r\n", 4), ("\n\n", 5)],
)
def test_rows_after_a_quoted_line_separator_keep_their_line_numbers(
    tmp_path: Path, separator: str, bad_line: int
) -> None:
    path = usage(
        tmp_path, f'{HEADER}"Contoso{separator}Ltd",1056,gold-50,3\nFabrikam Inc,1058,gold-50,x\n'
    )
    with pytest.raises(ConfigFileError, match=f"usage.csv: line {bad_line}: seats: "):
        load_usage(path, PLANS)


def test_an_unquoted_line_separator_stays_inside_its_field(tmp_path: Path) -> None:
    path = usage(tmp_path, f"{HEADER}Contoso\u2028Ltd,1056,gold-50,3\n")
    assert load_usage(path, PLANS)[0].company == "Contoso\u2028Ltd"


def test_windows_line_ends_and_blank_lines_keep_line_numbers(tmp_path: Path) -> None:
    path = usage(
        tmp_path,
        HEADER.replace("\n", "\r\n")
        + "Contoso Ltd,1056,gold-50,3\r\n\r\nFabrikam,1058,gold-50,x\r\n",
    )
    with pytest.raises(ConfigFileError, match=r"usage\.csv: line 4: seats: "):
        load_usage(path, PLANS)


def test_a_record_the_csv_module_refuses_is_named_by_line(tmp_path: Path) -> None:
    path = usage(
        tmp_path, f'{HEADER}Contoso Ltd,1056,gold-50,3\n"{"x" * 200_000}",1058,gold-50,2\n'
    )
    with pytest.raises(ConfigFileError, match=r"usage\.csv: line 3: not valid CSV: field larger"):
        load_usage(path, PLANS)


# Plan ids in two Unicode forms are one plan


def test_plans_mappings_and_usages_keep_plan_ids_and_names_in_nfc() -> None:
    plan = Plan(CAFE_NFD, "Cafe\u0301 50 GB", cost=1, price=2)
    assert (plan.id, plan.name) == (CAFE, "Caf\u00e9 50 GB")
    assert plan == Plan(CAFE, "Caf\u00e9 50 GB", cost=1, price=2)
    usage = CompanyUsage(1, {CAFE_NFD: 3}, custom_prices={CAFE_NFD: "7.25"})
    assert (usage.seats, usage.custom_prices) == ({CAFE: 3}, {CAFE: Decimal("7.25")})
    mapping = PlanMapping({CAFE_NFD: 1043}, retired={CAFE_NFD: 1031})
    assert list(mapping) == [CAFE]
    assert mapping[CAFE] == mapping[CAFE_NFD] == 1043
    assert CAFE_NFD in mapping
    assert mapping.plan_for(1043) == CAFE
    assert mapping.retired == {1031: CAFE}


def test_one_plan_given_in_two_unicode_forms_is_refused_where_it_would_be_lost() -> None:
    with pytest.raises(InputError) as raised:
        CompanyUsage(1, {CAFE: 1, CAFE_NFD: 2})
    assert str(raised.value) == (
        f"the seats name plan {CAFE!r} ('caf\\xe9') twice: {CAFE_NFD!r} ('cafe\\u0301') is the "
        "same plan id in another Unicode form"
    )
    with pytest.raises(InputError, match="the custom prices name plan"):
        CompanyUsage(1, {CAFE: 1}, custom_prices={CAFE: 1, CAFE_NFD: 2})
    with pytest.raises(MappingError, match="is mapped to two products: 1043 and 1044"):
        PlanMapping({CAFE: 1043, CAFE_NFD: 1044})


@pytest.mark.parametrize(
    ("config_id", "usage_id"), [(CAFE, CAFE_NFD), (CAFE_NFD, CAFE)], ids=["nfc", "nfd"]
)
def test_a_usage_plan_id_in_another_unicode_form_is_matched_and_billed(
    tmp_path: Path, config_id: str, usage_id: str
) -> None:
    cfg = load_config(
        config(tmp_path, f'"{config_id}" = {{ cost = 3.25, price = 8 }}', f'"{config_id}" = 1043')
    )
    for path in (
        usage(tmp_path, f"{HEADER}Contoso Ltd,1056,{usage_id},3\n"),
        usage(tmp_path, json.dumps([{"agreement_id": 1056, "seats": {usage_id: 3}}]), ".json"),
    ):
        [found] = load_usage(path, cfg.plans)
        assert found.seats == {CAFE: 3}
        diff = reconcile_agreement(cfg.plans, cfg.mapping, found, [], today=date(2026, 11, 28))
        [create] = diff.operations
        assert isinstance(create, CreateAddition)
        assert (create.plan_id, create.product_id, create.quantity) == (CAFE, 1043, 3)


def test_the_command_line_bills_a_plan_id_given_in_another_unicode_form(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = FakeConnectWise()
    agreement = fake.add_agreement(fake.add_company("Contoso Ltd"))
    product = fake.add_product("CAFE-50", price="8.00", cost="3.25")
    monkeypatch.setenv("CW_PUBLIC_KEY", fake.credentials.public_key)
    monkeypatch.setenv("CW_PRIVATE_KEY", fake.credentials.private_key)
    path = usage(tmp_path, f"{HEADER}Contoso Ltd,{agreement},{CAFE_NFD},3\n")
    with fake.serve() as url:
        cfg = config(
            tmp_path,
            f'"{CAFE}" = {{ cost = 3.25, price = 8 }}',
            f'"{CAFE}" = {product}',
            base_url=url,
            credentials=fake.credentials,
        )
        status = main(["sync", "--config", str(cfg), "--usage", str(path)])
    assert status == 0, capsys.readouterr()
    [addition] = fake.list_additions(agreement)
    assert addition.product is not None
    assert (addition.product.id, addition.quantity, addition.unit_price) == (product, 3, 8)


def test_a_file_naming_one_plan_in_two_unicode_forms_is_refused(tmp_path: Path) -> None:
    plans = [Plan(CAFE, "Caf\u00e9", cost=1, price=2)]
    csv_path = usage(
        tmp_path, f"{HEADER}Contoso Ltd,1056,{CAFE},3\nContoso Ltd,1056,{CAFE_NFD},2\n"
    )
    with pytest.raises(ConfigFileError) as raised:
        load_usage(csv_path, plans)
    assert str(raised.value) == (
        f"{csv_path}: line 3: plan: {CAFE_NFD!r} ('cafe\\u0301') appears twice for agreement 1056"
    )
    json_path = usage(
        tmp_path, json.dumps([{"agreement_id": 1056, "seats": {CAFE: 3, CAFE_NFD: 2}}]), ".json"
    )
    with pytest.raises(ConfigFileError) as raised:
        load_usage(json_path, plans)
    assert str(raised.value) == (
        f"{json_path}: entry 0: seats.{CAFE_NFD}: {CAFE_NFD!r} ('cafe\\u0301') is plan "
        f"{CAFE!r} ('caf\\xe9') again, in another Unicode form"
    )
    cfg = config(
        tmp_path,
        f'"{CAFE}" = {{ cost = 1, price = 2 }}\n"{CAFE_NFD}" = {{ cost = 1, price = 3 }}',
        f'"{CAFE}" = 1043',
    )
    with pytest.raises(ConfigFileError) as raised:
        load_config(cfg)
    assert str(raised.value) == (
        f"{cfg}: plans.{CAFE_NFD}: {CAFE_NFD!r} ('cafe\\u0301') is plan {CAFE!r} ('caf\\xe9') "
        "again, in another Unicode form"
    )


def test_one_company_name_in_two_unicode_forms_is_one_company(tmp_path: Path) -> None:
    path = usage(tmp_path, f"{HEADER}Caf\u00e9 Ltd,1056,gold-50,3\nCafe\u0301 Ltd,1056,gold-51,2\n")
    plans = [*PLANS, Plan("gold-51", "Gold 51 GB", cost=1, price=2)]
    [both] = load_usage(path, plans)
    assert both.seats == {"gold-50": 3, "gold-51": 2}


# Lookalikes are told apart


def test_a_lookalike_plan_id_in_the_usage_is_unknown_and_spelled_out(tmp_path: Path) -> None:
    path = usage(tmp_path, f"{HEADER}Contoso Ltd,1056,{GOLD_CYRILLIC}-50,3\n")
    with pytest.raises(ConfigFileError) as raised:
        load_usage(path, PLANS)
    assert str(raised.value) == (
        f"{path}: line 2: plan: unknown plan '{GOLD_CYRILLIC}-50' ('g\\u043eld-50'); "
        "the config's [plans] has 'gold-50'"
    )


def test_a_lookalike_in_the_plans_is_spelled_out_too(tmp_path: Path) -> None:
    plans = [Plan(f"{GOLD_CYRILLIC}-50", "Gold 50 GB", cost=1, price=2)]
    path = usage(tmp_path, f"{HEADER}Contoso Ltd,1056,gold-50,3\n")
    with pytest.raises(ConfigFileError) as raised:
        load_usage(path, plans)
    assert str(raised.value).endswith(
        f"unknown plan 'gold-50'; the config's [plans] has '{GOLD_CYRILLIC}-50' ('g\\u043eld-50')"
    )


def test_a_lookalike_in_the_mapping_is_named_with_the_plan_it_looks_like(tmp_path: Path) -> None:
    cfg = config(tmp_path, "gold = { cost = 1, price = 2 }", f'"{GOLD_CYRILLIC}" = 1043')
    with pytest.raises(ConfigFileError) as raised:
        load_config(cfg)
    assert str(raised.value) == (
        f"{cfg}: mapping.{GOLD_CYRILLIC}: names a plan that is not in [plans]: "
        f"'{GOLD_CYRILLIC}' ('g\\u043eld'); did you mean 'gold'?"
    )
