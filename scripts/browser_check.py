"""Open the HTML report in a real headless browser (`make browser-check`; not part of `make test`).

    python scripts/browser_check.py [--out DIR] [--docs]

Writes the HTML reports of two simulator runs to `DIR` (default `build/browser-check`): the
example MSP synced with a refused write and a guardrail hold (`example.html`), and customers
named like markup that would run if a text were not escaped (`hostile.html`). Headless Chromium
(from the system's package registry: `scripts/install-chromium`) then renders each one, and the
check fails on any console message: a page that runs nothing and fetches nothing logs none, so
a script that ran, a reference the page's Content-Security-Policy blocked, or a parse error
shows up there. A canary page that does log proves first that this Chromium's messages are
read. It saves screenshots of the example report, desktop and phone width; with `--docs`, the
desktop one also goes to `docs/images/html-report.png` (the "Reports for finance" guide).

Exit status: 0 when every page rendered without a console message, 1 when one did not, 2 when
Chromium is missing or cannot run.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from datetime import date
from pathlib import Path

from connectwise_billing import CompanyUsage, ConnectWiseClient, Plan, PlanMapping, sync_all
from connectwise_billing.testing import FakeConnectWise, Fault, build_example, set_testing

ROOT = Path(__file__).resolve().parent.parent
API_URL = "https://cw.example/v2025_1/apis/3.0"
TODAY = date(2026, 12, 7)
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
CONSOLE = re.compile(r":CONSOLE[:(]|Uncaught ")
"""How Chromium's log (`--enable-logging=stderr`) shows a page's console message."""
HOSTILE = (
    "<script>alert(1)</script>",
    '<img src="https://tracker.example/x.png" onerror="alert(2)">',
    '"><svg onload=alert(3)>',
    "</style><script>alert(4)</script>",
)
DESKTOP = (1100, 1500)
PHONE = (390, 1400)
CANARY = (
    "<!DOCTYPE html><title>canary</title><p>canary</p>"
    "<script>console.error('canary: the check reads console messages')</script>"
)


def chromium() -> str | None:
    """The browser to run: `$CHROMIUM`, or the first of `BROWSERS` on the `PATH`."""
    given = os.environ.get("CHROMIUM")
    if given:
        return given
    return next((found for name in BROWSERS if (found := shutil.which(name))), None)


def example_report() -> str:
    """The example MSP's sync: a write ConnectWise refuses, a drop the guardrails hold, a
    deleted, a cancelled and a hidden agreement."""
    example = build_example(30, seed=1)
    fake = example.fake
    first = example.usages[0]
    fake.faults.add(Fault.invalid(), method="POST", path=f"/{first.agreement_id}/additions$")
    usages = list(example.usages)
    dropped = usages[1]
    usages[1] = dropped._replace(seats=dict.fromkeys(dropped.seats, 0) | {"basic-10": 1})
    with ConnectWiseClient(API_URL, example.credentials, transport=fake.transport()) as client:
        report = sync_all(client, example.plans, example.mapping, usages, today=TODAY)
    return report.to_html(currency="$")


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
    return report.to_html(title="<script>alert(5)</script>", currency="<i>$</i>")


def run(browser: str, profile: Path, page: Path, *options: str) -> subprocess.CompletedProcess[str]:
    command = [
        browser,
        "--headless",
        "--disable-gpu",
        "--no-sandbox",  # as root, in a container: Chromium's sandbox needs namespaces
        "--no-first-run",
        "--disable-dev-shm-usage",
        "--hide-scrollbars",
        f"--user-data-dir={profile}",
        "--enable-logging=stderr",
        "--v=0",
        *options,
        page.as_uri(),
    ]
    return subprocess.run(  # noqa: S603 - the browser found above, on our own page
        command, capture_output=True, text=True, timeout=120, check=False
    )


def console_messages(done: subprocess.CompletedProcess[str]) -> list[str]:
    return [line for line in done.stderr.splitlines() if CONSOLE.search(line)]


def check(browser: str, profile: Path, page: Path) -> list[str]:
    """What is wrong with `page` in the browser: console messages, markup that became
    elements, a page that did not render."""
    done = run(browser, profile, page, "--dump-dom")
    problems = [f"console: {line}" for line in console_messages(done)]
    dom = done.stdout
    if done.returncode != 0 or "</html>" not in dom:
        problems.append(f"did not render (exit {done.returncode}): {done.stderr[-500:]}")
    problems += [
        f"the rendered page has a {element}> element"
        for element in ("<script", "<img", "<iframe", "<link", "<object", "<embed")
        if element in dom.lower()
    ]
    if 'id="verdict"' not in dom:
        problems.append("the rendered page has no verdict")
    return problems


def screenshot(
    browser: str, profile: Path, page: Path, target: Path, size: tuple[int, int]
) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    done = run(
        browser, profile, page, f"--screenshot={target}", f"--window-size={size[0]},{size[1]}"
    )
    if done.returncode != 0 or not target.exists():
        raise RuntimeError(f"no screenshot of {page.name} (exit {done.returncode})")
    messages = console_messages(done)
    if messages:
        raise RuntimeError(f"console messages while taking the screenshot: {messages}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "browser-check")
    parser.add_argument("--docs", action="store_true", help="also save docs/images/html-report.png")
    args = parser.parse_args(argv)
    browser = chromium()
    if browser is None:
        print(
            "Chromium is not installed: run scripts/install-chromium (or set CHROMIUM to a "
            "Chromium or Chrome binary)",
            file=sys.stderr,
        )
        return 2
    set_testing(True)  # the simulator's faults settle without waiting
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    pages = {"example": example_report(), "hostile": hostile_report()}
    with tempfile.TemporaryDirectory(prefix="browser-check-") as scratch:
        profile = Path(scratch)
        canary = out / "canary.html"
        canary.write_text(CANARY, encoding="utf-8")
        if not console_messages(run(browser, profile, canary, "--dump-dom")):
            print(
                f"{browser} logged no console message for {canary}: cannot check", file=sys.stderr
            )
            return 2
        failed = False
        for name, text in pages.items():
            path = out / f"{name}.html"
            path.write_text(text, encoding="utf-8")
            problems = check(browser, profile, path)
            failed = failed or bool(problems)
            for problem in problems:
                print(f"{path}: {problem}", file=sys.stderr)
            if not problems:
                print(f"{path}: rendered, no console message")
        example = out / "example.html"
        desktop, phone = out / "html-report.png", out / "html-report-phone.png"
        screenshot(browser, profile, example, desktop, DESKTOP)
        screenshot(browser, profile, example, phone, PHONE)
        print(f"screenshots: {desktop} {phone}")
        if args.docs:
            target = ROOT / "docs" / "images" / "html-report.png"
            shutil.copyfile(desktop, target)
            print(f"docs screenshot: {target}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
