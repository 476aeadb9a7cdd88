"""What a `/canary` command asks for, once read: one frozen value a command.

:mod:`handlers.grammar` makes these from text; :mod:`handlers.listeners` carries them out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from bot.moments import Moment
from bot.strategy_specs import StrategyKind


@dataclass(frozen=True, kw_only=True)
class ServiceCommand:
    """A command about one service: the one authorization is checked against."""

    service: str


@dataclass(frozen=True, kw_only=True)
class Start(ServiceCommand):
    """Start a release of `image`; a None option leaves the service's configured value."""

    image: str
    strategy: StrategyKind | None = None
    steps: tuple[int, ...] | None = None
    window: timedelta | None = None
    force: bool = False  # an admin breaks a freeze


@dataclass(frozen=True, kw_only=True)
class Status(ServiceCommand):
    """Show where the service's release stands."""


@dataclass(frozen=True, kw_only=True)
class Pause(ServiceCommand):
    """Hold the live release where it is."""


@dataclass(frozen=True, kw_only=True)
class Resume(ServiceCommand):
    """Let a paused release go on."""


@dataclass(frozen=True, kw_only=True)
class Promote(ServiceCommand):
    """Give the new version all traffic now; `force` (an admin's) breaks a freeze."""

    force: bool = False


@dataclass(frozen=True, kw_only=True)
class Undo(ServiceCommand):
    """Roll back to the version before the release, or to `revision`."""

    revision: int | None = None


@dataclass(frozen=True, kw_only=True)
class Abort(ServiceCommand):
    """Stop the live release and undo it."""


@dataclass(frozen=True, kw_only=True)
class History(ServiceCommand):
    """Show the service's past releases and who did what."""


@dataclass(frozen=True, kw_only=True)
class RecordCandidate(ServiceCommand):
    """Record `image` as a release candidate, for the service's nightly release."""

    image: str


@dataclass(frozen=True, kw_only=True)
class ScheduleRelease(ServiceCommand):
    """Start a release of `image` later, at `at`."""

    at: Moment
    image: str


@dataclass(frozen=True, kw_only=True)
class FreezeReleases:
    """Freeze `service` (None: every service) until `until`, because of `reason`."""

    service: str | None = None
    until: Moment
    reason: str = ""


@dataclass(frozen=True, kw_only=True)
class UnfreezeReleases:
    """Lift the ad-hoc freeze of `service` (None: the one of every service)."""

    service: str | None = None


@dataclass(frozen=True, kw_only=True)
class ListReleases:
    """Show the services and their live releases."""


@dataclass(frozen=True, kw_only=True)
class Help:
    """Show every command, or one command (`topic`) in detail."""

    topic: str | None = None


Command = (
    Start
    | Status
    | Pause
    | Resume
    | Promote
    | Undo
    | Abort
    | History
    | RecordCandidate
    | ScheduleRelease
    | FreezeReleases
    | UnfreezeReleases
    | ListReleases
    | Help
)


@dataclass(frozen=True, kw_only=True)
class CommandError:
    """Text that is not a command: `message` says what is wrong, `usage` shows the right form."""

    message: str
    usage: str
