"""JSON <-> models: exact Decimals, omitted fields, nulls, `Z` datetimes, unknown keys."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import attrs
import pytest

from connectwise_billing import (
    Addition,
    Agreement,
    Company,
    InputError,
    NewAddition,
    Product,
    Reference,
    convert,
)
from connectwise_billing.client import _wire as wire

# Shaped like the OpenAPI subset's Addition, with ConnectWise's habits: `_info` links, a
# product reference with its own `_info`, integers where a decimal is declared.
FULL_ADDITION = b"""{
  "id": 501, "product": {"id": 17, "identifier": "MBX-GOLD-50",
    "_info": {"product_href": "https://x/procurement/catalog/17"}},
  "quantity": 12, "lessIncluded": 0, "unitPrice": 12.10, "unitCost": 4.5,
  "billCustomer": "Billable", "effectiveDate": "2026-01-01T00:00:00Z",
  "cancelledDate": null, "taxableFlag": false, "invoiceDescription": "Gold 50 GB mailbox",
  "agreementId": 88, "description": "Gold", "extPrice": 145.20, "extCost": 54.0,
  "margin": 91.20, "agreementStatus": "Active", "someFutureField": {"x": 1},
  "_info": {"lastUpdated": "2026-02-03T04:05:06Z", "updatedBy": "CloudPanelAPI",
            "agreement_href": "https://x/finance/agreements/88"}
}"""


def parse(data: bytes, model: type) -> object:
    return wire.structure(convert.loads(data), model)


def test_numbers_are_exact_decimals_including_trailing_zeros() -> None:
    addition = parse(FULL_ADDITION, Addition)
    assert isinstance(addition, Addition)
    assert addition.unit_price == Decimal("12.10")
    assert str(addition.unit_price) == "12.10"
    assert str(addition.ext_price) == "145.20"
    assert addition.quantity == Decimal(12)
    assert isinstance(addition.quantity, Decimal)


def test_z_datetimes_are_timezone_aware_utc() -> None:
    addition = parse(FULL_ADDITION, Addition)
    assert isinstance(addition, Addition)
    assert addition.effective_date == datetime(2026, 1, 1, tzinfo=UTC)
    assert addition.last_updated == datetime(2026, 2, 3, 4, 5, 6, tzinfo=UTC)
    assert addition.effective_date is not None and addition.effective_date.tzinfo is not None


def test_info_block_is_lifted_and_unknown_keys_ignored() -> None:
    addition = parse(FULL_ADDITION, Addition)
    assert isinstance(addition, Addition)
    assert addition.updated_by == "CloudPanelAPI"
    assert addition.product == Reference(id=17, identifier="MBX-GOLD-50")
    assert addition.agreement_id == 88


def test_nulls_and_omitted_fields_are_none() -> None:
    addition = parse(b'{"id": 1, "cancelledDate": null, "_info": {}}', Addition)
    assert addition == Addition(id=1)


def test_offset_datetimes_are_kept_aware_and_naive_ones_taken_as_utc() -> None:
    offset = parse(b'{"id": 1, "startDate": "2026-03-01T00:00:00+02:00"}', Agreement)
    naive = parse(b'{"id": 1, "startDate": "2026-03-01T00:00:00"}', Agreement)
    assert isinstance(offset, Agreement) and isinstance(naive, Agreement)
    assert offset.start_date == datetime(2026, 3, 1, tzinfo=timezone(timedelta(hours=2)))
    assert naive.start_date == datetime(2026, 3, 1, tzinfo=UTC)


def test_catalog_item_irregular_names() -> None:
    data = b"""{"id": 3, "identifier": "MBX", "inactiveFlag": true, "connectWiseID": "abc",
               "customerDescription": "Mailbox", "price": 8.00, "cost": 3.25,
               "productClass": "Agreement", "subcategory": {"id": 4, "name": "Email"}}"""
    product = parse(data, Product)
    assert product == Product(
        id=3,
        identifier="MBX",
        inactive=True,
        connectwise_id="abc",
        customer_description="Mailbox",
        price=Decimal("8.00"),
        cost=Decimal("3.25"),
        product_class="Agreement",
        subcategory=Reference(id=4, name="Email"),
    )


def test_company_types_list() -> None:
    data = b'{"id": 9, "name": "Contoso", "types": [{"id": 1, "name": "Client"}]}'
    assert parse(data, Company) == Company(
        id=9, name="Contoso", types=(Reference(id=1, name="Client"),)
    )


def test_a_record_without_id_is_rejected() -> None:
    with pytest.raises(wire.RecordError, match=r"^id is missing$"):
        parse(b'{"quantity": 1}', Addition)


def test_new_addition_body_omits_unset_fields() -> None:
    body = wire.unstructure(NewAddition(17, 3))
    assert body == {"product": {"id": 17}, "quantity": Decimal(3), "billCustomer": "Billable"}


def test_new_addition_body_with_every_field() -> None:
    new = NewAddition(
        17,
        "3",
        unit_price="12.10",
        unit_cost=Decimal("4.5"),
        bill_customer="NoCharge",
        effective_date=date(2026, 12, 1),
        description="Gold",
        invoice_description="Gold mailbox",
    )
    body = convert.dumps(wire.unstructure(new))
    assert body == (
        b'{"product":{"id":17},"quantity":3,"unitPrice":12.10,"unitCost":4.5,'
        b'"billCustomer":"NoCharge","effectiveDate":"2026-12-01T00:00:00Z","description":"Gold",'
        b'"invoiceDescription":"Gold mailbox"}'
    )


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"product_id": 0, "quantity": 1}, "product_id"),
        ({"product_id": True, "quantity": 1}, "product_id"),
        ({"product_id": 1, "quantity": "lots"}, "'lots'"),
        ({"product_id": 1, "quantity": Decimal("NaN")}, "quantity"),
        ({"product_id": 1, "quantity": 1, "unit_price": "inf"}, "unit_price"),
        ({"product_id": 1, "quantity": 1, "bill_customer": "Sometimes"}, "'Sometimes'"),
        ({"product_id": 1, "quantity": 1, "effective_date": datetime(2026, 1, 1)}, "naive"),
        ({"product_id": 1, "quantity": 1, "description": 5}, "description"),
    ],
)
def test_new_addition_rejects_bad_values_naming_them(kwargs: dict[str, object], named: str) -> None:
    with pytest.raises(InputError, match=named):
        NewAddition(**kwargs)  # type: ignore[arg-type]


def test_floats_become_the_decimal_they_print_as() -> None:
    assert NewAddition(1, 2, unit_price=9.99).unit_price == Decimal("9.99")


def test_patch_operations_use_wire_names_and_exact_values() -> None:
    operations = wire.patch_operations(
        Addition,
        {"unit_price": Decimal("12.10"), "cancelled_date": datetime(2026, 5, 1, tzinfo=UTC)},
    )
    assert convert.dumps(operations) == (
        b'[{"op":"replace","path":"unitPrice","value":12.10},'
        b'{"op":"replace","path":"cancelledDate","value":"2026-05-01T00:00:00Z"}]'
    )


def test_json_writer_refuses_non_finite_numbers() -> None:
    with pytest.raises(ValueError, match="NaN"):
        convert.dumps({"x": Decimal("NaN")})


def test_json_writer_never_uses_exponents() -> None:
    assert convert.dumps([Decimal("1E+2"), Decimal("0.000001")]) == b"[100,0.000001]"


def test_to_json_turns_decimals_into_exact_strings() -> None:
    assert convert.to_json({"a": [Decimal("1.50")]}) == {"a": ["1.50"]}


def _sample(field: attrs.Attribute[object]) -> object:
    """A wire value ConnectWise could send for `field`."""
    kind = str(field.type)
    if field.name == "id":
        return 41
    for marker, value in (
        ("tuple[", [{"id": 3, "name": "Client"}]),
        ("Reference", {"id": 3, "identifier": "MBX-GOLD-50", "name": "Gold"}),
        ("Decimal", Decimal("12.10")),
        ("datetime", "2026-02-03T04:05:06Z"),
        ("bool", True),
        ("int", 88),
        ("str", f"{field.name} text"),
    ):
        if marker in kind:
            return value
    raise AssertionError(f"no sample for {field.name}: {kind}")


def _full_record(model: type) -> dict[str, object]:
    record: dict[str, object] = {}
    for field in attrs.fields(attrs.resolve_types(model)):  # type: ignore[arg-type]
        if field.metadata.get("unparsed"):
            continue
        *outer, last = wire.wire_name(model, field.name).split("/")
        target = record
        for part in outer:
            target = target.setdefault(part, {})  # type: ignore[assignment]
        target[last] = _sample(field)
    return record


@pytest.mark.parametrize("model", wire.READ_MODELS, ids=lambda model: model.__name__)
def test_every_field_of_every_model_round_trips(model: type) -> None:
    """Record -> model -> wire gives the record back: the reader and the writer come from the
    same field metadata, so a renamed field cannot be read under one name and written under
    another."""
    record = _full_record(model)
    parsed = wire.structure(convert.loads(convert.dumps(record)), model)
    assert all(
        getattr(parsed, f.name) is not None for f in attrs.fields(model) if f.name != "unparsed"
    )
    assert convert.loads(convert.dumps(wire.unstructure(parsed))) == record


@pytest.mark.parametrize("model", wire.READ_MODELS, ids=lambda model: model.__name__)
def test_a_value_that_did_not_parse_is_written_back_as_it_came(model: type) -> None:
    tolerant = next(
        f
        for f in attrs.fields(model)
        if f.name != "id" and not f.metadata.get("strict") and not f.metadata.get("unparsed")
    )
    record = {"id": 41, wire.wire_name(model, tolerant.name): ["not", "this"]}
    parsed = wire.structure(record, model)
    assert getattr(parsed, tolerant.name) is None
    assert wire.unstructure(parsed) == record


def test_a_new_addition_is_written_as_connectwise_reads_an_addition() -> None:
    new = NewAddition(17, 3, unit_price="8.00", effective_date=date(2026, 12, 1))
    body = wire.unstructure(new)
    written = wire.structure({"id": 1, **body}, Addition)
    assert (written.product and written.product.id, written.quantity, written.unit_price) == (
        17,
        Decimal(3),
        Decimal("8.00"),
    )
    assert written.effective_date == datetime(2026, 12, 1, tzinfo=UTC)
    assert written.bill_customer == "Billable"


def test_reports_and_records_share_one_json_form() -> None:
    parsed = wire.structure(_full_record(Addition), Addition)
    data = convert.to_json(parsed)
    assert data["unit_price"] == "12.10"  # exact, as text
    assert data["last_updated"] == "2026-02-03T04:05:06+00:00"
    assert data["product"] == {"id": 3, "identifier": "MBX-GOLD-50", "name": "Gold"}
    assert json.loads(json.dumps(data)) == data


def test_named_tuples_become_objects_and_tuples_lists() -> None:
    from connectwise_billing import DiffWarning
    from connectwise_billing.reconcile import Change

    warning = DiffWarning("manual_edit", "edited", "gold", 5, (1, 2))
    assert convert.to_json((warning, Change(None, Decimal("1.50")))) == [
        {
            "kind": "manual_edit",
            "message": "edited",
            "plan_id": "gold",
            "product_id": 5,
            "addition_ids": [1, 2],
            "after": None,
        },
        {"old": None, "new": "1.50"},
    ]
