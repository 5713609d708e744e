"""Check the built documentation site against the public API (`make test` runs it after
`mkdocs build`).

    python scripts/check_reference.py [SITE_DIR]

Fails, naming each offender, when:

- a public name (in `__all__` of the package or of a public module) has no reference entry;
- an object is documented twice (two entries, or one HTML id used twice on a page);
- a field of a documented class has no description;
- a type in a documented signature names an object of the package that has no entry (it would
  be shown as plain text instead of a link);
- a link or anchor between pages leads nowhere;
- a code block has a line wider than the content column (`WIDTH` characters), or a doctest
  renders as text;
- a diagram names a function or class the package does not have.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
import sys
from collections import defaultdict
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import griffe

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "connectwise_billing"
WIDTH = 100
"""Columns of code the widened content area shows without scrolling (docs/stylesheets)."""

sys.path.insert(0, str(ROOT / "scripts"))
from griffe_reference import ReferenceShape, private  # noqa: E402


class Page(HTMLParser):
    """The ids, links, headings of API entries, unresolved references and code lines of a page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.ids: list[str] = []
        self.entries: list[str] = []
        self.links: list[str] = []
        self.unresolved: list[str] = []
        self.code: list[str] = []
        self.mermaid: list[str] = []
        self.prose_doctests: list[str] = []
        self._pre = 0
        self._mermaid = 0
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        classes = (attributes.get("class") or "").split()
        if (identifier := attributes.get("id")) is not None:
            self.ids.append(identifier)
            if "doc-heading" in classes:
                self.entries.append(identifier)
        if tag == "a" and (href := attributes.get("href")) is not None:
            self.links.append(href)
        title = attributes.get("title") or ""
        # A parameter's name in a signature is titled `function(name)`: not a reference.
        if tag == "span" and title.startswith(PACKAGE + ".") and "(" not in title:
            self.unresolved.append(title)
        if tag == "pre":
            self._pre += 1
            if "mermaid" in classes:
                self._mermaid += 1
            self._text = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "pre" and self._pre:
            self._pre -= 1
            text = "".join(self._text)
            if self._mermaid:
                self._mermaid -= 1
                self.mermaid.append(text)
            else:
                self.code.extend(text.splitlines())

    def handle_data(self, data: str) -> None:
        if self._pre:
            self._text.append(data)
        elif ">>>" in data:
            self.prose_doctests.append(data.strip())


def public_names() -> Iterator[tuple[str, str]]:
    """(module, name) for every name in `__all__` of the package and its public modules."""
    package = importlib.import_module(PACKAGE)
    modules = [PACKAGE] + [
        info.name
        for info in pkgutil.walk_packages(package.__path__, PACKAGE + ".")
        if not private(info.name) and not info.name.endswith(".__main__")
    ]
    for module_name in modules:
        module = importlib.import_module(module_name)
        for name in getattr(module, "__all__", ()):
            yield module_name, name


def load() -> griffe.Module:
    loader = griffe.GriffeLoader(
        search_paths=[str(ROOT / "src")],
        extensions=griffe.load_extensions(ReferenceShape()),
    )
    package = loader.load(PACKAGE)
    if not isinstance(package, griffe.Module):
        raise TypeError(f"{PACKAGE} did not load as a package")
    loader.resolve_aliases(implicit=True, external=False)
    loader.extensions.call("on_package", pkg=package, loader=loader)
    return package


def lookup(package: griffe.Module, path: str) -> griffe.Object | griffe.Alias | None:
    try:
        return package.modules_collection[path]
    except (KeyError, griffe.AliasResolutionError, griffe.CyclicAliasError):
        return None


def canonical(obj: griffe.Object | griffe.Alias) -> str:
    try:
        return obj.final_target.path if isinstance(obj, griffe.Alias) else obj.path
    except (griffe.AliasResolutionError, griffe.CyclicAliasError):
        return obj.path


def undescribed_fields(cls: griffe.Class) -> Iterator[str]:
    for name, member in cls.all_members.items():
        if name.startswith("_"):
            continue
        try:
            target = member.final_target if isinstance(member, griffe.Alias) else member
        except (griffe.AliasResolutionError, griffe.CyclicAliasError):
            continue
        if not isinstance(target, griffe.Attribute):
            continue
        if target.docstring is None or not target.docstring.value.strip():
            yield f"{cls.path}.{name}"


def main(site: Path) -> int:
    package = load()
    problems: list[str] = []
    pages: dict[Path, Page] = {}
    for html in sorted(site.rglob("*.html")):
        if html.name == "404.html":
            continue  # its links are absolute, for whatever URL an error page is served at
        page = Page()
        page.feed(html.read_text(encoding="utf-8"))
        pages[html] = page

    documented: dict[str, list[str]] = defaultdict(list)
    for html, page in pages.items():
        where = html.relative_to(site).parent.as_posix() or "index"
        for identifier, count in _counts(page.ids).items():
            if count > 1:
                problems.append(f"{where}: the id {identifier} is used {count} times")
        for identifier in page.entries:
            obj = lookup(package, identifier)
            if obj is None:
                continue
            if isinstance(obj, griffe.Alias) and obj.inherited:
                continue  # shown under a subclass as well as where it is defined
            documented[canonical(obj)].append(f"{where}#{identifier}")
            target = obj.final_target if isinstance(obj, griffe.Alias) else obj
            if isinstance(target, griffe.Class):
                problems.extend(
                    f"{where}: the field {field} has no description"
                    for field in undescribed_fields(target)
                )
        problems.extend(
            f"{where}: {title} is named but has no reference entry to link to"
            for title in sorted(set(page.unresolved))
        )
        problems.extend(
            f"{where}: code wider than {WIDTH} columns: {line.strip()[:60]}"
            for line in page.code
            if len(line) > WIDTH
        )
        problems.extend(
            f"{where}: a doctest renders as text, not code: {text[:60]}"
            for text in page.prose_doctests
        )
        problems.extend(
            f"{where}: a diagram names {name}(), which does not exist"
            for diagram in page.mermaid
            for name in re.findall(r"\b([A-Za-z_][A-Za-z0-9_.]*)\(\)", diagram)
            if not any(lookup(package, f"{module}.{name}") for module in _modules(package))
        )
        problems.extend(_broken_links(site, html, page, pages))

    for path, places in sorted(documented.items()):
        if len(places) > 1:
            problems.append(f"{path} is documented {len(places)} times: {', '.join(places)}")
    for module, name in public_names():
        value = getattr(importlib.import_module(module), name)
        if inspect.isfunction(value) or inspect.isclass(value):
            # By the object itself: the root's `reconcile` is the function, not the package.
            path = f"{value.__module__}.{value.__qualname__}"
        else:
            obj = lookup(package, f"{module}.{name}")
            path = canonical(obj) if obj is not None else f"{module}.{name}"
        if path not in documented:
            problems.append(f"{module}.{name} ({path}) has no reference entry")

    for problem in dict.fromkeys(problems):
        print(problem)
    if problems:
        print(f"{len(problems)} problem(s) in the reference", file=sys.stderr)
        return 1
    print(f"reference: {len(documented)} objects documented once, links and anchors whole")
    return 0


def _counts(values: list[str]) -> dict[str, int]:
    counts: dict[str, int] = defaultdict(int)
    for value in values:
        counts[value] += 1
    return counts


def _modules(package: griffe.Module) -> Iterator[str]:
    yield package.path
    for member in package.members.values():
        if isinstance(member, griffe.Module):
            yield from _modules(member)


def _broken_links(site: Path, html: Path, page: Page, pages: dict[Path, Page]) -> Iterator[str]:
    where = html.relative_to(site).as_posix()
    for href in page.links:
        parts = urlsplit(href)
        if parts.scheme or parts.netloc:
            continue
        target = html if not parts.path else (html.parent / unquote(parts.path)).resolve()
        if target.is_dir():
            target = target / "index.html"
        if not target.exists():
            yield f"{where}: the link {href} leads to no file"
            continue
        fragment = unquote(parts.fragment)
        if fragment and target in pages and fragment not in pages[target].ids:
            yield f"{where}: the link {href} names an anchor the page does not have"


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "site"))
