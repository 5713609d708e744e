"""The command line's files read directly: the configuration's [lock] and [retry], what it
shows of itself, and the usage's links."""

from __future__ import annotations

from pathlib import Path

import pytest

from connectwise_billing.cli import load_usage
from connectwise_billing.cli._commands import _client
from connectwise_billing.cli._config import LOCK_DIR_NAME, ConfigFileError, load_config
from connectwise_billing.reconcile import Plan

ROOT = Path(__file__).resolve().parents[2]
PLANS = [Plan("gold-50", "Gold 50 GB", cost="3.25", price="8.00")]


def config(tmp_path: Path, extra: str = "") -> Path:
    path = tmp_path / "etc" / "billing.toml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(
        "[connectwise]\n"
        'base_url = "https://api-na.myconnectwise.net/v2025_1/apis/3.0"\n'
        'company_id = "mymsp"\n'
        'client_id = "6a3e8d2c-41f7-4a57-9a64-0d8f4b1f2e77"\n'
        '[plans]\ngold-50 = { name = "Gold 50 GB", cost = 3.25, price = 8.00 }\n'
        "[mapping]\ngold-50 = 1043\n" + extra
    )
    return path


def test_the_default_lock_directory_lies_beside_the_configuration(tmp_path: Path) -> None:
    path = config(tmp_path)
    assert load_config(path).lock.dir == path.parent.resolve() / LOCK_DIR_NAME


def test_a_relative_lock_directory_is_relative_to_the_configuration(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = config(tmp_path, '[lock]\ndir = "locks"\nwait = 5\n')
    monkeypatch.chdir(tmp_path)  # whoever runs it, from wherever
    settings = load_config(path).lock
    assert (settings.dir, settings.wait) == (path.parent.resolve() / "locks", 5.0)


@pytest.mark.parametrize(
    ("setting", "named"),
    [("ttl = nan", "lock.ttl"), ("wait = inf", "lock.wait"), ("ttl = 0", "lock.ttl")],
)
def test_lock_settings_that_are_not_seconds_are_named(
    tmp_path: Path, setting: str, named: str
) -> None:
    with pytest.raises(ConfigFileError, match=f"billing.toml: {named}: must be seconds"):
        load_config(config(tmp_path, f"[lock]\n{setting}\n"))


def usage(tmp_path: Path, text: str, suffix: str = ".csv") -> Path:
    path = tmp_path / f"usage{suffix}"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_company_id_column_links_each_agreement_to_its_customer(tmp_path: Path) -> None:
    path = usage(
        tmp_path,
        "company,company_id,agreement_id,plan,seats\nContoso Ltd,12,1056,gold-50,3\n"
        "Fabrikam Inc,,1058,gold-50,2\n",
    )
    [contoso, fabrikam] = load_usage(path, PLANS)
    assert (contoso.company_id, fabrikam.company_id) == (12, None)
    as_json = usage(
        tmp_path,
        '[{"company": "Contoso Ltd", "company_id": 12, "agreement_id": 1056,'
        ' "seats": {"gold-50": 3}}]',
        ".json",
    )
    assert load_usage(as_json, PLANS)[0].company_id == 12


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ("Contoso Ltd,12,1056,gold-50,3\nContoso Ltd,13,1056,gold-50,4\n", "line 3: company_id"),
        ("Contoso Ltd,x,1056,gold-50,3\n", "line 2: company_id: must be a positive whole"),
        ("Contoso Ltd,12,1056,gold-50,3\u00b2\n", "line 2: seats: must be a whole number"),
        ("Contoso Ltd,\u00b9\u00b2,1056,gold-50,3\n", "line 2: company_id"),
        ("Contoso Ltd,12,\u0661\u0660,gold-50,3\n", "line 2: agreement_id"),
    ],
)
def test_links_and_seats_that_are_not_plain_digits_are_named(
    tmp_path: Path, rows: str, message: str
) -> None:
    path = usage(tmp_path, "company,company_id,agreement_id,plan,seats\n" + rows)
    with pytest.raises(ConfigFileError, match=message):
        load_usage(path, PLANS)


def test_a_json_usage_file_that_gives_a_plan_twice_is_refused(tmp_path: Path) -> None:
    """`json.loads` would keep the last value; a reviewer may have read the first."""
    path = usage(
        tmp_path,
        '[{"company": "Contoso Ltd", "agreement_id": 1056, "seats": {"gold-50": 3, "gold-50": 5}}]',
        ".json",
    )
    with pytest.raises(ConfigFileError, match="the key 'gold-50' appears twice in one object"):
        load_usage(path, PLANS)


CLIENT_ID = "6a3e8d2c-41f7-4a57-9a64-0d8f4b1f2e77"


def test_the_configuration_shows_no_client_id_and_no_redis_password(tmp_path: Path) -> None:
    loaded = load_config(
        config(tmp_path, '[lock]\nredis_url = "redis://worker:s3cret@redis.internal:6379/0"\n')
    )
    assert loaded.client_id == CLIENT_ID
    assert loaded.lock.redis_url == "redis://worker:s3cret@redis.internal:6379/0"
    for shown in (repr(loaded), str(loaded)):
        assert CLIENT_ID not in shown and "s3cret" not in shown
        assert "client_id='***'" in shown and "company_id='mymsp'" in shown
        assert "redis_url='redis://worker:***@redis.internal:6379/0'" in shown


@pytest.mark.parametrize(
    ("setting", "budget"),
    [("", 600.0), ("throttle_budget = 120\n", 120.0), ("throttle_budget = 90.5\n", 90.5)],
)
def test_the_throttle_budget_is_a_retry_setting(
    tmp_path: Path, setting: str, budget: float
) -> None:
    assert load_config(config(tmp_path, f"[retry]\n{setting}")).retry.throttle_budget == budget


def test_a_throttle_budget_of_false_turns_it_off_for_the_client_the_cli_builds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CW_PUBLIC_KEY", "public")
    monkeypatch.setenv("CW_PRIVATE_KEY", "private")
    loaded = load_config(config(tmp_path, "[retry]\nthrottle_budget = false\n"))
    assert loaded.retry.throttle_budget is None
    with _client(loaded) as client:
        assert client.retry.throttle_budget is None


@pytest.mark.parametrize("value", ["0", "-5", "nan", "inf", "true", "'soon'", "[600]"])
def test_a_throttle_budget_that_is_not_seconds_is_named(tmp_path: Path, value: str) -> None:
    with pytest.raises(
        ConfigFileError,
        match=r"billing\.toml: retry\.throttle_budget: must be seconds > 0, or false for no limit",
    ):
        load_config(config(tmp_path, f"[retry]\nthrottle_budget = {value}\n"))


@pytest.mark.parametrize(("key", "value"), [("settle_timeout", "inf"), ("total_timeout", "nan")])
def test_retry_seconds_must_be_finite(tmp_path: Path, key: str, value: str) -> None:
    with pytest.raises(ConfigFileError, match=rf"retry\.{key}: must be a finite number, got"):
        load_config(config(tmp_path, f"[retry]\n{key} = {value}\n"))


def test_text_from_connectwise_cannot_command_the_terminal() -> None:
    from connectwise_billing._text import table, wrap

    hostile = "MBX\x1b]0;pwned\x07 \u202e00.002,1"
    shown = table(("description",), [(hostile,)]) + "\n".join(wrap(hostile))
    assert "\x1b" not in shown and "\x07" not in shown and "\u202e" not in shown
    assert "MBX\\x1b]0;pwned\\x07 \\u202e00.002,1" in shown


@pytest.mark.parametrize(
    ("setting", "limit"),
    [("", None), ("max_mrr_increase_percent = 150\n", 150), ("max_mrr_increase_percent = false\n", None)],
)  # fmt: skip
def test_the_mrr_increase_rule_is_off_unless_the_configuration_sets_it(
    tmp_path: Path, setting: str, limit: int | None
) -> None:
    guardrails = load_config(config(tmp_path, f"[guardrails]\n{setting}")).policy.guardrails
    assert guardrails is not None and guardrails.max_mrr_increase_percent == limit


def test_a_negative_mrr_increase_limit_names_the_setting(tmp_path: Path) -> None:
    with pytest.raises(ConfigFileError, match="max_mrr_increase_percent"):
        load_config(config(tmp_path, "[guardrails]\nmax_mrr_increase_percent = -5\n"))
