"""What goes wrong in the cluster reaches the release as a reason a person can act on."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest

from bot.engine import Engine
from bot.release import Actor, Door, EventKind, Phase, Release
from bot.store import ReleaseStore
from bot.transitions import Applied, Outcome
from sim.behaviour import PodFate, PodRule
from tests.k8s.conftest import ReleaseCli, SimCluster
from tests.k8s.scenarios import CANARY_DEPLOYMENT, NEW, OLD, Scenario, deployment, service

ALICE = Actor(id="U0ALICE", name="alice", door=Door.SLACK)
BOB = Actor(id="U0BOB", name="bob", door=Door.SLACK)
# fop-gate with a 2-second progress deadline, so a canary that never becomes Ready fails fast.
IMPATIENT = replace(
    CANARY_DEPLOYMENT,
    manifests="---".join(
        [
            deployment(
                "fop-gate", {"app": "fop-gate", "track": "stable"}, replicas=9, deadline_s=2
            ),
            service("fop-gate", {"app": "fop-gate"}),
        ]
    ),
)


def release_of(outcome: Outcome) -> Release:
    assert isinstance(outcome, Applied), outcome
    return outcome.release


@pytest.mark.parametrize(
    ("fate", "reason"),
    [
        pytest.param(PodFate.NEVER_READY, "has timed out progressing", id="never_ready"),
        pytest.param(PodFate.CRASH_LOOP, ": CrashLoopBackOff: back-off", id="crash_loop"),
        pytest.param(PodFate.IMAGE_PULL_ERROR, "reg/app:2.0.0", id="image_pull_error"),
    ],
)
def test_a_canary_that_does_not_come_up_fails_with_the_pods_reason_and_can_be_undone(
    fate: PodFate,
    reason: str,
    scenario_cluster: Callable[[Scenario], SimCluster],
    engine_for: Callable[..., Engine],
) -> None:
    cluster = scenario_cluster(IMPATIENT)
    cluster.server.behaviour.set_rules([PodRule(image=NEW, fate=fate)])
    engine = engine_for(IMPATIENT)
    failed = release_of(engine.start("fop-gate", NEW, ALICE))
    assert failed.phase is Phase.FAILED
    assert reason in failed.reason
    assert failed.reason.startswith("canary fop-gate-canary on reg/app:2.0.0: ")
    undone = release_of(engine.act("fop-gate", EventKind.UNDO, BOB))
    assert undone.phase is Phase.UNDONE
    assert cluster.jsonpath("deployment/fop-gate-canary", "{.spec.replicas}") == "0"
    assert (
        cluster.jsonpath("deployment/fop-gate", "{.spec.template.spec.containers[0].image}") == OLD
    )


def test_a_conflict_during_promote_is_retried_and_promotes_once(
    scenario_cluster: Callable[[Scenario], SimCluster],
    engine_for: Callable[..., Engine],
    store: ReleaseStore,
) -> None:
    cluster = scenario_cluster(CANARY_DEPLOYMENT)
    engine = engine_for(CANARY_DEPLOYMENT)
    started = release_of(engine.start("fop-gate", NEW, ALICE))
    cluster.server.clear_requests()
    cluster.server.inject_conflicts(1, verb="update", resource="deployments", name="fop-gate")
    promoted = release_of(engine.act("fop-gate", EventKind.PROMOTE, BOB))
    assert promoted.phase is Phase.PROMOTED
    assert (
        cluster.jsonpath("deployment/fop-gate", "{.spec.template.spec.containers[0].image}") == NEW
    )
    writes = [
        r
        for r in cluster.server.requests()
        if (r.verb, r.resource, r.name) == ("update", "deployments", "fop-gate")
    ]
    assert len(writes) == 2  # the one the cluster refused with 409, and the retry
    promotes = [
        e
        for e in store.audit_trail(release_id=started.id)
        if e.event is EventKind.PROMOTE and e.applied
    ]
    assert len(promotes) == 1


def test_a_missing_permission_is_one_line_naming_the_verb_and_resource(
    scenario_cluster: Callable[[Scenario], SimCluster],
    cli: Callable[[Scenario], ReleaseCli],
) -> None:
    cluster = scenario_cluster(CANARY_DEPLOYMENT)
    cluster.server.deny([{"verb": "create", "resource": "deployments", "api_group": "apps"}])
    done = cli(CANARY_DEPLOYMENT)("fop-gate", "start", "--image", NEW)
    assert done.returncode == 1
    lines = done.stdout.splitlines()
    assert len(lines) == 1, done.stdout
    assert lines[0].startswith("fop-gate#1: failed")
    assert "forbidden: the bot may not create deployments.apps in namespace 'shop'" in lines[0]
    assert "Traceback" not in done.stderr
    # Nothing was half-applied: no canary exists.
    assert (
        "NotFound"
        in cluster.kubectl("get", "deployment", "fop-gate-canary", "-n", "shop", check=False).stderr
    )


def test_a_hand_made_change_is_reported_as_drift_not_overwritten(
    scenario_cluster: Callable[[Scenario], SimCluster],
    engine_for: Callable[..., Engine],
) -> None:
    cluster = scenario_cluster(CANARY_DEPLOYMENT)
    engine = engine_for(CANARY_DEPLOYMENT)
    release_of(engine.start("fop-gate", NEW, ALICE))
    cluster.kubectl("set", "image", "deployment/fop-gate-canary", "app=reg/app:9.9.9", "-n", "shop")
    failed = release_of(engine.act("fop-gate", EventKind.PROMOTE, BOB))
    assert failed.phase is Phase.FAILED
    assert "changed outside canarybot" in failed.reason
    assert (
        cluster.jsonpath("deployment/fop-gate", "{.spec.template.spec.containers[0].image}") == OLD
    )
