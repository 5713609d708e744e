"""Routing and handlers of the simulated ConnectWise API (under `/<codebase>apis/3.0`).

Handlers work on the simulator's JSON records (camelCase dicts, `Decimal` numbers) and answer
`(status, body)`; `fake.py` turns that into HTTP. Where ConnectWise's behaviour is not documented
the conservative choice is made and noted on the simulator's docs page.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Mapping
from datetime import datetime
from importlib import resources
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlencode

from connectwise_billing.testing._collections import ApiFailure, Table, coerce, invalid
from connectwise_billing.testing._format import timestamp
from connectwise_billing.testing._query import ConditionSyntaxError, field_value, parse_conditions

if TYPE_CHECKING:
    from connectwise_billing.testing._fake import FakeConnectWise
    from connectwise_billing.testing._store import Member

Answer = tuple[int, Any, dict[str, str]]

QUERY_PARAMETERS: Final = frozenset(
    {
        "conditions",
        "childConditions",
        "customFieldConditions",
        "orderBy",
        "fields",
        "page",
        "pageSize",
        "pageId",
    }
)
DEFAULT_PAGE_SIZE: Final = 25
MAX_PAGE_SIZE: Final = 1000


@functools.cache
def contract() -> Mapping[str, Any]:
    """The structural contract shipped with the simulator (see `scripts/build_contract.py`)."""
    text = resources.files("connectwise_billing.testing").joinpath("contract.json").read_text()
    return json.loads(text)  # type: ignore[no-any-return]


@functools.cache
def schema_fields(schema: str) -> frozenset[str]:
    """Top-level property names of a contract schema, plus `lastUpdated` for conditions."""
    return frozenset(contract()["schemas"][schema]["properties"]) | {"lastUpdated"}


class Collection:
    """A readable collection: its records, which the API member may see, and its schema."""

    def __init__(
        self,
        schema: str,
        records: Callable[[], list[dict[str, Any]]],
        visible: Callable[[dict[str, Any]], bool],
        render: Callable[[dict[str, Any]], dict[str, Any]],
    ) -> None:
        self.schema = schema
        self.records = records
        self.visible = visible
        self.render = render


def _int_param(query: Mapping[str, str], name: str, default: int | None) -> int | None:
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ApiFailure(400, "InvalidObject", f"{name} must be an integer, got {raw!r}") from None


def _sort(records: list[dict[str, Any]], order_by: str) -> list[dict[str, Any]]:
    for clause in reversed([c.strip() for c in order_by.split(",") if c.strip()]):
        match = re.fullmatch(r"([A-Za-z_][A-Za-z0-9_/]*)(?:\s+(asc|desc))?", clause, re.IGNORECASE)
        if match is None:
            raise ApiFailure(400, "InvalidObject", f"cannot order by {clause!r}")
        path, direction = match.group(1), (match.group(2) or "asc").lower()

        def key(record: dict[str, Any], path: str = path) -> tuple[int, Any]:
            value = field_value(record, path)
            if value is None:
                return (0, "")
            return (1, value.lower() if isinstance(value, str) else value)

        records = sorted(records, key=key, reverse=direction == "desc")
    return records


def project_fields(record: dict[str, Any], fields: str | None) -> dict[str, Any]:
    if not fields:
        return record
    out: dict[str, Any] = {}
    for path in (f.strip() for f in fields.split(",")):
        parts = path.split("/")
        value: Any = record
        for part in parts:
            value = value.get(part) if isinstance(value, dict) else None
        if value is None:
            continue
        target = out
        for part in parts[:-1]:
            target = target.setdefault(part, {})
        target[parts[-1]] = value
    return out


def _page_url(base_url: str, query: Mapping[str, str], **changes: int) -> str:
    merged = dict(query)
    merged.update({k: str(v) for k, v in changes.items()})
    return f"{base_url}?{urlencode(merged)}"


def _matching(collection: Collection, query: Mapping[str, str]) -> list[dict[str, Any]]:
    for unsupported in ("childConditions", "customFieldConditions"):
        if query.get(unsupported):
            raise ApiFailure(
                400, "InvalidObject", f"{unsupported} is not supported by FakeConnectWise"
            )
    rendered = [collection.render(r) for r in collection.records() if collection.visible(r)]
    conditions = query.get("conditions")
    if not conditions:
        return rendered
    try:
        predicate = parse_conditions(conditions, schema_fields(collection.schema))
    except ConditionSyntaxError as error:
        raise ApiFailure(400, "InvalidObject", f"conditions are invalid: {error}") from None
    return [r for r in rendered if predicate(r)]


def list_records(
    collection: Collection,
    query: Mapping[str, str],
    *,
    forward_only: bool,
    base_url: str,
) -> Answer:
    """A list read: conditions, orderBy, paging with `Link`, fields."""
    rendered = _matching(collection, query)
    page_size = _int_param(query, "pageSize", DEFAULT_PAGE_SIZE) or DEFAULT_PAGE_SIZE
    if page_size < 1:
        raise ApiFailure(400, "InvalidObject", "pageSize must be at least 1")
    page_size = min(page_size, MAX_PAGE_SIZE)
    headers: dict[str, str] = {}
    if forward_only:
        if query.get("orderBy"):
            raise ApiFailure(
                400, "InvalidObject", "orderBy is not allowed with forward-only pagination"
            )
        after = _int_param(query, "pageId", 0) or 0
        remaining = sorted((r for r in rendered if r["id"] > after), key=lambda r: r["id"])
        page = remaining[:page_size]
        if len(remaining) > page_size:
            next_url = _page_url(base_url, query, pageId=page[-1]["id"])
            headers["Link"] = f'<{next_url}>; rel="next"'
    else:
        rendered = _sort(rendered, query.get("orderBy") or "id")
        number = _int_param(query, "page", 1) or 1
        if number < 1:
            raise ApiFailure(400, "InvalidObject", "page must be at least 1")
        last = max(1, -(-len(rendered) // page_size))
        page = rendered[(number - 1) * page_size : number * page_size]
        links = [f'<{_page_url(base_url, query, page=1)}>; rel="first"']
        if number > 1:
            links.append(f'<{_page_url(base_url, query, page=number - 1)}>; rel="prev"')
        if number < last:
            links.append(f'<{_page_url(base_url, query, page=number + 1)}>; rel="next"')
        links.append(f'<{_page_url(base_url, query, page=last)}>; rel="last"')
        headers["Link"] = ", ".join(links)
    return 200, [project_fields(r, query.get("fields")) for r in page], headers


def count_records(collection: Collection, query: Mapping[str, str]) -> Answer:
    """`/count`: how many visible records match the conditions."""
    return 200, {"count": len(_matching(collection, query))}, {}


# --- writes ------------------------------------------------------------------------------


def record_from_body(
    fake: FakeConnectWise, table: Table, body: Any, parent_id: int
) -> dict[str, Any]:
    """The stored fields of a record POSTed (or PUT) with `body` under parent `parent_id`."""
    noun = table.noun.lower()
    if not isinstance(body, dict):
        raise ApiFailure(400, "InvalidObject", "the request body must be a JSON object")
    known = schema_fields(table.schema)
    for key in body:
        if key not in known:
            raise invalid(noun, key, f"unknown field {key!r}", code="UnknownField")
    if table.parent is not None and body.get(table.parent[1]) not in (None, parent_id):
        field = table.parent[1]
        raise invalid(noun, field, f"{field} does not match the URL")
    for required in table.required:
        if body.get(required) is None:
            raise invalid(noun, required, f"{required} is required", code="Required")
    values = {
        key: coerce(fake, table, key, value) for key, value in body.items() if key in table.writable
    }
    if table.defaults is not None:
        defaults = table.defaults(fake.catalog_item(values["product"]["id"]))
        for key, default in defaults.items():
            if values.get(key) is None:
                values[key] = default
    return values


def apply_patch(
    fake: FakeConnectWise, table: Table, record: dict[str, Any], operations: Any
) -> dict[str, Any]:
    """The record's fields after a PATCH body (a list of `replace`/`add`/`remove` operations)."""
    noun = table.noun.lower()
    if not isinstance(operations, list) or not operations:
        raise ApiFailure(
            400, "InvalidObject", "the PATCH body must be a non-empty list of operations"
        )
    changed = dict(record)
    for operation in operations:
        if not isinstance(operation, dict):
            raise ApiFailure(400, "InvalidObject", "each patch operation must be an object")
        op = str(operation.get("op", "")).lower()
        path = operation.get("path")
        if op not in ("replace", "add", "remove"):
            raise ApiFailure(400, "InvalidObject", f"unsupported patch op {operation.get('op')!r}")
        if not isinstance(path, str) or not path:
            raise ApiFailure(400, "InvalidObject", "each patch operation needs a path")
        field = path.removeprefix("/")
        if "/" in field:
            raise invalid(
                noun, path, "only top-level fields can be patched; replace the whole object"
            )
        if field not in schema_fields(table.schema) - {"lastUpdated"}:
            raise invalid(noun, path, f"unknown field {path!r}", code="UnknownField")
        if field not in table.writable:
            raise invalid(noun, path, f"{path} cannot be written", code="ReadOnly")
        if op == "remove":
            if field in table.required:
                raise invalid(noun, field, f"{field} is required", code="Required")
            changed[field] = None
        else:
            if "value" not in operation:
                raise ApiFailure(
                    400, "InvalidObject", f"the {op} operation on {path} needs a value"
                )
            changed[field] = coerce(fake, table, field, operation["value"])
    return changed


def render_record(record: Mapping[str, Any]) -> dict[str, Any]:
    """A stored record as JSON-ready data: nulls omitted, as ConnectWise does."""
    return {
        key: (render_record(value) if isinstance(value, Mapping) else value)
        for key, value in record.items()
        if value is not None
    }


def info_block(last_updated: datetime, updated_by: str, **links: str) -> dict[str, str]:
    """An `_info` block: when and by whom the record was last changed, plus `*_href` links."""
    return {"lastUpdated": timestamp(last_updated), "updatedBy": updated_by, **links}


def member_may_see(member: Member, company_id: int | None) -> bool:
    """Whether an API member's security role reaches a company."""
    return member.companies is None or company_id in member.companies
