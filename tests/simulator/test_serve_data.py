"""`python -m connectwise_billing.testing serve --data FILE`: ConnectWise's records from a JSON
file, served on 127.0.0.1 by the real entry point and read back through the SDK and the CLI."""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs
import httpx
import pytest

from connectwise_billing import ConnectWiseClient, Credentials, NewAddition, RetryPolicy, convert
from tests import contract_check

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_DATA = ROOT / "examples" / "simulator-data.json"
EXAMPLE_CONFIG = ROOT / "examples" / "config.toml"
USAGE_CSV = ROOT / "examples" / "usage.csv"
SERVE = [sys.executable, "-m", "connectwise_billing.testing", "serve"]


@attrs.frozen
class Served:
    """A simulator the command line started: where it listens and its API member's keys."""

    site_url: str
    api_url: str
    credentials: Credentials

    def client(self) -> ConnectWiseClient:
        return ConnectWiseClient(
            self.api_url, self.credentials, retry=RetryPolicy.never(), rate_limit_per_minute=None
        )

    def raw(self, path: str) -> Any:
        """One GET under `apis/3.0`, its body as the simulator wrote it (checked against the
        contract: the subprocess is out of reach of the suite's conformance fixture)."""
        credentials = self.credentials
        response = httpx.get(
            f"{self.api_url}{path}",
            auth=(f"{credentials.company_id}+{credentials.public_key}", credentials.private_key),
            headers={"clientId": credentials.client_id},
        )
        assert response.status_code == 200, response.text
        body = convert.loads(response.content)
        assert contract_check.response_errors("GET", path, 200, body) == []
        return body

    def cli(self, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
        """`python -m connectwise_billing ARGS --config C`, C being examples/config.toml pointed
        at this simulator, its keys in the environment."""
        config = tmp_path / "config.toml"
        config.write_text(
            EXAMPLE_CONFIG.read_text().replace("http://127.0.0.1:8089", self.site_url)
        )
        environment = {
            **os.environ,
            "CW_PUBLIC_KEY": self.credentials.public_key,
            "CW_PRIVATE_KEY": self.credentials.private_key,
        }
        return subprocess.run(
            [sys.executable, "-m", "connectwise_billing", *args, "--config", str(config)],
            capture_output=True,
            text=True,
            env=environment,
            timeout=120,
            check=False,
        )


@contextlib.contextmanager
def serving(data: Path) -> Iterator[Served]:
    """`serve --data DATA --port 0` in a process of its own, until the block ends."""
    process = subprocess.Popen(
        [*SERVE, "--data", str(data), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None and process.stderr is not None
    try:
        banner: list[str] = []
        for line in process.stdout:  # the banner ends with the private key
            banner.append(line.strip())
            if line.startswith("export CW_PRIVATE_KEY="):
                break
        else:
            pytest.fail(f"the simulator did not start: {process.stderr.read()}")
        said = {line.split("  ")[0]: line.split()[-1] for line in banner if "URL" in line}
        ids = dict(re.findall(r"(\w+) = '([^']*)'", banner[3]))
        keys = dict(line.removeprefix("export ").split("=") for line in banner[4:])
        yield Served(
            said["Site URL"],
            said["API base URL"],
            Credentials(
                ids["company_id"], keys["CW_PUBLIC_KEY"], keys["CW_PRIVATE_KEY"], ids["client_id"]
            ),
        )
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        process.stdout.close()
        process.stderr.close()


def write(tmp_path: Path, data: Any) -> Path:
    path = tmp_path / "data.json"
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return path


@pytest.fixture(scope="module")
def example() -> Iterator[Served]:
    """examples/simulator-data.json, served (tests that write start their own)."""
    with serving(EXAMPLE_DATA) as served:
        yield served


# --- the example file, through the command line ------------------------------------------------


def test_the_example_catalog_through_products_search(example: Served, tmp_path: Path) -> None:
    result = example.cli(tmp_path, "products", "search", "MBX", "--json")
    assert result.returncode == 0, result.stderr
    found = {
        p["id"]: (p["identifier"], p["description"], p["price"], p["cost"], p["product_class"])
        for p in json.loads(result.stdout)
    }
    assert found == {
        1001: ("MBX-BASIC-10", "Basic 10 GB mailbox", "4.00", "1.50", "Agreement"),
        1002: ("MBX-GOLD-50", "Gold 50 GB mailbox", "8.00", "3.25", "Agreement"),
        1003: ("MBX-PLAT-100", "Platinum 100 GB mailbox", "12.50", "5.00", "Agreement"),
    }


def test_the_example_agreements_through_agreements_list(example: Served, tmp_path: Path) -> None:
    result = example.cli(tmp_path, "agreements", "list", "--company-id", "1006")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[2:] == [
        "1056  Email Hosting     Active  Email Hosting     Contoso Ltd",
        "1057  Managed Services  Active  Managed Services  Contoso Ltd",
    ]


def test_plan_against_the_example_is_healthy_and_writes_nothing(
    example: Served, tmp_path: Path
) -> None:
    result = example.cli(tmp_path, "plan", "--usage", str(USAGE_CSV))
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "update  Platinum 100 GB               33 -> 35" in out
    assert "3 agreements in step: nothing to change." in out
    assert "Dry run for 4 companies (4 agreements)" in out
    assert "would update 1 addition on 1 agreement" in out
    assert "0 failed" in out
    assert out.rstrip().endswith("OK")
    quantities = {a["quantity"] for a in example.raw("/finance/agreements/1058/additions")}
    assert quantities == {8, 33}  # a dry run


def test_sync_against_the_example_then_nothing_is_left_to_change(tmp_path: Path) -> None:
    with serving(EXAMPLE_DATA) as served:
        synced = served.cli(tmp_path, "sync", "--usage", str(USAGE_CSV))
        assert synced.returncode == 0, synced.stdout + synced.stderr
        assert "operations: 1 applied" in synced.stdout
        planned = served.cli(tmp_path, "plan", "--usage", str(USAGE_CSV))
        assert planned.returncode == 0
        assert "nothing to change\n" in planned.stdout
        [platinum] = [
            a
            for a in served.raw("/finance/agreements/1058/additions")
            if a["product"]["id"] == 1003
        ]
    assert (platinum["quantity"], platinum["_info"]["updatedBy"]) == (35, "CloudPanelAPI")


# --- fields given and fields left out, through the SDK ------------------------------------------

MINIMAL = {
    "companies": [{"id": 1, "identifier": "Acme", "name": "Acme Ltd"}],
    "products": [{"id": 2, "identifier": "MBX-1"}],
    "agreements": [{"id": 3, "company": {"id": 1}}],
    "additions": [{"agreementId": 3, "product": {"id": 2}}],
}


def _without_last_updated(record: dict[str, Any]) -> dict[str, Any]:
    info = record["_info"]
    assert datetime.fromisoformat(info.pop("lastUpdated")).year >= 2025  # "now" when served
    return record


def test_fields_left_out_take_the_documented_defaults(tmp_path: Path) -> None:
    """The table in docs/guides/simulator.md, record by record."""
    with serving(write(tmp_path, MINIMAL)) as served:
        company = served.raw("/company/companies/1")
        product = served.raw("/procurement/catalog/2")
        agreement = served.raw("/finance/agreements/3")
        [addition] = served.raw("/finance/agreements/3/additions")
    admin = {"updatedBy": "Admin"}
    assert _without_last_updated(company) == {
        "id": 1, "identifier": "Acme", "name": "Acme Ltd", "status": {"id": 1, "name": "Active"},
        "deletedFlag": False, "_info": admin,
    }  # fmt: skip
    assert _without_last_updated(product) == {
        "id": 2, "identifier": "MBX-1", "description": "MBX-1", "customerDescription": "MBX-1",
        "inactiveFlag": False, "subcategory": {"id": 1, "name": "Hosted Email"},
        "type": {"id": 1, "name": "Service"}, "productClass": "Agreement", "price": 0,
        "cost": 0, "taxableFlag": False, "_info": admin,
    }  # fmt: skip
    assert _without_last_updated(agreement) == {
        "id": 3, "name": "Email Hosting", "type": {"id": 1, "name": "Email Hosting"},
        "company": {"id": 1, "identifier": "Acme", "name": "Acme Ltd"},
        "contact": {"id": 1, "name": "Acme Ltd billing contact"},
        "startDate": "2024-01-01T00:00:00Z", "noEndingDateFlag": True, "cancelledFlag": False,
        "prorateFlag": False, "billingCycle": {"id": 2, "name": "Monthly"},
        "agreementStatus": "Active", "_info": admin,
    }  # fmt: skip
    assert _without_last_updated(addition) == {
        "id": 1001, "product": {"id": 2, "identifier": "MBX-1"}, "quantity": 1, "unitPrice": 0,
        "unitCost": 0, "billCustomer": "Billable", "effectiveDate": "2024-01-01T00:00:00Z",
        "description": "MBX-1", "invoiceDescription": "MBX-1", "taxableFlag": False,
        "lessIncluded": 0, "uom": "Each", "agreementId": 3, "_info": admin,
        "agreementStatus": "Active", "extPrice": 0, "extCost": 0, "margin": 0,
        "billedQuantity": 1,
    }  # fmt: skip


GIVEN = {
    "companies": [
        {
            "id": 7,
            "identifier": "Contoso",
            "name": "Contoso Ltd",
            "status": {"id": 2, "name": "Inactive"},
            "phoneNumber": "+1 555 0100",
            "_info": {"updatedBy": "jsmith", "lastUpdated": "2025-06-01T12:00:00Z"},
        }
    ],
    "products": [
        {
            "id": 8,
            "identifier": "MBX-GOLD-50",
            "description": "Gold 50 GB",
            "price": 8.00,
            "cost": 3.25,
            "productClass": "Service",
            "inactiveFlag": True,
        },
        {"id": 10, "identifier": "NO-PRICE", "price": None},
    ],
    "agreements": [
        {
            "id": 9,
            "name": "Email Hosting 2024",
            "company": {"identifier": "contoso"},
            "agreementStatus": "Cancelled",
            "endDate": "2025-12-31",
        },
        {"id": 11, "company": {"id": 7, "name": "Contoso Ltd"}, "prorateFlag": True},
    ],
    "additions": [
        {
            "id": 5000,
            "agreementId": 9,
            "product": {"identifier": "mbx-gold-50"},
            "quantity": 12.5,
            "unitPrice": 7.99,
            "billCustomer": "DoNotBill",
            "effectiveDate": "2025-02-01T00:00:00+02:00",
            "cancelledDate": "2025-11-30T00:00:00Z",
            "_info": {"updatedBy": "jsmith"},
        },
        {"agreementId": 11, "product": {"id": 10}, "quantity": 3},
    ],
}


def test_the_files_fields_come_back_through_the_sdk(tmp_path: Path) -> None:
    with serving(write(tmp_path, GIVEN)) as served, served.client() as client:
        company = client.companies.get(7)
        product = client.products.get(8)
        cancelled, prorated = client.agreements.list(company_id=7)
        [addition] = client.additions.list(9)
        [unpriced] = served.raw("/finance/agreements/11/additions")
        no_price = served.raw("/procurement/catalog/10")
    assert (company.name, company.status and company.status.name) == ("Contoso Ltd", "Inactive")
    assert (company.phone_number, company.updated_by) == ("+1 555 0100", "jsmith")
    assert company.last_updated == datetime(2025, 6, 1, 12, tzinfo=UTC)
    assert (product.price, product.cost, product.inactive) == (
        Decimal("8.00"),
        Decimal("3.25"),
        True,
    )
    assert (product.product_class, product.customer_description) == ("Service", "Gold 50 GB")
    assert (cancelled.id, cancelled.name, cancelled.agreement_status) == (
        9, "Email Hosting 2024", "Cancelled"
    )  # fmt: skip
    assert (cancelled.cancelled_flag, cancelled.no_ending_date_flag) == (True, False)
    assert cancelled.end_date == datetime(2025, 12, 31, tzinfo=UTC)
    assert cancelled.company is not None and cancelled.company.identifier == "Contoso"
    assert (prorated.id, prorated.prorate_flag, prorated.agreement_status) == (11, True, "Active")
    assert (addition.id, addition.quantity, addition.unit_price) == (
        5000, Decimal("12.5"), Decimal("7.99")
    )  # fmt: skip
    assert addition.unit_cost == Decimal("3.25")  # left out: the catalog item's
    assert addition.product is not None and addition.product.id == 8
    assert (addition.bill_customer, addition.updated_by) == ("DoNotBill", "jsmith")
    assert addition.effective_date == datetime(2025, 1, 31, 22, tzinfo=UTC)
    assert addition.cancelled_date == datetime(2025, 11, 30, tzinfo=UTC)
    assert (addition.ext_price, addition.agreement_status) == (Decimal("99.875"), "Cancelled")
    # A null in the file leaves the field out of answers, and so does a default taken from it.
    assert "price" not in no_price and "unitPrice" not in unpriced
    assert (no_price["cost"], unpriced["unitCost"]) == (0, 0)


def test_records_created_through_the_api_never_take_a_files_id(tmp_path: Path) -> None:
    data = {**GIVEN, "additions": [*GIVEN["additions"], {"agreementId": 11, "product": {"id": 8}}]}
    with serving(write(tmp_path, data)) as served, served.client() as client:
        before = {a.id: a.quantity for a in client.additions.list(11)}
        created = client.additions.create(11, NewAddition(8, 4))
        after = {a.id: a.quantity for a in client.additions.list(11)}
    assert sorted(before) == [5001, 5002]  # no id in the file: after its highest
    assert created.id == 5003
    assert after == {**before, 5003: Decimal(4)}


# --- bad files: exit 2, one line per problem naming the record and field -------------------------

COMPANY = {"id": 1, "identifier": "Acme", "name": "Acme Ltd"}
PRODUCT = {"id": 2, "identifier": "MBX-1", "price": 4, "cost": 1}
AGREEMENT = {"id": 3, "company": {"id": 1}}
ADDITION = {"agreementId": 3, "product": {"id": 2}}


def _file(**sections: Any) -> dict[str, Any]:
    base = {"companies": [COMPANY], "products": [PRODUCT], "agreements": [AGREEMENT]}
    return {**base, "additions": [ADDITION], **sections}


BAD_FILES = [
    pytest.param(
        _file(additions=[ADDITION, ADDITION, ADDITION, {**ADDITION, "agreementId": 999}]),
        ["additions[3].agreementId: no agreement 999"],
        id="unknown-agreement",
    ),
    pytest.param(
        _file(companies=[COMPANY, {"id": 1, "identifier": "Other", "name": "Other"}]),
        ["companies[1].id: 1 is already the id of companies[0]"],
        id="duplicate-id",
    ),
    pytest.param(
        _file(products=[PRODUCT, {**PRODUCT, "id": 4, "identifier": "mbx-1"}]),
        ['products[1].identifier: "mbx-1" is already the identifier of products[0]'],
        id="duplicate-identifier",
    ),
    pytest.param(
        _file(companies=[COMPANY, {"id": 5, "name": "No Identifier Inc"}]),
        ["companies[1].identifier: missing (a company needs id, identifier and name)"],
        id="company-without-identifier",
    ),
    pytest.param(
        {**_file(), "members": []},
        [
            "members: unknown top-level key (the keys are companies, products, agreements, "
            "additions)"
        ],
        id="unknown-top-level-key",
    ),
    pytest.param(
        _file(products=[{**PRODUCT, "price": "4.00"}], additions=[{**ADDITION, "quantity": "3"}]),
        [
            "2 problems:",
            '  products[0].price: must be a number, not "4.00"',
            '  additions[0].quantity: must be a number, not "3"',
        ],
        id="strings-for-numbers",
    ),
    pytest.param(
        _file(agreements=[{**AGREEMENT, "id": "3"}]),
        [
            "2 problems:",
            '  agreements[0].id: must be an integer, not "3"',
            "  additions[0].agreementId: no agreement 3",
        ],
        id="string-id",
    ),
    pytest.param(
        _file(additions=[{**ADDITION, "billCustomer": "Yes", "effectiveDate": "soon"}]),
        [
            "2 problems:",
            '  additions[0].billCustomer: must be one of Billable, DoNotBill, NoCharge, not "Yes"',
            "  additions[0].effectiveDate: must be a date and time such as "
            '2025-01-31T00:00:00Z, not "soon"',
        ],
        id="enum-and-datetime",
    ),
    pytest.param(
        _file(companies=[{**COMPANY, "companyName": "Acme"}]),
        ["companies[0].companyName: not a field of ConnectWise's Company"],
        id="unknown-field",
    ),
    pytest.param(
        _file(additions=[{**ADDITION, "extPrice": 40}]),
        ["additions[0].extPrice: computed by the simulator (quantity x unitPrice); leave it out"],
        id="computed-field",
    ),
    pytest.param(
        _file(agreements=[{**AGREEMENT, "company": {"id": 1, "name": "Acme"}}]),
        ['agreements[0].company.name: company 1 has name "Acme Ltd", not "Acme"'],
        id="reference-disagrees",
    ),
    pytest.param(
        _file(additions=[{**ADDITION, "product": {"identifier": "MBX-2"}}]),
        ['additions[0].product.identifier: no product with identifier "MBX-2"'],
        id="unknown-product",
    ),
    pytest.param(
        _file(companies=[{**COMPANY, "name": None}]),
        ["companies[0].name: must not be null (leave the field out for the default)"],
        id="null-where-not-nullable",
    ),
    pytest.param(
        [COMPANY],
        [
            "the file must hold a JSON object with companies, products, agreements, additions, "
            'not [{"id":1,"identifier":"Acme","name":"Acme Ltd"}]'
        ],
        id="not-an-object",
    ),
    pytest.param(
        '{"companies": [\n  {"id": 1,}\n]}',
        ["not valid JSON: Expecting property name enclosed in double quotes (line 2, column 12)"],
        id="invalid-json",
    ),
    pytest.param(
        '{"companies": [], "companies": []}',
        ["not valid JSON: the key 'companies' appears twice in one object"],
        id="duplicate-key",
    ),
    pytest.param(
        '{"products": [{"id": 2, "identifier": "X", "price": NaN}]}',
        ["not valid JSON: NaN is not a JSON number"],
        id="nan",
    ),
    pytest.param(
        # json.dumps writes it as the escape `\ud800`: half of a UTF-16 pair, not a character.
        _file(companies=[{**COMPANY, "name": "Bad \ud800 name"}]),
        [
            "companies[0].name: holds a lone surrogate (\\ud800), half of a UTF-16 pair and not a "
            "character: answers could not be written in UTF-8"
        ],
        id="lone-surrogate",
    ),
    pytest.param(
        _file(products=[{**PRODUCT, "x\udc00": 1}]),
        [
            "2 problems:",
            "  products[0].x\\udc00: the field's name holds a lone surrogate (\\udc00), half of a "
            "UTF-16 pair and not a character: answers could not be written in UTF-8",
            "  products[0].x\\udc00: not a field of ConnectWise's CatalogItem",
        ],
        id="lone-surrogate-in-a-name",
    ),
    pytest.param(
        '{"products": [{"id": 2, "identifier": "X", "price": 1e999999, "cost": -1e-13},'
        ' {"id": 3, "identifier": "Y", "price": 1.2345678901234567}]}',
        [
            "3 problems:",
            "  products[0].price: 1E+999999 is out of range: a number must be 0, or at least "
            "0.000000000001 and below 10000000000000 in size",
            "  products[0].cost: -1E-13 is out of range: a number must be 0, or at least "
            "0.000000000001 and below 10000000000000 in size",
            "  products[1].price: 1.2345678901234567 has more than 15 significant digits, which "
            "ConnectWise cannot hold",
        ],
        id="numbers-the-sdk-cannot-read",
    ),
    pytest.param(
        _file(
            products=[{**PRODUCT, "price": 9_000_000_000_000}],
            additions=[{**ADDITION, "quantity": 2}],
        ),
        [
            "additions[0]: extPrice (quantity x unitPrice) would be 18000000000000, which is out "
            "of range: a number must be 0, or at least 0.000000000001 and below 10000000000000 "
            "in size"
        ],
        id="computed-amount-out-of-range",
    ),
    pytest.param(
        "[" * 100_000,
        ["lists and objects nest more than 32 deep (a record nests a few levels)"],
        id="nested-100000-deep",
    ),
    pytest.param(
        '{"companies": [{"id": 1, "identifier": "A", "name": "A", "status": {"name": '
        + "[" * 30
        + "]" * 30
        + "}}]}",
        ["lists and objects nest more than 32 deep (a record nests a few levels)"],
        id="nested-34-deep",
    ),
    pytest.param(
        _file(
            agreements=[
                {**AGREEMENT, "startDate": "2025-01-01", "endDate": "2024-12-31T23:00:00Z"},
                {**AGREEMENT, "id": 4, "endDate": "2023-12-31"},
                {**AGREEMENT, "id": 5, "startDate": "2025-01-01", "endDate": "2025-01-01"},
            ]
        ),
        [
            "2 problems:",
            "  agreements[0].endDate: 2024-12-31T23:00:00Z is before startDate "
            "2025-01-01T00:00:00Z",
            "  agreements[1].endDate: 2023-12-31T00:00:00Z is before startDate (the default) "
            "2024-01-01T00:00:00Z",
        ],
        id="agreement-ends-before-it-starts",
    ),
    pytest.param(
        _file(
            agreements=[
                {**AGREEMENT, "agreementStatus": "Active", "cancelledFlag": True},
                {**AGREEMENT, "id": 4, "agreementStatus": "Cancelled", "cancelledFlag": False},
                {**AGREEMENT, "id": 5, "agreementStatus": "Cancelled", "cancelledFlag": True},
                {**AGREEMENT, "id": 6, "agreementStatus": "Expired", "cancelledFlag": False},
            ]
        ),
        [
            "2 problems:",
            '  agreements[0].cancelledFlag: true contradicts agreementStatus "Active" '
            '(cancelledFlag is true when, and only when, the status is "Cancelled")',
            '  agreements[1].cancelledFlag: false contradicts agreementStatus "Cancelled" '
            '(cancelledFlag is true when, and only when, the status is "Cancelled")',
        ],
        id="agreement-active-and-cancelled",
    ),
]


@pytest.mark.parametrize(("data", "said"), BAD_FILES)
def test_a_bad_file_exits_2_naming_the_record_and_field(
    tmp_path: Path, data: Any, said: list[str]
) -> None:
    path = write(tmp_path, data)
    result = subprocess.run(
        [*SERVE, "--data", str(path), "--port", "0"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert result.stdout == ""  # nothing served
    prefix = f"python -m connectwise_billing.testing serve: error: --data {path}: "
    assert result.stderr.startswith(prefix)
    assert result.stderr.removeprefix(prefix).splitlines()[: len(said)] == said
    assert "Traceback" not in result.stderr


def test_a_missing_file_exits_2(tmp_path: Path) -> None:
    result = subprocess.run(
        [*SERVE, "--data", str(tmp_path / "nowhere.json"), "--port", "0"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.endswith("nowhere.json: cannot read the file: No such file or directory\n")


def test_data_and_example_are_one_or_the_other() -> None:
    result = subprocess.run(
        [*SERVE, "--data", str(EXAMPLE_DATA), "--example", "--port", "0"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "argument --example: not allowed with argument --data" in result.stderr


def test_the_examples_size_is_refused_without_the_example() -> None:
    result = subprocess.run(
        [*SERVE, "--data", str(EXAMPLE_DATA), "--companies", "8", "--port", "0"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "--companies sizes the example: it takes --example" in result.stderr


def test_a_byte_order_mark_is_skipped(tmp_path: Path) -> None:
    """As Notepad saves UTF-8, and as usage CSVs are read."""
    path = tmp_path / "data.json"
    path.write_text("\ufeff" + json.dumps(MINIMAL), encoding="utf-8")
    with serving(path) as served:
        company = served.raw("/company/companies/1")
    assert (company["identifier"], company["name"]) == ("Acme", "Acme Ltd")


def test_a_port_in_use_exits_2_in_one_line() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [*SERVE, "--data", str(EXAMPLE_DATA), "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == (
        f"python -m connectwise_billing.testing serve: error: port {port} is in use\n"
    )


def test_a_port_out_of_range_is_a_usage_error() -> None:
    result = subprocess.run(
        [*SERVE, "--port", "65536"], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 2
    assert result.stderr.endswith("argument --port: '65536' is not a port (0 to 65535)\n")
    assert "Traceback" not in result.stderr
