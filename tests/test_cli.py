"""The command line against the simulator served on 127.0.0.1."""

from __future__ import annotations

import io
import json
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from connectwise_billing.cli._output import Progress
from connectwise_billing.runner._audit import read_audit_log, unsettled
from connectwise_billing.testing import ExampleMSP, Fault, Outcome, build_example

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_CONFIG = ROOT / "examples" / "config.toml"
USAGE_CSV = ROOT / "examples" / "usage.csv"


@pytest.fixture
def served(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[ExampleMSP, Path]]:
    """The example MSP over HTTP, and examples/config.toml pointed at it, keys in the env."""
    example = build_example(50, seed=1)
    with example.fake.serve() as url:
        config = tmp_path / "config.toml"
        site = url.split("/v2025_1/")[0]
        config.write_text(EXAMPLE_CONFIG.read_text().replace("http://127.0.0.1:8089", site))
        monkeypatch.setenv("CW_PUBLIC_KEY", example.credentials.public_key)
        monkeypatch.setenv("CW_PRIVATE_KEY", example.credentials.private_key)
        yield example, config


def outcomes(audit: Path) -> list[dict[str, Any]]:
    """The audit log's outcome lines (each write also has an intent line before it)."""
    return [line for line in read_audit_log(audit) if line["event"] == "outcome"]


def run(_capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """The real entry point, in a process of its own (the simulator serves over HTTP)."""
    result = subprocess.run(
        [sys.executable, "-m", "connectwise_billing", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return result.returncode, result.stdout, result.stderr


def test_demo_runs_a_real_sync_and_fits_100_columns(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "demo")
    assert status == 0
    assert "1. Plan: what a sync would change (dry run, nothing written)" in out
    assert "3. Sync again: everything is in step" in out
    third = out.split("3. Sync again")[1]
    assert "operations: 0 applied" in third
    assert "agreement not found: it was deleted" in out
    assert "has no access to this company" in out
    assert max(len(line) for line in out.splitlines()) <= 100


def test_python_dash_m_and_version() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "connectwise_billing", "--version"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0
    assert result.stdout.startswith("connectwise-billing ")


def test_plan_writes_nothing(
    served: tuple[ExampleMSP, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    example, config = served
    status, out, _ = run(
        capsys, "plan", "--config", str(config), "--usage", str(ROOT / "examples" / "usage.csv")
    )
    assert status == 0
    assert "Agreement 1056 - Contoso Ltd" in out
    assert "create  Gold 50 GB                          35                7.25" in out
    assert "Dry run for 4 companies (4 agreements)" in out
    assert example.fake.writes() == []


def test_sync_applies_and_a_second_sync_has_nothing_to_do(
    served: tuple[ExampleMSP, Path], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    example, config = served
    usage = str(ROOT / "examples" / "usage.csv")
    audit = tmp_path / "audit.jsonl"
    status, out, err = run(
        capsys, "sync", "--config", str(config), "--usage", usage, "--audit-log", str(audit)
    )
    assert status == 0, out + err
    assert "operations: 4 applied" in out
    assert len(outcomes(audit)) == 4
    assert not unsettled(read_audit_log(audit))
    status, out, _ = run(capsys, "sync", "--config", str(config), "--usage", usage, "--json")
    data = json.loads(out)
    assert (data["applied"], data["ok"]) == (0, True)
    assert example.credentials.private_key not in out + err + audit.read_text()


def test_sync_exit_status_is_1_when_an_agreement_fails(
    served: tuple[ExampleMSP, Path], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    example, config = served
    usage = tmp_path / "usage.csv"
    usage.write_text(
        "company,agreement_id,plan,seats,custom_price,discount_percent\n"
        f"Gone Ltd,{example.deleted_agreement_id},gold-50,3,,\n"
        "Contoso Ltd,1056,gold-50,35,7.25,\n"
    )
    status, out, _ = run(capsys, "sync", "--config", str(config), "--usage", str(usage))
    assert status == 1
    assert "ERROR agreement" in out and "deleted or replaced" in out
    assert "1 applied" in out  # the other agreement still synced


def test_one_company(served: tuple[ExampleMSP, Path], capsys: pytest.CaptureFixture[str]) -> None:
    _, config = served
    usage = str(ROOT / "examples" / "usage.json")
    status, out, _ = run(
        capsys,
        "plan",
        "--config",
        str(config),
        "--usage",
        usage,
        "--company",
        "contoso ltd",
        "--json",
    )
    assert status == 0
    data = json.loads(out)
    assert [c["company"] for c in data["companies"]] == ["Contoso Ltd"]
    status, _, err = run(
        capsys, "plan", "--config", str(config), "--usage", usage, "--company", "Nobody"
    )
    assert status == 2
    assert "no company named 'Nobody'" in err


def test_lookups_for_the_mapping(
    served: tuple[ExampleMSP, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    _, config = served
    status, out, _ = run(capsys, "products", "search", "gold", "--config", str(config))
    assert status == 0
    assert "1002  MBX-GOLD-50" in out and "8.00" in out
    status, out, _ = run(
        capsys, "companies", "search", "Contoso", "--config", str(config), "--json"
    )
    assert [c["name"] for c in json.loads(out)] == ["Contoso 2 LLC", "Contoso Ltd"]
    status, out, _ = run(
        capsys, "agreements", "list", "--company", "Contoso Ltd", "--config", str(config)
    )
    assert "1056  Email Hosting" in out
    status, same, _ = run(
        capsys, "agreements", "list", "--company-id", "1006", "--config", str(config)
    )
    assert same == out
    status, out, _ = run(capsys, "plans", "refresh-prices", "--config", str(config))
    assert out.strip() == "Plan costs and prices match the ConnectWise catalog."
    status, out, _ = run(capsys, "products", "search", "nothing-like-this", "--config", str(config))
    assert out.strip() == "Nothing found."


def test_refresh_prices_reports_catalog_changes(
    served: tuple[ExampleMSP, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    example, config = served
    example.fake.catalog_item(1002)["price"] = Decimal("8.50")
    _, out, _ = run(capsys, "plans", "refresh-prices", "--config", str(config), "--json")
    assert json.loads(out)["changes"] == [
        {"plan_id": "gold-50", "field": "price", "old": "8.00", "new": "8.50"}
    ]


CONFIG_ERRORS = [
    ("", "the [connectwise] section is missing"),
    ("[connectwise]\nsite_url = 'x'\n", "connectwise.company_id: is missing"),
    ("[connectwise\n", "not valid TOML"),
    (
        "[connectwise]\nsite_url='https://x'\nbase_url='https://y'\n",
        "set either site_url or base_url",
    ),
    (
        "[connectwise]\nsite_url='https://x'\ncompany_id='a'\nclient_id='b'\n",
        "plans: needs at least one plan",
    ),
    (
        "[connectwise]\nsite_url='https://x'\ncompany_id='a'\nclient_id='b'\n[plans]\ng = { cost = 1 }\n",
        "plans.g.price: is missing",
    ),
    (
        "[connectwise]\nsite_url='https://x'\ncompany_id='a'\nclient_id='b'\n[plans]\ng = { cost = -1, price = 2 }\n[mapping]\n",
        "plans.g.cost: must be a number >= 0, got -1",
    ),
    (
        "[connectwise]\nsite_url='https://x'\ncompany_id='a'\nclient_id='b'\n[plans]\ng = { cost = 1, price = 2 }\n[mapping]\nh = 5\n",
        "mapping.h: names a plan that is not in [plans]",
    ),
    (
        "[connectwise]\nsite_url='https://x'\ncompany_id='a'\nclient_id='b'\n[plans]\ng = { cost = 1, price = 2 }\nh = { cost = 1, price = 2 }\n[mapping]\ng = 5\nh = 5\n",
        "product 5 is mapped to both plan 'g' and plan 'h'",
    ),
    (
        "[connectwise]\nsite_url='https://x'\ncompany_id='a'\nclient_id='b'\n[plans]\ng = { cost = 1, price = 2 }\n[mapping]\n[policy]\non_zero = 'explode'\n",
        "on_zero must be one of",
    ),
    (
        "[connectwise]\nsite_url='https://x'\ncompany_id='a'\nclient_id='b'\n[plans]\ng = { cost = 1, price = 2 }\n[mapping]\n[policy]\nturbo = true\n",
        "policy.turbo: unknown setting",
    ),
    (
        "[connectwise]\nsite_url='http://cw.example.com'\ncompany_id='a'\nclient_id='b'\n[plans]\ng = { cost = 1, price = 2 }\n[mapping]\n",
        "must use https://",
    ),
    (
        "[connectwise]\nsite_url='https://x'\ncompany_id='a'\nclient_id='b'\n[plans]\ng = { cost = 1, price = 2 }\n[mapping]\n[retry]\nmax_atempts = 3\n",
        "retry.max_atempts: unknown setting; did you mean 'max_attempts'?",
    ),
    (
        "[connectwise]\nsite_url='https://x'\ncompany_id='a'\nclient_id='b'\n[plans]\ng = { cost = 1, price = 2 }\n[mapping]\n[retry]\nmax_attempts = 0\n",
        "retry: RetryPolicy.max_attempts must be at least 1, got 0",
    ),
    (
        "[connectwise]\nsite_url='https://x'\ncompany_id='a'\nclient_id='b'\n[plans]\ng = { cost = 1, price = 2 }\n[mapping]\n[retry]\nsettle_timeout = 'soon'\n",
        "retry.settle_timeout: must be a number, got 'soon'",
    ),
]


@pytest.mark.parametrize(("text", "message"), CONFIG_ERRORS)
def test_config_errors_exit_2_naming_file_and_setting(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    text: str,
    message: str,
) -> None:
    monkeypatch.setenv("CW_PUBLIC_KEY", "p")
    monkeypatch.setenv("CW_PRIVATE_KEY", "k")
    config = tmp_path / "config.toml"
    config.write_text(text)
    usage = tmp_path / "usage.json"
    usage.write_text("[]")
    status, out, err = run(capsys, "plan", "--config", str(config), "--usage", str(usage))
    assert status == 2
    assert message in err
    if "https" not in message:
        assert str(config) in err
    assert out == ""


USAGE_ERRORS = [
    ("usage.csv", "company,agreement_id,plan\n", "line 1: the header lacks column 'seats'"),
    (
        "usage.csv",
        "company,agreement_id,plan,seats\nA,1056,gold-50,-1\n",
        "line 2: seats: must be a whole number >= 0, got '-1'",
    ),
    (
        "usage.csv",
        "company,agreement_id,plan,seats\nA,1056,gold-50,1\nA,1056,silver,2\n",
        "line 3: plan: unknown plan 'silver'",
    ),
    (
        "usage.csv",
        "company,agreement_id,plan,seats\nA,x,gold-50,1\n",
        "line 2: agreement_id: must be a positive whole number, got 'x'",
    ),
    (
        "usage.csv",
        "company,agreement_id,plan,seats,custom_price,discount_percent\nA,1,gold-50,1,,5\nA,1,basic-10,1,,10\n",
        "line 3: discount_percent: differs from line 2",
    ),
    (
        "usage.csv",
        "company,agreement_id,plan,seats,custom_price\nA,1,gold-50,1,free\n",
        "line 2: custom_price: must be a number, got 'free'",
    ),
    (
        "usage.csv",
        "company,agreement_id,plan,seats\nA,1,gold-50,1\nB,1,basic-10,1\n",
        "line 3: company: agreement 1 belongs to 'A' on line 2",
    ),
    ("usage.json", '[{"agreement_id": 1,\n "seats": }]', "line 2: not valid JSON"),
    (
        "usage.json",
        '[{"agreement_id": 1, "seats": {"gold-50": 2.5}}]',
        "entry 0: seats.gold-50: must be a whole number >= 0, got 2.5",
    ),
    (
        "usage.json",
        '[{"agreement_id": 1, "seats": {}, "discount_percent": 150}]',
        "entry 0: discount_percent: must be a number >= 0 and <= 100, got 150",
    ),
    (
        "usage.json",
        '[{"agreement_id": 1, "seats": {}, "colour": 1}]',
        "entry 0: colour: unknown field",
    ),
    (
        "usage.json",
        '[{"agreement_id": 1, "seats": {}}, {"agreement_id": 1, "seats": {}}]',
        "entry 1: agreement_id: agreement 1 is also in entry 0",
    ),
    ("usage.txt", "", "must be .csv or .json"),
]


@pytest.mark.parametrize(("name", "text", "message"), USAGE_ERRORS)
def test_usage_errors_exit_2_naming_file_line_and_field_and_send_nothing(
    served: tuple[ExampleMSP, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    name: str,
    text: str,
    message: str,
) -> None:
    example, config = served
    usage = tmp_path / name
    usage.write_text(text)
    status, out, err = run(capsys, "sync", "--config", str(config), "--usage", str(usage))
    assert status == 2
    assert message in err
    assert out == ""
    assert example.fake.request_log == []


def test_missing_keys_are_named_and_never_shown(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CW_PRIVATE_KEY", raising=False)
    monkeypatch.setenv("CW_PUBLIC_KEY", "pub-visible")
    status, _, err = run(capsys, "products", "search", "x", "--config", str(EXAMPLE_CONFIG))
    assert status == 2
    assert "CW_PRIVATE_KEY is not set" in err


def test_keys_file(
    served: tuple[ExampleMSP, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    example, config = served
    monkeypatch.delenv("CW_PUBLIC_KEY")
    monkeypatch.delenv("CW_PRIVATE_KEY")
    keys = tmp_path / "keys.toml"
    keys.write_text(
        f'public_key = "{example.credentials.public_key}"\nprivate_key = "{example.credentials.private_key}"\n'
    )
    config.write_text(config.read_text().replace("# keys_file", "keys_file"))
    (tmp_path / "cw-keys.toml").write_text(keys.read_text())
    status, out, _ = run(capsys, "products", "search", "gold", "--config", str(config))
    assert status == 0 and "MBX-GOLD-50" in out


def test_unreachable_connectwise_exits_3(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CW_PUBLIC_KEY", "p")
    monkeypatch.setenv("CW_PRIVATE_KEY", "k")
    config = tmp_path / "config.toml"
    config.write_text(
        EXAMPLE_CONFIG.read_text().replace("http://127.0.0.1:8089", "http://127.0.0.1:9")
    )
    status, out, err = run(capsys, "plan", "--config", str(config), "--usage", str(USAGE_CSV))
    assert status == 3
    assert err.startswith("connectwise-billing: ConnectWise could not be reached: GET ")
    assert "http://127.0.0.1:9/login/companyinfo/fakemsp" in err
    assert len(err.strip().splitlines()) == 1 and out == ""


def test_progress_only_on_a_terminal() -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    quiet, loud = io.StringIO(), Terminal()
    for stream in (quiet, loud):
        progress = Progress(stream)
        progress(3, 10, 1)
        progress.finish()
    assert quiet.getvalue() == ""
    assert loud.getvalue() == "\r  3/10 agreements, 1 failures\n"


def test_two_syncs_at_once_on_one_host_never_bill_twice(
    served: tuple[ExampleMSP, Path], tmp_path: Path
) -> None:
    """Cron and a manual run: two `connectwise-billing sync` processes, the default FileLock."""
    example, config = served
    example.fake.latency = 0.01
    # Hold each run's first request until both have arrived: the runs then go in step, and
    # without a lock both would read an agreement before either writes it.
    start = threading.Barrier(2, timeout=60)
    answer = example.fake.process

    def in_step(request: httpx.Request) -> Outcome:
        if request.url.path.startswith("/login/companyinfo/"):
            start.wait()
        return answer(request)

    example.fake.process = in_step  # type: ignore[method-assign]
    usage = tmp_path / "usage.json"
    usage.write_text(
        json.dumps(
            [
                {"company": u.company, "agreement_id": u.agreement_id, "seats": dict(u.seats)}
                for u in example.usages[:20]
            ]
        )
    )
    command = [sys.executable, "-m", "connectwise_billing", "sync", "--config", str(config)]
    command += ["--usage", str(usage), "--json", "--lock-dir", str(tmp_path / "locks")]
    runs = [
        subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outputs = [run.communicate(timeout=120) for run in runs]
    reports = [json.loads(out) for out, _ in outputs]
    assert all(report["busy"] == 0 for report in reports)
    assert sum(report["applied"] for report in reports) > 0
    mapped = example.mapping.product_ids
    active = [
        (a.agreement_id, a.product.id)
        for a in example.fake.list_additions()
        if a.cancelled_date is None and a.product and a.product.id in mapped
    ]
    assert len(active) == len(set(active))  # no product billed twice on any agreement
    assert {p.name for p in (tmp_path / "locks").iterdir()}  # the lock files


# --- the command line an MSP can trust -------------------------------------------------------


def plan(config: Path, usage: Path, *more: str) -> tuple[int, str, str]:
    return run(None, "plan", "--config", str(config), "--usage", str(usage), *more)  # type: ignore[arg-type]


def sync(config: Path, usage: Path, *more: str) -> tuple[int, str, str]:
    return run(None, "sync", "--config", str(config), "--usage", str(usage), *more)  # type: ignore[arg-type]


def test_help_lists_the_exit_statuses() -> None:
    for command in ([], ["sync"]):
        status, out, _ = run(None, *command, "--help")  # type: ignore[arg-type]
        assert status == 0
        assert "exit status:" in out
        for code in ("0 ", "1 ", "2 ", "3 ", "130 "):
            assert f"\n  {code}" in out


def test_plan_exits_1_when_the_preview_is_not_ok(
    served: tuple[ExampleMSP, Path], tmp_path: Path
) -> None:
    example, config = served
    usage = tmp_path / "usage.csv"
    usage.write_text(
        "company,agreement_id,plan,seats,custom_price,discount_percent\n"
        f"Gone Ltd,{example.deleted_agreement_id},gold-50,3,,\n"
    )
    status, out, _ = plan(config, usage)
    assert status == 1
    assert "NOT OK" in out
    assert plan(config, USAGE_CSV)[0] == 0  # a clean preview, with changes to make


def test_wrong_keys_stop_the_run_at_once_with_one_line(
    served: tuple[ExampleMSP, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    example, config = served
    monkeypatch.setenv("CW_PRIVATE_KEY", "not-the-key")
    usage = ROOT / "examples" / "usage.json"
    status, out, err = plan(config, usage)
    assert status == 3
    assert out == ""
    [line] = err.strip().splitlines()
    assert line.startswith("connectwise-billing: ConnectWise refused the credentials: ")
    # The codebase look-up, one refused request, and the look-up that tells wrong keys from a
    # wrong company id.
    assert len(example.fake.request_log) <= 3


def test_a_mapped_product_that_is_missing_or_inactive_stops_before_any_write(
    served: tuple[ExampleMSP, Path],
) -> None:
    example, config = served
    missing = config.read_text().replace("gold-50 = 1002", "gold-50 = 999999")
    config.write_text(missing)
    status, out, err = sync(config, USAGE_CSV)
    assert status == 2 and out == ""
    assert "plan 'gold-50' is mapped to product 999999, which is not in the catalog" in err
    config.write_text(missing.replace("gold-50 = 999999", "gold-50 = 1002"))
    example.fake.catalog_item(1002)["inactiveFlag"] = True
    status, _, err = plan(config, USAGE_CSV)
    assert status == 2
    assert "product 1002 (MBX-GOLD-50), which is inactive" in err
    assert example.fake.writes() == []


def test_a_remap_reports_the_old_additions_still_billed(
    served: tuple[ExampleMSP, Path],
) -> None:
    example, config = served
    assert sync(config, USAGE_CSV)[0] == 0
    new_gold = example.fake.add_product("MBX-GOLD-50-V2", price="8.00", cost="3.25")
    config.write_text(
        config.read_text().replace("gold-50 = 1002", f"gold-50 = {new_gold}")
        + "\n[retired]\ngold-50 = 1002\n"
    )
    status, out, _ = plan(config, USAGE_CSV, "--json")
    assert status == 1  # the old lines would still bill once the new ones are created
    data = json.loads(out)
    agreements = [a for c in data["companies"] for a in c["agreements"]]
    warnings = [w for a in agreements for w in a["warnings"]]
    assert any(
        w.startswith("previously mapped, still billed: addition") and "plan 'gold-50'" in w
        for w in warnings
    )
    kinds = {p["kind"] for a in agreements for p in a["billing_problems"]}
    assert "billed_twice" in kinds
    assert Decimal(data["mrr_after"]) > Decimal(data["mrr_before"])  # both lines bill
    text = plan(config, USAGE_CSV)[1]
    assert "BILLED TWICE agreement" in text


CSV_HEADER = "company,agreement_id,plan,seats,custom_price,discount_percent\n"


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (
            "Northwind Traders LLC,1061,platinum-100,20,11,50,\n",
            "line 2: has 7 fields, the header has 6 (a decimal comma in a number? write 11.50)",
        ),
        ("Northwind Traders LLC,1061,platinum-100\n", "line 2: has 3 fields, the header has 6"),
        (
            'Northwind Traders LLC,1061,platinum-100,20,"11,50",\n',
            "line 2: custom_price: '11,50' has a decimal comma: write 11.50",
        ),
        (
            "Northwind Traders LLC,1061,platinum-100,20,,0.1\n",
            "line 2: discount_percent: 0.1 is a percentage: 0.1% off; write 10 for 10%",
        ),
    ],
)
def test_usage_rows_that_would_misprice_a_customer_are_refused(
    served: tuple[ExampleMSP, Path], tmp_path: Path, row: str, message: str
) -> None:
    example, config = served
    usage = tmp_path / "usage.csv"
    usage.write_text(CSV_HEADER + row)
    status, out, err = sync(config, usage)
    assert (status, out) == (2, "")
    assert message in err and len(err.strip().splitlines()) == 1
    assert example.fake.request_log == []


def test_small_discounts_when_meant(served: tuple[ExampleMSP, Path], tmp_path: Path) -> None:
    _, config = served
    usage = tmp_path / "usage.csv"
    usage.write_text(CSV_HEADER + "Northwind Traders LLC,1061,platinum-100,20,,0.5\n")
    status, out, err = plan(config, usage, "--allow-small-discounts")
    assert status == 0, err
    assert "12.44" in out  # 12.50 less 0.5%
    assert err == ""


@pytest.mark.parametrize(("attempts", "status"), [(None, 0), (1, 1)])
def test_the_command_line_retries_as_its_retry_settings_say(
    served: tuple[ExampleMSP, Path], attempts: int | None, status: int
) -> None:
    example, config = served
    if attempts is not None:
        text = config.read_text()
        config.write_text(text.replace("max_attempts = 5", f"max_attempts = {attempts}"))
    reads = f"/finance/agreements/{example.usages[0].agreement_id}/additions"
    example.fake.faults.add(Fault.server_error(503), method="GET", path=reads)
    code, out, err = plan(config, USAGE_CSV)
    assert code == status, err
    assert ("UnexpectedServerError" in out) is (attempts == 1)


@pytest.mark.parametrize(
    ("section", "line"),
    [("connectwise", "bill_customer = 'NoCharge'"), ("policy", "bill_customer = 'NoCharge'")],
)
def test_new_additions_bill_as_the_configuration_says(
    served: tuple[ExampleMSP, Path], section: str, line: str
) -> None:
    example, config = served
    before = {a.id for a in example.fake.list_additions()}
    text = config.read_text().replace(f"[{section}]\n", f"[{section}]\n{line}\n")
    config.write_text(text)
    status, out, err = sync(config, USAGE_CSV)
    made = {a.bill_customer for a in example.fake.list_additions() if a.id not in before}
    assert made == {"NoCharge"}
    assert "Deprecat" not in err
    # Lines that do not bill never count as billing: the run says so, and is not ok.
    assert status == 1, err
    assert "NOT BILLED agreement" in out


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("siteurl = 'x'\n", "connectwise.siteurl: unknown setting; did you mean 'site_url'?"),
        ("api_membr = 'x'\n", "connectwise.api_membr: unknown setting; did you mean 'api_member'?"),
    ],
)
def test_config_key_typos_are_named(
    served: tuple[ExampleMSP, Path], setting: str, message: str
) -> None:
    _, config = served
    config.write_text(config.read_text().replace("[connectwise]\n", "[connectwise]\n" + setting))
    status, _, err = plan(config, USAGE_CSV)
    assert status == 2
    assert message in err


def test_paths_that_are_directories_or_unreadable_are_named(
    served: tuple[ExampleMSP, Path], tmp_path: Path
) -> None:
    _, config = served
    folder = tmp_path / "usage.csv"
    folder.mkdir()
    status, _, err = plan(config, folder)
    assert status == 2
    assert (
        err.strip() == f"connectwise-billing: {folder}: is a directory, not a file (the usage file)"
    )
    status, _, err = plan(tmp_path, USAGE_CSV)
    assert status == 2 and "is a directory, not a file (the configuration file)" in err


def test_dry_runs_speak_of_planned_operations(
    served: tuple[ExampleMSP, Path],
) -> None:
    example, config = served
    assert sync(config, USAGE_CSV)[0] == 0
    [gold] = [a for a in example.fake.list_additions(1056) if a.product and a.product.id == 1002]
    example.fake.edit_addition(gold.id, quantity=3, updated_by="jsmith")
    _, out, err = run(
        None,  # type: ignore[arg-type]
        "plan", "-v", "--config", str(config), "--usage", str(USAGE_CSV), "--json",
    )  # fmt: skip
    data = json.loads(out)
    assert (data["planned"], data["applied"]) == (1, 0) and "skipped" not in data
    [operation] = [o for c in data["companies"] for a in c["agreements"] for o in a["operations"]]
    assert operation["status"] == "planned"
    warnings = [w for c in data["companies"] for a in c["agreements"] for w in a["warnings"]]
    assert any(w.endswith("not by the sync; would overwrite quantity") for w in warnings)
    assert "planned update gold-50" in err  # -v after the command is accepted
    _, out, _ = sync(config, USAGE_CSV)
    assert "quantity overwritten" in out


def test_interrupted_runs_finish_the_agreement_in_flight_and_report(
    served: tuple[ExampleMSP, Path], tmp_path: Path
) -> None:
    example, config = served
    example.fake.latency = 0.05
    usage = tmp_path / "usage.json"
    usage.write_text(
        json.dumps(
            [
                {"company": u.company, "agreement_id": u.agreement_id, "seats": dict(u.seats)}
                for u in example.usages[:30]
            ]
        )
    )
    audit = tmp_path / "audit.jsonl"
    command = [sys.executable, "-m", "connectwise_billing", "sync", "--config", str(config)]
    command += ["--usage", str(usage), "--json", "--audit-log", str(audit)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while len(example.fake.writes()) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)  # waiting for the other process to get going
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert "Traceback" not in err
    assert "SIGINT: stopping after the agreement in flight" in err
    report = json.loads(out)
    assert report["stopped"] == "the run was asked to stop"
    assert 0 < report["applied"] < 40
    statuses = [a["status"] for c in report["companies"] for a in c["agreements"]]
    assert "stopped" in statuses
    assert len(outcomes(audit)) == report["applied"]  # the audit log is complete
    assert not unsettled(read_audit_log(audit))  # every intent has its outcome
    assert len(example.fake.writes()) == report["applied"]


def test_a_closed_stdout_ends_quietly(served: tuple[ExampleMSP, Path]) -> None:
    _, config = served
    command = [sys.executable, "-m", "connectwise_billing", "plan", "--config", str(config)]
    command += ["--usage", str(USAGE_CSV), "--json"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert process.stdout is not None and process.stdout.readline().strip() == b"{"
    process.stdout.close()  # as `| head -1` does
    _, err = process.communicate(timeout=60)
    assert b"Traceback" not in err and b"BrokenPipeError" not in err


def test_the_library_is_silent_unless_asked() -> None:
    script = (
        "from connectwise_billing import ConnectWiseClient, sync_all\n"
        "from connectwise_billing.testing import build_example\n"
        "example = build_example(5)\n"
        "with ConnectWiseClient('https://cw.example/v2025_1/apis/3.0', example.credentials,"
        " transport=example.fake.transport()) as client:\n"
        "    report = sync_all(client, example.plans, example.mapping, example.usages)\n"
        "print(report.ok, bool(report.warnings))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=False, timeout=60
    )
    assert result.stdout == "False True\n"  # warnings and errors there were, in the report
    assert result.stderr == ""


def test_the_simulator_prints_ready_to_paste_exports() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "connectwise_billing.testing", "serve", "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline() for _ in range(6)]
        exports = [line for line in lines if line.startswith("export ")]
        assert [line.split("=")[0] for line in exports] == [
            "export CW_PUBLIC_KEY",
            "export CW_PRIVATE_KEY",
        ]
    finally:
        process.terminate()
        process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()


def test_the_cli_prints_what_the_report_renders(served: tuple[ExampleMSP, Path]) -> None:
    """`report.render()` is the public form of the CLI's table."""
    example, config = served
    out = plan(config, USAGE_CSV)[1]
    assert "Agreement 1056 - Contoso Ltd" in out
    assert "would create" in out  # the summary says what would change
    from connectwise_billing import ConnectWiseClient, sync_all
    from connectwise_billing.cli import load_config, load_usage

    loaded = load_config(config)
    with ConnectWiseClient(
        "https://cw.example/v2025_1/apis/3.0",
        example.credentials,
        transport=example.fake.transport(),
    ) as client:
        report = sync_all(
            client, loaded.plans, loaded.mapping, load_usage(USAGE_CSV, loaded.plans),
            loaded.policy, dry_run=True,
        )  # fmt: skip
    rendered = report.render()
    assert rendered == str(report)
    assert rendered.splitlines()[:8] == out.splitlines()[:8]


# --- review before it bills: change sets, guardrails, undo -------------------------------------


def usage_json(path: Path, usages: Any) -> Path:
    path.write_text(
        json.dumps(
            [
                {"company": u.company, "agreement_id": u.agreement_id, "seats": dict(u.seats)}
                for u in usages
            ]
        )
    )
    return path


def in_step(example: ExampleMSP, config: Path, tmp_path: Path) -> list[Any]:
    """Sync the example (approving what the guardrails hold): the usages that bill today."""
    everything = usage_json(tmp_path / "all.json", example.usages)
    status, _, err = sync(config, everything, "--approve", "all")
    assert status == 1, err  # the example's deleted and hidden agreements, on purpose
    unreachable = {example.deleted_agreement_id, example.cancelled_agreement_id}
    return [
        u
        for u in example.usages
        if u.agreement_id not in unreachable
        and u.company != example.hidden_company
        and any(u.seats.get(plan) for plan in example.mapping)
    ]


def test_plan_out_then_apply_writes_what_was_planned(
    served: tuple[ExampleMSP, Path], tmp_path: Path
) -> None:
    example, config = served
    changes = tmp_path / "changes.json"
    status, out, err = plan(config, USAGE_CSV, "--out", str(changes))
    assert status in (0, 4), err
    assert f"Change set: {changes}" in out and example.fake.writes() == []
    saved = json.loads(changes.read_text())
    planned = sum(len(a["operations"]) for a in saved["agreements"])
    held = sum(1 for a in saved["agreements"] for op in a["operations"] if op["held"])
    status, out, err = run(None, "apply", str(changes), "--config", str(config), "--json")  # type: ignore[arg-type]
    report = json.loads(out)
    assert report["applied"] == planned - held and report["held"] == held
    assert len(example.fake.writes()) == planned - held
    status, _, _ = plan(config, USAGE_CSV, "--detailed-exitcode")
    assert status == (4 if held else 0)  # only what a person holds back is pending


def test_plan_detailed_exitcode_says_changes_are_pending(
    served: tuple[ExampleMSP, Path],
) -> None:
    _, config = served
    assert plan(config, USAGE_CSV)[0] in (0, 4)
    status, _, _ = plan(config, USAGE_CSV, "--detailed-exitcode")
    assert status == 4


def test_an_expired_or_malformed_change_set_exits_2_naming_the_problem(
    served: tuple[ExampleMSP, Path], tmp_path: Path
) -> None:
    example, config = served
    changes = tmp_path / "changes.json"
    plan(config, USAGE_CSV, "--out", str(changes))
    data = json.loads(changes.read_text())
    data["planned_at"] = "2019-12-31T00:00:00Z"
    data["expires_at"] = "2020-01-01T00:00:00Z"
    changes.write_text(json.dumps(data))
    status, out, err = run(None, "apply", str(changes), "--config", str(config))  # type: ignore[arg-type]
    assert (status, out) == (2, "")
    assert "expired at 2020-01-01T00:00:00Z: plan again" in err
    data["expires_at"] = "soon"
    changes.write_text(json.dumps(data))
    status, _, err = run(None, "apply", str(changes), "--config", str(config))  # type: ignore[arg-type]
    assert status == 2 and "expires_at: must be an ISO 8601 time, got 'soon'" in err
    assert example.fake.writes() == []


def test_guardrails_hold_a_missing_row_a_decimal_comma_and_a_price_below_cost(
    served: tuple[ExampleMSP, Path], tmp_path: Path
) -> None:
    example, config = served
    billing = in_step(example, config, tmp_path)
    writes = len(example.fake.writes())
    gold = [u for u in billing if u.seats.get("gold-50")]
    lost, comma, cheap = gold[0], gold[1], gold[2]
    rows = [
        # the export lost every row but one of this customer's: its gold seats read as 0
        *(
            f"{lost.company},{lost.agreement_id},{plan},{count},,\n"
            for plan, count in lost.seats.items()
            if plan != "gold-50"
        ),
        f"{lost.company},{lost.agreement_id},gold-50,0,,\n",
        f"{comma.company},{comma.agreement_id},gold-50,{comma.seats['gold-50']},7,50\n",
        f"{cheap.company},{cheap.agreement_id},gold-50,{cheap.seats['gold-50']},0.20,\n",
    ]
    usage = tmp_path / "usage.csv"
    usage.write_text(CSV_HEADER + "".join(rows))
    status, out, err = sync(config, usage, "--json")
    assert status == 4, err
    report = json.loads(out)
    rules = {
        a["agreement_id"]: {op.get("rule") for op in a["operations"] if op["status"] == "held"}
        for c in report["companies"]
        for a in c["agreements"]
    }
    assert "max_mrr_drop_percent" in rules[lost.agreement_id]
    assert any("max_price_change_percent" in rule for rule in rules[comma.agreement_id])
    assert any("below_cost" in rule for rule in rules[cheap.agreement_id])
    assert len(example.fake.writes()) == writes  # nothing written
    text = sync(config, usage)[1]
    assert "HELD agreement" in text and "NOT OK" in text
    ids = f"{lost.agreement_id},{comma.agreement_id},{cheap.agreement_id}"
    status, out, err = sync(config, usage, "--approve", ids, "--json")
    assert status == 0, err + out
    assert len(example.fake.writes()) > writes


def test_a_broken_export_holds_the_whole_run_and_exits_4(
    served: tuple[ExampleMSP, Path], tmp_path: Path
) -> None:
    example, config = served
    billing = in_step(example, config, tmp_path)[:40]
    assert len(billing) >= 20
    zeroed = len(billing) * 3 // 8
    broken = [
        u._replace(seats=dict.fromkeys(u.seats, 0)) if n < zeroed else u
        for n, u in enumerate(billing)
    ]
    usage = usage_json(tmp_path / "broken.json", broken)
    writes = len(example.fake.writes())
    status, out, err = sync(config, usage)
    assert status == 4, err
    assert "HELD, ALL OF IT" in out and f"{zeroed} of {len(billing)} agreements" in out
    assert len(example.fake.writes()) == writes
    assert sync(config, usage, "--approve", "all")[0] == 0
    assert len(example.fake.writes()) > writes


def test_runs_and_undo_through_the_command_line(
    served: tuple[ExampleMSP, Path], tmp_path: Path
) -> None:
    example, config = served
    before = {
        a.id: (a.quantity, a.unit_price, a.cancelled_date) for a in example.fake.list_additions()
    }
    log = tmp_path / "audit.jsonl"
    status, _, err = sync(config, USAGE_CSV, "--audit-log", str(log), "--approve", "all")
    assert status == 0, err
    status, out, _ = run(None, "runs", "--audit-log", str(log), "--json")  # type: ignore[arg-type]
    [listed] = json.loads(out)
    assert listed["counts"]["applied"] > 0
    undo = tmp_path / "undo.json"
    status, out, err = run(  # type: ignore[arg-type]
        None, "undo", "--audit-log", str(log), "--run", listed["run_id"], "--out", str(undo)
    )
    assert status == 0, err
    assert f"saved to {undo}" in out
    status, _, err = run(None, "apply", str(undo), "--config", str(config))  # type: ignore[arg-type]
    assert status == 0, err
    after = {
        a.id: (a.quantity, a.unit_price, a.cancelled_date) for a in example.fake.list_additions()
    }
    assert {line: after[line] for line in before} == before
    status, out, _ = run(None, "runs", "--audit-log", str(log))  # type: ignore[arg-type]
    assert listed["run_id"] in out


def test_a_dead_redis_url_fails_the_run_cleanly_and_writes_nothing(
    served: tuple[ExampleMSP, Path],
) -> None:
    example, config = served
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    status, out, err = run(
        None,  # type: ignore[arg-type]
        "sync", "--config", str(config), "--usage", str(USAGE_CSV),
        "--redis-url", f"redis://127.0.0.1:{port}/0",
    )  # fmt: skip
    assert (status, err) == (1, "")
    said = " ".join(out.split())
    assert said.count("not synced: its lock could not be taken: Redis failed: Error 111") == 3
    assert example.fake.writes() == []


def test_products_list_shows_the_whole_catalog_and_an_empty_search_is_refused(
    served: tuple[ExampleMSP, Path],
) -> None:
    example, config = served
    retired = example.fake.add_product("MBX-OLD", price="2.00", cost="1.00", inactive=True)
    status, out, err = run(None, "products", "list", "--config", str(config), "--json")  # type: ignore[arg-type]
    assert status == 0, err
    listed = json.loads(out)
    catalog = example.fake.list_products()
    assert sorted(p["id"] for p in listed) == sorted(p.id for p in catalog)
    assert retired in [p["id"] for p in listed]  # inactive items are listed too
    status, out, _ = run(None, "products", "list", "--config", str(config))  # type: ignore[arg-type]
    assert status == 0 and "1002  MBX-GOLD-50" in out
    status, out, err = run(None, "products", "search", "  ", "--config", str(config))  # type: ignore[arg-type]
    assert status == 2 and out == ""
    assert "products list" in err


def test_additions_list_shows_an_agreements_lines_as_connectwise_holds_them(
    served: tuple[ExampleMSP, Path], tmp_path: Path
) -> None:
    example, config = served
    sync(
        config,
        usage_json(tmp_path / "one.json", [u for u in example.usages if u.agreement_id == 1056]),
    )
    status, out, err = run(
        None,  # type: ignore[arg-type]
        "additions", "list", "--agreement", "1056", "--config", str(config), "--json",
    )  # fmt: skip
    assert status == 0, err
    lines = json.loads(out)
    assert lines and all(line["agreement_id"] == 1056 for line in lines)
    gold = [line for line in lines if line["product"]["id"] == example.mapping["gold-50"]]
    assert gold and Decimal(str(gold[0]["quantity"])) == 35
    assert sorted(line["id"] for line in lines) == sorted(
        a.id for a in example.fake.list_additions(1056)
    )
    status, out, err = run(
        None,  # type: ignore[arg-type]
        "additions", "list", "--agreement", "1056", "--config", str(config),
    )  # fmt: skip
    header = out.splitlines()[0].split()
    assert header[:6] == ["id", "product", "quantity", "price", "cost", "billCustomer"]
    assert header[6:] == ["effective", "cancelled", "last", "updated", "by"]
    [row] = [r for r in out.splitlines() if "MBX-GOLD-50" in r]
    assert row.split()[2:7] == ["35", "8.00", "3.25", "Billable", f"{date.today():%Y-%m-%d}"]
    assert row.split()[-1] == "CloudPanelAPI"
    status, out, err = run(
        None,  # type: ignore[arg-type]
        "additions", "list", "--agreement", "999999", "--config", str(config),
    )  # fmt: skip
    assert status == 2 and "999999" in err and out == ""
    status, _, err = run(
        None,  # type: ignore[arg-type]
        "additions", "list", "--agreement", "-3", "--config", str(config),
    )  # fmt: skip
    assert status == 2 and "'-3'" in err


def test_options_that_do_nothing_are_refused(served: tuple[ExampleMSP, Path]) -> None:
    example, config = served
    audit = config.parent / "audit.jsonl"
    status, out, err = plan(config, USAGE_CSV, "--audit-log", str(audit))
    assert status == 2 and "--audit-log" in err and not audit.exists()
    status, out, err = plan(config, USAGE_CSV, "--json", "--audit-log", str(audit))
    refused = json.loads(out)["error"]
    assert status == 2 and refused["exit_status"] == 2 and "--audit-log" in refused["message"]
    assert err.startswith("usage: connectwise-billing")
    status, out, err = plan(config, USAGE_CSV, "--json", "--show-diffs", "3")
    assert status == 2 and "--show-diffs" in err
    assert json.loads(out)["error"]["exit_status"] == 2
    status, _, err = plan(config, USAGE_CSV, "--show-diffs", "-1")
    assert status == 2 and "'-1'" in err
    assert example.fake.request_log == []


@pytest.mark.parametrize(("delimiter", "named"), [(";", "semicolons"), ("\t", "tabs")])
def test_a_csv_with_another_delimiter_gets_a_hint(
    served: tuple[ExampleMSP, Path], tmp_path: Path, delimiter: str, named: str
) -> None:
    example, config = served
    usage = tmp_path / "usage.csv"
    usage.write_text(USAGE_CSV.read_text().replace(",", delimiter))
    status, out, err = plan(config, usage)
    assert status == 2 and out == ""
    assert f"separated by {named}" in err and "lacks column 'company'" in err
    assert example.fake.request_log == []


def test_json_runs_that_stop_print_an_error_object_on_stdout(
    served: tuple[ExampleMSP, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, config = served
    bad = tmp_path / "bad.csv"
    bad.write_text("company,agreement_id,plan,seats\nContoso Ltd,1056,gold-50,many\n")
    status, out, err = plan(config, bad, "--json")
    assert status == 2
    said = json.loads(out)["error"]
    assert said["exit_status"] == 2 and said["kind"] == "ConfigFileError"
    assert "many" in said["message"] and said["message"] in err
    monkeypatch.setenv("CW_PRIVATE_KEY", "not-the-key")
    status, out, err = sync(config, USAGE_CSV, "--json")
    assert status == 3
    said = json.loads(out)["error"]
    assert said["exit_status"] == 3 and said["kind"] == "AuthenticationError"
    assert "AuthenticationError" in json.loads(out)["report"]["stopped"]  # why, in the report
    assert "not-the-key" not in out + err


@pytest.mark.parametrize("setting", ["site_url", "base_url"])
def test_a_login_company_id_connectwise_does_not_know_names_the_setting(
    served: tuple[ExampleMSP, Path], setting: str
) -> None:
    _example, config = served
    text = config.read_text().replace('company_id = "fakemsp"', 'company_id = "fakemps"')
    if setting == "base_url":
        site = text.split('site_url = "')[1].split('"')[0]
        text = text.replace(f'site_url = "{site}"', f'base_url = "{site}/v2025_1/apis/3.0"')
    config.write_text(text)
    status, _out, err = plan(config, USAGE_CSV)
    assert status == 2, err
    [line] = err.strip().splitlines()
    assert "[connectwise].company_id" in line and "'fakemps'" in line
    assert str(config) in line and "404" not in line.split("company_id:")[0]
    status, _, err = run(None, "products", "list", "--config", str(config))  # type: ignore[arg-type]
    assert status == 2 and "[connectwise].company_id" in err


def test_html_report_of_plan_sync_and_apply(
    served: tuple[ExampleMSP, Path], tmp_path: Path
) -> None:
    _example, config = served
    page = tmp_path / "plan.html"
    status, _out, _ = plan(
        config, USAGE_CSV, "--html", str(page), "--out", str(tmp_path / "c.json")
    )
    assert status in (0, 1, 4)
    text = page.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>") and "Contoso Ltd" in text and "<script" not in text
    status, _, _ = run(
        None,  # type: ignore[arg-type]
        "apply", str(tmp_path / "c.json"), "--config", str(config), "--approve", "all",
        "--html", str(tmp_path / "apply.html"),
    )  # fmt: skip
    assert "Contoso Ltd" in (tmp_path / "apply.html").read_text(encoding="utf-8")
    status, _, err = sync(config, USAGE_CSV, "--html", str(tmp_path / "no-such-dir" / "s.html"))
    assert "the HTML report was not written" in err
    assert status == 0, err


def test_html_never_overwrites_the_commands_own_files(
    served: tuple[ExampleMSP, Path], tmp_path: Path
) -> None:
    example, config = served
    audit = tmp_path / "audit.jsonl"
    audit.write_text("")
    status, _, err = sync(config, USAGE_CSV, "--audit-log", str(audit), "--html", str(audit))
    assert status == 2 and f"--html {audit} would overwrite the audit log" in err
    status, _, err = plan(config, USAGE_CSV, "--html", str(config))
    assert status == 2 and "would overwrite the configuration" in err
    status, _, err = plan(config, USAGE_CSV, "--out", str(USAGE_CSV))
    assert status == 2 and "would overwrite the usage file" in err
    assert audit.read_text() == "" and example.fake.request_log == []


class _Receiver(threading.Thread):
    """A webhook on 127.0.0.1 that keeps what it is sent."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        import http.server

        bodies = self.bodies = []  # type: ignore[var-annotated]

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                bodies.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *_: object) -> None:
                pass

        self.server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"

    def run(self) -> None:
        self.server.serve_forever()


def test_a_run_that_cannot_start_is_still_told(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CW_PUBLIC_KEY", "p")
    monkeypatch.setenv("CW_PRIVATE_KEY", "k")
    receiver = _Receiver()
    receiver.start()
    try:
        config = tmp_path / "config.toml"
        config.write_text(
            EXAMPLE_CONFIG.read_text().replace("http://127.0.0.1:8089", "http://127.0.0.1:9")
            + f'\n[notify]\nurl = "{receiver.url}"\n'
        )
        status, _, err = plan(config, USAGE_CSV)
        assert status == 3 and "could not be reached" in err
        [told] = receiver.bodies
        assert told["ok"] is False
        assert "did not start" in json.dumps(told) and "APIConnectionError" in json.dumps(told)
    finally:
        receiver.server.shutdown()
        receiver.server.server_close()
