"""The digest schedule with a fixed clock: zones, DST gaps and repeats (SPEC §7.4)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from stockline.alerts.digest import (
    DigestConfig,
    next_digest_at,
    parse_digest,
    stored_digest,
    upcoming_slots,
)
from stockline.errors import InvalidInput


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def test_next_digest_is_todays_time_when_it_is_still_ahead() -> None:
    cfg = DigestConfig(True, ("08:00", "17:30"), "Europe/Berlin")
    # 06:00 UTC in winter = 07:00 in Berlin: today's 08:00 local is 07:00 UTC
    assert next_digest_at(cfg, utc(2026, 1, 15, 6, 0)) == utc(2026, 1, 15, 7, 0)


def test_next_digest_moves_to_the_later_time_and_then_to_tomorrow() -> None:
    cfg = DigestConfig(True, ("08:00", "17:30"), "Europe/Berlin")
    assert next_digest_at(cfg, utc(2026, 1, 15, 7, 0)) == utc(2026, 1, 15, 16, 30)
    assert next_digest_at(cfg, utc(2026, 1, 15, 16, 30)) == utc(2026, 1, 16, 7, 0)


def test_summer_time_shifts_the_utc_instant_but_not_the_wall_clock() -> None:
    cfg = DigestConfig(True, ("08:00",), "Europe/Berlin")
    assert next_digest_at(cfg, utc(2026, 7, 1, 0, 0)) == utc(2026, 7, 1, 6, 0)  # CEST, +2


def test_a_time_in_the_spring_gap_runs_once_an_hour_later() -> None:
    # 29 March 2026: Berlin jumps 02:00 → 03:00; 02:30 does not exist on the wall clock
    cfg = DigestConfig(True, ("02:30",), "Europe/Berlin")
    at = next_digest_at(cfg, utc(2026, 3, 28, 23, 0))
    assert at == utc(2026, 3, 29, 1, 30)  # 03:30 CEST
    slots = upcoming_slots(cfg, utc(2026, 3, 27, 12, 0), days=4)
    assert slots == [
        utc(2026, 3, 28, 1, 30),  # 02:30 CET
        utc(2026, 3, 29, 1, 30),  # the gap day: once
        utc(2026, 3, 30, 0, 30),  # 02:30 CEST
        utc(2026, 3, 31, 0, 30),
    ]


def test_a_time_that_happens_twice_in_autumn_runs_once() -> None:
    # 25 October 2026: Berlin goes 03:00 CEST → 02:00 CET; 02:30 happens twice
    cfg = DigestConfig(True, ("02:30",), "Europe/Berlin")
    slots = upcoming_slots(cfg, utc(2026, 10, 24, 12, 0), days=2)
    assert slots == [
        utc(2026, 10, 25, 0, 30),  # the first 02:30 (CEST) only
        utc(2026, 10, 26, 1, 30),  # 02:30 CET
    ]


def test_zones_far_from_utc_pick_the_right_local_day() -> None:
    cfg = DigestConfig(True, ("08:00",), "Pacific/Auckland")  # +13 in January
    # 2026-01-15 20:00 UTC is already 09:00 on the 16th in Auckland: next is the 17th
    assert next_digest_at(cfg, utc(2026, 1, 15, 20, 0)) == utc(2026, 1, 16, 19, 0)
    cfg = DigestConfig(True, ("23:30",), "America/Los_Angeles")  # -8 in January
    assert next_digest_at(cfg, utc(2026, 1, 15, 12, 0)) == utc(2026, 1, 16, 7, 30)


def test_a_disabled_digest_has_no_slots() -> None:
    assert upcoming_slots(DigestConfig(False, ("08:00",), "UTC"), utc(2026, 1, 1)) == []
    assert next_digest_at(DigestConfig(False, ("08:00",), "UTC"), utc(2026, 1, 1)) is None


def test_slots_cover_two_weeks_of_each_time_in_order() -> None:
    slots = upcoming_slots(DigestConfig(True, ("08:00", "12:00"), "UTC"), utc(2026, 1, 1, 9))
    assert slots[0] == utc(2026, 1, 1, 12)
    assert slots == sorted(slots) and len(set(slots)) == len(slots)
    assert len(slots) == 14 * 2 + 1


def test_a_valid_setting_is_normalised() -> None:
    cfg = parse_digest({"enabled": True, "times": ["17:00", "08:00", "08:00"], "timezone": "UTC"})
    assert cfg == DigestConfig(True, ("08:00", "17:00"), "UTC")


@pytest.mark.parametrize(
    ("value", "names"),
    [
        ({"enabled": True, "times": ["8:00"], "timezone": "UTC"}, "times"),
        ({"enabled": True, "times": ["24:00"], "timezone": "UTC"}, "times"),
        ({"enabled": True, "times": ["08:60"], "timezone": "UTC"}, "times"),
        ({"enabled": True, "times": [], "timezone": "UTC"}, "times"),
        ({"enabled": True, "times": ["08:00"], "timezone": "Mars/Olympus"}, "timezone"),
        ({"enabled": True, "times": ["08:00"], "timezone": "../../etc/passwd"}, "timezone"),
        ({"enabled": True, "times": ["08:00"], "timezone": "localtime"}, "timezone"),
        ({"enabled": "yes", "times": ["08:00"], "timezone": "UTC"}, "enabled"),
        ({"enabled": True, "times": ["08:00"] * 30, "timezone": "UTC"}, "times"),
    ],
)
def test_an_invalid_setting_is_refused_naming_the_field(value: object, names: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_digest(value)
    assert any(e["loc"] == ["notification_digest", names] for e in caught.value.errors)


def test_a_broken_stored_value_reads_as_no_digest() -> None:
    assert stored_digest({"enabled": True, "times": "nope"}).enabled is False
    assert stored_digest(None).enabled is False
