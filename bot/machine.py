"""The release state machine: what may happen next.

Purely computational, no side effects: `decide(release, event, now=…)` returns either a
`Transition` (the new release value plus the actions the engine must carry out) or a `Refusal`
with a reason a person can read. Writing the new value (compare-and-set) and performing the
actions happen elsewhere, after this returns.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime

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
from bot.durations import format_duration
from bot.release import (
    Actor,
    DeadlineAction,
    Event,
    EventKind,
    FailPolicy,
    Gate,
    Phase,
    Plan,
    PlanOverrides,
    Release,
    Window,
)


@dataclass(frozen=True)
class Transition:
    """The release's next value and what to do about it."""

    release: Release
    actions: tuple[Action, ...] = ()


@dataclass(frozen=True)
class Refusal:
    """Nothing changes; `reason` tells the person why."""

    reason: str


Decision = Transition | Refusal


def new_release(
    *,
    service: str,
    image: str,
    plan: Plan,
    actor: Actor,
    now: datetime,
    previous_image: str = "",
    overrides: PlanOverrides | None = None,
) -> Release:
    """A release that has been asked for but not started; the store gives it its id.

    `plan` already has any `overrides` in it; they are kept beside it so they can be shown.
    """
    return Release(
        id="",
        service=service,
        image=image,
        plan=plan,
        requested_by=actor,
        created_at=now,
        phase=Phase.PENDING,
        phase_by=actor,
        updated_at=now,
        previous_image=previous_image,
        overrides=overrides or PlanOverrides(),
    )


def decide(release: Release, event: Event, *, now: datetime, frozen: str | None = None) -> Decision:
    """Decide what `event` does to `release` at `now`.

    Purely computational, no side effects. Refuses anything that does not fit the release's
    phase, any event addressed to another step or window than the current one, and everything
    once the release has ended. `frozen` says why the service is frozen, if it is: then a
    passed window that would deploy the next step or promote asks a person instead.
    """
    if release.phase.is_terminal:
        return Refusal(
            f"{_name(release)} was already {release.phase.value} "
            f"by {release.phase_by.mention}; start a new release"
        )
    if event.step is not None and event.step != release.step:
        return Refusal(
            f"that was for step {event.step + 1}; {_name(release)} is now at "
            f"step {release.step + 1} of {release.plan.steps}"
        )
    decision = _HANDLERS[event.kind](release, event, now)
    if frozen and event.kind is EventKind.WINDOW_PASSED and _advances(decision):
        # Only people move a release forward during a freeze, and only an admin by force.
        why = f"step {release.step + 1} passed every window, but {frozen}"
        return _ask(release, event, now, why=why)
    return decision


# --- handlers, one per event kind --------------------------------------------------------------

Handler = Callable[[Release, Event, datetime], Decision]


def _start(release: Release, event: Event, now: datetime) -> Decision:
    if release.phase is not Phase.PENDING:
        return _refuse_busy(release, event)
    nxt = _move(release, Phase.DEPLOYING, event, now, step=0)
    return Transition(nxt, (DeployStep(0),))


def _deployed(release: Release, event: Event, now: datetime) -> Decision:
    if release.phase is not Phase.DEPLOYING:
        return Refusal(f"{_name(release)} is {_phase_words(release)}, not deploying")
    return _open_window(_move(release, Phase.OBSERVING, event, now), index=0, now=now)


def _window_verdict(release: Release, event: Event, now: datetime) -> Decision:
    window = release.window
    if release.phase is not Phase.OBSERVING or window is None:
        return Refusal(f"{_name(release)} is {_phase_words(release)}; no window is open")
    if event.window is not None and event.window != window.index:
        return Refusal(f"window {event.window + 1} of step {release.step + 1} was already judged")
    if now < window.ends_at:
        return Refusal(
            f"window {window.index + 1} of step {release.step + 1} ends at "
            f"{window.ends_at:%H:%M:%S} UTC; too early to judge"
        )
    if event.kind is EventKind.WINDOW_PASSED:
        if window.index + 1 < release.plan.windows_per_step:
            return _open_window(_move(release, Phase.OBSERVING, event, now), window.index + 1, now)
        return _after_step(release, event, now)
    if event.kind is EventKind.WINDOW_FAILED:
        if release.plan.on_fail is FailPolicy.UNDO:
            nxt = _move(release, Phase.UNDOING, event, now)
            return Transition(
                nxt, (Undo(), Notify(f"window failed: {event.reason}; undoing", alert=True))
            )
        return _ask(release, event, now, why=f"window failed: {event.reason}")
    # INCONCLUSIVE: look once more, then ask; never promote on too little evidence.
    if not window.extended:
        nxt = _move(release, Phase.OBSERVING, event, now)
        ext = replace(window, ends_at=now + release.plan.window, extended=True)
        return Transition(replace(nxt, window=ext), (OpenWindow(ext.step, ext.index, ext.ends_at),))
    return _ask(release, event, now, why=f"still inconclusive after extending: {event.reason}")


def _approve(release: Release, event: Event, now: datetime) -> Decision:
    if release.phase is not Phase.AWAITING_APPROVAL:
        return _refuse_busy(release, event)
    if refusal := _self_approval(release, event.actor):
        return refusal
    if release.is_last_step:
        return Transition(_move(release, Phase.PROMOTING, event, now), (Promote(),))
    step = release.step + 1
    return Transition(_move(release, Phase.DEPLOYING, event, now, step=step), (DeployStep(step),))


def _reject(release: Release, event: Event, now: datetime) -> Decision:
    if release.phase is not Phase.AWAITING_APPROVAL:
        return _refuse_busy(release, event)
    return Transition(_move(release, Phase.UNDOING, event, now), (Undo(),))


def _extend(release: Release, event: Event, now: datetime) -> Decision:
    window = release.window
    if release.phase is Phase.OBSERVING and window is not None:
        longer = replace(window, ends_at=window.ends_at + release.plan.window)
        nxt = replace(_move(release, Phase.OBSERVING, event, now), window=longer)
        return Transition(nxt, (OpenWindow(longer.step, longer.index, longer.ends_at),))
    if release.phase is Phase.AWAITING_APPROVAL:
        # One more window for the same step; when it passes, the step is judged complete again.
        index = window.index + 1 if window is not None else release.plan.windows_per_step
        return _open_window(_move(release, Phase.OBSERVING, event, now), index, now)
    return _refuse_busy(release, event)


def _pause(release: Release, event: Event, now: datetime) -> Decision:
    if release.phase not in _PAUSABLE:
        return _refuse_busy(release, event)
    nxt = replace(_move(release, Phase.PAUSED, event, now), paused_from=release.phase)
    return Transition(nxt, (PauseRollout(),))


def _resume(release: Release, event: Event, now: datetime) -> Decision:
    if release.phase is not Phase.PAUSED or release.paused_from is None:
        return _refuse_busy(release, event)
    back = _move(release, release.paused_from, event, now)
    if back.phase is Phase.OBSERVING:
        # Time spent paused does not count as observation: the window starts again.
        index = back.window.index if back.window is not None else 0
        opened = _open_window(back, index, now)
        return Transition(opened.release, (ResumeRollout(), *opened.actions))
    if back.phase is Phase.AWAITING_APPROVAL:
        asked = _ask(back, event, now, why="resumed; waiting for approval again")
        return Transition(asked.release, (ResumeRollout(), *asked.actions))
    return Transition(back, (ResumeRollout(),))


def _promote(release: Release, event: Event, now: datetime) -> Decision:
    if release.phase not in _PROMOTABLE:
        return _refuse_busy(release, event)
    if refusal := _self_approval(release, event.actor):
        return refusal
    return Transition(_move(release, Phase.PROMOTING, event, now), (Promote(),))


def _undo(release: Release, event: Event, now: datetime) -> Decision:
    if release.phase is Phase.UNDOING:
        return Refusal(f"{_name(release)} is {_phase_words(release)}")
    if release.phase is Phase.PENDING:
        # Nothing reached the cluster yet, so there is nothing to roll back.
        return Transition(_move(release, Phase.UNDONE, event, now))
    nxt = _move(release, Phase.UNDOING, event, now)
    return Transition(nxt, (Undo(to_revision=event.to_revision),))


def _deadline(release: Release, event: Event, now: datetime) -> Decision:
    due = release.approval_deadline_at
    if release.phase is not Phase.AWAITING_APPROVAL or due is None:
        return Refusal(f"{_name(release)} has no approval deadline pending")
    if now < due:
        return Refusal(f"the approval deadline is {due:%H:%M:%S} UTC; not reached yet")
    waited = f"nobody answered within {format_duration(release.plan.approval_deadline)}"
    if release.plan.on_deadline is DeadlineAction.UNDO:
        nxt = _move(release, Phase.UNDOING, event, now)
        return Transition(
            nxt, (Undo(), Notify(f"{waited}; undoing as the service's policy says", alert=True))
        )
    held = replace(release, approval_deadline_at=None, updated_at=now)
    return Transition(held, (Notify(f"{waited}; holding until someone decides"),))


def _step_done(release: Release, event: Event, now: datetime) -> Decision:
    if release.phase is Phase.PROMOTING:
        return Transition(_move(release, Phase.PROMOTED, event, now))
    if release.phase is Phase.UNDOING:
        return Transition(_move(release, Phase.UNDONE, event, now))
    return Refusal(f"{_name(release)} is {_phase_words(release)}; nothing is in flight")


def _error(release: Release, event: Event, now: datetime) -> Decision:
    if release.phase is Phase.FAILED:
        return Refusal(f"{_name(release)} has already failed: {release.reason}")
    nxt = _move(release, Phase.FAILED, event, now)
    return Transition(nxt, (Notify(f"failed: {event.reason}; undo to roll back", alert=True),))


# Phases in which the current window is still meaningful (resumed, extended or judged later).
_KEEPS_WINDOW = frozenset({Phase.OBSERVING, Phase.AWAITING_APPROVAL, Phase.PAUSED})
_PAUSABLE = frozenset({Phase.DEPLOYING, Phase.OBSERVING, Phase.AWAITING_APPROVAL})
_PROMOTABLE = frozenset({Phase.OBSERVING, Phase.AWAITING_APPROVAL, Phase.PAUSED})

_HANDLERS: dict[EventKind, Handler] = {
    EventKind.START: _start,
    EventKind.DEPLOYED: _deployed,
    EventKind.WINDOW_PASSED: _window_verdict,
    EventKind.WINDOW_FAILED: _window_verdict,
    EventKind.WINDOW_INCONCLUSIVE: _window_verdict,
    EventKind.APPROVE: _approve,
    EventKind.REJECT: _reject,
    EventKind.EXTEND: _extend,
    EventKind.PAUSE: _pause,
    EventKind.RESUME: _resume,
    EventKind.PROMOTE: _promote,
    EventKind.UNDO: _undo,
    EventKind.DEADLINE: _deadline,
    EventKind.STEP_DONE: _step_done,
    EventKind.ERROR: _error,
}


# --- small pieces ------------------------------------------------------------------------------


def _move(
    release: Release, phase: Phase, event: Event, now: datetime, *, step: int | None = None
) -> Release:
    """The release in `phase`, caused by `event`'s actor; leaving approval drops its deadline."""
    return replace(
        release,
        phase=phase,
        phase_by=event.actor,
        updated_at=now,
        step=release.step if step is None else step,
        reason=event.reason,
        approval_deadline_at=None,
        window=release.window if phase in _KEEPS_WINDOW else None,
        paused_from=release.paused_from if phase is Phase.PAUSED else None,
    )


def _open_window(release: Release, index: int, now: datetime) -> Transition:
    window = Window(
        step=release.step, index=index, started_at=now, ends_at=now + release.plan.window
    )
    return Transition(
        replace(release, window=window), (OpenWindow(window.step, window.index, window.ends_at),)
    )


def _after_step(release: Release, event: Event, now: datetime) -> Transition:
    """Every window of the step passed: ask, go on to the next step, or promote."""
    gate = release.plan.gate
    if gate is Gate.EVERY_STEP or (gate is Gate.FINAL and release.is_last_step):
        return _ask(release, event, now, why=f"step {release.step + 1} passed every window")
    if release.is_last_step:
        return Transition(_move(release, Phase.PROMOTING, event, now), (Promote(),))
    step = release.step + 1
    return Transition(_move(release, Phase.DEPLOYING, event, now, step=step), (DeployStep(step),))


def _ask(release: Release, event: Event, now: datetime, *, why: str) -> Transition:
    deadline = now + release.plan.approval_deadline
    nxt = replace(
        _move(release, Phase.AWAITING_APPROVAL, event, now),
        approval_deadline_at=deadline,
        reason=why,
    )
    return Transition(nxt, (RequestApproval(release.step, deadline, why),))


def _advances(decision: Decision) -> bool:
    """True when the decision takes the release forward on its own: a next step or promotion."""
    return isinstance(decision, Transition) and any(
        isinstance(action, DeployStep | Promote) for action in decision.actions
    )


def _self_approval(release: Release, actor: Actor) -> Refusal | None:
    if release.plan.allow_self_approval or actor.id != release.requested_by.id:
        return None
    return Refusal(f"you started {_name(release)}; another approver must promote it")


def _refuse_busy(release: Release, event: Event) -> Refusal:
    verb = event.kind.value.replace("_", " ")
    return Refusal(f"{_name(release)} is {_phase_words(release)}; can't {verb} it now")


def _phase_words(release: Release) -> str:
    """'already being promoted by @alice' and the like: the phase and who caused it."""
    who = release.phase_by.mention
    words = {
        Phase.PENDING: f"waiting to start (asked by {who})",
        Phase.DEPLOYING: f"already deploying step {release.step + 1} (started by {who})",
        Phase.OBSERVING: f"already observing step {release.step + 1}",
        Phase.AWAITING_APPROVAL: f"waiting for approval of step {release.step + 1}",
        Phase.PAUSED: f"paused by {who}",
        Phase.PROMOTING: f"already being promoted by {who}",
        Phase.UNDOING: f"already being undone by {who}",
        Phase.FAILED: f"failed ({release.reason}); undo it to roll back",
    }
    return words.get(release.phase, f"{release.phase.value} by {who}")


def _name(release: Release) -> str:
    return release.id or release.service
