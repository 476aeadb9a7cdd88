"""Moments as people type them: ``02:00``, ``mon 06:00``, ``tomorrow 9:30``, ``2h``, ``2026-11-23``.

Used by `/canary freeze … until WHEN`, `/canary SERVICE schedule WHEN` and the CLI's
``--at``. Reading the text needs no clock; :meth:`Moment.resolve` then turns it into a time
with the caller's `now` and time zone (a service's nightly zone, else UTC): a clock time is
its next occurrence, a weekday the next such day. Purely computational, no side effects.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo

from bot.durations import format_duration, parse_duration

_CLOCK = re.compile(r"([01]?[0-9]|2[0-3]):([0-5][0-9])")
_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_LONG_DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_RELATIVE = ("today", "tomorrow")
_FORMS = "use e.g. 02:00, mon 06:00, tomorrow 09:00, 2h or 2026-11-23T06:00"


@dataclass(frozen=True)
class Moment:
    """A time as typed, in canonical form (`text`), before a clock and a zone place it."""

    text: str  # what parse_moment reads back to this same value
    after: timedelta | None = None  # "2h": that long from now
    exact: datetime | None = None  # an ISO date-time; naive ones are read in the zone
    day: date | None = None  # an ISO date, at `clock`
    weekday: int | None = None  # 0 for Monday: the next such day, at `clock`
    days_ahead: int | None = None  # today 0, tomorrow 1, at `clock`
    clock: time | None = None  # the time of day; alone, its next occurrence

    def resolve(self, now: datetime, tz: tzinfo) -> datetime:
        """The aware time this moment names at `now`, local times read in `tz`."""
        if self.after is not None:
            return now + self.after
        if self.exact is not None:
            return self.exact if self.exact.tzinfo else self.exact.replace(tzinfo=tz)
        local = now.astimezone(tz)
        clock = self.clock or time(0, 0)
        if self.day is not None:
            return datetime.combine(self.day, clock, tzinfo=tz)
        if self.days_ahead is not None:
            return datetime.combine(local.date() + timedelta(self.days_ahead), clock, tzinfo=tz)
        ahead = 0 if self.weekday is None else (self.weekday - local.weekday()) % 7
        at = datetime.combine(local.date() + timedelta(ahead), clock, tzinfo=tz)
        if at <= local:  # already past today (or this weekday): the next one
            later = at.date() + timedelta(days=7 if self.weekday is not None else 1)
            at = datetime.combine(later, clock, tzinfo=tz)
        return at


def parse_moment(text: str) -> Moment:
    """Read a moment; raises ValueError with a one-line message showing the accepted forms."""
    words = text.casefold().split()
    moment = _read(words) if 0 < len(words) <= 2 else None
    if moment is None:
        raise ValueError(f"{text.strip()!r} is not a time: {_FORMS}")
    return moment


def _read(words: list[str]) -> Moment | None:
    first, rest = words[0], words[1:]
    clock = _clock(rest[0]) if rest else None
    if rest and clock is None:
        return None
    shown = f" {clock:%H:%M}" if clock is not None else ""
    if first in _DAYS or first in _LONG_DAYS:
        weekday = (_DAYS if first in _DAYS else _LONG_DAYS).index(first)
        return Moment(f"{_DAYS[weekday]}{shown}", weekday=weekday, clock=clock)
    if first in _RELATIVE:
        return Moment(f"{first}{shown}", days_ahead=_RELATIVE.index(first), clock=clock)
    if rest:
        return None
    alone = _clock(first)
    if alone is not None:
        return Moment(f"{alone:%H:%M}", clock=alone)
    return _iso(first) or _duration(first)


def _clock(word: str) -> time | None:
    match = _CLOCK.fullmatch(word)
    return time(int(match[1]), int(match[2])) if match else None


def _iso(word: str) -> Moment | None:
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}(t[\d:.]+(z|[+-][\d:]+)?)?", word):
        return None
    try:
        if "t" not in word:
            day = date.fromisoformat(word)
            return Moment(day.isoformat(), day=day)
        exact = datetime.fromisoformat(word.upper())
    except ValueError:
        return None
    exact = exact.replace(microsecond=0)
    spec = "minutes" if exact.second == 0 else "seconds"
    return Moment(exact.isoformat(timespec=spec), exact=exact)


def _duration(word: str) -> Moment | None:
    if word.isdigit():  # a bare number reads as seconds elsewhere; here it is surely a typo
        return None
    try:
        after = parse_duration(word)
    except (ValueError, OverflowError):
        return None
    return Moment(format_duration(after), after=after)
