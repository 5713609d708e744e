"""The reference check (`make docs`) sees what it is meant to fail on."""

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]


def checker() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "check_reference", ROOT / "scripts" / "check_reference.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["check_reference"] = module
    spec.loader.exec_module(module)
    return module


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
        '<code><span title="connectwise_billing.client.api.M">M</span></code>'
    )
    assert page.entries == ["connectwise_billing.Plan", "connectwise_billing.Plan"]
    assert check._counts(page.ids)["connectwise_billing.Plan"] == 2
    assert [len(line) for line in page.code] == [120, 5]
    assert page.mermaid == ['A["sync_all()"] --> B']
    assert page.prose_doctests == [">>> discounted_price(1, 2)"]
    assert page.unresolved == ["connectwise_billing.client.api.M"]
