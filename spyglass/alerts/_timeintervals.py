"""Alertmanager's ``time_intervals``: when a route is muted (``mute_time_intervals``) or active.

Rules (from Alertmanager's ``timeinterval`` package): a named interval is a list of time
intervals and contains an instant when any of them does. One time interval contains an instant
when every field it sets contains it (fields left out match everything):

* ``times``: ``start_time`` inclusive, ``end_time`` exclusive, ``HH:MM`` (``24:00`` allowed at the end).
* ``weekdays``: ``monday`` or ranges ``monday:friday`` (Sunday first, as in Go).
* ``days_of_month``: ``1``, ``1:5``; negative counts from the month's end (``-1`` is the last day);
  a range starting after the month's last day does not match, otherwise it is clamped to the month.
* ``months``: names or numbers, ranges allowed; ``years``: ``2024`` or ``2024:2026``.
* ``location``: an IANA zone name (``Europe/Berlin``); the instant is converted before comparing. UTC by default.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = ["TimeInterval", "parse_time_interval"]

_WEEKDAYS = ["sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"]
_MONTHS = [m.lower() for m in calendar.month_name[1:]]


@dataclass(frozen=True)
class TimeInterval:
    times: list[tuple[int, int]] | None = None
    weekdays: list[tuple[int, int]] | None = None
    days_of_month: list[tuple[int, int]] | None = None
    months: list[tuple[int, int]] | None = None
    years: list[tuple[int, int]] | None = None
    location: str = "UTC"
    _zone: Any = field(default=None, compare=False, repr=False)

    def contains(self, now_ns: int) -> bool:
        zone = self._zone or dt.UTC
        t = dt.datetime.fromtimestamp(now_ns / 1e9, tz=zone)
        minute = t.hour * 60 + t.minute
        if self.times is not None and not any(s <= minute < e for s, e in self.times):
            return False
        if self.days_of_month is not None:
            last = calendar.monthrange(t.year, t.month)[1]
            hit = False
            for begin, end in self.days_of_month:
                b = last + begin + 1 if begin < 0 else begin
                e = last + end + 1 if end < 0 else end
                if b > last:
                    continue
                b, e = max(min(b, last), -last), max(min(e, last), -last)
                if b <= t.day <= e:
                    hit = True
                    break
            if not hit:
                return False
        if self.months is not None and not any(b <= t.month <= e for b, e in self.months):
            return False
        weekday = (t.weekday() + 1) % 7  # Python: Monday 0; Go: Sunday 0
        if self.weekdays is not None and not any(b <= weekday <= e for b, e in self.weekdays):
            return False
        return self.years is None or any(b <= t.year <= e for b, e in self.years)


def _ranges(raw: Any, what: str, parse_one: Any, low: int, high: int) -> list[tuple[int, int]]:
    if not isinstance(raw, list):
        raise ValueError(f"{what} must be a list, got {raw!r}")
    out = []
    for item in raw:
        text = str(item).strip().lower()
        parts = text.split(":")
        if len(parts) > 2 or not all(parts):
            raise ValueError(f"{what}: cannot parse {item!r} (expected a value or a range a:b)")
        begin, end = parse_one(parts[0]), parse_one(parts[-1])
        for v in (begin, end):
            if not low <= v <= high or v == 0 and low < 0:
                raise ValueError(f"{what}: {item!r} is out of range")
        if begin > end and not (low < 0 and (begin < 0) != (end < 0)):
            raise ValueError(f"{what}: range {item!r} ends before it starts")
        out.append((begin, end))
    return out


def _named(names: list[str], offset: int, what: str) -> Any:
    def parse(text: str) -> int:
        if text in names:
            return names.index(text) + offset
        if re.fullmatch(r"-?\d+", text) and names is _MONTHS:
            return int(text)
        raise ValueError(f"{what}: unknown name {text!r}")

    return parse


def _integer(what: str) -> Any:
    def parse(text: str) -> int:
        if not re.fullmatch(r"-?\d+", text):
            raise ValueError(f"{what}: {text!r} is not a number")
        return int(text)

    return parse


def _minutes(text: str, what: str) -> int:
    m = re.fullmatch(r"(\d{1,2}):(\d{2})", str(text).strip())
    if not m or int(m.group(2)) > 59 or int(m.group(1)) > 24 or (int(m.group(1)) == 24 and int(m.group(2))):
        raise ValueError(f"{what}: {text!r} is not a time HH:MM between 00:00 and 24:00")
    return int(m.group(1)) * 60 + int(m.group(2))


def parse_time_interval(raw: Any) -> TimeInterval:
    """One entry of a ``time_intervals[].time_intervals`` list; raises ValueError naming the field."""
    if not isinstance(raw, dict):
        raise ValueError(f"a time interval must be a mapping, got {raw!r}")
    known = {"times", "weekdays", "days_of_month", "months", "years", "location"}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ValueError(f"unknown field {unknown[0]!r} (expected one of {', '.join(sorted(known))})")
    times = None
    if raw.get("times") is not None:
        times = []
        for item in raw["times"]:
            if not isinstance(item, dict) or "start_time" not in item or "end_time" not in item:
                raise ValueError("times: each entry needs start_time and end_time")
            start, end = _minutes(item["start_time"], "times.start_time"), _minutes(item["end_time"], "times.end_time")
            if start >= end:
                raise ValueError(f"times: start_time {item['start_time']} must be before end_time {item['end_time']}")
            times.append((start, end))
    location = str(raw.get("location") or "UTC")
    try:
        zone = ZoneInfo(location) if location not in ("UTC", "Local") else None
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"location: unknown time zone {location!r}") from None

    def opt(key: str, *args: Any) -> list[tuple[int, int]] | None:
        return None if raw.get(key) is None else _ranges(raw[key], key, *args)

    return TimeInterval(
        times=times,
        weekdays=opt("weekdays", _named(_WEEKDAYS, 0, "weekdays"), 0, 6),
        days_of_month=opt("days_of_month", _integer("days_of_month"), -31, 31),
        months=opt("months", _named(_MONTHS, 1, "months"), 1, 12),
        years=opt("years", _integer("years"), 1, 9999),
        location=location,
        _zone=zone,
    )
