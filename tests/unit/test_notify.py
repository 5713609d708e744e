"""Notifications without a network: each format's body, the `when` rules, the checks of the
arguments and of the `[notify]` section, and the webhook URL kept out of every message."""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from connectwise_billing.backend import AgreementCandidate
from connectwise_billing.cli._config import (
    ConfigFileError,
    NotifySettings,
    load_config,
    notify_after_run,
)
from connectwise_billing.errors import ConfigurationError, InputError
from connectwise_billing.notifications import (
    NotifyResult,
    async_notify,
    check_webhook_url,
    notification_body,
    notify,
)
from connectwise_billing.reconcile import BillingCheck, BillingProblem, CreateAddition
from connectwise_billing.runner import AgreementReport, CompanyReport, OperationResult, SyncReport

SECRET = "SECRET-TOKEN-123"
URL = f"https://hooks.example.com/hooks/{SECRET}"
NASTY = "<b>*bold*</b> & co"
STARTED = datetime(2026, 11, 28, 2, 0, tzinfo=UTC)


def operation(agreement_id: int = 1001, plan_id: str = "gold-50") -> CreateAddition:
    return CreateAddition(
        agreement_id, plan_id, "Gold 50 GB", 1043, Decimal(2), Decimal("8.00"),
        Decimal("3.25"), date(2026, 11, 28),
    )  # fmt: skip


def billed(mrr: str = "16.00") -> BillingCheck:
    return BillingCheck((), Decimal(mrr), Decimal("6.50"))


def synced(
    agreement_id: int = 1001, company: str = "Contoso Ltd", status: Any = "applied"
) -> AgreementReport:
    result = OperationResult(operation(agreement_id), status)
    return AgreementReport(
        agreement_id, company, "planned" if status == "planned" else "synced",
        results=(result,), billing=billed(),
    )  # fmt: skip


def in_step(agreement_id: int = 1001) -> AgreementReport:
    return AgreementReport(agreement_id, "Contoso Ltd", "synced", billing=billed())


def run(*agreements: AgreementReport, **kwargs: Any) -> SyncReport:
    company = CompanyReport("many", tuple(agreements), dry_run=kwargs.get("dry_run", False))
    return SyncReport((company,), STARTED, **kwargs)


def troubled() -> SyncReport:
    """A night that went wrong in every way a person must look at."""
    failed = OperationResult(operation(1002), "failed", error="ConnectWise answered 400")
    held = OperationResult(
        operation(1003), "held", rule="max_mrr_drop_percent", error="MRR would drop 60%"
    )
    return run(
        synced(1001),
        AgreementReport(1002, "Fabrikam", "synced", results=(failed,)),
        AgreementReport(1003, "Northwind", "synced", results=(held,), billing=billed()),
        AgreementReport(1004, NASTY, "error", error="agreement not found"),
        AgreementReport(1005, "Tailspin", "busy", error="another sync holds it"),
        AgreementReport(1006, "Litware", "error", error="no access"),
        AgreementReport(1007, "Wingtip", "error", error="no access"),
    )


def test_the_json_body_summarises_with_exact_amounts() -> None:
    body = notification_body(troubled(), "json")
    assert json.loads(json.dumps(body)) == body
    assert body["ok"] is False and body["verdict"] == "not_ok" and body["dry_run"] is False
    assert body["title"] == "Sync of 1 company (7 agreements)"
    assert body["started_at"] == "2026-11-28T02:00:00+00:00"
    assert body["counts"] == {
        "agreements": 7, "applied": 1, "planned": 0, "failed": 1, "conflicts": 0,
        "unknown": 0, "held": 1, "busy": 1, "stale": 0, "errors": 3, "not_reached": 0,
        "billing_problems": 0,
    }  # fmt: skip
    assert (body["mrr_before"], body["mrr_after"], body["mrr_change"]) == ("0", "32.00", "32.00")
    first = body["needs_a_person"]
    # What guardrails held comes first, as in the command line's summary; then the first 5.
    assert [(item["agreement_id"], item["kind"]) for item in first] == [
        (1003, "held"), (1002, "failed"), (1002, "unconfirmed"), (1004, "error"), (1005, "busy"),
    ]  # fmt: skip
    assert first[0]["reason"] == "by max_mrr_drop_percent: MRR would drop 60%"
    assert first[1]["reason"] == "create gold-50: ConnectWise answered 400"
    assert first[3]["company"] == NASTY  # JSON carries names as they are
    assert body["needs_a_person_more"] == 2


def test_the_slack_body_has_a_fallback_text_and_blocks_and_escapes_the_report() -> None:
    body = notification_body(troubled(), "slack")
    assert set(body) == {"text", "blocks"}
    assert body["text"].startswith("Billing sync: NOT OK: Sync of 1 company (7 agreements)")
    header, facts, people = body["blocks"]
    assert header["type"] == "header" and header["text"]["type"] == "plain_text"
    assert "NOT OK" in header["text"]["text"]
    for section in (facts, people):
        assert section["type"] == "section"
        assert section["text"]["type"] == "mrkdwn" and section["text"]["verbatim"] is True
    assert facts["text"]["text"] == (
        "*Sync of 1 company (7 agreements)*\n*Operations:* 1 applied, 1 failed, 1 held\n"
        "*Agreements:* 7, 3 errors, 1 busy\n*MRR:* 0.00 -> 32.00 (+32.00)"
    )
    lines = people["text"]["text"].splitlines()
    assert lines[0] == "*Needs a person*" and lines[-1] == "_and 2 more_"
    assert "&lt;b&gt;*bold*&lt;/b&gt; &amp; co" in people["text"]["text"]
    assert "<b>" not in json.dumps(body) and " & co" not in json.dumps(body)


def test_a_company_name_cannot_ping_a_slack_channel() -> None:
    body = notification_body(
        run(AgreementReport(1, "<!channel> <@U123|boss>", "error", error="<https://x|click>")),
        "slack",
    )
    text = json.dumps(body)
    assert "<!channel>" not in text and "<@U123" not in text and "<https://x" not in text
    assert "&lt;!channel&gt;" in text


def test_the_teams_body_is_an_adaptive_card_whose_report_texts_are_not_markdown() -> None:
    body = notification_body(troubled(), "teams")
    assert body["type"] == "message"
    [attachment] = body["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = attachment["content"]
    assert (card["type"], card["version"]) == ("AdaptiveCard", "1.4")
    assert card["$schema"] == "http://adaptivecards.io/schemas/adaptive-card.json"
    heading, title, facts, *rest = card["body"]
    assert heading == {
        "type": "TextBlock", "text": "Billing sync: NOT OK", "size": "Large",
        "weight": "Bolder", "color": "Attention", "wrap": True,
    }  # fmt: skip
    assert title["type"] == "RichTextBlock"
    assert facts["facts"] == [
        {"title": "Operations", "value": "1 applied, 1 failed, 1 held"},
        {"title": "Agreements", "value": "7, 3 errors, 1 busy"},
        {"title": "MRR", "value": "0.00 -> 32.00 (+32.00)"},
    ]
    # Texts the report gives are TextRuns, which Teams shows as written (no Markdown, no links).
    text_blocks = [block["text"] for block in card["body"] if block["type"] == "TextBlock"]
    assert not any(NASTY in text for text in text_blocks)
    runs = [
        run["text"]
        for block in rest
        if block["type"] == "RichTextBlock"
        for run in block["inlines"]
    ]
    assert f"agreement 1004 ({NASTY}): agreement not found" in runs
    assert rest[-1]["text"] == "and 2 more"


def test_a_dry_run_that_would_change_something_says_so() -> None:
    body = notification_body(run(synced(status="planned"), dry_run=True), "json")
    assert body["ok"] is True and body["verdict"] == "ok" and body["dry_run"] is True
    assert body["title"].startswith("Dry run of")
    assert body["counts"]["planned"] == 1 and body["needs_a_person"] == []
    slack = notification_body(run(synced(status="planned"), dry_run=True), "slack")
    assert slack["text"].startswith("Billing dry run: OK")
    assert len(slack["blocks"]) == 2  # nothing needs a person


def test_a_stopped_run_says_why() -> None:
    report = run(synced(), stopped="ConnectWise could not be reached")
    body = notification_body(report, "json")
    assert (body["verdict"], body["stopped"]) == ("stopped", "ConnectWise could not be reached")
    assert "*Stopped:* ConnectWise could not be reached" in json.dumps(
        notification_body(report, "slack")
    )


def test_a_closed_agreement_still_in_use_and_a_lost_one_say_what_to_link_instead() -> None:
    not_billed = BillingProblem(
        "not_billed", "gold-50", "Gold 50 GB", 1043, (), "plan Gold 50 GB: not billed",
        Decimal("16.00"),
    )  # fmt: skip
    closed = AgreementReport(
        1001, "Contoso Ltd", "skipped", warnings=("the agreement is cancelled in ConnectWise",),
        billing=BillingCheck((not_billed,), Decimal(0), Decimal(0)),
        candidates=(AgreementCandidate(2001, "Email Hosting"), AgreementCandidate(2002, None)),
    )  # fmt: skip
    gone = AgreementReport(
        1002, "Fabrikam", "error", error="agreement not found",
        candidates=(AgreementCandidate(2003, "Managed Services"),),
    )  # fmt: skip
    quiet = AgreementReport(1003, "Northwind", "skipped", warnings=("the agreement ended",))
    body = notification_body(run(closed, gone, quiet), "json")
    assert [(i["agreement_id"], i["kind"], i["reason"]) for i in body["needs_a_person"]] == [
        (
            1001,
            "skipped",
            'the agreement is cancelled in ConnectWise (link instead? agreement 2001 "Email '
            'Hosting" or 2002)',
        ),
        (1001, "not_billed", "plan Gold 50 GB: not billed"),
        (1002, "error", 'agreement not found (link instead? agreement 2003 "Managed Services")'),
    ]  # a closed agreement without seats in use needs no one


def test_a_long_company_name_is_cut_so_slack_takes_the_message() -> None:
    name = "Contoso " * 200
    reports = [AgreementReport(1000 + n, name, "error", error="x" * 1000) for n in range(10)]
    for body in (
        notification_body(run(*reports), "slack"),
        notification_body(CompanyReport(name, tuple(reports)), "slack"),
    ):
        # Slack refuses a message with a section text over 3,000 characters.
        assert all(len(block["text"]["text"]) <= 3000 for block in body["blocks"])
        assert "Contoso Contoso" in json.dumps(body)
    # JSON takes the name as it is.
    assert notification_body(run(*reports), "json")["needs_a_person"][0]["company"] == name


def test_a_company_report_is_summarised_too() -> None:
    company = CompanyReport("Contoso Ltd", (synced(),))
    body = notification_body(company, "json")
    assert body["title"] == "Sync of Contoso Ltd (1 agreement)" and body["started_at"] is None


def sent_to(handler_log: list[httpx.Request]) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        handler_log.append(request)
        return httpx.Response(200, text="ok")

    return httpx.MockTransport(handler)


REPORTS = {
    "not ok": lambda: troubled(),
    "applied": lambda: run(synced()),
    "planned": lambda: run(synced(status="planned"), dry_run=True),
    "in step": lambda: run(in_step()),
}


@pytest.mark.parametrize(
    ("when", "report", "due"),
    [
        ("problems", "not ok", True),
        ("problems", "applied", False),
        ("problems", "planned", False),
        ("problems", "in step", False),
        ("changes", "not ok", True),
        ("changes", "applied", True),
        ("changes", "planned", True),
        ("changes", "in step", False),
        ("always", "not ok", True),
        ("always", "in step", True),
    ],
)
def test_when_decides_whether_anything_is_sent(when: Any, report: str, due: bool) -> None:
    requests: list[httpx.Request] = []
    result = notify(REPORTS[report](), URL, when=when, transport=sent_to(requests))
    assert (result.status, len(requests)) == (("sent", 1) if due else ("skipped", 0))
    if not due:
        assert f"when='{when}'" in result.reason


def test_the_body_is_posted_as_json_to_the_url() -> None:
    requests: list[httpx.Request] = []
    result = notify(troubled(), URL, format="slack", transport=sent_to(requests))
    assert result == NotifyResult("sent", "the webhook answered 200 OK", 200)
    assert result.sent and not result.failed
    [request] = requests
    assert (request.method, str(request.url)) == ("POST", URL)
    assert request.headers["content-type"] == "application/json"
    assert json.loads(request.content) == notification_body(troubled(), "slack")


def test_the_async_twin_posts_the_same_body() -> None:
    requests: list[httpx.Request] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return httpx.Response(202)

    result = asyncio.run(
        async_notify(troubled(), URL, format="teams", transport=httpx.MockTransport(handler))
    )
    assert (result.status, result.status_code) == ("sent", 202)
    assert json.loads(requests[0].content) == notification_body(troubled(), "teams")


def test_a_given_client_is_used_and_left_open() -> None:
    requests: list[httpx.Request] = []
    with httpx.Client(transport=sent_to(requests)) as client:
        assert notify(troubled(), URL, http_client=client).sent
        assert not client.is_closed
    assert len(requests) == 1


def test_an_error_answer_is_a_failed_result_that_quotes_the_answer_without_the_url(
    caplog: pytest.LogCaptureFixture,
) -> None:
    echo = httpx.MockTransport(
        lambda r: httpx.Response(404, text=f"no hook at {r.url}, nor at {r.url.path}")
    )
    result = notify(troubled(), URL, transport=echo)
    assert (result.status, result.status_code) == ("failed", 404)
    assert result.reason == (
        "the webhook answered 404 Not Found: no hook at <webhook>, nor at <webhook>"
    )
    assert SECRET not in repr(result) + str(result) + caplog.text
    [record] = [r for r in caplog.records if r.name == "connectwise_billing"]
    assert record.levelname == "WARNING" and "notification not sent" in record.getMessage()


@pytest.mark.parametrize(
    ("format", "when", "timeout", "message"),
    [
        ("markdown", "problems", 10.0, "format must be one of slack, teams, json, got 'markdown'"),
        (
            "json",
            "sometimes",
            10.0,
            "when must be one of problems, changes, always, got 'sometimes'",
        ),
        ("json", "problems", 0, "timeout must be seconds > 0, got 0"),
        ("json", "problems", float("nan"), "timeout must be seconds > 0, got nan"),
    ],
)
def test_unknown_settings_are_named(format: Any, when: Any, timeout: Any, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        notify(troubled(), URL, format=format, when=when, timeout=timeout)


def test_something_that_is_not_a_report_is_refused() -> None:
    with pytest.raises(InputError, match="report must be a SyncReport or CompanyReport, got dict"):
        notify({"ok": False}, URL)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "url",
    [
        f"ftp://hooks.example.com/{SECRET}",
        f"hooks.example.com/{SECRET}",
        f"https:///{SECRET}",
        f"https://hooks.example.com/{SECRET} x",
        f"https://hooks.example.com:99999/{SECRET}",
        f"https://xn--zz.example/{SECRET}",
        f"https://{'a' * 64}.example/{SECRET}",
        f"https://hooks..example/{SECRET}",
        "",
        None,
    ],
)
def test_a_url_that_is_not_http_is_refused_without_showing_it(url: Any) -> None:
    def sent(request: httpx.Request) -> httpx.Response:
        raise AssertionError("a URL that is refused is not sent to")

    with pytest.raises(ConfigurationError) as raised:
        notify(troubled(), url, transport=httpx.MockTransport(sent))
    assert "webhook URL" in str(raised.value)
    assert SECRET not in str(raised.value) + repr(raised.value)
    # No chained error (httpx's, which quotes the URL) comes with it.
    error = raised.value
    assert error.__cause__ is None and (error.__context__ is None or error.__suppress_context__)


def test_a_good_url_is_given_back_stripped() -> None:
    assert check_webhook_url(f"  {URL}\n") == URL


def config(tmp_path: Path, notify_section: str) -> Path:
    path = tmp_path / "billing.toml"
    path.write_text(
        notify_section + "[connectwise]\n"
        'base_url = "https://api-na.myconnectwise.net/v2025_1/apis/3.0"\n'
        'company_id = "mymsp"\n'
        'client_id = "6a3e8d2c-41f7-4a57-9a64-0d8f4b1f2e77"\n'
        '[plans]\ngold-50 = { name = "Gold 50 GB", cost = 3.25, price = 8.00 }\n'
        "[mapping]\ngold-50 = 1043\n"
    )
    return path


def test_the_notify_section_is_read_and_its_url_not_shown(tmp_path: Path) -> None:
    loaded = load_config(
        config(
            tmp_path,
            f'[notify]\nurl = "{URL}"\nformat = "teams"\nwhen = "changes"\ntimeout = 2.5\n',
        )
    )
    assert loaded.notify == NotifySettings(URL, None, "teams", "changes", 2.5)
    for shown in (repr(loaded), str(loaded), repr(loaded.notify)):
        assert SECRET not in shown and "url='***'" in shown


def test_without_a_notify_section_nothing_is_told(tmp_path: Path) -> None:
    assert load_config(config(tmp_path, "")).notify is None


def test_the_notify_defaults(tmp_path: Path) -> None:
    loaded = load_config(config(tmp_path, '[notify]\nurl_env = "BILLING_WEBHOOK_URL"\n'))
    assert loaded.notify == NotifySettings(None, "BILLING_WEBHOOK_URL", "json", "problems", 10.0)
    assert "url=None" in repr(loaded.notify)


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ('format = "slack"', "notify.url: set either url"),
        (f'url = "{URL}"\nurl_env = "HOOK"', "notify.url: set either url"),
        (f'url = "ftp://x/{SECRET}"', "notify.url: the webhook URL must start with https://"),
        ("url = 7", "notify.url: the webhook URL is empty or not text"),
        (
            'url_env = "HOOK"\nformat = "discord"',
            "notify.format: must be one of slack, teams, json, got 'discord'",
        ),
        (
            'url_env = "HOOK"\nwhen = "never"',
            "notify.when: must be one of problems, changes, always, got 'never'",
        ),
        ('url_env = "HOOK"\ntimeout = 0', "notify.timeout: must be seconds > 0, got 0"),
        ('url_env = "HOOK"\ntimeout = inf', "notify.timeout: must be seconds > 0, got Infinity"),
        ('url_env = "HOOK"\ntimeout = true', "notify.timeout: must be seconds > 0, got True"),
        ('url_env = "HOOK"\nchannel = "#billing"', "notify.channel: unknown setting"),
        ('url_env = ""', "notify.url_env: must be the name of an environment variable"),
    ],
)
def test_a_wrong_notify_setting_is_named(tmp_path: Path, section: str, message: str) -> None:
    with pytest.raises(ConfigFileError, match=message) as raised:
        load_config(config(tmp_path, f"[notify]\n{section}\n"))
    assert SECRET not in str(raised.value)


def test_notify_must_be_a_table(tmp_path: Path) -> None:
    with pytest.raises(ConfigFileError, match="notify: must be a table"):
        load_config(config(tmp_path, f'notify = "{URL}"\n'))


# --- a URL put where a variable's name goes ----------------------------------------------------

SLACK = "https://hooks.slack.com/services/T0000/B0000/XXXX"


@pytest.mark.parametrize(
    ("value", "a_url"),
    [
        (f'"{SLACK}"', True),
        ('"hooks.slack.com/services/T0000/B0000/XXXX"', True),
        (f'"  {URL}  "', True),
        ('"BILLING-WEBHOOK/XXXX"', False),
        ('"1XXXX"', False),
        ('"BILLING WEBHOOK XXXX"', False),
        ('"BILLING_WEBHOOK_ÜXXXX"', False),
        ('["XXXX"]', False),
        ('""', False),
    ],
)
def test_url_env_must_be_a_variables_name_and_is_not_shown(
    tmp_path: Path, value: str, a_url: bool
) -> None:
    with pytest.raises(ConfigFileError) as raised:
        load_config(config(tmp_path, f"[notify]\nurl_env = {value}\n"))
    message = str(raised.value)
    assert "notify.url_env: must be the name of an environment variable" in message
    assert ("It looks like a URL: the webhook's URL goes in url" in message) is a_url
    for secret in ("XXXX", "T0000", "B0000", SECRET, "hooks.", "https://"):
        assert secret not in message + repr(raised.value)


def test_a_variables_name_is_taken(tmp_path: Path) -> None:
    loaded = load_config(config(tmp_path, '[notify]\nurl_env = " _Billing_Hook2 "\n'))
    assert loaded.notify is not None and loaded.notify.url_env == "_Billing_Hook2"
    assert "url_env='_Billing_Hook2'" in repr(loaded.notify)


def test_a_url_in_url_env_given_in_python_is_shown_nowhere(
    capsys: pytest.CaptureFixture[str],
) -> None:
    settings = NotifySettings(url_env=SLACK)
    assert "XXXX" not in repr(settings) and "url_env='***'" in repr(settings)
    result = notify_after_run(settings, troubled(), environ={SLACK: URL})
    assert result is not None and result.failed
    err = capsys.readouterr().err
    assert "notify.url_env is not the name of an environment variable" in err
    assert "XXXX" not in err + repr(result) and SECRET not in err + repr(result)


# --- short secrets that the webhook's answer echoes -------------------------------------------

SHORT = "https://hooks.example.com/services/T01/B2/x9?sig=QS3&sv=1.0"
"""A URL whose secret parts are short: each of them is blanked all the same."""
SHORT_PARTS = ("/services", "T01", "B2", "x9", "sig=", "QS3", "sv=1.0")


def echo(request: httpx.Request) -> httpx.Response:
    url = request.url
    said = [
        f"echo path {url.path}?{url.query.decode()}",
        *url.path.split("/"),
        *(pair.split("=")[1] for pair in url.query.decode().split("&")),
        "encoded " + str(url).replace("/", "%2f").replace("=", "%3D"),
        f"shouted {url.path.upper()}",
    ]
    phrase = f"nope {url.path}".encode()
    return httpx.Response(500, text=" | ".join(said), extensions={"reason_phrase": phrase})


@pytest.mark.parametrize("asynchronous", [False, True], ids=["sync", "async"])
def test_short_parts_of_the_url_echoed_by_the_webhook_are_blanked(
    asynchronous: bool, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    if asynchronous:

        async def handler(request: httpx.Request) -> httpx.Response:
            return echo(request)

        result = asyncio.run(
            async_notify(troubled(), SHORT, transport=httpx.MockTransport(handler))
        )
    else:
        result = notify(troubled(), SHORT, transport=httpx.MockTransport(echo))
    assert result.failed and result.status_code == 500
    assert result.reason.startswith("the webhook answered 500 nope <webhook>: echo path <webhook>")
    everything = result.reason + caplog.text
    for part in SHORT_PARTS:
        assert part not in everything, part
    assert "qs3" not in everything.lower() and "t01" not in everything.lower()


def test_an_answer_cut_at_the_read_limit_shows_no_start_of_a_part() -> None:
    # 4,096 bytes are read: the answer stops within the echoed path, whose end (which would
    # blank it) is not read.
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(500, text=" " * 4089 + "at /services/T01/B2/x9 and more")

    result = notify(troubled(), SHORT, transport=httpx.MockTransport(handler))
    assert result.reason == "the webhook answered 500 Internal Server Error: at"
