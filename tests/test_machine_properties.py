"""Properties of the state machine over random event sequences."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.machine import Transition, decide
from bot.release import (
    LIVE_PHASES,
    Actor,
    DeadlineAction,
    Event,
    EventKind,
    FailPolicy,
    Gate,
    Phase,
    Plan,
    Release,
)
from tests.factories import ALICE, BOB, CAROL, T0, WINDOW, release

PAUSABLE = {Phase.DEPLOYING, Phase.OBSERVING, Phase.AWAITING_APPROVAL}
WITH_WINDOW = {Phase.OBSERVING, Phase.AWAITING_APPROVAL, Phase.PAUSED}

plans = st.builds(
    Plan,
    steps=st.integers(1, 4),
    windows_per_step=st.integers(1, 3),
    window=st.just(WINDOW),
    gate=st.sampled_from(Gate),
    on_fail=st.sampled_from(FailPolicy),
    approval_deadline=st.sampled_from([timedelta(minutes=5), timedelta(minutes=30)]),
    on_deadline=st.sampled_from(DeadlineAction),
    allow_self_approval=st.booleans(),
)
events = st.builds(
    Event,
    kind=st.sampled_from(EventKind),
    actor=st.sampled_from([ALICE, BOB, CAROL]),
    step=st.one_of(st.none(), st.integers(0, 4)),
    window=st.one_of(st.none(), st.integers(0, 3)),
    reason=st.just("r"),
    to_revision=st.one_of(st.none(), st.integers(1, 5)),
)
# Events come with time passing between them, from none to past a window and a deadline.
steps_in_time = st.lists(
    st.tuples(events, st.sampled_from([0, 1, 5, 10, 31])), min_size=1, max_size=40
)


def assert_well_formed(r: Release) -> None:
    """The invariants every reachable release satisfies."""
    assert r.phase in set(Phase)
    assert 0 <= r.step < r.plan.steps
    if r.phase is Phase.OBSERVING:
        assert r.window is not None
        assert r.window.step == r.step
        assert r.window.started_at < r.window.ends_at
    if r.window is not None:
        assert r.phase in WITH_WINDOW
    assert (r.phase is Phase.PAUSED) == (r.paused_from is not None)
    if r.paused_from is not None:
        assert r.paused_from in PAUSABLE
    if r.approval_deadline_at is not None:
        assert r.phase is Phase.AWAITING_APPROVAL


def can_reach_undone(r: Release, now_minutes: int, actor: Actor) -> bool:
    """Undo from here, let the cluster finish, and see whether the release ends undone."""
    now = T0 + timedelta(minutes=now_minutes)
    if r.phase is not Phase.UNDOING:
        first = decide(r, Event(EventKind.UNDO, actor), now=now)
        if not isinstance(first, Transition):
            return False
        r = first.release
    if r.phase is Phase.UNDOING:
        done = decide(r, Event(EventKind.STEP_DONE, actor), now=now)
        if not isinstance(done, Transition):
            return False
        r = done.release
    return r.phase is Phase.UNDONE


@settings(max_examples=400, deadline=None)
@given(plan=plans, sequence=steps_in_time)
def test_random_event_sequences_never_reach_an_undefined_state(
    plan: Plan, sequence: list[tuple[Event, int]]
) -> None:
    current = release(plan=plan)
    minutes = 0
    for event, wait in sequence:
        minutes += wait
        decision = decide(current, event, now=T0 + timedelta(minutes=minutes))
        if isinstance(decision, Transition):
            before = current
            current = decision.release
            # The machine never touches identity or the store's version.
            assert (current.id, current.service, current.image, current.plan, current.version) == (
                before.id, before.service, before.image, before.plan, before.version
            )  # fmt: skip
        else:
            assert decision.reason  # a refusal always says why
        assert_well_formed(current)
        if current.phase in LIVE_PHASES:
            assert can_reach_undone(current, minutes, BOB)


@settings(max_examples=200, deadline=None)
@given(plan=plans, sequence=steps_in_time, late=st.sampled_from(EventKind))
def test_an_ended_release_refuses_everything(
    plan: Plan, sequence: list[tuple[Event, int]], late: EventKind
) -> None:
    current = release(plan=plan)
    for event, _wait in sequence:
        decision = decide(current, event, now=T0 + timedelta(days=1))
        if isinstance(decision, Transition):
            current = decision.release
    ended = replace(current, phase=Phase.PROMOTED)
    assert not isinstance(decide(ended, Event(late, BOB), now=T0), Transition)
