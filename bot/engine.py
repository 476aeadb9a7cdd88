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

from bot.actions import (
    Action,
    DeployStep,
    Notify,
    OpenWindow,
    PauseRollout,
    Promote,
    RequestApproval,
    ResumeRollout,
    Undo,
)
from bot.images import parse_image
from bot.machine import new_release
from bot.overrides import OverrideError, apply_overrides, release_spec
from bot.registry import Registry
from bot.release import SCHEDULER, Actor, AuditEntry, Event, EventKind, PlanOverrides, Release
from bot.service_spec import ServiceSpec
from bot.store import ReleaseStore
from bot.transitions import Applied, Outcome, Refused, apply_event, start_release
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
    ) -> None:
        """Wire the engine to its store, the services, the cluster side and a clock."""
        self._windows = windows
        self._store = store
        self._registry = registry
        self._strategies = strategies
        self._clock = clock
        self._hooks = hooks or EngineHooks()

    def start(
        self,
        service: str,
        image: str,
        actor: Actor,
        *,
        steps: tuple[int, ...] | None = None,
        window: timedelta | None = None,
        idempotency_key: str | None = None,
    ) -> Outcome:
        """Start a release of `image` for `service`, and carry it to its first window.

        `steps` (the strategy's step values: canary replicas, new pods or Istio weights) and
        `window` (one observation window) replace the service's for this release only; the
        release keeps them until it ends, whatever `services.yaml` says meanwhile.

        Raises `UnknownService` and `BadImageError` for bad input; a refusal (overrides the
        service cannot use, a live release, an unreachable cluster) comes back as `Refused`;
        overrides are refused before the cluster or the store is touched.
        """
        spec = self._registry.get(service)
        ref = parse_image(image)
        overrides = PlanOverrides(steps=steps, window=window)
        try:
            spec = apply_overrides(spec, overrides)
        except OverrideError as err:
            return Refused(str(err))
        strategy = self._strategies(spec)
        try:
            running = strategy.status()
        except ClusterError as err:
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
            self._store, draft, now=self._clock(), idempotency_key=idempotency_key
        )
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
    ) -> Outcome:
        """Apply `kind` (pause, promote, undo, approve …) to the service's live release.

        `release_id` pins the event to one release (a button names the release it was posted
        for): once that release has ended, the event is refused rather than reaching the next.
        """
        self._registry.get(service)
        if release_id is None:
            live = self._store.live_release(service)
            if live is None:
                return Refused(f"{service} has no live release")
            release_id = live.id
        event = Event(kind, actor, step=step, reason=reason, to_revision=to_revision)
        outcome = apply_event(
            self._store, release_id, event, now=self._clock(), idempotency_key=idempotency_key
        )
        return self._carry_out(outcome)

    def close_window(self, release_id: str, *, step: int, index: int) -> Outcome:
        """Judge window `index` of step `step` of a release, once, and act on the verdict.

        The scheduler calls this when the window ends. A window that is no longer open (already
        judged, extended, or the release moved on) is refused without measuring anything, and
        only the caller whose verdict is committed reports it, so a second wake-up is harmless.
        """
        release = self._store.get(release_id)
        window = release.window if release is not None else None
        if release is None or window is None or (window.step, window.index) != (step, index):
            return Refused(f"window {index + 1} of step {step + 1} of {release_id} is not open")
        if self._windows is None:
            return Refused("no metrics source: windows cannot be judged")
        report = self._windows.report(release, window, self._spec_of(release))
        event = Event(
            report.event_kind, SCHEDULER, step=step, window=index, reason=report.judgment.reason
        )
        key = f"window:{release_id}:{step}:{index}:{window.ends_at.isoformat()}"
        outcome = apply_event(
            self._store, release_id, event, now=self._clock(), idempotency_key=key
        )
        if isinstance(outcome, Applied) and not outcome.replayed:
            self._hooks.window_report(report)
        return self._carry_out(outcome)

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
        self._store.record_refusal(
            AuditEntry(
                at=self._clock(),
                service=service,
                release_id=live.id if live is not None else "",
                actor=actor,
                event=kind,
                applied=False,
                from_phase=live.phase if live is not None else None,
                reason=reason,
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

    # --- carrying out --------------------------------------------------------------------------

    def _carry_out(self, outcome: Outcome) -> Outcome:
        """Perform the committed transition's actions; feed the cluster's answers back."""
        if not isinstance(outcome, Applied) or outcome.replayed:
            return outcome
        for listener in self._hooks.progress:
            listener(outcome.release)
        current: Outcome = outcome
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
            return Event(EventKind.ERROR, SCHEDULER, reason=str(err))


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
