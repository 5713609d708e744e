"""Tell someone how a run went: one POST of a report's summary to a webhook.

[`notify`][connectwise_billing.notifications.notify] (and its twin
[`async_notify`][connectwise_billing.notifications.async_notify]) posts the verdict, the counts, the
MRR change and the first items that need a person, shaped for a Slack incoming webhook, a
Microsoft Teams workflow (an Adaptive Card) or plain JSON. A webhook that fails, refuses or
does not answer in time makes no exception: the result says so, and a warning is logged on
the package logger. The run's outcome is the report's, whatever the webhook did.

The webhook's URL is a secret (whoever has it can post to the channel): it appears in no
log record, result, message or exception, not even in the `httpx` logger's request line.

The bodies follow what the services document:

- Slack: <https://api.slack.com/messaging/webhooks> (a `text` fallback and `blocks`) and
  <https://api.slack.com/reference/surfaces/formatting#escaping> (`&`, `<` and `>` escaped in
  every text the report gives, so that a company called `<!channel>` pings no one).
- Teams: <https://learn.microsoft.com/en-us/microsoftteams/platform/webhooks-and-connectors/how-to/connectors-using>
  (the `{"type": "message", "attachments": [...]}` envelope with an Adaptive Card, as the
  Workflows template "Post to a channel when a webhook request is received" takes it) and
  <https://learn.microsoft.com/en-us/adaptive-cards/authoring-cards/text-features>
  (a `TextBlock` reads Markdown, a `RichTextBlock` does not: texts from the report go in
  `TextRun`s, so a name like `[pay here](https://...)` stays text).
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
import threading
import time
from collections.abc import Iterator, Sequence
from decimal import Decimal
from typing import Any, Final, Literal, NamedTuple, get_args
from urllib.parse import quote, unquote_plus, urlsplit

import attrs
import httpx

from connectwise_billing._log import logger
from connectwise_billing._values import shown
from connectwise_billing.errors import ConfigurationError, InputError
from connectwise_billing.runner._reports import AgreementReport, CompanyReport, SyncReport

__all__ = [
    "DEFAULT_TIMEOUT",
    "FORMATS",
    "WHENS",
    "NotifyFormat",
    "NotifyResult",
    "NotifyStatus",
    "NotifyWhen",
    "async_notify",
    "check_webhook_url",
    "notification_body",
    "notify",
]

NotifyFormat = Literal["slack", "teams", "json"]
"""The body's shape: `slack` (a Slack incoming webhook's `text` and `blocks`), `teams` (a
Microsoft Teams workflow's message with an Adaptive Card), `json` (the summary as plain JSON)."""
NotifyWhen = Literal["problems", "changes", "always"]
"""When to post: `problems` (the report is not ok), `changes` (the report is not ok, or an
operation was applied, or planned in a dry run: each setting posts at least what the one before
it posts), `always`."""
NotifyStatus = Literal["sent", "skipped", "failed"]
"""`sent` (the webhook answered 2xx), `skipped` (`when` did not call for it: nothing sent),
`failed` (the webhook answered another status, could not be reached, or did not answer in
time)."""

DEFAULT_TIMEOUT: Final = 10.0
"""Seconds the whole POST may take: connecting, sending, and the webhook's answer."""

FORMATS: Final[tuple[str, ...]] = get_args(NotifyFormat)
"""The formats, as `NotifyFormat` names them."""
WHENS: Final[tuple[str, ...]] = get_args(NotifyWhen)
"""The `when` settings, as `NotifyWhen` names them."""
_SHOWN: Final = 5  # items that need a person, listed in full before "and N more"
_CUT: Final = 300  # characters of one item's reason: a long ConnectWise message is cut there
_ANSWER: Final = 200  # characters of a failing webhook's answer quoted in the reason
_READ: Final = 4096  # bytes of a failing webhook's answer read at most: the rest is not waited for
# Not compressed: a compressed answer is not quoted (it may unpack to any size).
_HEADERS: Final = {"Accept-Encoding": "identity"}
# Characters of a company's name in a line: Slack refuses a whole message whose section holds
# more than 3,000 characters, and a name is the one text of a line nothing else cuts.
_NAME: Final = 80
_HIDDEN: Final = "<webhook>"


@attrs.frozen
class NotifyResult:
    """What became of a notification. It holds no URL.

    Attributes:
        status: See `NotifyStatus`.
        reason: Why, in words: the webhook's answer, the error, or what `when` asked for.
        status_code: The webhook's HTTP status, when it answered.
    """

    status: NotifyStatus
    reason: str
    status_code: int | None = None

    @property
    def sent(self) -> bool:
        """The webhook took the notification (answered 2xx)."""
        return self.status == "sent"

    @property
    def failed(self) -> bool:
        """It was due and did not get through."""
        return self.status == "failed"


def check_webhook_url(url: object) -> str:
    """The webhook URL, checked: text starting with `https://` or `http://` and naming a host
    that could be looked up (no empty label, none longer than 63 characters, valid punycode).

    Raises:
        ConfigurationError: it is not; the message says what is wrong, never the URL.
    """
    if not isinstance(url, str) or not url.strip():
        raise ConfigurationError("the webhook URL is empty or not text")
    url = url.strip()
    if any(char.isspace() or not char.isprintable() for char in url):
        raise ConfigurationError(
            "the webhook URL holds spaces or control characters (it is not shown: it is a secret)"
        )
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - a port out of range raises here, before anything is sent
        sent = httpx.URL(url)
        # Hosts that httpx and the socket refuse only when sending, with errors that are not
        # httpx's (they would escape `notify` instead of making a failed result), refused
        # here: `host` decodes an `xn--` label (a bad one raises `IDNAError`), and the socket
        # encodes the host with the `idna` codec (a label longer than 63 characters, or an
        # empty one, raises `UnicodeError`), before any name is looked up.
        sent.host  # noqa: B018
        sent.raw_host.decode("ascii").encode("idna")
    except (ValueError, httpx.InvalidURL):
        raise ConfigurationError(
            "the webhook URL is not a valid URL (it is not shown: it is a secret)"
        ) from None
    if parts.scheme.lower() not in ("https", "http") or not parts.hostname:
        raise ConfigurationError(
            "the webhook URL must start with https:// or http:// and name a host "
            "(it is not shown: it is a secret)"
        )
    return url


class _Item(NamedTuple):
    """One thing that needs a person."""

    agreement_id: int
    company: str | None
    kind: str
    reason: str

    @property
    def label(self) -> str:
        return self.kind.replace("_", " ").upper()

    @property
    def agreement(self) -> str:
        company = f" ({_cut(self.company, _NAME)})" if self.company else ""
        return f"agreement {self.agreement_id}{company}"


@attrs.frozen
class _Summary:
    """What every format says, computed once."""

    ok: bool
    verdict: str
    title: str
    dry_run: bool
    started_at: str | None
    stopped: str | None
    held_all: str | None
    counts: dict[str, int]
    mrr_before: Decimal
    mrr_after: Decimal
    items: list[_Item]

    @property
    def shown_items(self) -> list[_Item]:
        return self.items[:_SHOWN]

    @property
    def more(self) -> int:
        return max(0, len(self.items) - _SHOWN)

    @property
    def mrr_change(self) -> Decimal:
        return self.mrr_after - self.mrr_before

    @property
    def heading(self) -> str:
        kind = "dry run" if self.dry_run else "sync"
        return f"Billing {kind}: {self.verdict}"

    @property
    def mrr_text(self) -> str:
        return f"{self.mrr_before:,.2f} -> {self.mrr_after:,.2f} ({self.mrr_change:+,.2f})"

    @property
    def operations_text(self) -> str:
        counts = self.counts
        said = [
            f"{counts[key]} {word}"
            for key, word in (
                ("applied", "applied"),
                ("planned", "planned"),
                ("failed", "failed"),
                ("conflicts", "conflicts"),
                ("unknown", "unknown"),
                ("held", "held"),
            )
            if counts[key]
        ]
        return ", ".join(said) or "none"

    @property
    def agreements_text(self) -> str:
        counts = self.counts
        said = [
            f"{counts[key]} {word}"
            for key, word in (
                ("errors", "error" if counts["errors"] == 1 else "errors"),
                ("busy", "busy"),
                ("stale", "stale"),
                ("not_reached", "not reached"),
                ("billing_problems", "billing problems"),
            )
            if counts[key]
        ]
        return ", ".join([str(counts["agreements"]), *said])


def _plural(count: int, singular: str, many: str) -> str:
    return f"{count} {singular if count == 1 else many}"


def _cut(text: str, limit: int = _CUT) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _needs_a_person(reports: Sequence[AgreementReport]) -> list[_Item]:
    """In the order the command line's summary gives them: what guardrails held, then per
    agreement why it was not synced, operations that did not land, billing that is wrong."""
    items: list[_Item] = []
    for report in reports:
        seen: set[tuple[str | None, str | None]] = set()
        for result in report.results:
            # A hold over the whole run is the verdict's to say, once.
            if result.status != "held" or result.rule == "max_zeroed_percent":
                continue
            if (result.rule, result.error) not in seen:
                seen.add((result.rule, result.error))
                reason = f"by {result.rule}: {result.error}" if result.rule else result.error
                items.append(_Item(report.agreement_id, report.company, "held", reason or ""))
    for report in reports:
        items += [_Item(report.agreement_id, report.company, *said) for said in _said(report)]
    return items


def _said(report: AgreementReport) -> Iterator[tuple[str, str]]:
    """(kind, reason) of each thing but holds that needs a person on one agreement."""
    if report.status in ("busy", "stale"):
        yield report.status, report.error or ""
    elif report.status != "stopped" and report.error:
        yield "error", report.error + _link_instead(report)
    elif report.status == "skipped" and not report.ok:
        # Closed with seats still in use: why it was skipped is what says what to do.
        yield "skipped", "; ".join(report.warnings) + _link_instead(report)
    for result in report.results:
        if not result.ok and result.status not in ("held", "stale"):
            op = result.operation
            yield result.status, f"{op.kind} {op.plan_id}: {result.error or 'no reason given'}"
    for problem in report.billing_problems:
        yield problem.kind, problem.message
    if report.status == "synced" and report.billing is None:
        yield "unconfirmed", "the additions could not be read back after writing"


def _link_instead(report: AgreementReport) -> str:
    """The customer's active agreements a person may link instead, as the report names them."""
    if not report.candidates:
        return ""
    named = [
        f"{candidate.id}" + (f' "{candidate.name}"' if candidate.name else "")
        for candidate in report.candidates
    ]
    return f" (link instead? agreement {' or '.join(named)})"


def _summary(report: SyncReport | CompanyReport) -> _Summary:
    reports = list(report.agreement_reports)
    if isinstance(report, SyncReport):
        what = _plural(len(report.companies), "company", "companies")
        started_at: str | None = report.started_at.isoformat()
        held_all = report.held_all if report.held else None
    else:
        what, started_at, held_all = _cut(report.company, _NAME), None, None
    verb = "Dry run of" if report.dry_run else "Sync of"
    title = f"{verb} {what} ({_plural(len(reports), 'agreement', 'agreements')})"
    verdict = "OK" if report.ok else "STOPPED" if report.stopped else "NOT OK"
    counts = {
        "agreements": len(reports),
        "applied": report.applied,
        "planned": report.planned,
        "failed": report.failed,
        "conflicts": report.conflicts,
        "unknown": report.unknown,
        "held": report.held,
        "busy": report.busy,
        "stale": report.stale,
        "errors": sum(1 for r in reports if r.status == "error"),
        "not_reached": sum(1 for r in reports if r.status == "stopped"),
        "billing_problems": len(report.billing_problems),
    }
    return _Summary(
        ok=report.ok,
        verdict=verdict,
        title=title,
        dry_run=report.dry_run,
        started_at=started_at,
        stopped=report.stopped,
        held_all=held_all,
        counts=counts,
        mrr_before=report.mrr_before,
        mrr_after=report.mrr_after,
        items=_needs_a_person(reports),
    )


def _json_body(summary: _Summary) -> dict[str, Any]:
    return {
        "source": "connectwise-billing",
        "ok": summary.ok,
        "verdict": summary.verdict.lower().replace(" ", "_"),
        "title": summary.title,
        "dry_run": summary.dry_run,
        "started_at": summary.started_at,
        "stopped": summary.stopped,
        "held_all": summary.held_all,
        "counts": dict(summary.counts),
        "mrr_before": str(summary.mrr_before),
        "mrr_after": str(summary.mrr_after),
        "mrr_change": str(summary.mrr_change),
        "needs_a_person": [
            {
                "agreement_id": item.agreement_id,
                "company": item.company,
                "kind": item.kind,
                "reason": _cut(item.reason),
            }
            for item in summary.shown_items
        ],
        "needs_a_person_more": summary.more,
    }


def _slack_escaped(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _slack_body(summary: _Summary) -> dict[str, Any]:
    esc = _slack_escaped
    icon = ":white_check_mark:" if summary.ok else ":x:"
    facts = [
        f"*{esc(summary.title)}*",
        f"*Operations:* {summary.operations_text}",
        f"*Agreements:* {summary.agreements_text}",
        f"*MRR:* {summary.mrr_text}",
    ]
    if summary.stopped:
        facts.append(f"*Stopped:* {esc(_cut(summary.stopped))}")
    if summary.held_all:
        facts.append(f"*Held, all of it:* {esc(_cut(summary.held_all))}")
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": f"{icon} {summary.heading}"}},
        # `verbatim`: no link, channel or mention is made out of what the report says.
        {"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(facts), "verbatim": True}},
    ]
    if summary.items:
        lines = ["*Needs a person*"]
        lines += [
            f"• *{item.label}* {esc(item.agreement)}: {esc(_cut(item.reason))}"
            for item in summary.shown_items
        ]
        if summary.more:
            lines.append(f"_and {summary.more} more_")
        blocks.append(
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": "\n".join(lines), "verbatim": True},
            }
        )
    fallback = f"{summary.heading}: {summary.title}; operations: {summary.operations_text}"
    return {"text": esc(fallback), "blocks": blocks}


def _runs(*runs: tuple[str, bool]) -> dict[str, Any]:
    """A `RichTextBlock`: its texts are shown as written, Markdown and all."""
    return {
        "type": "RichTextBlock",
        "inlines": [
            {"type": "TextRun", "text": text, **({"weight": "Bolder"} if bold else {})}
            for text, bold in runs
        ],
    }


def _teams_body(summary: _Summary) -> dict[str, Any]:
    body: list[dict[str, Any]] = [
        {
            "type": "TextBlock",
            "text": summary.heading,
            "size": "Large",
            "weight": "Bolder",
            "color": "Good" if summary.ok else "Attention",
            "wrap": True,
        },
        _runs((summary.title, False)),
        {
            "type": "FactSet",
            "facts": [
                {"title": "Operations", "value": summary.operations_text},
                {"title": "Agreements", "value": summary.agreements_text},
                {"title": "MRR", "value": summary.mrr_text},
            ],
        },
    ]
    if summary.stopped:
        body.append(_runs(("Stopped: ", True), (_cut(summary.stopped), False)))
    if summary.held_all:
        body.append(_runs(("Held, all of it: ", True), (_cut(summary.held_all), False)))
    if summary.items:
        body.append(
            {"type": "TextBlock", "text": "Needs a person", "weight": "Bolder", "wrap": True}
        )
        body += [
            _runs((f"{item.label} ", True), (f"{item.agreement}: {_cut(item.reason)}", False))
            for item in summary.shown_items
        ]
        if summary.more:
            body.append({"type": "TextBlock", "text": f"and {summary.more} more", "isSubtle": True})
    card = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": body,
        "msteams": {"width": "Full"},
    }
    return {
        "type": "message",
        "attachments": [
            {
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": None,
                "content": card,
            }
        ],
    }


_BODIES: Final = {"slack": _slack_body, "teams": _teams_body, "json": _json_body}


def _checked_report(report: object) -> SyncReport | CompanyReport:
    if not isinstance(report, SyncReport | CompanyReport):
        raise InputError(
            f"report must be a SyncReport or CompanyReport, got {type(report).__name__}"
        )
    return report


def _checked_choice(name: str, value: object, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ConfigurationError(f"{name} must be one of {', '.join(allowed)}, got {shown(value)}")


def notification_body(
    report: SyncReport | CompanyReport, format: NotifyFormat = "json"
) -> dict[str, Any]:
    """The body [`notify`][connectwise_billing.notifications.notify] posts for `report`, as
    JSON-ready data (amounts as exact strings in `json`): to look at, or to post by other means.

    Raises:
        InputError: `report` is not a report, or `format` is unknown.
    """
    _checked_choice("format", format, FORMATS)
    return _BODIES[format](_summary(_checked_report(report)))


def _skip_reason(report: SyncReport | CompanyReport, when: str) -> str | None:
    """Why `when` does not call for a notification, or `None` when it does."""
    if when == "always" or not report.ok:
        return None
    if when == "changes" and (report.applied or report.planned):
        return None
    if when == "changes":
        return "the run is ok and wrote nothing, nor would it (when='changes')"
    return "the run is ok (when='problems')"


class _Redactor:
    """Blanks the webhook's URL, and every part of it beyond the host (each path segment, the
    query, each query value, whatever their length), in a text that comes from outside (the
    webhook's answer, an error's message, `httpx`'s request line): as given, percent-decoded
    and percent-encoded, in any letter case, in one pass."""

    def __init__(self, url: str) -> None:
        sent = httpx.URL(url)
        given = urlsplit(url)
        pieces = {url, str(sent), sent.userinfo.decode("ascii", "replace")}
        pieces |= {sent.username, sent.password or ""}
        for path, query, fragment in (
            (given.path, given.query, given.fragment),
            (sent.raw_path.decode("ascii").partition("?")[0], sent.query.decode("ascii"), ""),
        ):
            texts = {path, query, fragment, f"{path}?{query}"}
            texts |= {*path.split("/"), *query.split("&"), *fragment.split("&")}
            texts |= {pair.partition("=")[2] for pair in (*query.split("&"), *fragment.split("&"))}
            for text in texts:
                decoded = unquote_plus(text)
                pieces |= {text, decoded, quote(decoded, safe=""), *decoded.split("/")}
        # Longest first: where pieces overlap, the longest one is blanked whole. A piece of
        # separators alone (the path `/`) holds nothing.
        self.pieces = tuple(
            sorted((p for p in pieces if unquote_plus(p).strip("/?&=")), key=len, reverse=True)
        )
        self._pattern = re.compile("|".join(map(re.escape, self.pieces)), re.IGNORECASE)

    def __call__(self, text: str) -> str:
        return self._pattern.sub(_HIDDEN, text)

    def cut_short(self, text: str) -> str:
        """`text` without its end if that end could be the start of a piece: the answer was
        read only in part, so the rest of the piece (which blanks it) is missing."""
        folded = [piece.casefold() for piece in self.pieces]
        for size in range(min(len(text), len(self.pieces[0])), 0, -1):
            end = text[-size:].casefold()
            if any(piece.startswith(end) for piece in folded):
                return text[:-size]
        return text


class _Post(NamedTuple):
    """A notification that is due: where and what to post, and what blanks its URL."""

    url: str
    body: dict[str, Any]
    redact: _Redactor


def _prepare(
    report: object, url: object, format: object, when: object, timeout: object
) -> _Post | NotifyResult:
    """Check the arguments; the post to send, or the skipped result."""
    checked = _checked_report(report)
    _checked_choice("format", format, FORMATS)
    _checked_choice("when", when, WHENS)
    if (
        isinstance(timeout, bool)
        or not isinstance(timeout, int | float)
        or not math.isfinite(timeout)
        or timeout <= 0
    ):
        raise ConfigurationError(f"timeout must be seconds > 0, got {shown(timeout)}")
    url = check_webhook_url(url)
    skipped = _skip_reason(checked, str(when))
    if skipped is not None:
        logger.debug("notification skipped: %s", skipped)
        return NotifyResult("skipped", skipped)
    return _Post(url, _BODIES[str(format)](_summary(checked)), _Redactor(url))


class _HideWebhook(logging.Filter):
    """Blanks the webhook's URL in the `httpx` logger's records (its request line)."""

    def __init__(self, redact: _Redactor) -> None:
        super().__init__()
        self.redact = redact

    def filter(self, record: logging.LogRecord) -> bool:
        # The whole message, once formatted: blanking a short piece in the format string
        # itself could break it (`%s`).
        try:
            message = record.getMessage()
        except Exception:  # a broken record is logging's to report
            message = str(record.msg)
        record.msg, record.args = self.redact(message), ()
        return True


def _hide_webhook(redact: _Redactor) -> _HideWebhook:
    hider = _HideWebhook(redact)
    logging.getLogger("httpx").addFilter(hider)
    return hider


def _show_webhook(hider: _HideWebhook) -> None:
    logging.getLogger("httpx").removeFilter(hider)


class _Heard:
    """What the webhook said so far: its status, once its answer's head has come."""

    status_code: int | None = None
    phrase: str = ""


def _status_said(heard: _Heard, redact: _Redactor) -> str:
    phrase = redact(heard.phrase)
    return f"the webhook answered {heard.status_code} {phrase}".rstrip()


def _listened(response: httpx.Response, heard: _Heard) -> bool:
    """Note the answer's head; whether its body is worth reading (an error's, to quote; not a
    compressed one: a small compressed answer may unpack to any size)."""
    heard.status_code, heard.phrase = response.status_code, response.reason_phrase
    return not response.is_success and not _compressed(response)


def _compressed(response: httpx.Response) -> bool:
    return response.headers.get("content-encoding", "identity").strip().lower() not in (
        "",
        "identity",
    )


def _kept(data: bytearray, chunk: bytes, deadline: float) -> bool:
    """Add `chunk` to what is read of the answer; whether to read on."""
    data += chunk
    return len(data) <= _READ and time.monotonic() < deadline


def _answered(
    response: httpx.Response, heard: _Heard, data: bytes, complete: bool, redact: _Redactor
) -> NotifyResult:
    said = _status_said(heard, redact)
    if response.is_success:
        return NotifyResult("sent", said, response.status_code)
    if _compressed(response):
        answer = ""
    else:
        try:
            text = data[:_READ].decode(response.charset_encoding or "utf-8", "replace")
        except LookupError:
            text = data[:_READ].decode("utf-8", "replace")
        if not complete or len(data) > _READ:
            text = redact.cut_short(text)
        answer = _cut(redact(text), _ANSWER)
    return _failed(f"{said}: {answer}" if answer else said, response.status_code)


def _exchange(
    client: httpx.Client, post: _Post, timeout: float, deadline: float, heard: _Heard
) -> NotifyResult:
    data = bytearray()
    complete = True
    with client.stream(
        "POST", post.url, json=post.body, headers=_HEADERS, timeout=timeout
    ) as response:
        if _listened(response, heard):
            for chunk in response.iter_bytes():
                if not _kept(data, chunk, deadline):
                    complete = False
                    break
    return _answered(response, heard, bytes(data), complete, post.redact)


async def _async_exchange(
    client: httpx.AsyncClient, post: _Post, timeout: float, deadline: float, heard: _Heard
) -> NotifyResult:
    data = bytearray()
    complete = True
    async with client.stream(
        "POST", post.url, json=post.body, headers=_HEADERS, timeout=timeout
    ) as response:
        if _listened(response, heard):
            async for chunk in response.aiter_bytes():
                if not _kept(data, chunk, deadline):
                    complete = False
                    break
    return _answered(response, heard, bytes(data), complete, post.redact)


def _late(heard: _Heard, timeout: float, redact: _Redactor) -> NotifyResult:
    if heard.status_code is None:
        return _failed(f"the webhook did not answer within {timeout:g} s")
    return _failed(
        f"{_status_said(heard, redact)} (its answer did not end within {timeout:g} s)",
        heard.status_code,
    )


def _not_answered(error: httpx.HTTPError, timeout: float, redact: _Redactor) -> NotifyResult:
    if isinstance(error, httpx.TimeoutException):
        return _failed(f"the webhook did not answer within {timeout:g} s")
    detail = _cut(redact(str(error)), _ANSWER) or type(error).__name__
    if isinstance(error, httpx.ConnectError):
        return _failed(f"could not connect to the webhook: {detail}")
    return _failed(f"could not post to the webhook: {type(error).__name__}: {detail}")


def _failed(reason: str, status_code: int | None = None) -> NotifyResult:
    return NotifyResult("failed", reason, status_code)


def _reported(result: NotifyResult) -> NotifyResult:
    """`result`, logged: INFO when sent, WARNING when it failed."""
    if result.sent:
        logger.info("notification sent: %s", result.reason)
    else:
        logger.warning("notification not sent: %s (the run's outcome is unchanged)", result.reason)
    return result


def notify(
    report: SyncReport | CompanyReport,
    url: str,
    *,
    format: NotifyFormat = "json",
    when: NotifyWhen = "problems",
    timeout: float = DEFAULT_TIMEOUT,
    transport: httpx.BaseTransport | None = None,
    http_client: httpx.Client | None = None,
) -> NotifyResult:
    """Post a summary of `report` to the webhook at `url`, if `when` calls for it.

    One POST, not retried: the verdict, the counts, the MRR change and the first 5 items that
    need a person (what guardrails held, agreements in error, busy or stale, operations that
    failed or whose outcome is unknown, billing that is wrong), then how many more. A webhook
    that answers an error status, cannot be reached or does not answer within `timeout` raises
    nothing: the result says why, and a WARNING is logged.

    Args:
        report: A run's report (or one company's).
        url: The webhook's URL, `https://` (or `http://`). A secret: it is never logged,
            shown in the result or in an exception.
        format: See `NotifyFormat`.
        when: See `NotifyWhen`.
        timeout: Seconds the whole POST may take: connecting, sending and the answer (of
            which the first 4 KB are read at most). The POST is sent from a worker thread,
            which `notify` stops waiting for then; the worker ends on its own shortly after.
        transport: An `httpx` transport to send through (tests: `httpx.MockTransport`).
        http_client: An `httpx.Client` to send with (not closed); `timeout` still applies.

    Returns:
        Whether it was sent, skipped or failed, and why.

    Raises:
        InputError: `report` is not a report, `format`, `when` or `timeout` is not one the
            function takes, or `url` is not an http(s) URL with a host that could be looked
            up (a `ConfigurationError`, which does not show it; see `check_webhook_url`).
    """
    post = _prepare(report, url, format, when, timeout)
    if isinstance(post, NotifyResult):
        return post
    deadline = time.monotonic() + timeout
    heard = _Heard()
    done: list[NotifyResult | BaseException] = []

    def send() -> None:
        try:
            if http_client is not None:
                done.append(_exchange(http_client, post, timeout, deadline, heard))
            else:
                with httpx.Client(transport=transport, timeout=timeout) as client:
                    done.append(_exchange(client, post, timeout, deadline, heard))
        except httpx.HTTPError as error:
            done.append(_not_answered(error, timeout, post.redact))
        except BaseException as error:  # raised by the thread that waits
            done.append(error)
        finally:
            # Only once the worker is done: httpx logs the request line when the answer's
            # head comes, which may be after `notify` stopped waiting.
            _show_webhook(hider)

    # The POST runs in a worker so that the deadline holds whatever the webhook does: httpx's
    # timeouts are per read and per write, and a webhook that drips its answer meets neither.
    hider = _hide_webhook(post.redact)
    worker = threading.Thread(target=send, name="connectwise-billing-notify", daemon=True)
    worker.start()
    worker.join(max(0.0, deadline - time.monotonic()))
    if not done:
        return _reported(_late(heard, timeout, post.redact))
    outcome = done[0]
    if isinstance(outcome, BaseException):
        raise outcome
    return _reported(outcome)


async def async_notify(
    report: SyncReport | CompanyReport,
    url: str,
    *,
    format: NotifyFormat = "json",
    when: NotifyWhen = "problems",
    timeout: float = DEFAULT_TIMEOUT,
    transport: httpx.AsyncBaseTransport | None = None,
    http_client: httpx.AsyncClient | None = None,
) -> NotifyResult:
    """[`notify`][connectwise_billing.notifications.notify] for asyncio: the same body, rules,
    deadline and result; `transport` and `http_client` are the async ones. The POST is
    cancelled when `timeout` is over.

    Raises:
        InputError: as `notify`.
    """
    post = _prepare(report, url, format, when, timeout)
    if isinstance(post, NotifyResult):
        return post
    deadline = time.monotonic() + timeout
    heard = _Heard()
    hider = _hide_webhook(post.redact)
    try:
        async with asyncio.timeout(timeout):
            if http_client is not None:
                result = await _async_exchange(http_client, post, timeout, deadline, heard)
            else:
                async with httpx.AsyncClient(transport=transport, timeout=timeout) as client:
                    result = await _async_exchange(client, post, timeout, deadline, heard)
    except TimeoutError:
        result = _late(heard, timeout, post.redact)
    except httpx.HTTPError as error:
        result = _not_answered(error, timeout, post.redact)
    finally:
        _show_webhook(hider)
    return _reported(result)
