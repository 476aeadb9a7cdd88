"""The engine: carries out what the state machine decided, through a strategy and the store.

Every change goes through `bot.transitions` (decide, then compare-and-set, audited). The
actions of a committed transition are then performed against the cluster, and what the
cluster answers (deployed, done, or an error with its reason) comes back as the next event, so
a release moves one recorded transition at a time. The engine knows nothing of Slack; every
front door (CLI, chat, scheduler) calls the same methods.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bot import telemetry
from bot.actions import (
    Action,
    DeployStep,
    Notify,
    OpenWindow,
    PauseRollout,
    PlannedRelease,
    Promote,
    RequestApproval,
    ResumeRollout,
    Undo,
)
from bot.candidates import Candidate, CandidateStore
from bot.freeze_store import FreezeBook, FreezeStore
from bot.freezes import Blocked, Freeze, freeze_gate
from bot.images import parse_image
from bot.log_format import working_on
from bot.machine import new_release
from bot.overrides import OverrideError, apply_overrides, release_spec
from bot.pending_reports import PendingReports
from bot.registry import Registry
from bot.release import (
    SCHEDULER,
    Actor,
    AuditEntry,
    Door,
    Event,
    EventKind,
    Phase,
    PlanOverrides,
    Release,
)
from bot.service_spec import ServiceSpec
from bot.store import ReleaseStore
from bot.transitions import Applied, Outcome, Refused, apply_event, start_release
from bot.unattended import UnattendedReleases
from bot.windows import WindowJudge, WindowReport
from k8s.errors import ClusterError
from k8s.strategy import ReleaseStrategy
from k8s.types import ReleaseStatus, Revision

StrategyFactory = Callable[[ServiceSpec], ReleaseStrategy]


@dataclass
class EngineHooks:
    """What the engine tells the world beyond the cluster; each front door plugs in its own.

    The scheduler (observation windows, approval deadlines) and the chat thread attach here;
    by default nothing is scheduled and messages are dropped.
    """

    schedule: Callable[[Release, OpenWindow | RequestApproval], None] = lambda _r, _a: None
    notify: Callable[[Release, str, bool], None] = lambda _r, _text, _alert: None
    progress: list[Callable[[Release], None]] = field(default_factory=list)
    # A judged window, told once: only by whoever committed its verdict.
    window_report: Callable[[WindowReport], None] = lambda _report: None
    # (service, text): said in the service's channel, outside any release's thread.
    announce: Callable[[str, str], None] = lambda _service, _text: None
    # A release to start later: the scheduler keeps it and calls run_planned at its time.
    plan_release: Callable[[PlannedRelease], None] = lambda _planned: None


class Engine:
    """Runs releases: one transition at a time per release, each recorded."""

    def __init__(
        self,
        *,
        store: ReleaseStore,
        registry: Registry,
        strategies: StrategyFactory,
        clock: Callable[[], datetime],
        hooks: EngineHooks | None = None,
        windows: WindowJudge | None = None,
        freezes: FreezeStore | None = None,
        candidates: CandidateStore | None = None,
        reports: PendingReports | None = None,
    ) -> None:
        """Wire the engine to its store, the services, the cluster side and a clock.

        Without `freezes` only the freeze windows of services.yaml hold releases; without
        `candidates` nightly releases find nothing to release.
        """
        self._candidates = candidates
        self._reports = reports
        self._windows = windows
        self._store = store
        self._registry = registry
        self._strategies = strategies
        self._clock = clock
        self._hooks = hooks or EngineHooks()
        self._freezes = FreezeBook(registry, freezes, clock=clock)
        self._unattended = UnattendedReleases(
            self,
            store=store,
            registry=registry,
            candidates=candidates,
            hooks=self._hooks,
            clock=clock,
        )

    def start(
        self,
        service: str,
        image: str,
        actor: Actor,
        *,
        steps: tuple[int, ...] | None = None,
        window: timedelta | None = None,
        idempotency_key: str | None = None,
        force: bool = False,
    ) -> Outcome:
        """Start a release of `image` for `service`, and carry it to its first window.

        `steps` (the strategy's step values: canary replicas, new pods or Istio weights) and
        `window` (one observation window) replace the service's for this release only; the
        release keeps them until it ends, whatever `services.yaml` says meanwhile. During a
        freeze only an admin's `force` starts it; the start is then audited with the freeze
        and announced in the release's thread.

        Raises `UnknownService` and `BadImageError` for bad input; a refusal (overrides the
        service cannot use, a freeze, a live release, an unreachable cluster) comes back as
        `Refused`; overrides and freezes are refused before the cluster or the store is
        touched, and a freeze's refusal is audited.
        """
        spec = self._registry.get(service)
        ref = parse_image(image)
        overrides = PlanOverrides(steps=steps, window=window)
        try:
            spec = apply_overrides(spec, overrides)
        except OverrideError as err:
            return Refused(str(err))
        forced = self._pass_freeze(service, EventKind.START, actor, force=force, release=None)
        if isinstance(forced, Refused):
            return forced
        strategy = self._strategies(spec)
        try:
            running = strategy.status()
        except ClusterError as err:
            telemetry.cluster_failed(err)
            return Refused(f"cannot start {service}: {err}")
        previous = running.stable.image if running.stable else ""
        draft = new_release(
            service=service,
            image=ref.text,
            plan=spec.plan(),
            actor=actor,
            now=self._clock(),
            previous_image=previous,
            overrides=overrides,
        )
        outcome = start_release(
            self._store,
            draft,
            now=self._clock(),
            idempotency_key=idempotency_key,
            forced=forced.reason if forced else "",
        )
        if isinstance(outcome, Applied) and not outcome.replayed:
            if self._candidates is not None:
                # Whoever started it, the nightly must not start this image again.
                self._candidates.mark_released(service, ref.text, at=self._clock())
            self._announce_forced(outcome.release, actor, forced, "start it")
        return self._carry_out(outcome)

    def act(
        self,
        service: str,
        kind: EventKind,
        actor: Actor,
        *,
        reason: str = "",
        step: int | None = None,
        to_revision: int | None = None,
        idempotency_key: str | None = None,
        release_id: str | None = None,
        force: bool = False,
    ) -> Outcome:
        """Apply `kind` (pause, promote, undo, approve …) to the service's live release.

        `release_id` pins the event to one release (a button names the release it was posted
        for): once that release has ended, the event is refused rather than reaching the next.
        A freeze refuses promote and approve (audited) unless an admin adds `force`; it never
        holds back undo, pause or resume, and a passed window asks instead of advancing.
        """
        self._registry.get(service)
        target = (
            self._store.live_release(service) if release_id is None else self._store.get(release_id)
        )
        if release_id is None:
            if target is None:
                return Refused(f"{service} has no live release")
            release_id = target.id
        forced = None
        if kind in _HELD_BY_FREEZES:
            passed = self._pass_freeze(service, kind, actor, force=force, release=target)
            if isinstance(passed, Refused):
                return passed
            forced = passed
        event = Event(
            kind,
            actor,
            step=step,
            reason=reason,
            to_revision=to_revision,
            forced=forced.reason if forced else "",
        )
        outcome = apply_event(
            self._store,
            release_id,
            event,
            now=self._clock(),
            idempotency_key=idempotency_key,
            frozen=self._frozen_words(service) if kind in _ADVANCES else None,
        )
        if isinstance(outcome, Applied) and not outcome.replayed:
            moved = outcome.release
            verb = "promote" if moved.phase is Phase.PROMOTING else f"deploy step {moved.step + 1}"
            self._announce_forced(moved, actor, forced, verb)
        return self._carry_out(outcome)

    def close_window(self, release_id: str, *, step: int, index: int) -> Outcome:
        """Judge window `index` of step `step` of a release, once, and act on the verdict.

        The scheduler calls this when the window ends. A window that is no longer open (already
        judged, extended, or the release moved on) is refused without measuring anything, and
        only the caller whose verdict is committed reports it, so a second wake-up is harmless.
        """
        with working_on(release_id):
            return self._close_window(release_id, step=step, index=index)

    def _close_window(self, release_id: str, *, step: int, index: int) -> Outcome:
        release = self._store.get(release_id)
        window = release.window if release is not None else None
        if release is None or window is None or (window.step, window.index) != (step, index):
            return Refused(f"window {index + 1} of step {step + 1} of {release_id} is not open")
        if self._windows is None:
            return Refused("no metrics source: windows cannot be judged")
        telemetry.window_woke((self._clock() - window.ends_at).total_seconds())
        report = self._windows.report(release, window, self._spec_of(release))
        event = Event(
            report.event_kind, SCHEDULER, step=step, window=index, reason=report.judgment.reason
        )
        key = f"window:{release_id}:{step}:{index}:{window.ends_at.isoformat()}"
        if self._reports is not None:  # kept until posted, so a crash cannot lose it
            self._reports.hold(key, report)
        outcome = apply_event(
            self._store,
            release_id,
            event,
            now=self._clock(),
            idempotency_key=key,
            frozen=self._frozen_words(release.service),
        )
        if isinstance(outcome, Applied) and not outcome.replayed:
            telemetry.window_judged(report.judgment.verdict)
            self._post_report(key, report)
        elif isinstance(outcome, Refused) and self._reports is not None:
            self._reports.done(key)  # no verdict was committed: nothing to post
        return self._carry_out(outcome)

    def post_held_reports(self) -> int:
        """Post the summaries of committed verdicts whose bot died before posting them.

        The scheduler's new leader calls this. A held report whose verdict is not committed is
        left alone: its judge may still be at work. The count posted.
        """
        if self._reports is None:
            return 0
        posted = 0
        for key, report in self._reports.held():
            if self._store.remembered(key) is not None:
                self._post_report(key, report)
                posted += 1
        return posted

    def _post_report(self, key: str, report: WindowReport) -> None:
        self._hooks.window_report(report)
        if self._reports is not None:
            self._reports.done(key)

    def refuse(
        self,
        service: str,
        kind: EventKind,
        actor: Actor,
        reason: str,
        *,
        release: Release | None = None,
    ) -> None:
        """Audit a request a front door refused before it reached the release (no permission).

        The entry names `release` (a button's), else the service's live release, if any.
        """
        live = release or self._store.live_release(service)
        self._record_refusal(service, kind, actor, reason, live)

    def _record_refusal(
        self,
        service: str,
        kind: EventKind,
        actor: Actor,
        reason: str,
        release: Release | None,
        *,
        details: dict[str, str] | None = None,
    ) -> None:
        self._store.record_refusal(
            AuditEntry(
                at=self._clock(),
                service=service,
                release_id=release.id if release is not None else "",
                actor=actor,
                event=kind,
                applied=False,
                from_phase=release.phase if release is not None else None,
                reason=reason,
                details=details or {},
            )
        )

    def audit(self, service: str, *, limit: int = 20) -> list[AuditEntry]:
        """The service's last audit entries, oldest first."""
        self._registry.get(service)
        return self._store.audit_trail(service=service, limit=limit)

    def status(self, service: str) -> tuple[Release | None, ReleaseStatus]:
        """The service's live release (or its last one) and what runs in the cluster."""
        spec = self._registry.get(service)
        release = self._store.live_release(service) or next(
            iter(self._store.history(service, limit=1)), None
        )
        if release is not None:
            spec = release_spec(spec, release.plan)
        return release, self._strategies(spec).status()

    def history(self, service: str, *, limit: int = 10) -> tuple[list[Release], list[Revision]]:
        """The service's last releases (newest first) and its workload's rollout history."""
        spec = self._registry.get(service)
        return self._store.history(service, limit=limit), self._strategies(spec).history()

    def release(self, release_id: str) -> Release | None:
        """One release by id, live or not."""
        return self._store.get(release_id)

    def live_release(self, service: str) -> Release | None:
        """The service's live release, if any."""
        self._registry.get(service)
        return self._store.live_release(service)

    def live(self) -> list[Release]:
        """Every live release."""
        return self._store.live_releases()

    def _spec_of(self, release: Release) -> ServiceSpec:
        """The service as `release` acts on it: with the step values the release started with."""
        return release_spec(self._registry.get(release.service), release.plan)

    # --- freezes -------------------------------------------------------------------------------

    def is_admin(self, actor: Actor) -> bool:
        """True for services.yaml's admins, and for the CLI's operator (it holds the bot's keys)."""
        return actor.door is Door.CLI or actor.id in self._registry.admins

    def active_freeze(self, service: str) -> Freeze | None:
        """The freeze holding `service` now (a window of services.yaml or an ad-hoc one)."""
        return self._freezes.active(service)

    def freeze(
        self, service: str | None, *, until: datetime, reason: str, actor: Actor
    ) -> Freeze | Refused:
        """Freeze `service` (None: every service) until `until`, replacing its last freeze."""
        return self._freezes.set(service, until=until, reason=reason, actor=actor)

    def unfreeze(self, service: str | None, actor: Actor) -> Freeze | Refused | None:
        """Lift the ad-hoc freeze of `service` (None: every service's); what was lifted.

        Admins and whoever set the freeze may lift it; services.yaml's windows stay.
        """
        return self._freezes.lift(service, actor, admin=self.is_admin(actor))

    def _pass_freeze(
        self, service: str, kind: EventKind, actor: Actor, *, force: bool, release: Release | None
    ) -> Freeze | Refused | None:
        """None: not frozen; the freeze an admin forced through; or the refusal, audited."""
        gate = freeze_gate(
            self.active_freeze(service),
            service=service,
            force=force,
            admin=self.is_admin(actor),
            now=self._clock(),
        )
        if not isinstance(gate, Blocked):
            return gate
        details = {"force": "asked"} if force else {}
        self._record_refusal(service, kind, actor, gate.reason, release, details=details)
        return Refused(gate.reason, release)

    def _frozen_words(self, service: str) -> str | None:
        """Why `service` is frozen, for the state machine; None when it is not."""
        freeze = self.active_freeze(service)
        return freeze.describe(service, now=self._clock()) if freeze is not None else None

    def _announce_forced(
        self, release: Release, actor: Actor, forced: Freeze | None, verb: str
    ) -> None:
        if forced is not None:
            text = f"{actor.mention} broke the freeze ({forced.reason}) to {verb}"
            self._hooks.notify(release, text, True)

    # --- candidates and the scheduler's entry points -------------------------------------------

    def record_candidate(self, service: str, image: str, *, by: str) -> Candidate:
        """Record `image` as a release candidate of `service` for its nightly release.

        Raises `UnknownService` and `BadImageError`, and RuntimeError without a candidate store.
        """
        if self._candidates is None:
            raise RuntimeError("this bot keeps no release candidates")
        return self._candidates.record(service, image, by=by, at=self._clock())

    def run_nightly(self, service: str) -> Outcome:
        """Start the service's newest unreleased candidate as the scheduler, in the usual flow.

        Idempotency key ``nightly:SERVICE:IMAGE``; the candidate is marked released once
        started. No candidate, a freeze or a live release: `Refused`, told in the channel.
        """
        return self._unattended.run_nightly(service)

    def plan_release(
        self, service: str, image: str, at: datetime, actor: Actor
    ) -> PlannedRelease | Refused:
        """Plan a release of `image` at `at` and hand it to the `plan_release` hook.

        Refused for an unknown service, a bad image, or a time that is not in the future.
        """
        return self._unattended.plan(service, image, at, actor)

    def run_planned(self, planned: PlannedRelease) -> Outcome:
        """Start a planned release at its time (idempotency key ``planned:ID``).

        A freeze or a live release: `Refused`, told in the channel.
        """
        return self._unattended.run_planned(planned)

    def remind_approval(self, release_id: str, *, step: int) -> bool:
        """Remind the thread (alerting on-call) that step `step` still waits for approval.

        Only while that approval is pending with its deadline to come; whether it reminded.
        """
        return self._unattended.remind(release_id, step=step)

    # --- carrying out --------------------------------------------------------------------------

    def _carry_out(self, outcome: Outcome) -> Outcome:
        """Perform the committed transition's actions; feed the cluster's answers back."""
        if not isinstance(outcome, Applied) or outcome.replayed:
            return outcome
        with working_on(outcome.release.id):
            return self._carry_out_applied(outcome)

    def _carry_out_applied(self, outcome: Applied) -> Outcome:
        for listener in self._hooks.progress:
            listener(outcome.release)
        current: Applied = outcome
        pending = list(outcome.actions)
        while pending:
            assert isinstance(current, Applied)
            follow_up = self._perform(current.release, pending.pop(0))
            if follow_up is None:
                continue
            nxt = apply_event(self._store, current.release.id, follow_up, now=self._clock())
            if isinstance(nxt, Refused):
                # Someone moved the release meanwhile (an undo during a deploy): their
                # transition owns what happens next, so this run stops here.
                return _latest(self._store, current)
            current = nxt
            pending.extend(nxt.actions)
            for listener in self._hooks.progress:
                listener(nxt.release)
        telemetry.release_moved(outcome.release, current.release)
        return current

    def _perform(self, release: Release, action: Action) -> Event | None:
        """Do one action; the event it leads to, if any (errors become ERROR events)."""
        if isinstance(action, OpenWindow | RequestApproval):
            self._hooks.schedule(release, action)
            return None
        if isinstance(action, Notify):
            self._hooks.notify(release, action.text, action.alert)
            return None
        strategy = self._strategies(self._spec_of(release))
        try:
            return _on_cluster(strategy, release, action)
        except ClusterError as err:
            telemetry.cluster_failed(err)
            return Event(EventKind.ERROR, SCHEDULER, reason=str(err))


# What a freeze holds back when a person asks for it; a passed window is held in bot.machine.
_HELD_BY_FREEZES = frozenset({EventKind.PROMOTE, EventKind.APPROVE})
_ADVANCES = frozenset({EventKind.WINDOW_PASSED})


def _on_cluster(strategy: ReleaseStrategy, release: Release, action: Action) -> Event | None:
    match action:
        case DeployStep(step=0):
            strategy.start(release.image)
            return Event(EventKind.DEPLOYED, SCHEDULER, step=0)
        case DeployStep(step=step):
            strategy.set_step(step)
            return Event(EventKind.DEPLOYED, SCHEDULER, step=step)
        case Promote():
            strategy.promote()
            return Event(EventKind.STEP_DONE, SCHEDULER, reason="promotion complete")
        case Undo(to_revision=revision):
            strategy.undo(revision)
            return Event(EventKind.STEP_DONE, SCHEDULER, reason="undo complete")
        case PauseRollout():
            strategy.pause()
        case ResumeRollout():
            strategy.resume()
    return None


def _latest(store: ReleaseStore, outcome: Applied) -> Outcome:
    latest = store.get(outcome.release.id)
    return Applied(latest, ()) if latest is not None else outcome
