"""Open the HTML report in a real headless browser (`make browser-check`; not part of `make test`).

    python scripts/browser_check.py [--out DIR] [--screenshot PNG]

Writes the HTML reports of two simulator runs to `DIR` (default `build/browser-check`): the
example MSP synced with a refused write, a guardrail hold, a deleted and a cancelled agreement
(`example.html`), and customers named like markup that would run if a text were not escaped
(`hostile.html`). Headless Chromium (from the system's package registry:
`scripts/install-chromium`) opens each one, at desktop and at phone width, driven over the
DevTools protocol, and the check fails on:

- any console message, uncaught exception or browser log entry (a Content-Security-Policy
  violation, a resource that failed), and any dialog (an `alert` that ran);
- any request but the page itself: a fetch, blocked or not;
- markup that became elements (`script`, `img`, `iframe`, ...), a hostile name or title not
  shown as text, no verdict;
- at phone width, a page or a table that must be scrolled sideways.

Canary pages that log, fetch and break the page's policy prove first that this Chromium reports
each of those. The desktop screenshot of the example's top (verdict, money, charts) is saved to
`PNG` (default `DIR/html-report.png`; the page shows when its run started, so every run makes
a new picture: pass `--screenshot docs/images/html-report.png` to replace the "Reports for
finance" guide's picture on purpose); full-page screenshots, desktop and phone, go to `DIR` to
look at.

Exit status: 0 when every page rendered clean, 1 when one did not, 2 when Chromium is missing,
cannot run, or does not report what the canaries do.
"""

from __future__ import annotations

import argparse
import base64
import fcntl
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any, NamedTuple

from connectwise_billing import CompanyUsage, ConnectWiseClient, Plan, PlanMapping, sync_all
from connectwise_billing.testing import FakeConnectWise, Fault, build_example, set_testing

ROOT = Path(__file__).resolve().parent.parent
API_URL = "https://cw.example/v2025_1/apis/3.0"
TODAY = date(2026, 12, 7)
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
HOSTILE = (
    "<script>alert(1)</script>",
    '<img src="https://tracker.example/x.png" onerror="alert(2)">',
    '"><svg onload=alert(3)>',
    "</style><script>alert(4)</script>",
)
HOSTILE_TITLE = "<script>alert(5)</script>"
POLICY = "default-src 'none'; style-src 'unsafe-inline'"
"""The report's own Content-Security-Policy, given to the canary that breaks it."""


class Screen(NamedTuple):
    name: str
    width: int
    height: int
    mobile: bool


DESKTOP = Screen("desktop", 1100, 900, mobile=False)
PHONE = Screen("phone", 390, 844, mobile=True)
"""An iPhone 12 to 15's viewport: the narrowest the report must read on without sideways
scrolling."""


class Problem(NamedTuple):
    kind: str
    """`console`, `exception`, `log`, `dialog`, `fetched`, `blocked`, `issue` or `page`."""
    detail: str

    def __str__(self) -> str:
        return f"{self.kind}: {self.detail}"


# What the page looks like from inside: run once it has loaded. Sideways scrolling is measured
# on the page and on each table's scroll box (`.scroll`): either one makes a phone reader pan.
PROBE = """(() => {
  const wide = [...document.querySelectorAll('.scroll')]
    .filter(box => box.scrollWidth > box.clientWidth + 1)
    .map(box => (box.closest('[id]') || {id: '?'}).id);
  return {
    title: document.title,
    text: document.body.innerText,
    verdict: document.getElementById('verdict') !== null,
    elements: [...document.querySelectorAll(
      'script, img, iframe, object, embed, link, image, use, foreignObject, base, form'
    )].map(element => element.tagName.toLowerCase()),
    pageWidth: document.documentElement.scrollWidth,
    wideTables: wide,
  };
})()"""

SHOWN_TO = """(() => {
  const section = document.getElementById('%s');
  return section ? section.getBoundingClientRect().bottom + window.scrollY : 0;
})()"""


def chromium() -> str | None:
    """The browser to run: `$CHROMIUM`, or the first of `BROWSERS` on the `PATH`."""
    given = os.environ.get("CHROMIUM")
    if given:
        return given
    return next((found for name in BROWSERS if (found := shutil.which(name))), None)


class BrowserError(Exception):
    """Chromium could not be started, or stopped answering."""


class DevTools:
    """Headless Chromium driven over the DevTools protocol on a pipe
    (`--remote-debugging-pipe`: JSON messages ending in NUL, read by the browser on file
    descriptor 3 and written on 4), so nothing listens on a port."""

    def __init__(self, binary: str, profile: Path) -> None:
        commands, answers = os.pipe(), os.pipe()
        # The browser's ends are copied above 10 first, so that putting them on 3 and 4 in the
        # child cannot overwrite one another.
        reads = fcntl.fcntl(commands[0], fcntl.F_DUPFD_CLOEXEC, 10)
        writes = fcntl.fcntl(answers[1], fcntl.F_DUPFD_CLOEXEC, 10)
        os.close(commands[0])
        os.close(answers[1])

        def on_3_and_4() -> None:
            os.dup2(reads, 3)  # dup2 leaves the copies inheritable: the browser gets them
            os.dup2(writes, 4)

        self.log = profile / "chromium.log"
        with self.log.open("w") as log:
            self.process = subprocess.Popen(  # noqa: S603 - the browser found above
                [
                    binary,
                    "--headless",
                    "--disable-gpu",
                    # As root or in a container, Chromium's sandbox has no namespaces to use;
                    # every page opened is one this script wrote.
                    "--no-sandbox",
                    "--no-first-run",
                    "--no-default-browser-check",
                    "--disable-dev-shm-usage",
                    "--hide-scrollbars",
                    "--force-color-profile=srgb",
                    f"--user-data-dir={profile}",
                    "--remote-debugging-pipe",
                    "about:blank",
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                # The pipe's ends must reach the browser on 3 and 4: only a function run in the
                # child between fork and exec can put them there.
                preexec_fn=on_3_and_4,  # noqa: PLW1509 - dup2 only: no lock to deadlock on
                close_fds=False,  # the rest are close-on-exec, as Python opens them (PEP 446)
            )
        os.close(reads)
        os.close(writes)
        self.commands, self.answers = commands[1], answers[0]
        self.buffer = b""
        self.last_id = 0
        self.events: list[dict[str, Any]] = []

    def send(self, method: str, params: dict[str, Any] | None = None, session: str = "") -> int:
        self.last_id += 1
        message: dict[str, Any] = {"id": self.last_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        try:
            os.write(self.commands, json.dumps(message).encode() + b"\0")
        except BrokenPipeError as error:
            raise BrowserError(f"Chromium exited: {self.tail()}") from error
        return self.last_id

    def receive(self, timeout: float) -> dict[str, Any] | None:
        """The next message, or `None` when none came within `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while b"\0" not in self.buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.answers], [], [], left)[0]:
                return None
            chunk = os.read(self.answers, 1 << 20)
            if not chunk:
                raise BrowserError(f"Chromium exited: {self.tail()}")
            self.buffer += chunk
        raw, self.buffer = self.buffer.split(b"\0", 1)
        message: dict[str, Any] = json.loads(raw)
        return message

    def call(
        self, method: str, params: dict[str, Any] | None = None, session: str = ""
    ) -> dict[str, Any]:
        """Send a command and wait for its answer; the events that come first are kept."""
        sent = self.send(method, params, session)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            message = self.receive(deadline - time.monotonic())
            if message is None:
                break
            if message.get("id") != sent:
                self.keep(message)
                continue
            if "error" in message:
                raise BrowserError(f"{method}: {message['error']}")
            result: dict[str, Any] = message["result"]
            return result
        raise BrowserError(f"{method}: no answer in 60 s")

    def wait_for(self, method: str, session: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while not any(
            event.get("method") == method and event.get("sessionId") == session
            for event in self.events
        ):
            message = self.receive(deadline - time.monotonic())
            if message is None:
                raise BrowserError(f"no {method} in {timeout:.0f} s")
            self.keep(message)

    def keep(self, event: dict[str, Any]) -> None:
        """Keep an event for `Tab.problems`; a dialog (an `alert` that ran) is dismissed at
        once, or the page would wait for it and never finish loading."""
        self.events.append(event)
        if event.get("method") == "Page.javascriptDialogOpening":
            self.send("Page.handleJavaScriptDialog", {"accept": True}, event["sessionId"])

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-800:] if self.log.exists() else ""

    def close(self) -> None:
        if self.process.poll() is None:
            try:
                self.send("Browser.close")
                self.process.wait(timeout=15)
            except (BrowserError, subprocess.TimeoutExpired):
                self.process.kill()
                self.process.wait()
        os.close(self.commands)
        os.close(self.answers)


@contextmanager
def browser(binary: str) -> Iterator[DevTools]:
    with tempfile.TemporaryDirectory(prefix="browser-check-") as profile:
        devtools = DevTools(binary, Path(profile))
        try:
            yield devtools
        finally:
            devtools.close()


class Tab:
    """One page opened in a fresh tab at one screen size, with what happened while it loaded."""

    def __init__(self, devtools: DevTools, page: Path, screen: Screen) -> None:
        self.devtools = devtools
        self.url = page.as_uri()
        self.screen = screen
        target = devtools.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.target = target
        attached = devtools.call("Target.attachToTarget", {"targetId": target, "flatten": True})
        self.session: str = attached["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network", "Audits"):
            self.call(f"{domain}.enable")
        self.call(
            "Emulation.setDeviceMetricsOverride",
            {
                "width": screen.width,
                "height": screen.height,
                "deviceScaleFactor": 1,
                "mobile": screen.mobile,
            },
        )
        self.call(
            "Emulation.setEmulatedMedia",
            {"features": [{"name": "prefers-color-scheme", "value": "light"}]},
        )
        self.call("Page.navigate", {"url": self.url})
        devtools.wait_for("Page.loadEventFired", self.session)
        self.facts: dict[str, Any] = self.evaluate(PROBE)

    def call(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        return self.devtools.call(method, params, self.session)

    def evaluate(self, expression: str) -> Any:
        answer = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        return answer["result"].get("value")

    def problems(self) -> list[Problem]:
        """Everything the browser reported about this page that a clean report never causes."""
        found: list[Problem] = []
        urls: dict[str, str] = {}
        for event in self.devtools.events:
            if event.get("sessionId") != self.session:
                continue
            method, params = event.get("method"), event.get("params", {})
            if method == "Runtime.consoleAPICalled":
                said = " ".join(str(arg.get("value", arg.get("type"))) for arg in params["args"])
                found.append(Problem("console", f"console.{params['type']}: {said}"))
            elif method == "Runtime.exceptionThrown":
                details = params["exceptionDetails"]
                thrown = details.get("exception", {}).get("description", "")
                found.append(Problem("exception", f"{details['text']} {thrown}".strip()))
            elif method == "Log.entryAdded" and params["entry"]["level"] != "verbose":
                entry = params["entry"]
                found.append(
                    Problem("log", f"{entry['level']} ({entry['source']}): {entry['text']}")
                )
            elif method == "Page.javascriptDialogOpening":
                found.append(Problem("dialog", f"{params['type']}: {params['message']}"))
            elif method == "Network.requestWillBeSent":
                url = params["request"]["url"]
                urls[params["requestId"]] = url
                if url != self.url:
                    found.append(Problem("fetched", url))
            elif method == "Network.loadingFailed" and params.get("blockedReason"):
                url = urls.get(params["requestId"], "?")
                found.append(Problem("blocked", f"{url} ({params['blockedReason']})"))
            elif method == "Audits.issueAdded":
                found.append(Problem("issue", json.dumps(params["issue"])[:300]))
        facts = self.facts
        found += [
            Problem("page", f"markup became a <{element}> element") for element in facts["elements"]
        ]
        if not facts["verdict"]:
            found.append(Problem("page", "no verdict (id=verdict)"))
        if self.screen.mobile:
            # Against the screen's width, not the window's: a phone widens its window to a
            # page wider than the screen, and shows it shrunk.
            if facts["pageWidth"] > self.screen.width:
                found.append(
                    Problem(
                        "page",
                        f"{facts['pageWidth']} px wide on a {self.screen.width} px phone "
                        "screen: it scrolls sideways or shows shrunk",
                    )
                )
            found += [
                Problem("page", f"a table in #{section} scrolls sideways on a phone")
                for section in facts["wideTables"]
            ]
        return found

    def screenshot(self, target: Path, *, down_to: str | None = None) -> None:
        """The whole page (or down to the end of the section with id `down_to`) as a PNG."""
        height = self.call("Page.getLayoutMetrics")["cssContentSize"]["height"]
        if down_to is not None:
            height = min(height, self.evaluate(SHOWN_TO % down_to) + 16)
        shot = self.call(
            "Page.captureScreenshot",
            {
                "format": "png",
                "captureBeyondViewport": True,
                "clip": {"x": 0, "y": 0, "width": self.screen.width, "height": height, "scale": 1},
            },
        )
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(base64.b64decode(shot["data"]))

    def close(self) -> None:
        self.devtools.call("Target.closeTarget", {"targetId": self.target})


@contextmanager
def opened(devtools: DevTools, page: Path, screen: Screen) -> Iterator[Tab]:
    tab = Tab(devtools, page, screen)
    try:
        yield tab
    finally:
        tab.close()


def example_report() -> str:
    """The example MSP's sync: a write ConnectWise refuses, a drop the guardrails hold, a
    deleted (with the agreement to link instead), a cancelled and a hidden agreement."""
    example = build_example(30, seed=1)
    fake = example.fake
    first = example.usages[0]
    fake.faults.add(Fault.invalid(), method="POST", path=f"/{first.agreement_id}/additions$")
    usages = list(example.usages)
    dropped = usages[1]
    usages[1] = dropped._replace(seats=dict.fromkeys(dropped.seats, 0) | {"basic-10": 1})
    with ConnectWiseClient(API_URL, example.credentials, transport=fake.transport()) as client:
        report = sync_all(client, example.plans, example.mapping, usages, today=TODAY)
    return report.to_html(title="Billing sync, December 2026", currency="$")


def hostile_report() -> str:
    """Customers named like markup: shown as text, never run."""
    fake = FakeConnectWise(seed=7)
    fake.add_api_member()
    gold = fake.add_product("MBX-GOLD-50", price="8.00", cost="3.25")
    usages = []
    for seats, name in enumerate(HOSTILE, start=1):
        agreement = fake.add_agreement(fake.add_company(name))
        usages.append(CompanyUsage(agreement, {"gold-50": seats}, company=name))
    plans = [Plan("gold-50", '<b>Gold</b> "50"', cost="3.25", price="8.00")]
    with ConnectWiseClient(API_URL, fake.credentials, transport=fake.transport()) as client:
        report = sync_all(client, plans, PlanMapping({"gold-50": gold}), usages, today=TODAY)
    return report.to_html(title=HOSTILE_TITLE, currency="<i>$</i>")


CANARIES = {
    # kind of problem the page must cause -> the page
    "console": "<!DOCTYPE html><title>c</title><p id=verdict><script>console.error(1)</script>",
    "blocked": (
        f'<!DOCTYPE html><meta http-equiv="Content-Security-Policy" content="{POLICY}">'
        '<title>c</title><p id=verdict><img src="https://canary.invalid/x.png">'
    ),
    # Port 9 (discard) is one browsers refuse: the request is made, and nothing leaves.
    "fetched": '<!DOCTYPE html><title>c</title><p id=verdict><img src="http://127.0.0.1:9/x">',
}


def canaries_heard(devtools: DevTools, out: Path) -> list[str]:
    """The canaries this Chromium did not report as the check expects (none: it can check)."""
    deaf = []
    for kind, source in CANARIES.items():
        page = out / f"canary-{kind}.html"
        page.write_text(source, encoding="utf-8")
        with opened(devtools, page, DESKTOP) as tab:
            if kind not in {problem.kind for problem in tab.problems()}:
                deaf.append(f"{page}: no {kind} reported")
    return deaf


def check(devtools: DevTools, page: Path, screen: Screen, texts: tuple[str, ...]) -> list[Problem]:
    with opened(devtools, page, screen) as tab:
        problems = tab.problems()
        shown = tab.facts["text"]
        problems += [
            Problem("page", f"{text!r} not shown as text") for text in texts if text not in shown
        ]
        if page.stem == "hostile" and tab.facts["title"] != HOSTILE_TITLE:
            problems.append(Problem("page", f"title {tab.facts['title']!r}"))
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "browser-check")
    parser.add_argument("--screenshot", type=Path, default=None)
    args = parser.parse_args(argv)
    binary = chromium()
    if binary is None:
        print(
            "Chromium is not installed: run scripts/install-chromium (or set CHROMIUM to a "
            "Chromium or Chrome binary)",
            file=sys.stderr,
        )
        return 2
    set_testing(True)  # the simulator's faults settle without waiting
    out: Path = args.out.resolve()  # opened as file:// URLs, which are absolute
    out.mkdir(parents=True, exist_ok=True)
    picture: Path = args.screenshot or out / "html-report.png"
    pages = {"example": (example_report(), ()), "hostile": (hostile_report(), HOSTILE)}
    try:
        with browser(binary) as devtools:
            deaf = canaries_heard(devtools, out)
            if deaf:
                print(*deaf, "cannot check with this browser", sep="\n", file=sys.stderr)
                return 2
            failed = False
            for name, (source, texts) in pages.items():
                page = out / f"{name}.html"
                page.write_text(source, encoding="utf-8")
                for screen in (DESKTOP, PHONE):
                    problems = check(devtools, page, screen, texts)
                    failed = failed or bool(problems)
                    for problem in problems:
                        print(f"{page} ({screen.name}): {problem}", file=sys.stderr)
                    if not problems:
                        print(f"{page} ({screen.name}): clean")
            example = out / "example.html"
            with opened(devtools, example, DESKTOP) as tab:
                tab.screenshot(picture, down_to="charts")
                tab.screenshot(out / "html-report-desktop.png")
            with opened(devtools, example, PHONE) as tab:
                tab.screenshot(out / "html-report-phone.png")
    except (BrowserError, OSError) as error:
        print(f"{binary} could not check: {error}", file=sys.stderr)
        return 2
    print(f"screenshots: {picture}, {out}/html-report-desktop.png, "
          f"{out}/html-report-phone.png")  # fmt: skip
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
