"""Recipient lists as stored (SPEC S-9): validated, and each mailbox once."""

from __future__ import annotations

import pytest

from stockline.errors import InvalidInput
from stockline.system_config import normalise_recipients


def test_an_address_repeated_in_another_letter_case_is_kept_once_as_first_written() -> None:
    assert normalise_recipients(
        ["Ops@Shop.example.com", "ops@shop.example.com", "OPS@SHOP.EXAMPLE.COM", "b@x.example.com"]
    ) == ["Ops@shop.example.com", "b@x.example.com"]


def test_distinct_addresses_keep_their_order() -> None:
    assert normalise_recipients(["z@x.example.com", "a@x.example.com"]) == [
        "z@x.example.com",
        "a@x.example.com",
    ]


def test_every_bad_address_is_named_and_nothing_is_returned() -> None:
    with pytest.raises(InvalidInput) as caught:
        normalise_recipients(["good@x.example.com", "bad@@x", "also bad"])
    assert [e["input"] for e in caught.value.errors] == ["bad@@x", "also bad"]
