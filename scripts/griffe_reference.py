"""A griffe extension that shapes the API reference for users (loaded by mkdocs.yml).

- A field described in its class's `Attributes:` section gets that description as its own
  docstring and the section goes, so every field is rendered once, with its type, its default
  and an anchor (`#connectwise_billing.client.models.Product.price`) that guides link to.
- Members a public class inherits from a private base (`_PlanFields`, the report totals, ...)
  become the class's own, and the private base leaves "Bases:": a reader sees what the class
  offers without the implementation's scaffolding.

`scripts/check_reference.py` loads the package through this extension too, so the check sees
what the pages show.
"""

from __future__ import annotations

import copy
import dataclasses
import re
from collections.abc import Iterator
from typing import Any

import griffe

LONGEST_VALUE = 72
SECTION = re.compile(r"^Attributes:\n((?:[ \t]+.*\n|\n)*)", re.MULTILINE)


def private(path: str) -> bool:
    """Whether an object path goes through a private module or names a private object."""
    return any(part.startswith("_") and not part.startswith("__") for part in path.split("."))


def classes(obj: griffe.Object) -> Iterator[griffe.Class]:
    """Every class defined in `obj`, nested ones too (aliases are skipped: they are re-exports)."""
    for member in obj.members.values():
        if member.is_alias:
            continue
        if isinstance(member, griffe.Class):
            yield member
        if isinstance(member, griffe.Module | griffe.Class):
            yield from classes(member)


def modules(module: griffe.Module) -> Iterator[griffe.Module]:
    yield module
    for member in module.members.values():
        if not member.is_alias and isinstance(member, griffe.Module):
            yield from modules(member)


def adopt_private_bases(cls: griffe.Class) -> None:
    private_bases = []
    for base in cls.bases:
        name = base.left if isinstance(base, griffe.ExprSubscript) else base
        if not isinstance(name, griffe.ExprName):
            continue
        try:
            target = cls.modules_collection[name.canonical_path]
        except KeyError:
            continue
        if isinstance(target, griffe.Alias):
            target = target.final_target
        if not private(target.path) or not isinstance(target, griffe.Class):
            continue
        private_bases.append(base)
        arguments = type_arguments(base, target)
        for name, member in target.all_members.items():
            if name.startswith("_") and name != "__init__":
                continue
            inherited = member.final_target if isinstance(member, griffe.Alias) else member
            own = cls.members.get(name)
            if own is None:
                cls.set_member(name, specialised(inherited, arguments))
            elif not own.is_alias and own.docstring is None:
                own.docstring = inherited.docstring  # `is_async = True` says what the base says
    if private_bases:
        cls.bases = [base for base in cls.bases if base not in private_bases]


def type_arguments(base: griffe.Expr, target: griffe.Class) -> dict[str, griffe.Expr]:
    """The type parameters of a generic base, by name, with what `base` gives them:
    `BaseClient[httpx.Client, httpx.BaseTransport]` gives `HttpT` and `TransportT`."""
    if not isinstance(base, griffe.ExprSubscript):
        return {}
    given = base.slice.elements if isinstance(base.slice, griffe.ExprTuple) else [base.slice]
    for generic in target.bases:
        if isinstance(generic, griffe.ExprSubscript) and str(generic.left) in {
            "Generic",
            "typing.Generic",
        }:
            names = (
                generic.slice.elements
                if isinstance(generic.slice, griffe.ExprTuple)
                else [generic.slice]
            )
            return {
                str(name): value
                for name, value in zip(names, given, strict=False)
                if isinstance(value, griffe.Expr)
            }
    return {}


def substitute(expr: Any, arguments: dict[str, griffe.Expr]) -> Any:
    if isinstance(expr, griffe.ExprName):
        return arguments.get(expr.name, expr)
    if not isinstance(expr, griffe.Expr) or not arguments:
        return expr
    changes = {}
    for field in dataclasses.fields(expr):
        value = getattr(expr, field.name)
        if isinstance(value, griffe.Expr):
            changes[field.name] = substitute(value, arguments)
        elif isinstance(value, list):
            changes[field.name] = [substitute(item, arguments) for item in value]
    return dataclasses.replace(expr, **changes)


def specialised(member: griffe.Object, arguments: dict[str, griffe.Expr]) -> griffe.Object:
    """A copy of `member` for a subclass, its type parameters replaced by the subclass's."""
    own = copy.copy(member)
    if isinstance(own, griffe.Function):
        own.parameters = griffe.Parameters(
            *(
                griffe.Parameter(
                    parameter.name,
                    annotation=substitute(parameter.annotation, arguments),
                    kind=parameter.kind,
                    default=parameter.default,
                    docstring=parameter.docstring,
                )
                for parameter in member.parameters  # type: ignore[attr-defined]
            )
        )
        own.returns = substitute(own.returns, arguments)
    elif isinstance(own, griffe.Attribute):
        own.annotation = substitute(own.annotation, arguments)
    return own


def describe_from_arguments(cls: griffe.Class) -> None:
    """A field named after an argument of the class (`client.base_url`, `lock.directory`) is
    what the argument set: without a description of its own, it takes the argument's."""
    described: dict[str, str] = {}
    init = cls.members.get("__init__")
    for docstring in (cls.docstring, init.docstring if init is not None else None):
        if docstring is None:
            continue
        for section in docstring.parse("google"):
            if section.kind is griffe.DocstringSectionKind.parameters:
                described.update((item.name, item.description) for item in section.value)
    for name, member in cls.members.items():
        if (
            name in described
            and isinstance(member, griffe.Attribute)
            and not (member.docstring and member.docstring.value.strip())
        ):
            member.docstring = griffe.Docstring(described[name], parent=member)


def describe_fields(cls: griffe.Class) -> None:
    describe_from_arguments(cls)
    docstring = cls.docstring
    if docstring is None or "Attributes:" not in docstring.value:
        return
    for section in docstring.parse("google"):
        if section.kind is not griffe.DocstringSectionKind.attributes:
            continue
        for item in section.value:
            member = cls.members.get(item.name)
            if member is None:
                member = griffe.Attribute(item.name, annotation=item.annotation)
                cls.set_member(item.name, member)
            elif member.is_alias:
                continue
            if member.docstring is None or not member.docstring.value.strip():
                member.docstring = griffe.Docstring(item.description, parent=member)
    docstring.value = SECTION.sub("", docstring.value + "\n").rstrip()


def names_private(expr: object) -> bool:
    if isinstance(expr, griffe.ExprName):
        return expr.name.startswith("_")
    if isinstance(expr, griffe.Expr):
        return any(names_private(part) for part in expr.iterate(flat=True))
    return False


def hide_machinery(obj: griffe.Module | griffe.Class) -> None:
    # `price: Decimal | None = _wire(strict=True)`: the call says how the field is read, which
    # is the maintainers' business; the reader needs its type and description. The same for a
    # value built with private helpers (`Writable(check=_flag)`).
    for member in obj.members.values():
        if not isinstance(member, griffe.Attribute):
            continue
        # A long value (a message, a help text) would run past the column: its docstring
        # says what it is.
        if (
            names_private(member.value)
            or len(str(member.value or "")) > LONGEST_VALUE
            or (isinstance(obj, griffe.Class) and isinstance(member.value, griffe.ExprCall))
        ):
            member.value = None


class ReferenceShape(griffe.Extension):
    """Runs once the whole package is loaded, so that bases and aliases resolve."""

    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        for cls in list(classes(pkg)):
            adopt_private_bases(cls)
        for cls in list(classes(pkg)):
            describe_fields(cls)
            hide_machinery(cls)
        for module in modules(pkg):
            hide_machinery(module)
