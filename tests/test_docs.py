"""Every Python block in the docs and the README runs, against the simulator.

Each block runs on its own, in a fresh namespace: a reader can copy any one block and run
it, so every block has its own imports and setup (nothing is carried over from an earlier
block of the page, and no name such as `credentials` is given). Requests to ConnectWise hosts
(`na.myconnectwise.net`, ...) are answered by an example `FakeConnectWise` of the company id
`mymsp`, whose API member's keys are in `CW_PUBLIC_KEY` and `CW_PRIVATE_KEY` (what
`Credentials.from_env` reads); requests to 127.0.0.1 (a page's own `fake.serve()`) go over
real HTTP as written.
"""

from __future__ import annotations

import contextlib
import io
import re
import textwrap
from pathlib import Path

import httpx
import pytest

from connectwise_billing.testing import FakeConnectWise, build_example

ROOT = Path(__file__).resolve().parent.parent
PAGES = [*sorted((ROOT / "docs").rglob("*.md")), ROOT / "README.md"]
FENCE = re.compile(
    r"^(?P<indent>[ \t]*)```python\n(?P<code>.*?)^(?P=indent)```"
    r"(?:\s*which prints:\s*```text\n(?P<prints>.*?)```)?",
    re.S | re.M,
)
DOCS_COMPANY_ID = "mymsp"


SNIPPET = re.compile(r'^--8<-- "(?P<path>[^"]+)"$')


def python_blocks(page: Path) -> list[tuple[str, str | None]]:
    """(code, what it prints) for each Python block; the output when a page shows it.

    Blocks that only include a file from examples/ are left out: tests/test_examples.py runs
    those files.
    """
    blocks = []
    for match in FENCE.finditer(page.read_text()):
        code = textwrap.dedent(match.group("code"))
        snippet = SNIPPET.match(code.strip())
        if snippet:
            assert snippet.group("path").startswith("examples/"), snippet.group("path")
            continue
        blocks.append((code, match.group("prints")))
    return blocks


def _is_local(request: httpx.Request) -> bool:
    return request.url.host in ("127.0.0.1", "localhost", "::1")


class _Routing(httpx.BaseTransport):
    def __init__(self, fake: FakeConnectWise, real: httpx.BaseTransport) -> None:
        self.fake, self.real = fake.transport(), real

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        return (self.real if _is_local(request) else self.fake).handle_request(request)

    def close(self) -> None:
        self.real.close()


class _AsyncRouting(httpx.AsyncBaseTransport):
    def __init__(self, fake: FakeConnectWise, real: httpx.AsyncBaseTransport) -> None:
        self.fake, self.real = fake.async_transport(), real

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        target = self.real if _is_local(request) else self.fake
        return await target.handle_async_request(request)

    async def aclose(self) -> None:
        await self.real.aclose()


@pytest.fixture
def connectwise(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # pages may write files (an audit log)
    example = build_example(companies=8, seed=3)
    fake = example.fake
    fake.add_product("MBX-GOLD-50-CP", price="8.00", cost="3.25", id=1043)  # the README's product
    fake.company_id = DOCS_COMPANY_ID
    member = example.credentials
    monkeypatch.setenv("CW_PUBLIC_KEY", member.public_key)
    monkeypatch.setenv("CW_PRIVATE_KEY", member.private_key)
    real_sync, real_async = httpx.HTTPTransport, httpx.AsyncHTTPTransport
    monkeypatch.setattr(
        httpx._client, "HTTPTransport", lambda **kw: _Routing(fake, real_sync(**kw))
    )
    monkeypatch.setattr(
        httpx._client, "AsyncHTTPTransport", lambda **kw: _AsyncRouting(fake, real_async(**kw))
    )


@pytest.mark.usefixtures("connectwise")
@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(ROOT)) for p in PAGES])
def test_python_blocks_run(page: Path) -> None:
    for number, (block, prints) in enumerate(python_blocks(page), start=1):
        namespace: dict[str, object] = {"__name__": "docs"}
        output = io.StringIO()
        try:
            with contextlib.redirect_stdout(output):
                exec(compile(block, f"{page.name} block {number}", "exec"), namespace)
        except Exception as error:
            pytest.fail(f"{page.name} block {number} failed: {error!r}\n\n{block}")
        if prints is not None:
            assert output.getvalue() == prints, f"{page.name} block {number} prints otherwise"


def test_the_pages_have_blocks_to_run_and_outputs_to_check() -> None:
    assert python_blocks(ROOT / "docs" / "guides" / "client.md")
    [(_, prints)] = python_blocks(ROOT / "docs" / "concepts" / "reconciliation.md")
    assert prints is not None and prints.startswith("Agreement 77 - Contoso Ltd")
