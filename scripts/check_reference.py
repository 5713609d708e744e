"""Check the built documentation site against the public API (`make test` runs it after
`mkdocs build`).

    python scripts/check_reference.py [SITE_DIR]

Fails, naming each offender, when:

- a public name (in `__all__` of the package or of a public module) has no reference entry;
- an object is documented twice (two entries, or one HTML id used twice on a page);
- a field of a documented class has no description;
- a documented attribute shows no type: no annotation (or a bare `Final` with no value), or,
  for a type alias or a `TypeVar`, no definition;
- a method of a resource (what `client.products`, `client.additions`, ... are) shows a
  `TypeVar` in its signature: a reader of `client.additions.create` needs `NewAddition`, not
  `N`;
- a method of a resource has no row, with its concrete types, in the resource tables of the
  client's reference (`client.additions.create(parent_id: int, record: NewAddition, ...) ->
  Addition`), or a row no longer matches a method;
- a class whose constructor Python writes (an attrs class, a NamedTuple) shows no signature;
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
import warnings
from collections import defaultdict
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import NamedTuple, TypeVar
from urllib.parse import unquote, urlsplit

import attrs
import griffe

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "connectwise_billing"
WIDTH = 100
"""Columns of code the widened content area shows without scrolling (docs/stylesheets)."""
CLIENT = f"{PACKAGE}.ConnectWiseClient"
"""The client whose resources the tables list (the async client's are the same, awaited)."""
PER_CALL = ("timeout: Timeout | None = None", "retry: RetryPolicy | None = None")
"""The options every resource method takes, written `...` in a row of the tables."""
ROW = re.compile(r"^client\.\w+\.\w+\(.*\) -> .+$", re.DOTALL)

sys.path.insert(0, str(ROOT / "scripts"))
from griffe_reference import (  # noqa: E402
    ReferenceShape,
    is_type_alias,
    private,
    resolve,
    runtime,
    substitute,
    type_arguments,
)


class Signature(NamedTuple):
    """The signature an API entry renders: its text and the objects it links to or names."""

    kind: str
    text: str
    references: tuple[str, ...]


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
        self.kinds: dict[str, str] = {}
        self.signatures: dict[str, Signature] = {}
        self.inline_code: list[str] = []
        self._pre = 0
        self._mermaid = 0
        self._text: list[str] = []
        self._entry: str | None = None
        self._kind = ""
        self._heading: str | None = None
        self._signature = 0
        self._signature_text: list[str] = []
        self._references: list[str] = []
        self._code: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        classes = (attributes.get("class") or "").split()
        if (identifier := attributes.get("id")) is not None:
            self.ids.append(identifier)
            if "doc-heading" in classes:
                self.entries.append(identifier)
                self._entry, self._kind, self._heading = identifier, "", tag
        if tag == "code" and self._heading is not None:
            # The heading's symbol says what the entry is: `doc-symbol-attribute`, ...
            kinds = [
                name.removeprefix("doc-symbol-")
                for name in classes
                if name.startswith("doc-symbol-") and name != "doc-symbol-heading"
            ]
            self._kind = kinds[0] if kinds else self._kind
            if self._entry is not None:
                self.kinds[self._entry] = self._kind
        elif tag == "code" and not self._pre:
            self._code = []
        if tag == "div" and self._signature:
            self._signature += 1
        elif tag == "div" and "doc-signature" in classes and self._entry is not None:
            self._signature, self._signature_text, self._references = 1, [], []
        if self._signature:
            self._references.extend(
                value for key, value in attrs if key in {"title", "href"} and value
            )
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
        if tag == self._heading:
            self._heading = None
        if tag == "code" and self._code is not None:
            self.inline_code.append("".join(self._code))
            self._code = None
        if tag == "div" and self._signature:
            self._signature -= 1
            if not self._signature and self._entry is not None:
                text = "".join(self._signature_text).strip()
                self.signatures[self._entry] = Signature(self._kind, text, tuple(self._references))
                self._entry = None
        if tag == "pre" and self._pre:
            self._pre -= 1
            text = "".join(self._text)
            if self._mermaid:
                self._mermaid -= 1
                self.mermaid.append(text)
            else:
                self.code.extend(text.splitlines())

    def handle_data(self, data: str) -> None:
        if self._signature:
            self._signature_text.append(data)
        if self._code is not None:
            self._code.append(data)
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
        with warnings.catch_warnings():
            # A deprecated alias (`connectwise_billing.sync`) warns when imported; its names
            # are checked like any other's, each where it is defined.
            warnings.simplefilter("ignore", DeprecationWarning)
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
    # ReferenceShape ran as the package loaded, as it does under mkdocstrings: running it again
    # would shape the shaped package, and the check would not see what the pages show.
    loader.resolve_aliases(implicit=True, external=False)
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


def target(obj: griffe.Object | griffe.Alias | None) -> griffe.Object | None:
    try:
        return obj.final_target if isinstance(obj, griffe.Alias) else obj
    except (griffe.AliasResolutionError, griffe.CyclicAliasError):
        return None


SHAPE = re.compile(r"(?::\s*(?P<annotation>[^=]+?))?\s*(?:=\s*(?P<value>.+))?", re.DOTALL)


def shows_type(text: str, name: str, *, alias: bool) -> bool:
    """Whether an attribute's rendered signature (`name: T = value`) says its type: an
    annotation (a bare `Final` only with its value), or for a type alias its definition."""
    shape = SHAPE.fullmatch(text.removeprefix(name).strip())
    if shape is None:
        return False
    annotation, value = shape["annotation"], shape["value"]
    if alias:
        return value is not None
    return annotation is not None and (annotation.strip() != "Final" or value is not None)


def untyped_attributes(package: griffe.Module, where: str, page: Page) -> Iterator[str]:
    for identifier, signature in page.signatures.items():
        attribute = target(lookup(package, identifier))
        if signature.kind != "attribute" or not isinstance(attribute, griffe.Attribute):
            continue
        name = identifier.rpartition(".")[2]
        if not shows_type(signature.text, name, alias=is_type_alias(attribute)):
            yield f"{where}: the attribute {identifier} shows no type ({signature.text})"


def classes_without_constructor(package: griffe.Module, where: str, page: Page) -> Iterator[str]:
    for identifier, kind in page.kinds.items():
        cls = target(lookup(package, identifier))
        if kind != "class" or identifier in page.signatures or not isinstance(cls, griffe.Class):
            continue
        try:
            value = runtime(cls)
        except (ImportError, AttributeError):
            continue
        if not isinstance(value, type):
            continue
        if attrs.has(value) or (issubclass(value, tuple) and hasattr(value, "_fields")):
            yield f"{where}: the class {identifier} shows no constructor"


def resource_classes() -> tuple[type, ...]:
    """What the client's resource attributes are."""
    from connectwise_billing.client import (
        AsyncChildResource,
        AsyncResource,
        ChildResource,
        Resource,
    )

    return (Resource, ChildResource, AsyncResource, AsyncChildResource)


def is_resource(cls: griffe.Class) -> bool:
    try:
        value = runtime(cls)
    except (ImportError, AttributeError):
        return False
    return isinstance(value, type) and issubclass(value, resource_classes())


def typevars_in_resource_signatures(
    package: griffe.Module, where: str, page: Page
) -> Iterator[str]:
    for identifier, signature in page.signatures.items():
        obj = target(lookup(package, identifier))
        owner = obj if isinstance(obj, griffe.Class) else getattr(obj, "parent", None)
        if not isinstance(owner, griffe.Class) or not is_resource(owner):
            continue
        named = {
            path
            for reference in signature.references
            for path in re.findall(rf"\b{PACKAGE}(?:\.\w+)+", reference)
        }
        typevars = sorted(path for path in named if isinstance(resolve(path), TypeVar))
        if typevars:
            yield (
                f"{where}: {identifier} shows {', '.join(typevars)} in its signature: a "
                "resource's types are shown concretely, in the tables of the client's reference"
            )


def resource_rows(package: griffe.Module) -> dict[str, str]:
    """The row of the resource tables each method of each resource of the client must have,
    with the object it stands for: `client.products.search(text: str, *, strict: bool | None
    = None, ...) -> Listing[Product]`."""
    client = target(lookup(package, CLIENT))
    if not isinstance(client, griffe.Class):
        raise TypeError(f"{CLIENT} is not a class")
    rows = {}
    for name, member in client.members.items():
        annotation = member.annotation if isinstance(member, griffe.Attribute) else None
        head = annotation.left if isinstance(annotation, griffe.ExprSubscript) else annotation
        if name.startswith("_") or not isinstance(head, griffe.ExprName | griffe.ExprAttribute):
            continue
        accessor = target(lookup(package, head.canonical_path))
        if not isinstance(accessor, griffe.Class) or not is_resource(accessor):
            continue
        arguments = type_arguments(annotation, accessor)
        for method in accessor.members.values():
            if isinstance(method, griffe.Function) and not method.name.startswith("_"):
                rows[row(name, method, arguments)] = f"{accessor.path}.{method.name}"
    return rows


def row(attribute: str, method: griffe.Function, arguments: dict[str, griffe.Expr]) -> str:
    """`client.<attribute>.<method>(...) -> ...`, written as Python writes a signature, with the
    resource's types for its type parameters and `...` for the per-call options."""
    kind = griffe.ParameterKind
    parts: list[str] = []
    previous = None
    for parameter in method.parameters:
        if parameter.name == "self":
            continue
        if parameter.kind is kind.keyword_only and previous not in {
            kind.keyword_only,
            kind.var_positional,
        }:
            parts.append("*")
        if previous is kind.positional_only and parameter.kind is not kind.positional_only:
            parts.append("/")
        stars = {kind.var_positional: "*", kind.var_keyword: "**"}.get(parameter.kind, "")
        text = stars + parameter.name
        if parameter.annotation is not None:
            text += f": {substitute(parameter.annotation, arguments)}"
        if parameter.default is not None and not stars:  # griffe gives `**filters` `{}`
            text += f" = {parameter.default}"
        parts.append(text)
        previous = parameter.kind
    if previous is kind.positional_only:
        parts.append("/")
    written = ", ".join(parts)
    for options in (", ".join(("*", *PER_CALL)), ", ".join(PER_CALL)):
        written = written.replace(options, "...")
    returns = substitute(method.returns, arguments)
    return f"client.{attribute}.{method.name}({written}) -> {returns}"


def resource_table_problems(package: griffe.Module, pages: dict[Path, Page]) -> Iterator[str]:
    rows = resource_rows(package)
    shown = {" ".join(code.split()) for page in pages.values() for code in page.inline_code}
    for text, method in sorted(rows.items()):
        if text not in shown:
            yield f"{method} has no row in the resource tables; write: `{text}`"
    for text in sorted(shown - rows.keys()):
        if ROW.match(text):
            yield f"the row `{text}` of the resource tables matches no method of a resource"


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
        problems.extend(untyped_attributes(package, where, page))
        problems.extend(classes_without_constructor(package, where, page))
        problems.extend(typevars_in_resource_signatures(package, where, page))
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

    problems.extend(resource_table_problems(package, pages))
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
