"""The command line against the simulator served on 127.0.0.1."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from connectwise_billing.cli import main
from connectwise_billing.cli.output import Progress
from connectwise_billing.testing import ExampleMSP, Outcome, build_example

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_CONFIG = ROOT / "examples" / "config.toml"


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


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    status = main(list(args))
    out, err = capsys.readouterr()
    return status, out, err


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
    assert len(audit.read_text().splitlines()) == 4
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
    status, out, _ = run(capsys, "agreements", "list", "--company", "1006", "--config", str(config))
    assert "1056  Email Hosting" in out
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
        "entry 0: seats.gold-50: must be a whole number >= 0, got Decimal('2.5')",
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


def test_unreachable_connectwise_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CW_PUBLIC_KEY", "p")
    monkeypatch.setenv("CW_PRIVATE_KEY", "k")
    config = tmp_path / "config.toml"
    config.write_text(
        EXAMPLE_CONFIG.read_text().replace("http://127.0.0.1:8089", "http://127.0.0.1:9")
    )
    status, _, err = run(capsys, "products", "search", "x", "--config", str(config))
    assert status == 1
    assert "connectwise-billing: GET http://127.0.0.1:9/login/companyinfo/fakemsp" in err


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
