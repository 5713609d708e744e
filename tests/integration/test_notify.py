"""Notifications over real HTTP, to webhooks on 127.0.0.1: one that takes them, one that
answers 500, one that never answers, one that is not there. Reports come from syncs of the
example MSP, and from the command line run against it served over HTTP. Whatever the webhook
does, the run's outcome and exit status stand, and its URL is shown nowhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Self

import attrs
import pytest

from connectwise_billing import ConnectWiseClient, SyncPolicy, SyncReport, sync_all
from connectwise_billing.cli import main
from connectwise_billing.cli._config import NotifySettings, load_config, notify_after_run
from connectwise_billing.errors import AuditLogError, ConfigurationError
from connectwise_billing.notifications import (
    NotifyResult,
    async_notify,
    notification_body,
    notify,
)
from connectwise_billing.testing import ExampleMSP, build_example

SECRET = "SECRET-TOKEN-123"
POLICY = SyncPolicy(api_member="CloudPanelAPI")
TODAY = date(2026, 11, 28)


HANG = 5.0
"""Seconds a webhook that never answers holds a request at most: a client that does not keep
its timeout fails a test (with no answer but a closed connection) instead of hanging it."""


class Served:
    """A receiver on 127.0.0.1 served from a thread while `running()`; `released` lets the
    answers a test holds back go at the end."""

    server: ThreadingHTTPServer
    released: threading.Event

    @contextlib.contextmanager
    def running(self) -> Iterator[Self]:
        thread = threading.Thread(target=self.server.serve_forever, args=(0.01,), daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self.released.set()
            self.server.shutdown()
            self.server.server_close()
            thread.join()


class Webhook(Served):
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
                    webhook.released.wait(HANG)
                    return  # to a client long gone: no answer
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                self.end_headers()
                self.wfile.write(b"ok" if status == 200 else b"server error")

            def log_message(self, format: str, *args: Any) -> None:
                pass  # the request line holds the secret path

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks/{SECRET}"


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


def send(asynchronous: bool, report: SyncReport, url: str, **kwargs: Any) -> NotifyResult:
    """`notify`, or `async_notify` run to its end."""
    if asynchronous:
        return asyncio.run(async_notify(report, url, **kwargs))
    return notify(report, url, **kwargs)


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
        result = send(asynchronous, nights["troubled"], url, format="teams", timeout=0.5)
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
        ({}, "the environment variable BILLING_WEBHOOK_URL (notify.url_env) is not set or empty"),
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


# --- through the command line, against the simulator served over HTTP --------------------------

EXAMPLE_CONFIG = Path(__file__).resolve().parents[2] / "examples" / "config.toml"


@contextlib.contextmanager
def served(
    where: Path, monkeypatch: pytest.MonkeyPatch, notify_section: str = "", *, troubled: bool = True
) -> Iterator[tuple[Path, Path]]:
    """A fresh example MSP served on 127.0.0.1 (so that runs compared start alike), the
    example configuration pointed at it with `notify_section`, a usage file (with the deleted
    and the out-of-reach agreements when `troubled`: exit status 1), the keys in the
    environment. Yields the configuration and the usage file."""
    example = build_example(companies=6, seed=2)
    unreachable = _unreachable(example)
    usages = [u for u in example.usages if troubled or u.agreement_id not in unreachable]
    where.mkdir()
    usage = where / "usage.json"
    usage.write_text(
        json.dumps(
            [
                {"company": u.company, "agreement_id": u.agreement_id, "seats": dict(u.seats)}
                for u in usages
            ]
        )
    )
    monkeypatch.setenv("CW_PUBLIC_KEY", example.credentials.public_key)
    monkeypatch.setenv("CW_PRIVATE_KEY", example.credentials.private_key)
    with example.fake.serve_site() as site:
        config = where / "config.toml"
        text = EXAMPLE_CONFIG.read_text().replace("http://127.0.0.1:8089", site)
        config.write_text(text + notify_section)
        yield config, usage


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """The command line's entry point, in this process; its exit status, stdout and stderr."""
    status = main(list(args))
    out, err = capsys.readouterr()
    return status, out, err


def section(url: str | None, *, when: str = "problems", format: str = "json") -> str:
    """A `[notify]` section: the URL in the file, or (`None`) in BILLING_WEBHOOK_URL."""
    where = f'url = "{url}"' if url else 'url_env = "BILLING_WEBHOOK_URL"'
    return f'\n[notify]\n{where}\nformat = "{format}"\nwhen = "{when}"\ntimeout = 0.5\n'


WARNING = "connectwise-billing: warning: the notification was not sent: "
UNCHANGED = " (the run's outcome and exit status are unchanged)"
FAILED_BECAUSE = {
    "answers 500": "the webhook answered 500 Internal Server Error: server error",
    "never answers": "the webhook did not answer within 0.5 s",
    "is not there": "could not connect to the webhook: [Errno 111] Connection refused",
}


@pytest.mark.parametrize("kind", list(FAILING))
def test_through_the_cli_a_failing_webhook_is_one_warning_and_the_same_exit_status(
    kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # A clean sync (exit status 0), told as `always` says: any error the webhook let through
    # would change the exit status.
    with served(tmp_path / "without", monkeypatch, troubled=False) as (config, usage):
        expected, _, quiet = cli(capsys, "sync", "--config", str(config), "--usage", str(usage))
    assert (expected, quiet) == (0, "")
    with FAILING[kind]() as running:
        url = running.url if running is not None else a_closed_port()
        notify_section = section(url, when="always")
        with served(tmp_path / "with", monkeypatch, notify_section, troubled=False) as files:
            config, usage = files
            started = time.monotonic()
            status, out, err = cli(capsys, "sync", "--config", str(config), "--usage", str(usage))
            took = time.monotonic() - started
    assert status == expected
    assert out.splitlines()[-1] == "  OK"
    assert took < HANG  # the webhook's timeout of 0.5 s ended the wait
    assert err == f"{WARNING}{FAILED_BECAUSE[kind]}{UNCHANGED}\n"
    assert SECRET not in out + err
    if running is not None:  # it was sent, once, and not retried
        assert len(running.bodies) == 1


@pytest.mark.parametrize("kind", ["takes it", *FAILING])
@pytest.mark.parametrize("source", ["url", "url_env"])
def test_through_the_cli_the_url_is_nowhere_to_be_seen(
    kind: str,
    source: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)  # every logger: httpx's and httpcore's too
    receiver = Webhook().running() if kind == "takes it" else FAILING[kind]()
    html = tmp_path / "report.html"
    with receiver as running:
        url = running.url if running is not None else a_closed_port()
        monkeypatch.setenv("BILLING_WEBHOOK_URL", url)
        notify_section = section(url if source == "url" else None, when="always")
        with served(tmp_path / "run", monkeypatch, notify_section) as (config, usage):
            # -vv: every log line of the run on stderr, the requests too.
            status, out, err = cli(
                capsys, "-vv", "sync", "--config", str(config), "--usage", str(usage),
                "--json", "--html", str(html),
            )  # fmt: skip
            loaded = load_config(config)
    assert status == 1
    report = json.loads(out)  # stdout is the report's JSON, and only that
    assert report["ok"] is False
    if kind in ("takes it", "answers 500"):  # httpx logs the request line once answered
        assert 'HTTP Request: POST <webhook> "HTTP/1.' in caplog.text
    assert (WARNING in err) == (kind != "takes it")
    seen = [out, err, caplog.text, json.dumps(report), html.read_text(), repr(loaded), str(loaded)]
    for text in seen:
        assert SECRET not in text and "/hooks/" not in text


@pytest.mark.parametrize("format", ["json", "slack", "teams"])
def test_through_the_cli_the_webhook_gets_the_runs_summary(
    format: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with Webhook().running() as webhook:
        monkeypatch.setenv("BILLING_WEBHOOK_URL", webhook.url)
        notify_section = section(None, format=format)
        with served(tmp_path / "run", monkeypatch, notify_section) as (config, usage):
            status, out, err = cli(
                capsys, "sync", "--config", str(config), "--usage", str(usage), "--json"
            )
    assert (status, err) == (1, "")
    report = json.loads(out)
    [body] = webhook.bodies
    assert webhook.paths == [f"/hooks/{SECRET}"]
    before, after = Decimal(report["mrr_before"]), Decimal(report["mrr_after"])
    assert after != before
    if format == "json":
        assert (body["ok"], body["verdict"], body["dry_run"]) == (False, "not_ok", False)
        assert body["title"] == "Sync of 6 companies (6 agreements)"
        for count in ("applied", "planned", "failed", "held", "busy", "billing_problems"):
            assert body["counts"][count] == report[count], count
        assert body["mrr_before"] == report["mrr_before"]
        assert body["mrr_after"] == report["mrr_after"]
        assert Decimal(body["mrr_change"]) == after - before
        agreements = [a for company in report["companies"] for a in company["agreements"]]
        failing = {a["agreement_id"] for a in agreements if not a["ok"]}
        # The first 5 things that need a person, in the report's order; the rest counted.
        listed = [item["agreement_id"] for item in body["needs_a_person"]]
        assert set(listed) <= failing and listed[0] == min(failing)
        assert (len(listed), body["needs_a_person_more"]) == (5, 1)
        return
    said = json.dumps(body, ensure_ascii=False)
    assert f"{before:,.2f} -> {after:,.2f} ({after - before:+,.2f})" in said
    assert f"{report['applied']} applied" in said
    assert "Billing sync: NOT OK" in said and "Needs a person" in said
    if format == "teams":
        assert body["attachments"][0]["contentType"] == "application/vnd.microsoft.card.adaptive"
    else:
        assert body["text"].startswith("Billing sync: NOT OK: Sync of 6 companies")


@pytest.mark.parametrize(
    ("when", "told"),
    [
        ("problems", []),
        # A plan with changes would write: told; the second sync has nothing to do.
        ("changes", [("plan", True, "planned"), ("sync", False, "applied")]),
        (
            "always",
            [("plan", True, "planned"), ("sync", False, "applied"), ("sync", False, None)],
        ),
    ],
)
def test_through_the_cli_when_picks_the_runs_that_are_told(
    when: str,
    told: list[tuple[str, bool, str | None]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    with Webhook().running() as webhook:
        notify_section = section(webhook.url, when=when)
        with served(tmp_path / "run", monkeypatch, notify_section, troubled=False) as files:
            config, usage = files
            runs = [
                cli(capsys, command, "--config", str(config), "--usage", str(usage))
                for command in ("plan", "sync", "sync")
            ]
    assert [(status, err) for status, _, err in runs] == [(0, "")] * 3
    assert "operations: 0 applied" in runs[2][1]  # the last run had nothing to do
    posted = [
        (
            "plan" if body["dry_run"] else "sync",
            body["dry_run"],
            next((c for c in ("planned", "applied") if body["counts"][c]), None),
        )
        for body in webhook.bodies
    ]
    assert posted == told
    assert all(body["ok"] for body in webhook.bodies)


def test_through_the_cli_a_run_refused_by_connectwise_is_told(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with (
        Webhook().running() as webhook,
        served(tmp_path / "run", monkeypatch, section(webhook.url)) as (config, usage),
    ):
        monkeypatch.setenv("CW_PRIVATE_KEY", "not-the-key")
        status, out, err = cli(capsys, "sync", "--config", str(config), "--usage", str(usage))
    assert (status, out) == (3, "")
    assert err.startswith("connectwise-billing: ConnectWise refused the credentials: ")
    assert WARNING not in err
    [body] = webhook.bodies  # when="problems": a run that ended with an error is one
    assert body["ok"] is False and body["counts"]["not_reached"] == 6


def test_python_dash_m_with_a_failing_webhook_keeps_its_exit_status(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def run(config: Path, usage: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "connectwise_billing", "plan", "--config", str(config),
             "--usage", str(usage)],
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip

    with Webhook(500).running() as failing:
        monkeypatch.setenv("BILLING_WEBHOOK_URL", failing.url)
        with served(tmp_path / "run", monkeypatch) as (config, usage):
            without = run(config, usage)
            config.write_text(config.read_text() + section(None))
            told = run(config, usage)
    assert without.returncode == told.returncode == 1
    assert without.stderr == ""
    assert told.stderr == f"{WARNING}{FAILED_BECAUSE['answers 500']}{UNCHANGED}\n"
    assert told.stdout.splitlines()[-1] == without.stdout.splitlines()[-1] == "  NOT OK: see above"
    assert SECRET not in told.stdout + told.stderr
    assert len(failing.bodies) == 1


# --- what httpx and the socket say about a URL ---------------------------------------------------


@pytest.fixture
def no_dns(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Name look-ups answer as for a name that does not exist, without asking any server;
    127.0.0.1 is looked up as usual. Gives the names looked up."""
    looked_up: list[str] = []
    real = socket.getaddrinfo

    def getaddrinfo(host: str | bytes | None, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else str(host)
        looked_up.append(name)
        if name != "127.0.0.1":
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return looked_up


@pytest.mark.parametrize("asynchronous", [False, True], ids=["sync", "async"])
def test_a_name_that_does_not_resolve_is_a_failed_result_without_the_url(
    no_dns: list[str],
    asynchronous: bool,
    nights: dict[str, SyncReport],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    url = f"https://nonexistent.invalid/hooks/{SECRET}"
    result = send(asynchronous, nights["troubled"], url, format="slack")
    assert no_dns == ["nonexistent.invalid"]
    assert result.failed
    assert result.reason == (
        f"could not connect to the webhook: [Errno {socket.EAI_NONAME}] Name or service not known"
    )
    assert SECRET not in caplog.text + repr(result) and "/hooks/" not in caplog.text


@pytest.mark.parametrize(
    "host",
    [
        "xn--zz.example",  # not punycode: httpx fails on it when it builds the request
        f"{'a' * 64}.example",  # a label too long: the socket fails on it, before any look-up
        "hooks..example",  # an empty label: likewise
    ],
)
def test_a_host_that_httpx_or_the_socket_refuses_is_refused_first(
    no_dns: list[str], nights: dict[str, SyncReport], capsys: pytest.CaptureFixture[str], host: str
) -> None:
    url = f"https://{host}/hooks/{SECRET}"
    with pytest.raises(ConfigurationError) as raised:
        notify(nights["troubled"], url)
    error = raised.value
    assert str(error) == "the webhook URL is not a valid URL (it is not shown: it is a secret)"
    assert error.__suppress_context__ and SECRET not in repr(error)
    assert no_dns == []  # nothing was sent, nothing looked up
    # The command line makes the same refusal a warning, as of a URL in the environment.
    result = notify_after_run(
        NotifySettings(url_env="BILLING_WEBHOOK_URL"), nights["troubled"],
        environ={"BILLING_WEBHOOK_URL": url},
    )  # fmt: skip
    assert result is not None and result.failed
    assert SECRET not in capsys.readouterr().err


# --- a run that an error ended ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "stopped"),
    [
        (
            AuditLogError("audit.jsonl: No space left on device"),
            "the run ended with an error: AuditLogError: audit.jsonl: No space left on device",
        ),
        (KeyboardInterrupt(), "the run ended with an error: KeyboardInterrupt"),
    ],
)
def test_a_run_an_error_ended_is_told_as_stopped(
    webhook: Webhook, nights: dict[str, SyncReport], error: BaseException, stopped: str
) -> None:
    # What the run did before the error is in step: its report alone would be ok.
    assert nights["quiet"].ok
    settings = NotifySettings(webhook.url)  # when="problems"
    result = notify_after_run(settings, nights["quiet"], error=error)
    assert result is not None and result.sent
    [body] = webhook.bodies
    assert (body["ok"], body["verdict"], body["stopped"]) == (False, "stopped", stopped)


def test_a_run_that_says_why_it_stopped_keeps_its_reason(
    webhook: Webhook, nights: dict[str, SyncReport]
) -> None:
    report = attrs.evolve(nights["quiet"], stopped="throttled")
    settings = NotifySettings(webhook.url)
    assert notify_after_run(settings, report, error=KeyboardInterrupt()) is not None
    assert [body["stopped"] for body in webhook.bodies] == ["throttled"]


# --- webhooks whose answer never ends, or ends too late ----------------------------------------


class Misbehaving(Served):
    """A receiver on 127.0.0.1 that answers as `answer` writes (to the socket's file), until
    the test is over; it counts the bytes it got out."""

    def __init__(self, answer: Any) -> None:
        self.written = 0
        self.released = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers["Content-Length"]))
                with contextlib.suppress(OSError):  # the client hung up: as it should
                    for piece in answer(self.path):
                        if receiver.released.is_set():
                            return
                        self.wfile.write(piece)
                        self.wfile.flush()
                        receiver.written += len(piece)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks/{SECRET}"


HEAD_500 = b"HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/plain\r\n"


def drips_its_body(path: str) -> Iterator[bytes]:
    yield HEAD_500 + b"Content-Length: 40\r\n\r\n"
    for byte in b"slow error, one byte after the other....":
        time.sleep(0.25)
        yield bytes([byte])


def drips_its_head(path: str) -> Iterator[bytes]:
    for byte in HEAD_500 + b"Content-Length: 2\r\n\r\nno":
        time.sleep(0.25)
        yield bytes([byte])


def never_ends(path: str) -> Iterator[bytes]:
    yield HEAD_500 + b"Transfer-Encoding: chunked\r\n\r\n"
    ends = time.monotonic() + HANG
    while time.monotonic() < ends:
        time.sleep(0.01)
        yield b"400\r\n" + b"endless error..." * 64 + b"\r\n"


HUGE = 50_000_000


def is_huge(path: str) -> Iterator[bytes]:
    yield HEAD_500 + f"Content-Length: {HUGE}\r\n\r\n".encode()
    for _ in range(HUGE // 100_000):
        yield b"x" * 100_000


@pytest.mark.parametrize(
    ("answer", "said"),
    [
        (
            drips_its_body,
            "the webhook answered 500 Internal Server Error (its answer did not end within 1 s)",
        ),
        (drips_its_head, "the webhook did not answer within 1 s"),
        (never_ends, "the webhook answered 500 Internal Server Error: endless error"),
        (is_huge, "the webhook answered 500 Internal Server Error: xxxxxxxxxx"),
    ],
)
@pytest.mark.parametrize("asynchronous", [False, True], ids=["sync", "async"])
def test_timeout_is_one_deadline_and_the_answer_is_read_only_in_part(
    answer: Any,
    said: str,
    asynchronous: bool,
    nights: dict[str, SyncReport],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    with Misbehaving(answer).running() as receiver:
        started = time.monotonic()
        result = send(asynchronous, nights["troubled"], receiver.url, timeout=1)
        took = time.monotonic() - started
    assert took < 2.0, took  # 1 s, and what it takes to give up
    assert result.failed
    # The sync worker may read the dripped body up to the deadline and quote it.
    assert result.reason.startswith(said) or (
        answer is drips_its_body
        and result.reason.startswith("the webhook answered 500 Internal Server Error: slow")
    ), result.reason
    assert len(result.reason) < 300
    assert receiver.written < 10_000_000  # not the 50 MB: a few KB, and what the buffers take
    assert SECRET not in caplog.text + repr(result)


def test_a_short_secret_echoed_over_http_is_blanked(
    nights: dict[str, SyncReport], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)

    def echoes(path: str) -> Iterator[bytes]:
        body = f"error echo path {path}".encode()
        yield HEAD_500 + f"Content-Length: {len(body)}\r\n\r\n".encode() + body

    with Misbehaving(echoes).running() as receiver:
        url = receiver.url.replace(f"/hooks/{SECRET}", "/hooks/T1?sig=QSECRET&sv=1.0")
        result = notify(nights["troubled"], url, timeout=2)
    assert result.reason == (
        "the webhook answered 500 Internal Server Error: error echo path <webhook>"
    )
    for part in ("QSECRET", "sig=", "T1", "/hooks"):
        assert part not in result.reason + caplog.text


@pytest.mark.parametrize(
    "url_env",
    ["https://hooks.slack.com/services/T0000/B0000/XXXX", "hooks.slack.com/services/T0/B0/XXXX"],
)
def test_through_the_cli_a_url_in_url_env_is_a_usage_error_that_does_not_show_it(
    url_env: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    notify_section = f'\n[notify]\nurl_env = "{url_env}"\nformat = "slack"\n'
    with served(tmp_path / "run", monkeypatch, notify_section) as (config, usage):
        status, out, err = cli(capsys, "sync", "--config", str(config), "--usage", str(usage))
        with pytest.raises(ConfigurationError) as raised:
            load_config(config)
    assert status == 2
    assert "notify.url_env: must be the name of an environment variable" in err
    assert "the webhook's URL goes in url" in err
    for text in (out, err, str(raised.value), repr(raised.value)):
        assert "XXXX" not in text and "hooks.slack.com" not in text and "/services/" not in text
