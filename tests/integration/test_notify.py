"""Notifications over real HTTP, to webhooks on 127.0.0.1: one that takes them, one that
answers 500, one that never answers, one that is not there. Reports come from syncs of the
example MSP. Whatever the webhook does, the run's outcome stands and its URL is shown nowhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import threading
from collections.abc import Iterator
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from connectwise_billing import ConnectWiseClient, SyncPolicy, SyncReport, sync_all
from connectwise_billing.cli.config import NotifySettings, notify_after_run
from connectwise_billing.notify import async_notify, notification_body, notify
from connectwise_billing.testing import ExampleMSP, build_example

SECRET = "SECRET-TOKEN-123"
POLICY = SyncPolicy(api_member="CloudPanelAPI")
TODAY = date(2026, 11, 28)


class Webhook:
    """A webhook receiver on 127.0.0.1 that answers `status`, or never (`hang`)."""

    def __init__(self, status: int = 200, *, hang: bool = False) -> None:
        self.bodies: list[Any] = []
        self.paths: list[str] = []
        self.released = threading.Event()
        webhook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers["Content-Length"])
                webhook.bodies.append(json.loads(self.rfile.read(length)))
                webhook.paths.append(self.path)
                if hang:  # until the test is over: the client's timeout ends the wait
                    webhook.released.wait()
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                self.end_headers()
                self.wfile.write(b"ok" if status == 200 else b"server error")

            def log_message(self, format: str, *args: Any) -> None:
                pass  # the request line holds the secret path

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks/{SECRET}"

    @contextlib.contextmanager
    def running(self) -> Iterator[Webhook]:
        thread = threading.Thread(target=self.server.serve_forever, args=(0.01,), daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self.released.set()
            self.server.shutdown()
            self.server.server_close()
            thread.join()


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    with Webhook().running() as running:
        yield running


def a_closed_port() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/hooks/{SECRET}"


def synced(example: ExampleMSP, **kwargs: Any) -> SyncReport:
    client = ConnectWiseClient(
        "https://cw.example/v2025_1/apis/3.0",
        example.credentials,
        transport=example.fake.transport(),
    )
    with client:
        return sync_all(
            client, example.plans, example.mapping, kwargs.pop("usages", example.usages),
            POLICY, today=TODAY, **kwargs,
        )  # fmt: skip


@pytest.fixture(scope="module")
def nights() -> dict[str, SyncReport]:
    """A night that went wrong (a deleted agreement, one out of reach), a preview that would
    change something, a clean sync with changes, and one with nothing to do."""
    example = build_example(companies=6, seed=2)
    fine = [u for u in example.usages if u.agreement_id not in _unreachable(example)]
    troubled = synced(example, dry_run=True)
    preview = synced(example, usages=fine, dry_run=True)
    changed = synced(example, usages=fine)
    quiet = synced(example, usages=fine)
    assert not troubled.ok and preview.ok and preview.planned
    assert changed.ok and changed.applied and quiet.ok and not quiet.applied
    return {"troubled": troubled, "preview": preview, "changed": changed, "quiet": quiet}


def _unreachable(example: ExampleMSP) -> set[int | None]:
    hidden = {u.agreement_id for u in example.usages if u.company == example.hidden_company}
    return {example.deleted_agreement_id, example.cancelled_agreement_id, *hidden}


@pytest.mark.parametrize("format", ["json", "slack", "teams"])
def test_each_format_arrives_as_its_body(
    webhook: Webhook, nights: dict[str, SyncReport], format: Any
) -> None:
    result = notify(nights["troubled"], webhook.url, format=format)
    assert result.sent and result.status_code == 200
    [body] = webhook.bodies
    assert webhook.paths == [f"/hooks/{SECRET}"]
    assert body == notification_body(nights["troubled"], format)
    if format == "json":
        assert body["ok"] is False and body["dry_run"] is True and body["needs_a_person"]
        assert {item["kind"] for item in body["needs_a_person"]} >= {"error"}
    elif format == "slack":
        assert body["text"].startswith("Billing dry run: NOT OK")
        assert [block["type"] for block in body["blocks"]] == ["header", "section", "section"]
    else:
        [attachment] = body["attachments"]
        assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
        card = attachment["content"]
        assert (card["type"], card["version"]) == ("AdaptiveCard", "1.4") and card["body"]


@pytest.mark.parametrize(
    ("when", "sent"),
    [
        ("problems", {"troubled"}),
        ("changes", {"troubled", "preview", "changed"}),
        ("always", {"troubled", "preview", "changed", "quiet"}),
    ],
)
def test_when_picks_the_nights_that_are_told(
    webhook: Webhook, nights: dict[str, SyncReport], when: Any, sent: set[str]
) -> None:
    told = {name for name, report in nights.items() if notify(report, webhook.url, when=when).sent}
    assert told == sent
    assert len(webhook.bodies) == len(sent)


def test_the_async_twin_posts_over_http(webhook: Webhook, nights: dict[str, SyncReport]) -> None:
    result = asyncio.run(async_notify(nights["troubled"], webhook.url, format="slack"))
    assert result.sent
    assert webhook.bodies == [notification_body(nights["troubled"], "slack")]


FAILING: dict[str, Any] = {
    "answers 500": lambda: Webhook(500).running(),
    "never answers": lambda: Webhook(hang=True).running(),
    "is not there": contextlib.nullcontext,
}


@pytest.mark.parametrize("kind", list(FAILING))
@pytest.mark.parametrize("asynchronous", [False, True], ids=["sync", "async"])
def test_a_failing_webhook_is_a_warning_and_the_url_is_shown_nowhere(
    kind: str,
    asynchronous: bool,
    nights: dict[str, SyncReport],
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)  # every logger, httpx's request line too
    with FAILING[kind]() as running:
        url = running.url if running is not None else a_closed_port()
        send = async_notify if asynchronous else notify
        outcome = send(nights["troubled"], url, format="teams", timeout=0.5)
        result = asyncio.run(outcome) if asynchronous else outcome  # type: ignore[arg-type]
    assert result.failed and not result.sent
    expected = {
        "answers 500": "the webhook answered 500 Internal Server Error: server error",
        "never answers": "the webhook did not answer within 0.5 s",
        "is not there": "could not connect to the webhook: ",
    }[kind]
    assert result.reason.startswith(expected)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert [r.name for r in warnings] == ["connectwise_billing"]
    assert "notification not sent" in warnings[0].getMessage()
    out, err = capsys.readouterr()
    everything = caplog.text + out + err + repr(result) + str(result)
    assert SECRET not in everything and "/hooks/" not in everything


def test_the_request_line_httpx_logs_shows_no_url(
    webhook: Webhook, nights: dict[str, SyncReport], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    assert notify(nights["troubled"], webhook.url).sent
    [line] = [r.getMessage() for r in caplog.records if r.name == "httpx"]
    assert line.startswith('HTTP Request: POST <webhook> "HTTP/1.')
    assert SECRET not in caplog.text
    # The filter that blanks it is gone once the notification is sent.
    assert logging.getLogger("httpx").filters == []


def test_the_command_line_warns_once_and_keeps_its_outcome(
    nights: dict[str, SyncReport], capsys: pytest.CaptureFixture[str]
) -> None:
    with Webhook(500).running() as failing:
        settings = NotifySettings(failing.url, format="slack", timeout=2)
        result = notify_after_run(settings, nights["troubled"])
    assert result is not None and result.failed
    out, err = capsys.readouterr()
    assert out == ""
    assert err == (
        "connectwise-billing: warning: the notification was not sent: the webhook answered "
        "500 Internal Server Error: server error (the run's outcome and exit status are "
        "unchanged)\n"
    )
    assert SECRET not in err


def test_the_command_line_reads_the_url_from_the_environment(
    webhook: Webhook, nights: dict[str, SyncReport], capsys: pytest.CaptureFixture[str]
) -> None:
    settings = NotifySettings(url_env="BILLING_WEBHOOK_URL", when="always")
    result = notify_after_run(
        settings, nights["quiet"], environ={"BILLING_WEBHOOK_URL": webhook.url}
    )
    assert result is not None and result.sent and len(webhook.bodies) == 1
    assert capsys.readouterr() == ("", "")
    assert notify_after_run(None, nights["quiet"]) is None


@pytest.mark.parametrize(
    ("environ", "said"),
    [
        ({}, "the environment variable BILLING_WEBHOOK_URL (notify.url_env) is not set"),
        (
            {"BILLING_WEBHOOK_URL": f"hooks.example.com/{SECRET}"},
            "ConfigurationError: the webhook URL must start with https:// or http://",
        ),
    ],
)
def test_a_url_variable_that_is_missing_or_wrong_is_a_warning(
    nights: dict[str, SyncReport],
    capsys: pytest.CaptureFixture[str],
    environ: dict[str, str],
    said: str,
) -> None:
    settings = NotifySettings(url_env="BILLING_WEBHOOK_URL")
    result = notify_after_run(settings, nights["troubled"], environ=environ)
    assert result is not None and result.failed and result.reason.startswith(said)
    err = capsys.readouterr().err
    assert err.startswith(f"connectwise-billing: warning: the notification was not sent: {said}")
    assert SECRET not in err
