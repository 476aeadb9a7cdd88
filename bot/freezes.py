"""Release freezes: windows in ``services.yaml`` and ad-hoc ones, and which is in force now.

A freeze blocks what moves a release forward (start, promote, approve, and the scheduler's
own advances) and never what takes one back (undo, pause, resume, abort). Purely
computational, no side effects: the ad-hoc freezes are read from Redis by
:mod:`bot.freeze_store`, and the engine asks :func:`active_freeze` with its own ``now``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from apscheduler.triggers.cron import CronTrigger
from pydantic import Field

from bot.cron import CronSchedule
from bot.durations import Duration
from bot.release import Actor

ALL_SERVICES = "*"  # the scope of a freeze that covers every service
# Windows that follow each other without a gap make one freeze; this many at most are joined,
# so that a window longer than its own period ends the search instead of looping for ever.
_CHAINED_WINDOWS = 400
_TICK = timedelta(microseconds=1)


class FreezeWindow(CronSchedule):
    """A recurring freeze: it starts whenever `cron` fires and lasts `duration`."""

    duration: Duration = Field(description="how long each freeze lasts (elapsed time), e.g. 62h")
    reason: str = Field(
        default="release freeze", min_length=1, description="what the refusals say it is"
    )


@dataclass(frozen=True)
class Freeze:
    """A freeze in force: what it covers, until when, why, and who set it."""

    scope: str  # a service's name, or ALL_SERVICES
    until: datetime
    reason: str
    by: Actor | None = None  # who set it; None for a window of services.yaml

    def covers(self, service: str) -> bool:
        """True when this freeze holds `service`."""
        return self.scope in (service, ALL_SERVICES)

    def is_active(self, now: datetime) -> bool:
        """True until the freeze ends."""
        return now < self.until

    def describe(self, service: str, *, now: datetime) -> str:
        """``fop-gate is frozen until Mon 06:00 UTC (release freeze)``."""
        return f"{service} is frozen until {describe_until(self.until, now=now)} ({self.reason})"


def describe_until(until: datetime, *, now: datetime) -> str:
    """When a freeze ends, in UTC: ``Mon 06:00 UTC``, with the date when it is a week off."""
    at = until.astimezone(UTC)
    if at - now < timedelta(days=6):
        return f"{at:%a %H:%M} UTC"
    return f"{at:%a %d %b %Y %H:%M} UTC"


def window_freeze(window: FreezeWindow, *, scope: str, now: datetime) -> Freeze | None:
    """The freeze `window` imposes at `now`, or None. Purely computational.

    The window is in force when it fired in (now - duration, now]. Its end is the last such
    fire plus the duration, carried on through windows that start before the previous ends.
    The duration is elapsed time: across a change of daylight saving time a 62h freeze still
    lasts 62 hours.
    """
    trigger = window.trigger()
    now = now.astimezone(UTC)  # arithmetic on a zone's wall clock would skip or repeat an hour
    fired = _fire_at_or_after(trigger, now - window.duration + _TICK)
    if fired is None or fired > now:
        return None
    until = fired + window.duration
    for _ in range(_CHAINED_WINDOWS):
        following = _fire_at_or_after(trigger, fired + _TICK)
        if following is None or following > until:
            break
        fired, until = following, max(until, following + window.duration)
    return Freeze(scope=scope, until=until, reason=window.reason)


def active_freeze(
    now: datetime,
    *,
    windows: Iterable[tuple[str, FreezeWindow]],
    adhoc: Iterable[Freeze],
) -> Freeze | None:
    """The freeze in force at `now` that lasts longest, or None. Purely computational.

    `windows` are (scope, window) pairs from services.yaml; `adhoc` the freezes people set. The
    caller passes those that cover the service in question; an expired ad-hoc freeze is ignored.
    """
    found = [freeze for freeze in adhoc if freeze.is_active(now)]
    for scope, window in windows:
        freeze = window_freeze(window, scope=scope, now=now)
        if freeze is not None:
            found.append(freeze)
    return max(found, key=lambda freeze: freeze.until, default=None)


def _fire_at_or_after(trigger: CronTrigger, moment: datetime) -> datetime | None:
    fired: datetime | None = trigger.get_next_fire_time(None, moment)
    return None if fired is None else fired.astimezone(UTC)


@dataclass(frozen=True)
class Blocked:
    """The freeze stops this request; `reason` says so to whoever asked."""

    reason: str


def freeze_gate(
    freeze: Freeze | None, *, service: str, force: bool, admin: bool, now: datetime
) -> Freeze | Blocked | None:
    """May a start, promote or approval of `service` go ahead under `freeze`? Purely computational.

    None: no freeze holds it. The freeze itself: an admin forced the request through it, which
    the caller audits and announces. `Blocked`: refused, with the reason; `force` from anyone
    but an admin is refused whether or not a freeze holds the service.
    """
    if force and not admin:
        state = freeze.describe(service, now=now) if freeze else f"{service} is not frozen"
        return Blocked(f"only admins may use force ({state})")
    if freeze is None:
        return None
    if force:
        return freeze
    return Blocked(f"{freeze.describe(service, now=now)}; an admin may add force")
