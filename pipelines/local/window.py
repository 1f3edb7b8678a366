"""A DeploymentWindow rule's cron, evaluated against a time: is the window open, when does it open.

The rule's [reference](https://docs.aws.amazon.com/codepipeline/latest/userguide/rule-reference-DeploymentWindow.html)
gives a cron of six fields and an optional year (seconds minutes hours day-of-month month
day-of-week [year]) and a time zone. This module reads the fields' `*`, `?`, numbers, names
(`JAN`-`DEC`, `SUN`-`SAT`), ranges, lists and `/` steps, at the minute: the seconds field is
not read (a window is a set of minutes), and day-of-week numbers run 1 (SUN) to 7 (SAT), as in
EventBridge's cron (the rule's reference does not number them). `L`, `W` and `#` are not
evaluated: `Unsupported` says so, and the caller says what it does instead.
"""

from __future__ import annotations

import re
import zoneinfo
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone, tzinfo

MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
DAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
HORIZON_DAYS = 400  # how far ahead an opening is looked for
_OFFSET = re.compile(r"^UTC(?:([+-])(\d{1,2})(?::(\d{2}))?)?$")


class Unsupported(ValueError):
    """A cron or time zone this module does not evaluate."""


@dataclass(frozen=True)
class Cron:
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int] | None  # day of month; None: `?` or `*` (any)
    months: frozenset[int]
    weekdays: frozenset[int] | None  # 1 (SUN) to 7 (SAT); None: any
    years: frozenset[int] | None  # None: any
    text: str

    def matches(self, when: datetime) -> bool:
        """Whether the minute of `when` (in the window's time zone) is in the window."""
        return when.minute in self.minutes and when.hour in self.hours and self._day_matches(when)

    def _day_matches(self, when: datetime) -> bool:
        if when.month not in self.months:
            return False
        if self.years is not None and when.year not in self.years:
            return False
        if self.days is not None and when.day not in self.days:
            return False
        weekday = (when.weekday() + 1) % 7 + 1  # Monday is 0 in Python, 2 in cron
        return self.weekdays is None or weekday in self.weekdays

    def next_open(self, when: datetime) -> datetime | None:
        """The first minute at or after `when` in the window, within HORIZON_DAYS; None if
        there is none."""
        at = when.replace(second=0, microsecond=0)
        end = at + timedelta(days=HORIZON_DAYS)
        while at < end:
            if not self._day_matches(at):
                at = (at + timedelta(days=1)).replace(hour=0, minute=0)
            elif at.hour not in self.hours:
                at = (at + timedelta(hours=1)).replace(minute=0)
            elif at.minute not in self.minutes:
                at += timedelta(minutes=1)
            else:
                return at
        return None


def parse(text: str) -> Cron:
    """The rule's Cron (six fields and an optional year, `cron(...)` around them or not)."""
    inner = text.strip()
    if inner.startswith("cron(") and inner.endswith(")"):
        inner = inner[len("cron(") : -1]
    fields = inner.split()
    if len(fields) not in (6, 7):
        raise Unsupported(f"cron {text!r}: {len(fields)} fields, not 6 or 7")
    _, minutes, hours, days, months, weekdays, *year = fields
    return Cron(
        minutes=_values(minutes, 0, 59),
        hours=_values(hours, 0, 23),
        days=_any_or(days, 1, 31),
        months=_values(months, 1, 12, MONTHS, first=1),
        weekdays=_any_or(weekdays, 1, 7, DAYS, first=1),
        years=_any_or(year[0], 1970, 2199) if year else None,
        text=text,
    )


def zone(name: str) -> tzinfo:
    """An IANA `Area/City` zone, or `UTC` with an optional offset (`UTC+05:30`)."""
    offset = _OFFSET.match(name)
    if offset:
        sign, hours, minutes = offset.groups()
        if sign is None:
            return UTC
        delta = timedelta(hours=int(hours), minutes=int(minutes or 0))
        return timezone(-delta if sign == "-" else delta)
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise Unsupported(f"time zone {name!r} is not in this machine's database") from None


def _any_or(
    field: str, low: int, high: int, names: tuple[str, ...] = (), first: int = 0
) -> frozenset[int] | None:
    return None if field in ("?", "*") else _values(field, low, high, names, first)


def _values(
    field: str, low: int, high: int, names: tuple[str, ...] = (), first: int = 0
) -> frozenset[int]:
    if any(mark in field for mark in ("L", "W", "#")) and not _only_names(field, names):
        raise Unsupported(f"cron field {field!r}: L, W and # are not evaluated")
    found: set[int] = set()
    for item in field.split(","):
        spec, _, step_text = item.partition("/")
        step = int(step_text) if step_text else 1
        if spec in ("*", "?"):
            start, stop = low, high
        elif "-" in spec:
            a, b = spec.split("-", 1)
            start, stop = _value(a, names, first), _value(b, names, first)
        else:
            start = _value(spec, names, first)
            stop = high if step_text else start
        if not (low <= start <= high and low <= stop <= high) or step < 1:
            raise Unsupported(f"cron field {field!r}: outside {low}-{high}")
        found.update(range(start, stop + 1, step))
    return frozenset(found)


def _only_names(field: str, names: tuple[str, ...]) -> bool:
    """A field whose L or W is inside a name (JUL, WED), not a cron mark."""
    words = re.findall(r"[A-Z]+", field.upper())
    return bool(words) and all(w in names for w in words) and "#" not in field


def _value(text: str, names: tuple[str, ...], first: int) -> int:
    upper = text.upper()
    if upper in names:
        return names.index(upper) + first
    if not text.isdigit():
        raise Unsupported(f"cron value {text!r} is not a number or a name")
    return int(text)
