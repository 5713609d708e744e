"""A griffe extension that shapes the API reference for users (loaded by mkdocs.yml).

- A field described in its class's `Attributes:` section gets that description as its own
  docstring and the section goes, so every field is rendered once, with its type, its default
  and an anchor (`#connectwise_billing.client._models.Product.price`) that guides link to.
- Members a public class inherits from a private base (`_PlanFields`, the report totals, ...)
  become the class's own, and the private base leaves "Bases:": a reader sees what the class
  offers without the implementation's scaffolding.
- Every attribute shows the type mypy gives it: a descriptor declared on a client
  (`additions: ChildResourceSpec[Addition, NewAddition]`) shows what its `__get__` overloads
  return on that client (`ChildResource[Addition, NewAddition]`); an attribute set from an
  `__init__` argument (`self.code = code`) the argument's type; one that overrides a base's
  declaration (`is_async = False`) the declared type; a literal (`count = 0`) its own; one
  described as `name (type): ...` in `Attributes:` that type. An attribute none of these types
  stays untyped, and `check_reference.py` names it.
- An attrs class or a NamedTuple shows the constructor Python writes for it, with defaults.
- A type alias (`Status = Literal[...]`) keeps its definition, however long: it is its type.

`scripts/check_reference.py` loads the package through this extension too, so the check sees
what the pages show.
"""

from __future__ import annotations

import ast
import copy
import dataclasses
import importlib
import inspect
import re
import textwrap
import types
from collections.abc import Iterator
from typing import Any, TypeVar

import attrs
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
            if isinstance(member, griffe.Attribute) and member.annotation is None:
                member.annotation = item.annotation  # `code (str | None): ...`
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
        if not isinstance(member, griffe.Attribute) or is_type_alias(member):
            continue
        # A long value (a message, a help text) would run past the column: its docstring
        # says what it is.
        if (
            names_private(member.value)
            or len(str(member.value or "")) > LONGEST_VALUE
            or (isinstance(obj, griffe.Class) and isinstance(member.value, griffe.ExprCall))
        ):
            type_from_value(member, shown=False)  # the value goes; what it said of its type stays
            member.value = None


def runtime(obj: griffe.Object) -> Any:
    """The Python object `obj` describes (the package is imported to build its reference)."""
    module = obj.module
    value: Any = importlib.import_module(module.path)
    for name in obj.path.removeprefix(module.path).split(".")[1:]:
        value = getattr(value, name)
    return value


def is_type_alias(attribute: griffe.Attribute) -> bool:
    """Whether a module's attribute is a type (`Timeout = float | httpx.Timeout`, a `Literal`,
    a `TypeVar`) rather than a value: its definition is its type."""
    if not isinstance(attribute.parent, griffe.Module):
        return False
    try:
        value = runtime(attribute)
    except (ImportError, AttributeError):
        return False
    return isinstance(value, TypeVar | types.UnionType | types.GenericAlias) or (
        type(value).__module__ == "typing"
    )


def reassigned(function: griffe.Function) -> set[str]:
    """The names a function's body assigns to (a parameter among them no longer has, there,
    the type its annotation says)."""
    tree = ast.parse(textwrap.dedent(function.source))
    names = set()
    for node in ast.walk(tree):
        targets: list[ast.expr] = []
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, ast.AugAssign | ast.AnnAssign | ast.NamedExpr):
            targets = [node.target]
        names.update(target.id for target in targets if isinstance(target, ast.Name))
    return names


def infer_types(cls: griffe.Class) -> None:
    """Give each of the class's own attributes without an annotation the type mypy gives it,
    when it is plain from the source (see the module's docstring)."""
    init = cls.members.get("__init__")
    arguments: dict[str, griffe.Parameter] = {}
    if isinstance(init, griffe.Function):
        kept = {parameter.name for parameter in init.parameters} - reassigned(init)
        arguments = {p.name: p for p in init.parameters if p.name in kept and p.annotation}
    try:
        bases = cls.mro()
    except ValueError:
        bases = []
    for name, member in cls.members.items():
        if not isinstance(member, griffe.Attribute) or member.annotation is not None:
            continue
        declared = [
            base.members[name].annotation
            for base in bases
            if isinstance(base.members.get(name), griffe.Attribute)
            and base.members[name].annotation is not None
        ]
        if declared:
            member.annotation = declared[0]
        elif (
            "instance-attribute" in member.labels
            and isinstance(member.value, griffe.ExprName)
            and member.value.name in arguments
        ):
            member.annotation = arguments[member.value.name].annotation
            member.value = None  # `= credentials`, the argument: the type says more
        else:
            type_from_value(member)


def type_from_value(member: griffe.Attribute, *, shown: bool = True) -> None:
    """`count = 0`: `int`. `directory = Path(directory)`: the class called, unless it is
    generic (the call does not say its parameters, and a bare `list` would say less than the
    description). A bare `Final` is left to its value while the value is shown
    (`MAX_PAGE_SIZE: Final = 1000`), and given the value's type when it is not
    (`DEFAULT_TIMEOUT: Final[Timeout]`)."""
    final = isinstance(member.annotation, griffe.Expr) and (
        member.annotation.canonical_path == "typing.Final"
    )
    if (member.annotation is not None and not final) or (final and shown):
        return
    value = member.value
    found: str | griffe.Expr | None = None
    if isinstance(value, str):
        try:
            literal = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            return
        if isinstance(literal, bool | int | float | str | bytes):
            found = type(literal).__name__
    elif isinstance(value, griffe.ExprCall) and isinstance(
        value.function, griffe.ExprName | griffe.ExprAttribute
    ):
        called = resolve(value.function.canonical_path)
        if isinstance(called, type) and not hasattr(called, "__class_getitem__"):
            found = value.function
    if found is not None:
        member.annotation = griffe.ExprSubscript(member.annotation, found) if final else found


def resolve(path: str) -> Any:
    """The object a dotted path names (`httpx.Timeout`, `pathlib.Path`), or `None`."""
    module_path, _, name = path.rpartition(".")
    try:
        return getattr(importlib.import_module(module_path), name)
    except (ImportError, AttributeError, ValueError):
        return None


def type_descriptors(cls: griffe.Class) -> None:
    """An attribute declared as a descriptor (`additions: ChildResourceSpec[Addition, ...]`)
    shows what reading it gives on this class: the return of the `__get__` overload whose
    instance is this class, with the descriptor's type arguments."""
    for member in cls.members.values():
        if not isinstance(member, griffe.Attribute) or member.annotation is None:
            continue
        annotation = member.annotation
        name = annotation.left if isinstance(annotation, griffe.ExprSubscript) else annotation
        if not isinstance(name, griffe.ExprName):
            continue
        try:
            descriptor = cls.modules_collection[name.canonical_path]
            get = descriptor.members["__get__"]
        except KeyError:
            continue
        for overload in getattr(get, "overloads", None) or ():
            instance = list(overload.parameters)[1].annotation
            if isinstance(instance, griffe.ExprName) and instance.canonical_path == cls.path:
                arguments = type_arguments(annotation, descriptor)
                member.annotation = substitute(overload.returns, arguments)


def construct(cls: griffe.Class) -> None:
    """Give an attrs class or a NamedTuple the `__init__` Python writes for it, so that its
    signature shows what it takes and the defaults."""
    if "__init__" in cls.all_members:
        return
    try:
        value = runtime(cls)
    except (ImportError, AttributeError):
        return
    named_tuple = isinstance(value, type) and issubclass(value, tuple) and hasattr(value, "_fields")
    if not (attrs.has(value) or named_tuple):
        return
    fields = {field.alias: field for field in attrs.fields(value)} if attrs.has(value) else {}
    parameters = [griffe.Parameter("self", kind=griffe.ParameterKind.positional_or_keyword)]
    for parameter in inspect.signature(value).parameters.values():
        field = fields.get(parameter.name)
        member = cls.all_members.get(field.name if field else parameter.name)
        if isinstance(member, griffe.Alias):
            member = member.final_target
        parameters.append(
            griffe.Parameter(
                parameter.name,
                annotation=member.annotation if isinstance(member, griffe.Attribute) else None,
                kind=griffe.ParameterKind(parameter.kind.description),
                default=default(parameter, field, member),
            )
        )
    init = griffe.Function("__init__", parent=cls, returns="None")
    init.parameters = griffe.Parameters(*parameters)
    cls.set_member("__init__", init)


def default(parameter: inspect.Parameter, field: Any, member: object) -> str | griffe.Expr | None:
    """A constructor argument's default as the source writes it (`DEFAULT_TTL`, `list()`), or
    else as Python shows it."""
    written = member.value if isinstance(member, griffe.Attribute) else None
    keywords = (
        {argument.name: argument.value for argument in written.arguments
         if isinstance(argument, griffe.ExprKeyword)}
        if isinstance(written, griffe.ExprCall) else {}
    )  # fmt: skip
    if field is not None and isinstance(field.default, attrs.Factory):
        if "factory" in keywords:
            return griffe.ExprCall(keywords["factory"], [])
        return f"{field.default.factory.__qualname__}()"
    if parameter.default is inspect.Parameter.empty:
        return None
    if "default" in keywords:
        return keywords["default"]
    if written is not None and not isinstance(written, griffe.ExprCall):
        return written
    return repr(parameter.default)


class ReferenceShape(griffe.Extension):
    """Runs once the whole package is loaded, so that bases and aliases resolve."""

    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        # Types first, where the attributes are defined: a public class then adopts its
        # private base's attributes typed.
        for cls in list(classes(pkg)):
            infer_types(cls)
        for cls in list(classes(pkg)):
            adopt_private_bases(cls)
        for cls in list(classes(pkg)):
            type_descriptors(cls)
            construct(cls)
            describe_fields(cls)
            hide_machinery(cls)
        for module in modules(pkg):
            for member in module.members.values():
                if isinstance(member, griffe.Attribute):
                    type_from_value(member)
            hide_machinery(module)
