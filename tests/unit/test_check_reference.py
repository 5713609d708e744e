"""The reference check (`make docs`) sees what it is meant to fail on, and the real site passes
it."""

import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.conftest import load_file

ROOT = Path(__file__).resolve().parents[2]


def checker() -> ModuleType:
    return load_file(ROOT / "scripts" / "check_reference.py")


def build(site: Path, pages: dict[str, str]) -> None:
    for name, html in pages.items():
        path = site / name / "index.html"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(html, encoding="utf-8")


def test_a_link_to_a_missing_anchor_or_page_is_reported(tmp_path: Path) -> None:
    check = checker()
    build(
        tmp_path,
        {
            "a": '<h2 id="here">A</h2><a href="../b/#there">ok</a><a href="../b/#gone">no</a>'
            '<a href="../c/">no page</a><a href="https://example.com/">outside</a>',
            "b": '<h2 id="there">B</h2>',
        },
    )
    parsed = {}
    for html in sorted(tmp_path.rglob("*.html")):
        page = check.Page()
        page.feed(html.read_text())
        parsed[html] = page
    a = tmp_path / "a" / "index.html"
    problems = list(check._broken_links(tmp_path, a, parsed[a], parsed))
    assert len(problems) == 2
    assert "#gone" in problems[0]
    assert "../c/" in problems[1]


def test_the_page_parser_sees_entries_code_diagrams_and_prose_doctests() -> None:
    check = checker()
    page = check.Page()
    page.feed(
        '<h3 id="connectwise_billing.Plan" class="doc doc-heading">Plan</h3>'
        '<h3 id="connectwise_billing.Plan" class="doc doc-heading">Plan</h3>'
        "<pre><code>" + "x" * 120 + "\nshort</code></pre>"
        '<pre class="mermaid"><code>A["sync_all()"] --> B</code></pre>'
        "<blockquote><p>&gt;&gt;&gt; discounted_price(1, 2)</p></blockquote>"
        '<code><span title="connectwise_billing.client._api.M">M</span></code>'
    )
    assert page.entries == ["connectwise_billing.Plan", "connectwise_billing.Plan"]
    assert check._counts(page.ids)["connectwise_billing.Plan"] == 2
    assert [len(line) for line in page.code] == [120, 5]
    assert page.mermaid == ['A["sync_all()"] --> B']
    assert page.prose_doctests == [">>> discounted_price(1, 2)"]
    assert page.unresolved == ["connectwise_billing.client._api.M"]


def entry(identifier: str, kind: str, signature: str) -> str:
    """An API entry as mkdocstrings renders it: a heading, then the signature."""
    name = identifier.rpartition(".")[2]
    return (
        f'<h3 id="{identifier}" class="doc doc-heading">'
        f'<code class="doc-symbol doc-symbol-heading doc-symbol-{kind}"></code>{name}</h3>'
        f'<div class="doc-signature highlight"><pre><code>{signature}</code></pre></div>'
    )


def parsed(html: str) -> Any:
    page = checker().Page()
    page.feed(html)
    return page


@pytest.fixture(scope="module")
def package() -> Any:
    """The package as the reference shows it (loaded through scripts/griffe_reference.py)."""
    return checker().load()


@pytest.mark.parametrize(
    ("identifier", "signature", "typed"),
    [
        ("connectwise_billing.ConnectWiseClient.credentials", "credentials", False),
        ("connectwise_billing.ConnectWiseClient.credentials", "credentials = credentials", False),
        ("connectwise_billing.ConnectWiseClient.credentials", "credentials: Credentials", True),
        ("connectwise_billing.client._api.MAX_PAGE_SIZE", "MAX_PAGE_SIZE: Final", False),
        ("connectwise_billing.client._api.MAX_PAGE_SIZE", "MAX_PAGE_SIZE: Final = 1000", True),
        # A type alias is typed by its definition, which must show.
        ("connectwise_billing.client._api.Timeout", "Timeout", False),
        ("connectwise_billing.client._api.Timeout", "Timeout = float | httpx.Timeout", True),
        ("connectwise_billing.client._paging.M", "M = TypeVar('M')", True),
    ],
)
def test_an_attribute_that_shows_no_type_is_reported(
    package: Any, identifier: str, signature: str, typed: bool
) -> None:
    page = parsed(entry(identifier, "attribute", signature))
    problems = list(checker().untyped_attributes(package, "reference/client", page))
    assert len(problems) == (0 if typed else 1)
    assert all(identifier in problem for problem in problems)


def test_a_class_whose_constructor_python_writes_but_shows_none_is_reported(
    package: Any,
) -> None:
    def heading(identifier: str) -> str:
        return (
            f'<h2 id="{identifier}" class="doc doc-heading">'
            '<code class="doc-symbol doc-symbol-heading doc-symbol-class"></code></h2>'
        )

    page = parsed(
        heading("connectwise_billing.client._models.NewAddition")  # attrs
        + heading("connectwise_billing.CreateAddition")  # a NamedTuple
        + entry("connectwise_billing.Plan", "class", "Plan(id: str, name: str, ...)")
        + heading("connectwise_billing.client._ratelimit.Limiter")  # a Protocol: not built
    )
    problems = list(checker().classes_without_constructor(package, "reference/models", page))
    assert [problem.split()[3] for problem in problems] == [
        "connectwise_billing.client._models.NewAddition",
        "connectwise_billing.CreateAddition",
    ]


def test_a_typevar_in_a_resource_methods_signature_is_reported(package: Any) -> None:
    typevar = (
        '<a title="N (connectwise_billing.client._paging.N)" '
        'href="#connectwise_billing.client._paging.N">N</a>'
    )
    page = parsed(
        entry(
            "connectwise_billing.client._accessors.ChildResource.create",
            "method",
            f"create(parent_id: int, record: {typevar}, *, timeout=None, retry=None)",
        )
        + entry(
            "connectwise_billing.client._async_accessors.AsyncChildResource.create",
            "method",
            "create(parent_id, record, *, timeout=None, retry=None)",
        )
        # Not a resource: a generic container is generic in the reference too.
        + entry(
            "connectwise_billing.client._paging.Listing",
            "class",
            f"Listing(items: Iterable[{typevar}] = ())",
        )
    )
    problems = list(checker().typevars_in_resource_signatures(package, "reference/client", page))
    assert len(problems) == 1
    assert "ChildResource.create shows connectwise_billing.client._paging.N" in problems[0]


def test_a_resource_method_without_its_row_or_a_row_without_its_method_is_reported(
    package: Any,
) -> None:
    check = checker()
    rows = check.resource_rows(package)
    create = "client.additions.create(parent_id: int, record: NewAddition, ...) -> Addition"
    assert create in rows
    assert (
        "client.products.search(text: str, *, strict: bool | None = None, ...) -> Listing[Product]"
        in rows
    )
    shown = [row for row in rows if row != create]
    stale = "client.additions.create(parent_id: int, record: N, ...) -> M"
    page = parsed("".join(f"<li><code>{row}</code></li>" for row in [*shown, stale]))
    problems = list(check.resource_table_problems(package, {Path("client"): page}))
    assert len(problems) == 2
    assert f"write: `{create}`" in problems[0]
    assert stale in problems[1]


def test_the_real_site_passes_every_check(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    site = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet", "--site-dir", str(site)],
        cwd=ROOT, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"}, check=True,
    )  # fmt: skip
    assert checker().main(site) == 0, capsys.readouterr().out
