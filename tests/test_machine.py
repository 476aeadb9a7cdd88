"""The release state machine, case by case: what each event does in each phase."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest

from bot.actions import (
    DeployStep,
    Notify,
    OpenWindow,
    PauseRollout,
    Promote,
    RequestApproval,
    ResumeRollout,
    Undo,
)
from bot.machine import Refusal, Transition, decide
from bot.release import (
    Actor,
    DeadlineAction,
    Event,
    EventKind,
    FailPolicy,
    Gate,
    Phase,
    Release,
    Window,
)
from tests.factories import ALICE, BOB, T0, WINDOW, plan, release

END = T0 + WINDOW  # when the first window closes


def observing(*, index: int = 0, step: int = 0, extended: bool = False, **kw: object) -> Release:
    """A release watching window `index` of `step`, opened at T0."""
    window = Window(step=step, index=index, started_at=T0, ends_at=END, extended=extended)
    return release(phase=Phase.OBSERVING, step=step, window=window, **kw)


def awaiting(*, step: int = 0, **kw: object) -> Release:
    """A release waiting for approval of `step`, due 30 minutes after END."""
    window = Window(step=step, index=0, started_at=T0, ends_at=END)
    return release(
        phase=Phase.AWAITING_APPROVAL,
        step=step,
        window=window,
        approval_deadline_at=END + timedelta(minutes=30),
        **kw,
    )


@dataclass(frozen=True)
class Case:
    """One row: a release, an event at a time, and the phase and action types expected."""

    start: Release
    kind: EventKind
    phase: Phase
    actions: tuple[type, ...] = ()
    actor: Actor = BOB
    at: timedelta = WINDOW
    event_step: int | None = None
    same_phase: bool = False  # the phase stays, and so does who caused it


TRANSITIONS = [
    pytest.param(Case(release(), EventKind.START, Phase.DEPLOYING, (DeployStep,), ALICE),
                 id="start_moves_a_pending_release_to_deploying_its_first_step"),
    pytest.param(Case(release(phase=Phase.DEPLOYING), EventKind.DEPLOYED, Phase.OBSERVING,
                      (OpenWindow,)),
                 id="deployed_step_opens_its_first_window"),
    pytest.param(Case(observing(plan=plan(windows_per_step=2)), EventKind.WINDOW_PASSED,
                      Phase.OBSERVING, (OpenWindow,)),
                 id="passed_window_opens_the_next_window_of_the_same_step"),
    pytest.param(Case(observing(plan=plan(steps=3)), EventKind.WINDOW_PASSED, Phase.DEPLOYING,
                      (DeployStep,)),
                 id="last_window_of_an_ungated_middle_step_deploys_the_next_step"),
    pytest.param(Case(observing(), EventKind.WINDOW_PASSED, Phase.AWAITING_APPROVAL,
                      (RequestApproval,)),
                 id="last_window_of_the_last_step_asks_before_promoting"),
    pytest.param(Case(observing(plan=plan(steps=3, gate=Gate.EVERY_STEP)),
                      EventKind.WINDOW_PASSED, Phase.AWAITING_APPROVAL, (RequestApproval,)),
                 id="every_step_gate_asks_after_the_first_step"),
    pytest.param(Case(observing(plan=plan(gate=Gate.NONE)), EventKind.WINDOW_PASSED,
                      Phase.PROMOTING, (Promote,)),
                 id="ungated_release_promotes_itself_after_its_last_window"),
    pytest.param(Case(observing(), EventKind.WINDOW_FAILED, Phase.UNDOING, (Undo, Notify)),
                 id="failed_window_undoes_when_the_policy_says_undo"),
    pytest.param(Case(observing(plan=plan(on_fail=FailPolicy.ASK)), EventKind.WINDOW_FAILED,
                      Phase.AWAITING_APPROVAL, (RequestApproval,)),
                 id="failed_window_asks_when_the_policy_says_ask"),
    pytest.param(Case(observing(), EventKind.WINDOW_INCONCLUSIVE, Phase.OBSERVING,
                      (OpenWindow,)),
                 id="inconclusive_window_is_extended_once"),
    pytest.param(Case(observing(extended=True, plan=plan(gate=Gate.NONE)),
                      EventKind.WINDOW_INCONCLUSIVE, Phase.AWAITING_APPROVAL,
                      (RequestApproval,)),
                 id="inconclusive_twice_asks_a_person_even_when_ungated"),
    pytest.param(Case(awaiting(), EventKind.APPROVE, Phase.PROMOTING, (Promote,)),
                 id="approval_of_the_last_step_promotes"),
    pytest.param(Case(awaiting(plan=plan(steps=2)), EventKind.APPROVE, Phase.DEPLOYING,
                      (DeployStep,)),
                 id="approval_of_a_middle_step_deploys_the_next"),
    pytest.param(Case(awaiting(plan=plan(allow_self_approval=True)), EventKind.APPROVE,
                      Phase.PROMOTING, (Promote,), ALICE),
                 id="requester_may_approve_when_the_service_allows_it"),
    pytest.param(Case(awaiting(), EventKind.REJECT, Phase.UNDOING, (Undo,)),
                 id="rejection_undoes"),
    pytest.param(Case(awaiting(), EventKind.EXTEND, Phase.OBSERVING, (OpenWindow,)),
                 id="extend_during_approval_opens_one_more_window"),
    pytest.param(Case(observing(), EventKind.EXTEND, Phase.OBSERVING, (OpenWindow,),
                      at=timedelta(minutes=5)),
                 id="extend_while_observing_lengthens_the_window"),
    pytest.param(Case(observing(), EventKind.PAUSE, Phase.PAUSED, (PauseRollout,)),
                 id="pause_holds_an_observing_release"),
    pytest.param(Case(release(phase=Phase.PAUSED, paused_from=Phase.DEPLOYING),
                      EventKind.RESUME, Phase.DEPLOYING, (ResumeRollout,)),
                 id="resume_returns_to_the_phase_it_paused_in"),
    pytest.param(Case(observing(), EventKind.PROMOTE, Phase.PROMOTING, (Promote,)),
                 id="promote_now_skips_the_remaining_windows"),
    pytest.param(Case(release(), EventKind.UNDO, Phase.UNDONE, (), ALICE),
                 id="undo_before_start_ends_without_touching_the_cluster"),
    pytest.param(Case(release(phase=Phase.FAILED, reason="image pull failed"), EventKind.UNDO,
                      Phase.UNDOING, (Undo,)),
                 id="failed_release_can_still_be_undone"),
    pytest.param(Case(release(phase=Phase.PROMOTING), EventKind.STEP_DONE, Phase.PROMOTED),
                 id="finished_promotion_ends_promoted"),
    pytest.param(Case(release(phase=Phase.UNDOING), EventKind.STEP_DONE, Phase.UNDONE),
                 id="finished_undo_ends_undone"),
    pytest.param(Case(observing(), EventKind.ERROR, Phase.FAILED, (Notify,)),
                 id="error_marks_the_release_failed_and_alerts"),
    pytest.param(Case(awaiting(plan=plan(on_deadline=DeadlineAction.UNDO)), EventKind.DEADLINE,
                      Phase.UNDOING, (Undo, Notify), at=WINDOW + timedelta(minutes=30)),
                 id="unanswered_approval_undoes_when_the_policy_says_undo"),
    pytest.param(Case(awaiting(), EventKind.DEADLINE, Phase.AWAITING_APPROVAL, (Notify,),
                      at=WINDOW + timedelta(minutes=30), same_phase=True),
                 id="unanswered_approval_holds_when_the_policy_says_hold"),
]  # fmt: skip


@pytest.mark.parametrize("case", TRANSITIONS)
def test_transition(case: Case) -> None:
    event = Event(case.kind, case.actor, step=case.event_step, reason="because")
    decision = decide(case.start, event, now=T0 + case.at)
    assert isinstance(decision, Transition), decision
    assert decision.release.phase is case.phase
    assert tuple(type(a) for a in decision.actions) == case.actions
    assert decision.release.phase_by == (case.start.phase_by if case.same_phase else case.actor)


REFUSALS = [
    pytest.param(release(phase=Phase.PROMOTING, phase_by=ALICE), EventKind.PROMOTE, BOB, WINDOW,
                 "fop-gate#1 is already being promoted by @alice; can't promote it now",
                 id="second_promote_names_who_is_promoting"),
    pytest.param(release(phase=Phase.PROMOTING, phase_by=ALICE), EventKind.APPROVE, BOB, WINDOW,
                 "fop-gate#1 is already being promoted by @alice; can't approve it now",
                 id="approval_while_promoting_is_refused"),
    pytest.param(release(phase=Phase.UNDOING, phase_by=BOB), EventKind.UNDO, ALICE, WINDOW,
                 "fop-gate#1 is already being undone by @bob",
                 id="second_undo_names_who_is_undoing"),
    pytest.param(awaiting(), EventKind.APPROVE, ALICE, WINDOW,
                 "you started fop-gate#1; another approver must promote it",
                 id="requester_cannot_approve_their_own_release"),
    pytest.param(observing(), EventKind.PROMOTE, ALICE, WINDOW,
                 "you started fop-gate#1; another approver must promote it",
                 id="requester_cannot_promote_their_own_release"),
    pytest.param(observing(), EventKind.WINDOW_PASSED, BOB, timedelta(minutes=9),
                 "window 1 of step 1 ends at 14:10:00 UTC; too early to judge",
                 id="verdict_before_the_window_ends_is_refused"),
    pytest.param(release(phase=Phase.PROMOTED, phase_by=BOB), EventKind.UNDO, ALICE, WINDOW,
                 "fop-gate#1 was already promoted by @bob; start a new release",
                 id="nothing_happens_to_an_ended_release"),
    pytest.param(observing(), EventKind.RESUME, BOB, WINDOW,
                 "fop-gate#1 is already observing step 1; can't resume it now",
                 id="resume_of_a_running_release_is_refused"),
    pytest.param(awaiting(), EventKind.DEADLINE, BOB, WINDOW,
                 "the approval deadline is 14:40:00 UTC; not reached yet",
                 id="deadline_before_it_is_due_is_refused"),
    pytest.param(release(phase=Phase.DEPLOYING), EventKind.STEP_DONE, BOB, WINDOW,
                 "fop-gate#1 is already deploying step 1 (started by @alice); nothing is in "
                 "flight", id="step_done_without_a_promotion_or_undo_is_refused"),
]  # fmt: skip


@pytest.mark.parametrize(("start", "kind", "actor", "at", "reason"), REFUSALS)
def test_refusal(start: Release, kind: EventKind, actor: Actor, at: timedelta, reason: str) -> None:
    decision = decide(start, Event(kind, actor), now=T0 + at)
    assert decision == Refusal(reason)


def test_click_on_an_old_step_cannot_act_on_a_newer_one() -> None:
    decision = decide(
        awaiting(step=1, plan=plan(steps=3)), Event(EventKind.APPROVE, BOB, step=0), now=END
    )
    assert decision == Refusal("that was for step 1; fop-gate#1 is now at step 2 of 3")


def test_late_verdict_for_an_already_judged_window_is_refused() -> None:
    decision = decide(
        observing(index=1, plan=plan(windows_per_step=2)),
        Event(EventKind.WINDOW_PASSED, BOB, window=0),
        now=END,
    )
    assert decision == Refusal("window 1 of step 1 was already judged")


def test_extended_inconclusive_window_ends_one_window_after_the_verdict() -> None:
    decision = decide(observing(), Event(EventKind.WINDOW_INCONCLUSIVE, BOB), now=END)
    assert isinstance(decision, Transition)
    assert decision.release.window == Window(
        step=0, index=0, started_at=T0, ends_at=END + WINDOW, extended=True
    )
    assert decision.actions == (OpenWindow(0, 0, END + WINDOW),)


def test_resume_restarts_the_window_so_paused_time_is_not_observation() -> None:
    paused = decide(observing(), Event(EventKind.PAUSE, BOB), now=T0 + timedelta(minutes=4))
    assert isinstance(paused, Transition)
    resumed_at = T0 + timedelta(hours=1)
    resumed = decide(paused.release, Event(EventKind.RESUME, BOB), now=resumed_at)
    assert isinstance(resumed, Transition)
    assert resumed.release.phase is Phase.OBSERVING
    assert resumed.release.paused_from is None
    assert resumed.actions == (ResumeRollout(), OpenWindow(0, 0, resumed_at + WINDOW))


def test_failed_window_reason_reaches_the_thread_and_alerts_on_call() -> None:
    event = Event(EventKind.WINDOW_FAILED, BOB, reason="canary 5xx 2.4% vs stable 0.3%")
    decision = decide(observing(), event, now=END)
    assert isinstance(decision, Transition)
    assert Notify("window failed: canary 5xx 2.4% vs stable 0.3%; undoing", alert=True) in (
        decision.actions
    )


def test_undo_to_a_revision_carries_the_revision_to_the_engine() -> None:
    decision = decide(observing(), Event(EventKind.UNDO, BOB, to_revision=3), now=END)
    assert isinstance(decision, Transition)
    assert decision.actions == (Undo(to_revision=3),)


def test_held_deadline_keeps_the_release_waiting_without_a_new_deadline() -> None:
    due = END + timedelta(minutes=30)
    decision = decide(awaiting(), Event(EventKind.DEADLINE, BOB), now=due)
    assert isinstance(decision, Transition)
    assert decision.release.approval_deadline_at is None
    assert decision.actions == (
        Notify("nobody answered within 30m; holding until someone decides"),
    )


# --- during a freeze ---------------------------------------------------------------------------

FROZEN = "fop-gate is frozen until Mon 06:00 UTC (release freeze)"

FROZEN_CASES = [
    pytest.param(observing(plan=plan(gate=Gate.NONE)), EventKind.WINDOW_PASSED,
                 Phase.AWAITING_APPROVAL, (RequestApproval,),
                 id="ungated_last_window_asks_instead_of_promoting"),
    pytest.param(observing(plan=plan(steps=3)), EventKind.WINDOW_PASSED,
                 Phase.AWAITING_APPROVAL, (RequestApproval,),
                 id="middle_step_asks_instead_of_deploying_the_next"),
    pytest.param(observing(plan=plan(windows_per_step=2)), EventKind.WINDOW_PASSED,
                 Phase.OBSERVING, (OpenWindow,),
                 id="a_further_window_of_the_same_step_still_opens"),
    pytest.param(observing(), EventKind.WINDOW_FAILED, Phase.UNDOING, (Undo, Notify),
                 id="a_failed_window_still_undoes"),
    pytest.param(observing(), EventKind.UNDO, Phase.UNDOING, (Undo,),
                 id="an_undo_is_never_held"),
    pytest.param(observing(), EventKind.PAUSE, Phase.PAUSED, (PauseRollout,),
                 id="a_pause_is_never_held"),
]  # fmt: skip


@pytest.mark.parametrize(("start", "kind", "phase", "actions"), FROZEN_CASES)
def test_during_a_freeze(
    start: Release, kind: EventKind, phase: Phase, actions: tuple[type, ...]
) -> None:
    decision = decide(start, Event(kind, BOB, reason="because"), now=END, frozen=FROZEN)
    assert isinstance(decision, Transition), decision
    assert decision.release.phase is phase
    assert tuple(type(a) for a in decision.actions) == actions


def test_a_window_passed_during_a_freeze_asks_and_says_the_freeze_is_why() -> None:
    start = observing(plan=plan(gate=Gate.NONE))
    decision = decide(start, Event(EventKind.WINDOW_PASSED, BOB), now=END, frozen=FROZEN)
    assert isinstance(decision, Transition)
    why = f"step 1 passed every window, but {FROZEN}"
    assert decision.release.reason == why
    assert decision.actions == (RequestApproval(0, END + timedelta(minutes=30), why),)


def test_without_a_freeze_the_same_window_promotes() -> None:
    start = observing(plan=plan(gate=Gate.NONE))
    decision = decide(start, Event(EventKind.WINDOW_PASSED, BOB), now=END, frozen=None)
    assert isinstance(decision, Transition)
    assert decision.actions == (Promote(),)
