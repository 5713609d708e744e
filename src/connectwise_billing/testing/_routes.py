"""Which handler answers which path of the simulated API."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import httpx

from connectwise_billing.testing import _api
from connectwise_billing.testing._api import ApiFailure, invalid

if TYPE_CHECKING:
    from connectwise_billing.testing.fake import FakeConnectWise, Member

_COLLECTIONS = {
    ("company", "companies"): ("companies", "Company"),
    ("finance", "agreements"): ("agreements", "Agreement"),
    ("procurement", "catalog"): ("catalog", "CatalogItem"),
}


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


def route(
    fake: FakeConnectWise,
    member: Member,
    request: httpx.Request,
    api_path: str,
    query: Mapping[str, str],
    body: Any,
) -> _api.Answer:
    """Answer an authenticated request under `apis/3.0`."""
    parts = [p for p in api_path.split("/") if p]
    method = request.method
    base_url = str(request.url.copy_with(query=None))
    forward_only = request.headers.get("pagination-type", "").lower() == "forward-only"
    if len(parts) >= 2 and tuple(parts[:2]) in _COLLECTIONS:
        name, resource = _COLLECTIONS[(parts[0], parts[1])]
        rest = parts[2:]
        if name == "agreements" and len(rest) >= 2 and rest[1] == "additions":
            return _additions(fake, member, method, rest, query, body, base_url, forward_only)
        collection = fake.collection(name, member)
        if method != "GET":
            raise _not_allowed(method, api_path)
        if not rest:
            return _api.list_records(
                collection, query, forward_only=forward_only, base_url=base_url
            )
        if rest == ["count"]:
            return _api.count_records(collection, query)
        if len(rest) == 1:
            record_id = _record_id(rest[0], "id")
            found = next((r for r in collection.records() if r["id"] == record_id), None)
            if found is None:
                raise ApiFailure(404, "NotFound", f"{resource} with id {record_id} was not found")
            if not collection.visible(found):
                raise _forbidden()
            return 200, _api.project_fields(collection.render(found), query.get("fields")), {}
    raise ApiFailure(404, "NotFound", f"{api_path} was not found")


def _forbidden() -> ApiFailure:
    return ApiFailure(403, "Forbidden", "The API member does not have access to this company.")


def _additions(
    fake: FakeConnectWise,
    member: Member,
    method: str,
    rest: list[str],
    query: Mapping[str, str],
    body: Any,
    base_url: str,
    forward_only: bool,
) -> _api.Answer:
    agreement_id = _record_id(rest[0], "agreement id")
    agreement = fake.agreement_record(agreement_id)
    if agreement is None:
        raise ApiFailure(404, "NotFound", f"Agreement with id {agreement_id} was not found")
    if not _api.member_may_see(member, agreement["company"]["id"]):
        raise _forbidden()
    collection = fake.additions_collection(agreement_id)
    tail = rest[2:]
    if method in ("POST", "PUT", "PATCH", "DELETE") and agreement.get("cancelledFlag"):
        raise invalid(
            "addition",
            "agreementId",
            f"agreement {agreement_id} is cancelled; its additions cannot be changed",
            code="AgreementCancelled",
        )
    if not tail:
        if method == "GET":
            return _api.list_records(
                collection, query, forward_only=forward_only, base_url=base_url
            )
        if method == "POST":
            values = _api.addition_from_body(fake, body, agreement_id)
            record = fake.create_addition(agreement_id, values, member)
            return 201, fake.render_addition(record), {}
        raise _not_allowed(method, "additions")
    if tail == ["count"]:
        if method != "GET":
            raise _not_allowed(method, "additions/count")
        return _api.count_records(collection, query)
    if len(tail) != 1:
        raise ApiFailure(404, "NotFound", "not found")
    addition_id = _record_id(tail[0], "addition id")
    stored = fake.addition_record(agreement_id, addition_id, as_read=method == "GET")
    if stored is None:
        raise ApiFailure(404, "NotFound", f"Addition with id {addition_id} was not found")
    if method == "GET":
        return 200, _api.project_fields(fake.render_addition(stored), query.get("fields")), {}
    if method == "PATCH":
        changed = _api.apply_patch(fake, stored, body)
        return 200, fake.render_addition(fake.replace_addition(addition_id, changed, member)), {}
    if method == "PUT":
        values = _api.addition_from_body(fake, body, agreement_id)
        return 200, fake.render_addition(fake.replace_addition(addition_id, values, member)), {}
    if method == "DELETE":
        fake.remove_addition(addition_id)
        return 204, None, {}
    raise _not_allowed(method, "additions/{id}")
