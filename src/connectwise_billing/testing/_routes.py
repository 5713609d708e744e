"""Which collection and handler answer which path of the simulated API: read from the tables
declared in `_collections`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

import httpx

from connectwise_billing.testing import _api
from connectwise_billing.testing._collections import TABLES, ApiFailure, Table, invalid

if TYPE_CHECKING:
    from connectwise_billing.testing._fake import FakeConnectWise
    from connectwise_billing.testing._store import Member

_WRITES: Final = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Longest route first: /finance/agreements/5/additions is the additions', not the agreements'.
_BY_ROUTE: Final = sorted(TABLES, key=lambda table: len(table.route), reverse=True)


def _record_id(text: str, what: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise ApiFailure(400, "InvalidObject", f"{what} must be an integer, got {text!r}") from None
    if value < 1:
        raise ApiFailure(404, "NotFound", f"{what} {value} was not found")
    return value


def _not_allowed(method: str, path: str) -> ApiFailure:
    return ApiFailure(
        405, "MethodNotAllowed", f"{method} {path} is not supported by FakeConnectWise"
    )


def _forbidden() -> ApiFailure:
    return ApiFailure(403, "Forbidden", "The API member does not have access to this company.")


def parent_table(table: Table) -> Table:
    """The table of the records `table`'s records live under."""
    return next(t for t in TABLES if table.parent is not None and t.name == table.parent[0])


def _match(parts: list[str]) -> tuple[Table, int | None, list[str]] | None:
    for table in _BY_ROUTE:
        route = table.route
        if len(parts) < len(route):
            continue
        if all(step in ("*", part) for step, part in zip(route, parts, strict=False)):
            parent = None
            if "*" in route:
                noun = parent_table(table).noun.lower()
                parent = _record_id(parts[route.index("*")], f"{noun} id")
            return table, parent, parts[len(route) :]
    return None


def _parent(fake: FakeConnectWise, member: Member, table: Table, parent_id: int) -> None:
    """The parent must exist and be the member's to see."""
    parent_table_ = parent_table(table)
    parent = fake.record(parent_table_, parent_id)
    if parent is None:
        raise ApiFailure(404, "NotFound", f"{parent_table_.noun} with id {parent_id} was not found")
    if not fake.visible_to(member, parent_table_, parent):
        raise _forbidden()


def route(
    fake: FakeConnectWise,
    member: Member,
    request: httpx.Request,
    api_path: str,
    query: Mapping[str, str],
    body: Any,
) -> _api.Answer:
    """Answer an authenticated request under `apis/3.0`."""
    matched = _match([p for p in api_path.split("/") if p])
    if matched is None:
        raise ApiFailure(404, "NotFound", f"{api_path} was not found")
    table, parent_id, rest = matched
    method = request.method
    if parent_id is not None:
        _parent(fake, member, table, parent_id)
    if method in _WRITES:
        if not table.writable:
            raise _not_allowed(method, api_path)
        refusal = fake.writes_refused(table, parent_id)
        if refusal:
            raise invalid(table.noun.lower(), "agreementId", refusal, code="AgreementCancelled")
    collection = _api.Collection(
        table.schema,
        lambda: fake.records(table, parent_id, as_read=True),
        lambda record: fake.visible_to(member, table, record),
        lambda record: fake.render(table, record),
    )
    if not rest:
        if method == "GET":
            forward_only = request.headers.get("pagination-type", "").lower() == "forward-only"
            base_url = str(request.url.copy_with(query=None))
            return _api.list_records(
                collection, query, forward_only=forward_only, base_url=base_url
            )
        if method == "POST":
            values = _api.record_from_body(fake, table, body, parent_id or 0)
            return 201, fake.render(table, fake.create(table, parent_id, values, member)), {}
        raise _not_allowed(method, api_path)
    if rest == ["count"]:
        if method != "GET":
            raise _not_allowed(method, api_path)
        return _api.count_records(collection, query)
    if len(rest) != 1:
        raise ApiFailure(404, "NotFound", f"{api_path} was not found")
    record_id = _record_id(rest[0], f"{table.noun.lower()} id")
    stored = fake.record(table, record_id, parent_id, as_read=method == "GET")
    if stored is None:
        raise ApiFailure(404, "NotFound", f"{table.noun} with id {record_id} was not found")
    if not fake.visible_to(member, table, stored):
        raise _forbidden()
    if method == "GET":
        return 200, _api.project_fields(fake.render(table, stored), query.get("fields")), {}
    if method == "PATCH":
        changed = _api.apply_patch(fake, table, stored, body)
        return 200, fake.render(table, fake.replace(table, record_id, changed, member)), {}
    if method == "PUT":
        values = _api.record_from_body(fake, table, body, parent_id or 0)
        return 200, fake.render(table, fake.replace(table, record_id, values, member)), {}
    fake.remove(table, record_id)
    return 204, None, {}
