"""The digest schedule (SPEC §7.4): pure functions, no I/O.

Staff give wall-clock times in an IANA zone. A time that does not exist on a DST
start day (02:30 when clocks jump 02:00→03:00) runs as if the clock had not jumped,
at 03:30 (zoneinfo's fold=0 keeps the offset from before the change); a time that
happens twice on a DST end day runs once, at its first occurrence. The
instants are computed here and stored as slots, because the breach trigger in the
database cannot run zoneinfo.
"""

from __future__ import annotations

import functools
import re
import zoneinfo
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from stockline.errors import InvalidInput

_HHMM = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9])$")
MAX_TIMES = 24
SLOT_DAYS = 14  # how far ahead slots are stored; the leader tops them up at half that


@dataclass(frozen=True)
class DigestConfig:
    enabled: bool
    times: tuple[str, ...]
    timezone: str

    def as_json(self) -> dict[str, Any]:
        return {"enabled": self.enabled, "times": list(self.times), "timezone": self.timezone}


DISABLED = DigestConfig(False, ("08:00",), "UTC")


@functools.cache
def _zones() -> frozenset[str]:
    # "localtime" and "posixrules" are host files, not zones: their meaning varies by machine
    return frozenset(zoneinfo.available_timezones()) - {"localtime", "posixrules", "Factory"}


def parse_digest(value: Any) -> DigestConfig:
    """Validate an admin's digest setting; every problem is named in one 422."""
    if not isinstance(value, dict):
        raise InvalidInput("notification_digest: must be an object {enabled, times, timezone}")
    errors: list[dict[str, object]] = []

    def bad(field: str, msg: str) -> None:
        errors.append({"loc": ["notification_digest", field], "msg": msg, "type": "value_error"})

    enabled = value.get("enabled", False)
    if not isinstance(enabled, bool):
        bad("enabled", "enabled must be true or false")
    times_in = value.get("times", list(DISABLED.times))
    times: list[str] = []
    if not isinstance(times_in, list) or len(times_in) > MAX_TIMES:
        bad("times", f'times must be a list of at most {MAX_TIMES} "HH:MM" strings')
    else:
        for t in times_in:
            if not isinstance(t, str) or not _HHMM.match(t):
                bad("times", 'each time must be "HH:MM" on a 24-hour clock, e.g. "08:00"')
                break
            if t not in times:
                times.append(t)
        if enabled is True and not times:
            bad("times", "an enabled digest needs at least one time")
    zone = value.get("timezone", DISABLED.timezone)
    if not isinstance(zone, str) or zone not in _zones():
        bad("timezone", 'timezone must be an IANA zone name such as "Europe/Berlin"')
    if errors:
        detail = "notification_digest: " + "; ".join(str(e["msg"]) for e in errors)
        raise InvalidInput(detail, errors=errors)
    return DigestConfig(bool(enabled), tuple(sorted(times)), str(zone))


def stored_digest(value: Any) -> DigestConfig:
    """What is stored, read back leniently: a broken value means no digest, never a crash."""
    try:
        return parse_digest(value) if value is not None else DISABLED
    except InvalidInput:
        return DISABLED


def _instant(day: date, hhmm: str, zone: zoneinfo.ZoneInfo) -> datetime:
    hour, minute = (int(p) for p in hhmm.split(":"))
    return datetime.combine(day, time(hour, minute), tzinfo=zone).astimezone(UTC)


def upcoming_slots(cfg: DigestConfig, now: datetime, days: int = SLOT_DAYS) -> list[datetime]:
    """Every digest instant after now for the next `days` local days, ascending, in UTC."""
    if not cfg.enabled or not cfg.times:
        return []
    zone = zoneinfo.ZoneInfo(cfg.timezone)
    today = now.astimezone(zone).date()
    found = {
        _instant(today + timedelta(days=d), t, zone) for d in range(days + 1) for t in cfg.times
    }
    return sorted(at for at in found if at > now)


def next_digest_at(cfg: DigestConfig, now: datetime) -> datetime | None:
    slots = upcoming_slots(cfg, now, days=2)
    return slots[0] if slots else None
