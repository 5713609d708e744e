"""Check requests and responses against the repository's ConnectWise contract.

The contract (`src/connectwise_billing/testing/contract.json`) holds the structural facts of the
OpenAPI subset; `scripts/build_contract.py` regenerates it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from datetime import datetime
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema

CONTRACT: Mapping[str, Any] = json.loads(
    resources.files("connectwise_billing.testing").joinpath("contract.json").read_text()
)

SHARED_SUBSET = (
    Path(__file__).resolve().parents[2]
    / "shared"
    / "reference"
    / "connectwise-manage-openapi-subset.json"
)
"""The OpenAPI subset the contract is generated from, when this checkout sits next to it."""

_FORMATS = jsonschema.FormatChecker(formats=())


@_FORMATS.checks("date-time", raises=ValueError)
def _is_datetime(value: object) -> bool:
    if isinstance(value, str):
        datetime.fromisoformat(value)
    return True


def _template_pattern(template: str) -> re.Pattern[str]:
    return re.compile("^" + re.sub(r"\{[^}]+\}", r"[^/]+", template) + "$")


@cache
def _templates() -> list[tuple[str, re.Pattern[str]]]:
    # Literal segments first, so that `/finance/agreements/count` is not taken for `{id}`.
    ordered = sorted(CONTRACT["paths"], key=lambda t: (t.count("{"), t))
    return [(template, _template_pattern(template)) for template in ordered]


def operation(method: str, api_path: str) -> tuple[str, Mapping[str, Any]] | None:
    """The contract operation for a method and a path under `apis/3.0`, if it exists."""
    for template, pattern in _templates():
        if pattern.match(api_path):
            found = CONTRACT["paths"][template].get(method.lower())
            return (template, found) if found else None
    return None


def _without_required(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _without_required(v) for k, v in node.items() if k != "required"}
    return node


_PARTIAL_SCHEMAS = _without_required(CONTRACT["schemas"])


def schema_errors(schema: Mapping[str, Any], instance: Any, *, partial: bool = False) -> list[str]:
    """Messages for every way `instance` breaks `schema` (empty when it conforms).

    `partial` drops `required`: a `fields=` read legitimately returns trimmed records.
    """
    root = {**schema, "schemas": _PARTIAL_SCHEMAS if partial else CONTRACT["schemas"]}
    validator = jsonschema.Draft7Validator(root, format_checker=_FORMATS)
    return [
        f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}"
        for e in validator.iter_errors(instance)
    ]


def request_errors(
    method: str,
    api_path: str,
    query: Iterable[str],
    header_names: Iterable[str],
    body: Any,
) -> list[str]:
    """Why the contract does not allow this request (empty when it does)."""
    found = operation(method, api_path)
    if found is None:
        return [f"{method} {api_path}: no such operation in the contract"]
    template, spec = found
    problems = [
        f"{method} {template}: query parameter {name!r} is not in the contract"
        for name in query
        if name not in spec["parameters"]["query"]
    ]
    lowered = {name.lower() for name in header_names}
    problems += [
        f"{method} {template}: required header {name} missing"
        for name in spec.get("requiredHeaders", [])
        if name.lower() not in lowered
    ]
    body_schema = spec.get("requestBody")
    if body_schema is None and body is not None:
        problems.append(f"{method} {template}: the contract takes no body")
    elif body_schema is not None:
        problems += [f"{method} {template} body {e}" for e in schema_errors(body_schema, body)]
    return problems


_ERROR_SCHEMA = {"$ref": "#/schemas/ErrorResponseMessage"}
# ConnectWise's 429 body is not an ErrorResponseMessage (cw-api-notes.md, "Errors and limits").
_RATE_LIMIT_SCHEMA = {
    "type": "object",
    "required": ["error", "message"],
    "properties": {"error": {"type": "string"}, "message": {"type": "string"}},
}


def response_errors(
    method: str, api_path: str, status: int, body: Any, *, partial: bool = False
) -> list[str]:
    """Why a response body does not fit the contract (empty when it does)."""
    if api_path.startswith("/login/companyinfo/"):
        return []  # outside apis/3.0: not part of the OpenAPI document
    if status == 429:
        return [f"429 body {e}" for e in schema_errors(_RATE_LIMIT_SCHEMA, body)]
    if status >= 400:
        return [f"{status} body {e}" for e in schema_errors(_ERROR_SCHEMA, body)]
    found = operation(method, api_path)
    if found is None:
        return [f"{method} {api_path}: no such operation in the contract"]
    template, spec = found
    if str(status) not in spec["responses"]:
        return [f"{method} {template}: status {status} is not declared"]
    declared = spec["responses"][str(status)]
    if declared is None:
        return [] if body is None else [f"{method} {template}: {status} should have no body"]
    errors = schema_errors(declared, body, partial=partial)
    return [f"{method} {template} -> {status} {e}" for e in errors]
