"""Releases nobody is typing: the nightly, planned releases, and reminders of waiting approvals.

The scheduler calls these through :class:`bot.engine.Engine` (`run_nightly`, `plan_release`,
`run_planned`, `remind_approval`). They start releases through the engine's own `start`, so a
nightly runs the same flow, in the same kind of thread, as a release a person starts. What
keeps one from starting (no candidate, a freeze, a live release) is said in the service's
channel, since nobody is there to read a refusal.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from bot.actions import PlannedRelease
from bot.candidates import CandidateStore
from bot.images import BadImageError, parse_image
from bot.registry import Registry, UnknownService
from bot.release import SCHEDULER, Actor, DeadlineAction, EventKind, Phase
from bot.store import ReleaseStore
from bot.transitions import Outcome, Refused

if TYPE_CHECKING:
    from bot.engine import Engine, EngineHooks


class UnattendedReleases:
    """Starts nightly and planned releases through the engine, and reminds approvers."""

    def __init__(
        self,
        engine: Engine,
        *,
        store: ReleaseStore,
        registry: Registry,
        candidates: CandidateStore | None,
        hooks: EngineHooks,
        clock: Callable[[], datetime],
    ) -> None:
        """Start releases through `engine`; tell the world through its `hooks`."""
        self._engine = engine
        self._store = store
        self._registry = registry
        self._candidates = candidates
        self._hooks = hooks
        self._clock = clock

    def run_nightly(self, service: str) -> Outcome:
        """Start the newest unreleased candidate as the scheduler; else say why not."""
        what = f"nightly release of {service}"
        if service not in self._registry:
            return Refused(f"{what} skipped: {UnknownService(service, ())}")
        candidate = self._candidates.newest_unreleased(service) if self._candidates else None
        if candidate is None:
            return self._skip(service, f"{what} skipped: {self._no_candidate(service)}")
        key = f"nightly:{service}:{candidate.image}"
        return self._start(service, candidate.image, SCHEDULER, what=what, key=key)

    def plan(
        self, service: str, image: str, at: datetime, actor: Actor
    ) -> PlannedRelease | Refused:
        """Check a planned release (known service, pinned image, a time to come); hand it on."""
        try:
            self._registry.get(service)
            ref = parse_image(image)
        except (UnknownService, BadImageError) as err:
            return Refused(str(err))
        if at.tzinfo is None:
            return Refused(f"{at:%Y-%m-%d %H:%M} needs a time zone")
        if at <= self._clock():
            return Refused(f"{at:%Y-%m-%d %H:%M %Z} has passed; plan the release for later")
        planned = PlannedRelease(
            service, ref.text, at, actor, id=f"{service}:{int(at.timestamp())}"
        )
        self._hooks.plan_release(planned)
        return planned

    def run_planned(self, planned: PlannedRelease) -> Outcome:
        """Start a planned release as whoever planned it; else say why not."""
        what = (
            f"planned release of {planned.service} ({planned.image}, "
            f"asked by {planned.requested_by.mention})"
        )
        # Started as whoever planned it, so that they cannot approve it themselves either.
        key = f"planned:{planned.id}"
        return self._start(planned.service, planned.image, planned.requested_by, what=what, key=key)

    def remind(self, release_id: str, *, step: int) -> bool:
        """Remind the thread, alerting on-call, while step `step` still waits for approval."""
        release = self._store.get(release_id)
        due = release.approval_deadline_at if release is not None else None
        if release is None or due is None or release.phase is not Phase.AWAITING_APPROVAL:
            return False
        if release.step != step or due <= self._clock():
            return False
        then = (
            "it will be undone, as the service's policy says"
            if release.plan.on_deadline is DeadlineAction.UNDO
            else "it will hold where it is until someone decides"
        )
        text = (
            f"nobody has answered the approval request for step {step + 1} yet; "
            f"the deadline is {due:%H:%M} UTC, then {then}"
        )
        self._hooks.notify(release, text, True)
        return True

    def _start(self, service: str, image: str, actor: Actor, *, what: str, key: str) -> Outcome:
        # A retry of a release that started already only replays it: no freeze check, no skip.
        if self._store.remembered(key) is None:
            freeze = self._engine.active_freeze(service)
            if freeze is not None:
                reason = f"{what} skipped: {freeze.describe(service, now=self._clock())}"
                self._engine.refuse(service, EventKind.START, actor, reason)
                return self._skip(service, reason)
        try:
            outcome = self._engine.start(service, image, actor, idempotency_key=key)
        except (UnknownService, BadImageError) as err:
            outcome = Refused(str(err))
        if isinstance(outcome, Refused):
            skipped = Refused(f"{what} skipped: {outcome.reason}", outcome.release)
            self._hooks.announce(service, skipped.reason)
            return skipped
        return outcome

    def _skip(self, service: str, reason: str) -> Refused:
        self._hooks.announce(service, reason)
        return Refused(reason)

    def _no_candidate(self, service: str) -> str:
        last = self._candidates.last_released(service) if self._candidates else None
        if last is None or last.released_at is None:
            record = f"canarybot candidate {service} --image IMG"
            return f"no candidate was recorded (CI records one with `{record}`)"
        released = last.released_at
        return f"no new candidate since {last.image} (released {released.day} {released:%b})"
