"""Freezes in the engine, against the cluster simulator and the real Redis.

A freeze refuses a start, a promote and an approval, and never an undo or a pause; an admin's
`force` breaks it, audited and announced; anyone else's `force` is refused and audited; a
passed window asks instead of advancing.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, timedelta

import pytest
import redis

from bot.actions import RequestApproval
from bot.release import SCHEDULER, EventKind, Phase
from bot.store import ReleaseStore
from bot.transitions import Refused
from tests.k8s.conftest import ReleaseCli, SimCluster
from tests.k8s.engine_rig import ALICE, BOB, ROOT, SERVICES, Rig, build_rig, released
from tests.k8s.scenarios import CANARY_DEPLOYMENT, NEW, OLD, Scenario, services_yaml

TWO_STEPS = CANARY_DEPLOYMENT.config.replace("steps: [1]", "steps: [1, 2]")


@pytest.fixture
def rig(
    scenario_cluster: Callable[[Scenario], SimCluster],
    store: ReleaseStore,
    redis_client: redis.Redis,
    request: pytest.FixtureRequest,
) -> Rig:
    """fop-gate and its engine; an indirect parameter replaces the services file."""
    cluster = scenario_cluster(CANARY_DEPLOYMENT)
    return build_rig(cluster, store, redis_client, config=getattr(request, "param", SERVICES))


REFUSED = "fop-gate is frozen until {until} (incident 4711); an admin may add force"


def refusal_words(rig: Rig) -> str:
    until = (rig.clock.now + timedelta(hours=2)).astimezone(UTC)
    return REFUSED.format(until=f"{until:%a %H:%M} UTC")


# --- what a freeze holds back -----------------------------------------------------------------


def test_a_freeze_refuses_a_start_and_writes_only_the_audit_entry(rig: Rig) -> None:
    rig.freeze()
    rig.cluster.server.clear_requests()

    outcome = rig.engine.start("fop-gate", NEW, ALICE)

    assert outcome == Refused(refusal_words(rig))
    assert rig.store.live_release("fop-gate") is None
    assert sorted(rig.redis.keys("*")) == [
        "canarybot:audit:service:fop-gate",
        "canarybot:freeze:service:fop-gate",
    ]
    entry = rig.store.audit_trail(service="fop-gate")[-1]
    assert (entry.event, entry.applied, entry.actor, entry.reason) == (
        EventKind.START,
        False,
        ALICE,
        refusal_words(rig),
    )
    assert rig.cluster_writes() == []


def test_a_freeze_refuses_a_promote_and_leaves_the_release_and_cluster_as_they_were(
    rig: Rig,
) -> None:
    before = rig.start()
    rig.freeze()
    rig.cluster.server.clear_requests()

    outcome = rig.engine.act("fop-gate", EventKind.PROMOTE, BOB)

    assert outcome == Refused(refusal_words(rig), before)
    assert rig.store.get(before.id) == before
    entry = rig.store.audit_trail(release_id=before.id)[-1]
    assert (entry.event, entry.applied, entry.reason) == (
        EventKind.PROMOTE,
        False,
        refusal_words(rig),
    )
    assert rig.cluster_writes() == []
    assert rig.stable_image() == OLD


def test_a_freeze_refuses_an_approval(rig: Rig) -> None:
    started = rig.start()
    rig.clock.now += started.plan.window + timedelta(seconds=1)
    waiting = released(rig.engine.act("fop-gate", EventKind.WINDOW_PASSED, SCHEDULER))
    assert waiting.phase is Phase.AWAITING_APPROVAL
    rig.freeze()

    outcome = rig.engine.act("fop-gate", EventKind.APPROVE, BOB, step=0)

    assert outcome == Refused(refusal_words(rig), waiting)
    assert rig.store.get(waiting.id) == waiting


def test_a_freeze_allows_a_pause_and_an_undo(rig: Rig) -> None:
    rig.start()
    rig.freeze()

    paused = released(rig.engine.act("fop-gate", EventKind.PAUSE, BOB))
    undone = released(rig.engine.act("fop-gate", EventKind.UNDO, BOB))

    assert paused.phase is Phase.PAUSED
    assert undone.phase is Phase.UNDONE
    assert rig.canary_replicas() == "0"


def test_after_an_unfreeze_the_promote_goes_through(rig: Rig) -> None:
    rig.start()
    rig.freeze()
    assert rig.engine.unfreeze("fop-gate", ALICE) is not None

    promoted = released(rig.engine.act("fop-gate", EventKind.PROMOTE, BOB))

    assert promoted.phase is Phase.PROMOTED


# --- breaking glass ---------------------------------------------------------------------------


def test_an_admins_forced_promote_goes_through_audited_and_announced(rig: Rig) -> None:
    started = rig.start()
    rig.freeze()

    promoted = released(rig.engine.act("fop-gate", EventKind.PROMOTE, ROOT, force=True))

    assert promoted.phase is Phase.PROMOTED
    assert rig.stable_image() == NEW
    promote = next(
        e for e in rig.store.audit_trail(release_id=started.id) if e.event is EventKind.PROMOTE
    )
    assert (promote.applied, promote.actor, promote.details) == (
        True,
        ROOT,
        {"forced": "incident 4711"},
    )
    assert (started.id, "@root broke the freeze (incident 4711) to promote", True) in (
        rig.said.notes
    )


def test_an_admins_forced_start_goes_through_audited_and_announced(rig: Rig) -> None:
    rig.freeze()

    started = released(rig.engine.start("fop-gate", NEW, ROOT, force=True))

    assert started.phase is Phase.OBSERVING
    start = rig.store.audit_trail(release_id=started.id)[0]
    assert (start.event, start.details) == (EventKind.START, {"forced": "incident 4711"})
    assert rig.said.notes[0] == (
        started.id,
        "@root broke the freeze (incident 4711) to start it",
        True,
    )


def test_force_from_someone_who_is_no_admin_is_refused_audited_and_changes_nothing(
    rig: Rig,
) -> None:
    before = rig.start()
    rig.freeze()
    rig.cluster.server.clear_requests()

    outcome = rig.engine.act("fop-gate", EventKind.PROMOTE, BOB, force=True)

    reason = f"only admins may use force ({refusal_words(rig).split(';')[0]})"
    assert outcome == Refused(reason, before)
    assert rig.store.get(before.id) == before
    entry = rig.store.audit_trail(release_id=before.id)[-1]
    assert (entry.event, entry.applied, entry.actor, entry.reason, entry.details) == (
        EventKind.PROMOTE,
        False,
        BOB,
        reason,
        {"force": "asked"},
    )
    assert rig.cluster_writes() == []
    assert rig.said.notes == []


def test_force_without_a_freeze_changes_nothing_for_an_admin(rig: Rig) -> None:
    started = released(rig.engine.start("fop-gate", NEW, ROOT, force=True))
    start = rig.store.audit_trail(release_id=started.id)[0]
    assert start.details == {}
    assert rig.said.notes == []


# --- the scheduler's advances -----------------------------------------------------------------


@pytest.mark.parametrize("rig", [services_yaml(CANARY_DEPLOYMENT).replace(
    CANARY_DEPLOYMENT.config, TWO_STEPS)], indirect=True)  # fmt: skip
def test_a_passed_window_during_a_freeze_asks_instead_of_deploying_the_next_step(
    rig: Rig,
) -> None:
    started = rig.start()
    rig.freeze()
    rig.clock.now += started.plan.window + timedelta(seconds=1)

    held = released(rig.engine.act("fop-gate", EventKind.WINDOW_PASSED, SCHEDULER))

    assert (held.phase, held.step) == (Phase.AWAITING_APPROVAL, 0)
    assert held.reason.startswith("step 1 passed every window, but fop-gate is frozen until")
    assert isinstance(rig.said.scheduled[-1], RequestApproval)
    assert rig.canary_replicas() == "1"  # step 2 would be 2 pods


@pytest.mark.parametrize("rig", [services_yaml(CANARY_DEPLOYMENT).replace(
    CANARY_DEPLOYMENT.config, TWO_STEPS)], indirect=True)  # fmt: skip
def test_without_a_freeze_the_same_window_deploys_the_next_step(rig: Rig) -> None:
    started = rig.start()
    rig.clock.now += started.plan.window + timedelta(seconds=1)

    moved = released(rig.engine.act("fop-gate", EventKind.WINDOW_PASSED, SCHEDULER))

    assert (moved.phase, moved.step) == (Phase.OBSERVING, 1)
    assert rig.canary_replicas() == "2"


# --- the CLI's operator ---------------------------------------------------------------------


def test_the_cli_operator_counts_as_an_admin_for_force(
    rig: Rig, cli: Callable[[Scenario], ReleaseCli]
) -> None:
    rig.start()
    rig.freeze()
    run = cli(CANARY_DEPLOYMENT)

    refused = run("fop-gate", "promote", who="carol")
    forced = run("fop-gate", "promote", "--force", who="carol")

    assert refused.returncode == 3
    assert "fop-gate is frozen until" in refused.stderr
    assert forced.returncode == 0, forced.stderr
    assert forced.stdout.startswith("fop-gate#1: promoted")
