"""A release started with its own steps= and window= keeps them, through a restart and edits."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import pytest
import redis

from bot.actions import OpenWindow, RequestApproval
from bot.cli_release import EXIT_REFUSED, EXIT_USAGE
from bot.engine import Engine, EngineHooks
from bot.release import SCHEDULER, Actor, Door, EventKind, Phase, PlanOverrides, Release
from bot.store import ReleaseStore
from bot.transitions import Applied, Outcome, Refused
from tests.k8s.conftest import ReleaseCli, SimCluster
from tests.k8s.scenarios import BLUE_GREEN, CANARY_DEPLOYMENT, ISTIO, NEW, Scenario
from tests.servers import RedisServer

ALICE = Actor(id="U0ALICE", name="alice", door=Door.SLACK)
BOB = Actor(id="U0BOB", name="bob", door=Door.SLACK)
WINDOW = timedelta(minutes=1)  # what services_yaml gives every scenario
WRITES = frozenset({"create", "update", "patch", "delete", "deletecollection"})


@dataclass
class Clock:
    """The engine's clock, moved on by the test instead of by waiting."""

    now: datetime

    def __call__(self) -> datetime:
        return self.now

    def advance(self, by: timedelta) -> None:
        self.now += by


def with_steps(scenario: Scenario, steps: str) -> Scenario:
    """`scenario` whose services.yaml gives the strategy `steps` (e.g. "[3, 5]")."""
    return replace(scenario, config=scenario.config.replace("steps: [1]", f"steps: {steps}"))


def release_of(outcome: Outcome) -> Release:
    assert isinstance(outcome, Applied), outcome
    return outcome.release


def canary_replicas(cluster: SimCluster) -> str:
    return cluster.jsonpath("deployment/fop-gate-canary", "{.spec.replicas}")


def pass_window(engine: Engine, clock: Clock, release: Release) -> Release:
    """Let the current window end and pass it, as the scheduler and the judge would."""
    clock.advance(release.plan.window + timedelta(seconds=1))
    return release_of(engine.act(release.service, EventKind.WINDOW_PASSED, SCHEDULER))


def test_a_canary_release_started_with_steps_1_2_deploys_1_then_2_canary_replicas(
    scenario_cluster: Callable[[Scenario], SimCluster], engine_for: Callable[..., Engine]
) -> None:
    cluster = scenario_cluster(CANARY_DEPLOYMENT)  # services.yaml: steps [1]
    clock = Clock(datetime.now(UTC))
    engine = engine_for(CANARY_DEPLOYMENT, clock=clock)
    first = release_of(engine.start("fop-gate", NEW, ALICE, steps=(1, 2)))
    assert (first.phase, first.step, first.plan.steps) == (Phase.OBSERVING, 0, 2)
    assert canary_replicas(cluster) == "1"
    second = pass_window(engine, clock, first)
    assert (second.phase, second.step) == (Phase.OBSERVING, 1)
    assert canary_replicas(cluster) == "2"


def test_an_istio_release_started_with_steps_20_100_sends_20_percent_first(
    scenario_cluster: Callable[[Scenario], SimCluster], engine_for: Callable[..., Engine]
) -> None:
    cluster = scenario_cluster(ISTIO)  # services.yaml: 10, 50, 100
    started = release_of(engine_for(ISTIO).start("myapp", NEW, ALICE, steps=(20, 100)))
    assert (started.plan.steps, started.plan.step_values) == (2, (20, 100))
    vs = json.loads(
        cluster.kubectl("get", "virtualservice", "myapp-vs", "-n", "shop", "-o", "json").stdout
    )
    routed = [(d["destination"]["subset"], d["weight"]) for d in vs["spec"]["http"][0]["route"]]
    assert routed == [("v1", 80), ("2.0.0", 20)]


def test_a_window_override_sets_the_length_of_the_scheduled_window(
    scenario_cluster: Callable[[Scenario], SimCluster], engine_for: Callable[..., Engine]
) -> None:
    scenario_cluster(CANARY_DEPLOYMENT)
    scheduled: list[OpenWindow | RequestApproval] = []
    hooks = EngineHooks(schedule=lambda _release, action: scheduled.append(action))
    engine = engine_for(CANARY_DEPLOYMENT, hooks=hooks)
    started = release_of(engine.start("fop-gate", NEW, ALICE, window=timedelta(minutes=7)))
    assert started.plan.window == timedelta(minutes=7)
    assert started.window is not None
    assert started.window.ends_at - started.window.started_at == timedelta(minutes=7)
    assert scheduled == [OpenWindow(step=0, index=0, ends_at=started.window.ends_at)]


def test_the_release_and_its_start_audit_line_carry_the_overrides(
    scenario_cluster: Callable[[Scenario], SimCluster],
    engine_for: Callable[..., Engine],
    store: ReleaseStore,
) -> None:
    scenario_cluster(CANARY_DEPLOYMENT)
    engine = engine_for(CANARY_DEPLOYMENT)
    started = release_of(
        engine.start("fop-gate", NEW, ALICE, steps=(1, 2), window=timedelta(minutes=5))
    )
    assert started.overrides == PlanOverrides(steps=(1, 2), window=timedelta(minutes=5))
    start = store.audit_trail(release_id=started.id)[0]
    assert (start.event, start.details) == (EventKind.START, {"steps": "1,2", "window": "5m"})


def test_an_istio_weight_out_of_range_is_refused_and_nothing_is_written(
    scenario_cluster: Callable[[Scenario], SimCluster],
    engine_for: Callable[..., Engine],
    redis_client: redis.Redis,
) -> None:
    cluster = scenario_cluster(ISTIO)
    cluster.server.clear_requests()
    outcome = engine_for(ISTIO).start("myapp", NEW, ALICE, steps=(10, 50, 150))
    assert outcome == Refused("steps=10,50,150: istio weights must be at most 100 (got 150)")
    assert redis_client.keys("*") == []
    assert [r for r in cluster.server.requests() if r.verb in WRITES] == []


def test_a_release_keeps_its_own_steps_after_a_restart_and_an_edit_of_services_yaml(
    scenario_cluster: Callable[[Scenario], SimCluster],
    engine_for: Callable[..., Engine],
    redis_server: RedisServer,
) -> None:
    cluster = scenario_cluster(CANARY_DEPLOYMENT)
    clock = Clock(datetime.now(UTC))
    first = release_of(
        engine_for(CANARY_DEPLOYMENT, clock=clock).start("fop-gate", NEW, ALICE, steps=(1, 2))
    )
    # A new bot process: its own Redis connection, and a services.yaml edited meanwhile.
    with redis_server.client() as client:
        restarted = engine_for(
            with_steps(CANARY_DEPLOYMENT, "[3, 5]"), clock=clock, other_store=ReleaseStore(client)
        )
        reread, _running = restarted.status("fop-gate")
        assert reread == first
        pass_window(restarted, clock, first)
        assert canary_replicas(cluster) == "2"
        undone = release_of(restarted.act("fop-gate", EventKind.UNDO, BOB))
        assert undone.phase is Phase.UNDONE
        assert canary_replicas(cluster) == "0"


def test_editing_services_yaml_mid_release_keeps_the_step_values_it_started_with(
    scenario_cluster: Callable[[Scenario], SimCluster], engine_for: Callable[..., Engine]
) -> None:
    cluster = scenario_cluster(CANARY_DEPLOYMENT)
    clock = Clock(datetime.now(UTC))
    first = release_of(
        engine_for(with_steps(CANARY_DEPLOYMENT, "[1, 2]"), clock=clock).start(
            "fop-gate", NEW, ALICE
        )
    )
    assert first.overrides == PlanOverrides()
    edited = engine_for(with_steps(CANARY_DEPLOYMENT, "[1, 4]"), clock=clock)
    pass_window(edited, clock, first)
    assert canary_replicas(cluster) == "2"


def test_the_cli_starts_a_release_with_its_own_steps_and_window(
    scenario_cluster: Callable[[Scenario], SimCluster],
    cli: Callable[[Scenario], ReleaseCli],
    store: ReleaseStore,
) -> None:
    cluster = scenario_cluster(CANARY_DEPLOYMENT)
    done = cli(CANARY_DEPLOYMENT)(
        "fop-gate", "start", "--image", NEW, "--steps", "1,2", "--window", "2m"
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("fop-gate#1: observing step 1/2, reg/app:2.0.0")
    assert canary_replicas(cluster) == "1"
    live = store.live_release("fop-gate")
    assert live is not None
    assert live.overrides == PlanOverrides(steps=(1, 2), window=timedelta(minutes=2))


@pytest.mark.parametrize(
    ("scenario", "args", "code", "message"),
    [
        pytest.param(
            CANARY_DEPLOYMENT,
            ("--steps", "2,1"),
            EXIT_USAGE,
            "canarybot: --steps 2,1 must increase from step to step, e.g. 10,50,100",
            id="unreadable-steps",
        ),
        pytest.param(
            CANARY_DEPLOYMENT,
            ("--window", "2d"),
            EXIT_USAGE,
            "canarybot: --window 2d is too long: at most 1d",
            id="window-too-long",
        ),
        pytest.param(
            BLUE_GREEN,
            ("--steps", "1,2"),
            EXIT_REFUSED,
            "canarybot: steps=1,2: hexo-blog is released by blue-green, which has no steps; "
            "start it without steps=",
            id="steps-for-a-strategy-without-steps",
        ),
    ],
)
def test_the_cli_refuses_overrides_in_one_line_and_starts_nothing(
    scenario: Scenario,
    args: tuple[str, ...],
    code: int,
    message: str,
    cli: Callable[[Scenario], ReleaseCli],
    redis_client: redis.Redis,
) -> None:
    done = cli(scenario)(scenario.service, "start", "--image", NEW, *args)
    assert (done.returncode, done.stderr.strip()) == (code, message)
    assert redis_client.keys("*") == []
