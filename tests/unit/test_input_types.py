"""The shared input types: what PostgreSQL or UTF-8 cannot take never passes validation."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from stockline.api.schemas import (
    STRING_NOT_STORABLE,
    AdjustmentIn,
    ConfigIn,
    KioskPairIn,
    LoginIn,
    Moment,
    ProductCreate,
    PurchaseIn,
    Text,
)

UNSTORABLE = ["\x00", "a\x00b", "\ud800", "x\udfff", "\udbff\udc00"]  # the last: two lone halves


@pytest.mark.parametrize("value", UNSTORABLE)
def test_text_refuses_nul_and_unpaired_surrogates(value: str) -> None:
    with pytest.raises(ValidationError) as info:
        TypeAdapter(Text).validate_python(value)
    assert info.value.errors()[0]["type"] == STRING_NOT_STORABLE


@pytest.mark.parametrize("value", ["", "plain", "émoji 😀", "tab\tnewline\n", "\u2028", "\ufffd"])
def test_text_takes_any_other_unicode(value: str) -> None:
    assert TypeAdapter(Text).validate_python(value) == value


def _bodies(bad: str) -> list[tuple[type[Any], dict[str, Any]]]:
    return [
        (LoginIn, {"email": bad, "password": "pw"}),
        (LoginIn, {"email": "a@b.example", "password": bad}),
        (KioskPairIn, {"token": bad}),
        (ProductCreate, {"sku": bad, "name": "n", "price_cents": 1}),
        (ProductCreate, {"sku": "s", "name": bad, "price_cents": 1}),
        (ProductCreate, {"sku": "s", "name": "n", "price_cents": 1, "category": bad}),
        (ProductCreate, {"sku": "s", "name": "n", "price_cents": 1, "barcode": bad}),
        (AdjustmentIn, {"delta": 1, "reason": bad}),
        (ConfigIn, {"notification_recipients": [f"a{bad}@b.example"]}),
    ]


@pytest.mark.parametrize("bad", UNSTORABLE)
def test_every_string_field_of_every_body_uses_the_shared_type(bad: str) -> None:
    for model, body in _bodies(bad):
        with pytest.raises(ValidationError) as info:
            model.model_validate(body)
        types = {e["type"] for e in info.value.errors()}
        assert types & {STRING_NOT_STORABLE, "string_pattern_mismatch"}, (model, body, types)


@pytest.mark.parametrize("text", ["1e400", "-1e400", "NaN", "Infinity", "-Infinity", "1e30"])
def test_numbers_json_cannot_carry_back_are_refused_in_every_numeric_field(text: str) -> None:
    number = json.loads(text)  # Python's json reads these as floats (inf, nan, 1e30)
    for model, body in [
        (ProductCreate, {"sku": "s", "name": "n", "price_cents": number}),
        (ProductCreate, {"sku": "s", "name": "n", "price_cents": 1, "initial_stock": number}),
        (ProductCreate, {"sku": "s", "name": "n", "price_cents": 1, "low_stock_threshold": number}),
        (AdjustmentIn, {"delta": number, "reason": "r"}),
        (PurchaseIn, {"items": [{"product_id": number, "quantity": 1}]}),
        (PurchaseIn, {"items": [{"product_id": 1, "quantity": number}]}),
    ]:
        with pytest.raises(ValidationError):
            model.model_validate(body)


def test_a_zoned_moment_is_turned_to_utc() -> None:
    plus14 = timezone(timedelta(hours=14))
    moment = TypeAdapter(Moment).validate_python("2026-01-01T10:00:00+14:00")
    assert moment == datetime(2026, 1, 1, 10, tzinfo=plus14)
    assert moment.tzinfo is UTC


def test_a_naive_moment_stays_naive() -> None:
    assert TypeAdapter(Moment).validate_python("2026-01-01T10:00:00").tzinfo is None


@pytest.mark.parametrize("text", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"])
def test_a_moment_outside_what_utc_can_hold_is_refused(text: str) -> None:
    with pytest.raises(ValidationError) as info:
        TypeAdapter(Moment).validate_python(text)
    assert info.value.errors()[0]["type"] == "datetime_out_of_range"
