"""The worker's side of the commands about later: candidates, planned releases and freezes.

:class:`handlers.work.SlackWork` hands these four commands here. Each answers the asker
ephemerally, with times in the service's nightly time zone (UTC for a service without one,
and for a freeze of every service).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Protocol
from zoneinfo import ZoneInfo

from bot.candidates import next_nightly
from bot.engine import Engine
from bot.registry import Registry
from bot.release import Actor
from bot.transitions import Refused
from handlers.commands import FreezeReleases, RecordCandidate, ScheduleRelease, UnfreezeReleases
from handlers.render import Message, refusal
from handlers.render_plans import candidate_recorded, freeze_lifted, freeze_set, release_planned

PlanCommand = RecordCandidate | ScheduleRelease | FreezeReleases | UnfreezeReleases


class Reply(Protocol):
    """Whoever answers the asker (handlers.work's replier)."""

    def send(self, message: Message) -> None:
        """Answer with `message`, for the asker's eyes only."""


@dataclass
class PlanWork:
    """Carries out candidate, schedule, freeze and unfreeze against the engine."""

    engine: Engine
    registry: Registry
    tz: tzinfo
    clock: Callable[[], datetime]

    def run(self, command: PlanCommand, actor: Actor, reply: Reply) -> None:
        """Carry out `command` for `actor`, answering through `reply`."""
        if isinstance(command, RecordCandidate):
            self._candidate(command, actor, reply)
        elif isinstance(command, ScheduleRelease):
            self._schedule(command, actor, reply)
        elif isinstance(command, FreezeReleases):
            self._freeze(command, actor, reply)
        else:
            self._unfreeze(command, actor, reply)

    def zone(self, service: str | None) -> tzinfo:
        """The time zone `service` is released in: its nightly's, else the bot's."""
        nightly = self.registry.get(service).nightly if service else None
        return ZoneInfo(nightly.timezone) if nightly is not None else self.tz

    def _candidate(self, command: RecordCandidate, actor: Actor, reply: Reply) -> None:
        candidate = self.engine.record_candidate(command.service, command.image, by=actor.mention)
        spec = self.registry.get(command.service)
        nightly = next_nightly(spec, now=self.clock())
        reply.send(candidate_recorded(candidate, nightly=nightly, zone=self.zone(spec.name)))

    def _schedule(self, command: ScheduleRelease, actor: Actor, reply: Reply) -> None:
        zone = self.zone(command.service)
        at = command.at.resolve(self.clock(), zone)
        planned = self.engine.plan_release(command.service, command.image, at, actor)
        if isinstance(planned, Refused):
            reply.send(refusal(planned.reason))
        else:
            reply.send(release_planned(planned, zone=zone))

    def _freeze(self, command: FreezeReleases, actor: Actor, reply: Reply) -> None:
        now = self.clock()
        until = command.until.resolve(now, self.zone(command.service))
        reason = command.reason or f"frozen by {actor.mention}"
        frozen = self.engine.freeze(command.service, until=until, reason=reason, actor=actor)
        reply.send(
            refusal(frozen.reason) if isinstance(frozen, Refused) else freeze_set(frozen, now=now)
        )

    def _unfreeze(self, command: UnfreezeReleases, actor: Actor, reply: Reply) -> None:
        lifted = self.engine.unfreeze(command.service, actor)
        if isinstance(lifted, Refused):
            reply.send(refusal(lifted.reason))
            return
        still = self.engine.active_freeze(command.service) if command.service else None
        reply.send(freeze_lifted(lifted, service=command.service, still=still, now=self.clock()))
