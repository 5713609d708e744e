"""What a sync does with answers it cannot use: the agreement fails, nothing is written there,
and the run goes on. And no secret leaks out of any error path."""

from __future__ import annotations

import json
import logging
from datetime import date
from pathlib import Path

import httpx
import pytest

from connectwise_billing import (
    AuthenticationError,
    ConnectWiseClient,
    Credentials,
    MappingError,
    PlanMapping,
    sync_all,
)
from connectwise_billing.testing import ExampleMSP, FakeConnectWise, Fault, vcr_config
from tests.integration.conftest import API_URL
from tests.integration.oracle import unreachable

TODAY = date(2026, 11, 28)


class Intercepting(httpx.BaseTransport):
    """The simulator, except for the requests `answer` answers itself."""

    def __init__(self, fake: FakeConnectWise, path: str, answer: httpx.Response) -> None:
        self.fake, self.path, self.answer = fake.transport(), path, answer

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "GET" and request.url.path.endswith(self.path):
            return httpx.Response(
                self.answer.status_code, content=self.answer.content, headers=self.answer.headers
            )
        return self.fake.handle_request(request)


def reachable(example: ExampleMSP) -> list[int]:
    return [u.agreement_id for u in example.usages if u.agreement_id not in unreachable(example)]


def writes_to(example: ExampleMSP, agreement: int) -> list[object]:
    return [w for w in example.fake.writes() if f"/agreements/{agreement}/" in w.api_path]


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(204),
        httpx.Response(200, content=b""),
        httpx.Response(200, content=b"null", headers={"content-type": "application/json"}),
        httpx.Response(200, content=b"<html><title>Login</title></html>"),
    ],
    ids=["204", "empty", "null", "html"],
)
def test_an_additions_answer_that_is_no_list_fails_only_its_agreement(
    example: ExampleMSP, answer: httpx.Response
) -> None:
    victim = reachable(example)[0]
    transport = Intercepting(example.fake, f"/agreements/{victim}/additions", answer)
    with ConnectWiseClient(API_URL, example.credentials, transport=transport) as client:
        report = sync_all(client, example.plans, example.mapping, example.usages, today=TODAY)
    [failed] = [r for r in report.agreement_reports if r.agreement_id == victim]
    assert failed.status == "error" and failed.error is not None
    assert failed.error.startswith("could not read the additions:")
    assert writes_to(example, victim) == []
    assert report.applied > 0  # the run went on


def test_a_bad_money_value_fails_its_agreement_naming_record_field_and_value(
    example: ExampleMSP,
) -> None:
    victim = next(a for a in reachable(example) if example.fake.list_additions(a))
    addition = example.fake.list_additions(victim)[0]
    example.fake.set_raw(addition.id, unitPrice="")
    with ConnectWiseClient(
        API_URL, example.credentials, transport=example.fake.transport()
    ) as client:
        report = sync_all(client, example.plans, example.mapping, example.usages, today=TODAY)
    [failed] = [r for r in report.agreement_reports if r.agreement_id == victim]
    assert failed.error is not None
    assert (
        f"addition {addition.id} on agreement {victim}: unitPrice '' is not a number"
        in failed.error
    )
    assert writes_to(example, victim) == []
    assert report.applied > 0


def test_a_bad_agreement_record_fails_only_that_agreement(example: ExampleMSP) -> None:
    victim = reachable(example)[1]
    agreement = example.fake.agreement_record(victim)
    assert agreement is not None
    agreement["cancelledFlag"] = "no"  # as a buggy proxy might send it
    example.fake.off_contract = True
    with ConnectWiseClient(
        API_URL, example.credentials, transport=example.fake.transport()
    ) as client:
        report = sync_all(client, example.plans, example.mapping, example.usages, today=TODAY)
    [failed] = [r for r in report.agreement_reports if r.agreement_id == victim]
    assert failed.error is not None
    assert f"agreement {victim}: cancelledFlag 'no' is not true or false" in failed.error
    others = [r for r in report.agreement_reports if r.status == "synced"]
    assert len(others) == len(reachable(example)) - 1  # all but the victim


def test_a_mapping_naming_a_plan_that_is_not_sold_fails_before_any_request(
    example: ExampleMSP,
) -> None:
    mapping = PlanMapping({**example.mapping, "gold-5O": 9999})
    with (
        ConnectWiseClient(
            API_URL, example.credentials, transport=example.fake.transport()
        ) as client,
        pytest.raises(MappingError, match="names plan 'gold-5O'"),
    ):
        sync_all(client, example.plans, mapping, example.usages, today=TODAY)
    assert example.fake.request_log == []


# --- leaks ------------------------------------------------------------------------------

CANARY_KEY = "pK-LEAK-CANARY-0d15ea5e"
CANARY_CLIENT = "c1d-LEAK-CANARY-feedface"


def test_no_secret_leaks_from_any_error_path(
    example: ExampleMSP, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A distinctive key, every error path a sync can meet, and a grep of everything."""
    import vcr

    fake = example.fake
    credentials = fake.add_api_member(
        "canarypublic", CANARY_KEY, identifier="CloudPanelAPI", client_id=CANARY_CLIENT
    )
    secrets = (*credentials.secrets(), CANARY_KEY, CANARY_CLIENT)
    ids = reachable(example)
    faults = [
        (Fault.echo_headers(502), "GET", f"/agreements/{ids[0]}/additions$", None),
        (Fault.echo_headers(400), "POST", f"/agreements/{ids[1]}/additions$", None),
        (Fault.echo_headers(400), "PATCH", f"/agreements/{ids[2]}/additions/", None),
        (Fault.server_error(500), "GET", f"/agreements/{ids[3]}/additions$", None),
        (Fault.timeout(), "POST", f"/agreements/{ids[4]}/", 1),
        (Fault.redirect(302), "GET", f"/agreements/{ids[5]}/additions$", None),
        (Fault.html_page(503), "PATCH", f"/agreements/{ids[6]}/", 1),
        (Fault.duplicate_record(), "GET", f"/agreements/{ids[7]}/additions$", None),
    ]
    for fault, method, path, times in faults:
        fake.faults.add(fault, method=method, path=path, times=times)
    poisoned = next(a for a in ids[8:] if fake.list_additions(a))
    fake.set_raw(fake.list_additions(poisoned)[0].id, unitPrice=credentials.authorization_header())

    audit = tmp_path / "audit.jsonl"
    cassette = tmp_path / "run.yaml"
    recorder = vcr.VCR(**vcr_config(credentials), record_mode="all")
    texts: list[str] = []
    with (
        caplog.at_level(logging.DEBUG),
        fake.serve() as url,
        recorder.use_cassette(str(cassette)),
        ConnectWiseClient(url, credentials) as client,
    ):
        report = sync_all(
            client, example.plans, example.mapping, example.usages, today=TODAY, audit_log=audit
        )
        texts += [repr(client), str(client)]
        wrong = Credentials(credentials.company_id, "canarypublic", "wrong-key", CANARY_CLIENT)
        with ConnectWiseClient(url, wrong) as refused, pytest.raises(AuthenticationError) as denied:
            refused.companies.list()
        texts += [str(denied.value), repr(denied.value)]

    failures = [r for r in report.agreement_reports if not r.ok]
    assert len(failures) >= 8  # every path above was met
    # Our log records, and httpx's and httpcore's (vcr's are the test tool's own).
    logs = "\n".join(
        record.getMessage()
        for record in caplog.records
        if record.name.split(".")[0] in ("connectwise_billing", "httpx", "httpcore")
    )
    texts += [report.summary(), json.dumps(report.to_dict()), audit.read_text(), logs]
    texts += [cassette.read_text()]
    texts += [repr(r) for agreement in report.agreement_reports for r in agreement.results]
    # Not a secret, and not a part of one that a cut-short message might show.
    parts = {secret[i : i + 12] for secret in secrets for i in range(len(secret) - 11)}
    found = [(part, text[:80]) for text in texts for part in parts if part in text]
    assert found == []
    assert "authorization: Basic ***" in report.summary()  # an echo was there, and blanked
    assert "unitPrice 'Basic ***' is not a number" in report.summary()
