"""The engine's entry points for the scheduler, against the cluster simulator and real Redis:
the nightly release, planned releases, and reminders of an unanswered approval."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
import redis

from bot.actions import PlannedRelease
from bot.release import SCHEDULER, EventKind, Phase
from bot.store import ReleaseStore
from bot.transitions import Applied, Refused
from tests.k8s.conftest import SimCluster
from tests.k8s.engine_rig import ALICE, BOB, Rig, build_rig, released
from tests.k8s.scenarios import CANARY_DEPLOYMENT, NEW, OLD, Scenario

OLDER = "reg/app:1.5.0"  # a candidate recorded before NEW


@pytest.fixture
def rig(
    scenario_cluster: Callable[[Scenario], SimCluster],
    store: ReleaseStore,
    redis_client: redis.Redis,
) -> Rig:
    """fop-gate (canary-deployment, one step, final gate) and its engine."""
    return build_rig(scenario_cluster(CANARY_DEPLOYMENT), store, redis_client)


def record(rig: Rig, image: str, *, ago: timedelta = timedelta(0)) -> None:
    rig.candidates.record("fop-gate", image, by="ci", at=rig.clock.now - ago)


# --- the nightly ------------------------------------------------------------------------------


def test_the_nightly_starts_the_newest_candidate_as_the_scheduler_and_marks_it_released(
    rig: Rig,
) -> None:
    record(rig, OLDER, ago=timedelta(hours=5))
    record(rig, NEW, ago=timedelta(hours=1))

    started = released(rig.engine.run_nightly("fop-gate"))

    assert (started.image, started.requested_by, started.phase) == (
        NEW,
        SCHEDULER,
        Phase.OBSERVING,
    )
    canary = "{.spec.template.spec.containers[0].image}"
    assert rig.cluster.jsonpath("deployment/fop-gate-canary", canary) == NEW
    assert rig.candidates.newest_unreleased("fop-gate") is None
    assert rig.store.remembered(f"nightly:fop-gate:{NEW}") is not None
    assert rig.said.announced == []


def test_the_nightly_skips_and_says_so_when_no_candidate_was_recorded(rig: Rig) -> None:
    rig.cluster.server.clear_requests()

    outcome = rig.engine.run_nightly("fop-gate")

    reason = (
        "nightly release of fop-gate skipped: no candidate was recorded "
        "(CI records one with `canarybot candidate fop-gate --image IMG`)"
    )
    assert outcome == Refused(reason)
    assert rig.said.announced == [("fop-gate", reason)]
    assert rig.cluster_writes() == []
    assert rig.store.live_release("fop-gate") is None


def test_the_nightly_skips_when_the_newest_candidate_was_released_already(rig: Rig) -> None:
    record(rig, NEW)
    released(rig.engine.run_nightly("fop-gate"))
    released(rig.engine.act("fop-gate", EventKind.UNDO, BOB))
    day = f"{rig.clock.now.day} {rig.clock.now:%b}"

    outcome = rig.engine.run_nightly("fop-gate")

    reason = f"nightly release of fop-gate skipped: no new candidate since {NEW} (released {day})"
    assert outcome == Refused(reason)
    assert rig.said.announced == [("fop-gate", reason)]


def test_the_nightly_skips_during_a_freeze_and_keeps_the_candidate(rig: Rig) -> None:
    record(rig, NEW)
    rig.freeze()
    rig.cluster.server.clear_requests()

    outcome = rig.engine.run_nightly("fop-gate")

    assert isinstance(outcome, Refused)
    assert outcome.reason.startswith(
        "nightly release of fop-gate skipped: fop-gate is frozen until "
    )
    assert outcome.reason.endswith("(incident 4711)")
    assert rig.said.announced == [("fop-gate", outcome.reason)]
    assert rig.candidates.newest_unreleased("fop-gate") is not None
    assert rig.store.live_release("fop-gate") is None
    assert rig.cluster_writes() == []
    refused = rig.store.audit_trail(service="fop-gate")[-1]
    assert (refused.event, refused.applied, refused.actor) == (EventKind.START, False, SCHEDULER)


def test_the_nightly_skips_while_a_release_is_live_and_keeps_the_candidate(rig: Rig) -> None:
    live = rig.start(OLDER)
    record(rig, NEW)

    outcome = rig.engine.run_nightly("fop-gate")

    reason = (
        f"nightly release of fop-gate skipped: fop-gate already has a live release {live.id} "
        "(observing), started by @alice"
    )
    assert outcome == Refused(reason, live)
    assert rig.said.announced == [("fop-gate", reason)]
    assert rig.candidates.newest_unreleased("fop-gate") is not None
    assert rig.store.live_release("fop-gate") == live


def test_a_candidate_a_person_released_is_not_released_again_by_the_nightly(rig: Rig) -> None:
    record(rig, NEW)
    rig.start(NEW)

    assert rig.candidates.newest_unreleased("fop-gate") is None


# --- planned releases -------------------------------------------------------------------------


def test_a_planned_release_is_handed_to_the_scheduler_with_its_fixed_id(rig: Rig) -> None:
    at = datetime(2099, 1, 2, 2, 0, tzinfo=UTC)

    planned = rig.engine.plan_release("fop-gate", NEW, at, ALICE)

    expected = PlannedRelease("fop-gate", NEW, at, ALICE, id=f"fop-gate:{int(at.timestamp())}")
    assert planned == expected
    assert rig.said.planned == [expected]


@pytest.mark.parametrize(
    ("service", "image", "in_", "reason"),
    [
        pytest.param(
            "fop-gate", NEW, timedelta(minutes=-1), "has passed; plan the release for later",
            id="a-past-time",
        ),
        pytest.param(
            "fop-gate", NEW, timedelta(0), "has passed; plan the release for later",
            id="now-is-not-the-future",
        ),
        pytest.param(
            "fop-gat", NEW, timedelta(hours=1), "unknown service 'fop-gat'",
            id="an-unknown-service",
        ),
        pytest.param(
            "fop-gate", "reg/app:latest", timedelta(hours=1), "is not pinned", id="a-bad-image",
        ),
    ],
)  # fmt: skip
def test_a_planned_release_that_cannot_run_is_refused_and_not_scheduled(
    rig: Rig, service: str, image: str, in_: timedelta, reason: str
) -> None:
    outcome = rig.engine.plan_release(service, image, rig.clock.now + in_, ALICE)

    assert isinstance(outcome, Refused)
    assert reason in outcome.reason
    assert rig.said.planned == []


def test_a_planned_release_starts_at_its_time_as_whoever_planned_it(rig: Rig) -> None:
    planned = rig.engine.plan_release("fop-gate", NEW, rig.clock.now + timedelta(hours=1), ALICE)
    assert isinstance(planned, PlannedRelease)
    rig.clock.now += timedelta(hours=1)

    started = released(rig.engine.run_planned(planned))
    again = rig.engine.run_planned(planned)  # the scheduler fired twice

    assert (started.image, started.requested_by) == (NEW, ALICE)
    assert isinstance(again, Applied)
    assert again.replayed
    assert rig.store.remembered(f"planned:{planned.id}") is not None
    assert rig.said.announced == []


def test_a_planned_release_during_a_freeze_is_skipped_and_said(rig: Rig) -> None:
    planned = rig.engine.plan_release("fop-gate", NEW, rig.clock.now + timedelta(hours=1), ALICE)
    assert isinstance(planned, PlannedRelease)
    rig.clock.now += timedelta(hours=1)
    rig.freeze()

    outcome = rig.engine.run_planned(planned)

    assert isinstance(outcome, Refused)
    prefix = f"planned release of fop-gate ({NEW}, asked by @alice) skipped: fop-gate is frozen"
    assert outcome.reason.startswith(prefix)
    assert rig.said.announced == [("fop-gate", outcome.reason)]
    assert rig.store.live_release("fop-gate") is None
    assert rig.stable_image() == OLD


# --- reminders --------------------------------------------------------------------------------


def awaiting_approval(rig: Rig) -> str:
    started = rig.start()
    rig.clock.now += started.plan.window + timedelta(seconds=1)
    waiting = released(rig.engine.act("fop-gate", EventKind.WINDOW_PASSED, SCHEDULER))
    assert waiting.phase is Phase.AWAITING_APPROVAL
    return waiting.id


def test_an_unanswered_approval_is_reminded_in_its_thread_alerting_on_call(rig: Rig) -> None:
    release_id = awaiting_approval(rig)
    release = rig.store.get(release_id)
    assert release is not None
    assert release.approval_deadline_at is not None
    due = release.approval_deadline_at

    assert rig.engine.remind_approval(release_id, step=0)

    assert rig.said.notes[-1] == (
        release_id,
        "nobody has answered the approval request for step 1 yet; the deadline is "
        f"{due:%H:%M} UTC, then it will hold where it is until someone decides",
        True,
    )


def test_no_reminder_once_the_approval_was_answered(rig: Rig) -> None:
    release_id = awaiting_approval(rig)
    released(rig.engine.act("fop-gate", EventKind.APPROVE, BOB, step=0))
    notes = list(rig.said.notes)

    assert not rig.engine.remind_approval(release_id, step=0)
    assert rig.said.notes == notes


def test_no_reminder_for_another_step_or_past_the_deadline(rig: Rig) -> None:
    release_id = awaiting_approval(rig)

    assert not rig.engine.remind_approval(release_id, step=1)
    rig.clock.now += timedelta(minutes=30)  # services.yaml's default deadline
    assert not rig.engine.remind_approval(release_id, step=0)
    assert not rig.engine.remind_approval("fop-gate#99", step=0)
    assert rig.said.notes == []
