"""A release's own steps= and window=: read, checked by services.yaml's rules, kept in the plan."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
import redis

from bot.engine import Engine
from bot.overrides import (
    OverrideError,
    apply_overrides,
    parse_steps,
    parse_window,
    release_spec,
)
from bot.registry import Registry, parse_registry
from bot.release import Plan, PlanOverrides
from bot.service_spec import ServiceSpec
from bot.store import ReleaseStore
from bot.strategy_specs import CanaryDeploymentSpec, IstioSpec
from bot.transitions import Refused
from bot.wiring import utc_now
from k8s.strategy import ReleaseStrategy
from tests.factories import ALICE
from tests.k8s.scenarios import ALL, NEW, services_yaml

REGISTRY: Registry = parse_registry(services_yaml(*ALL))
CANARY = REGISTRY.get("fop-gate")  # canary-deployment, steps [1]
PAUSED = REGISTRY.get("img-thumbnail")  # paused-rollout, steps [1]
BLUE_GREEN = REGISTRY.get("hexo-blog")
ISTIO = REGISTRY.get("myapp")  # istio, weights 10, 50, 100
ROLLING = REGISTRY.get("testpage")


# --- applying overrides ------------------------------------------------------------------------


def test_steps_override_sets_the_plans_step_values_and_count() -> None:
    plan = apply_overrides(CANARY, PlanOverrides(steps=(1, 2, 4))).plan()
    assert (plan.steps, plan.step_values) == (3, (1, 2, 4))


def test_window_override_sets_the_plans_window_and_nothing_else() -> None:
    plan = apply_overrides(ISTIO, PlanOverrides(window=timedelta(minutes=3))).plan()
    assert plan == replace(ISTIO.plan(), window=timedelta(minutes=3))


def test_no_overrides_leave_the_service_as_configured() -> None:
    assert apply_overrides(ISTIO, PlanOverrides()) is ISTIO


def test_an_istio_override_keeps_the_rest_of_the_strategy() -> None:
    strategy = apply_overrides(ISTIO, PlanOverrides(steps=(20, 100))).strategy
    assert isinstance(strategy, IstioSpec)
    assert strategy == ISTIO.strategy.model_copy(update={"steps": (20, 100)})


@pytest.mark.parametrize(
    ("spec", "overrides", "message"),
    [
        pytest.param(
            ISTIO,
            PlanOverrides(steps=(10, 50, 150)),
            "steps=10,50,150: istio weights must be at most 100 (got 150)",
            id="istio-weight-above-100",
        ),
        pytest.param(
            ISTIO,
            PlanOverrides(steps=(0, 50)),
            "steps=0,50: istio weights must be at least 1 (got 0)",
            id="istio-weight-zero",
        ),
        pytest.param(
            CANARY,
            PlanOverrides(steps=(2, 1)),
            "steps=2,1: canary replicas must be strictly increasing (got [2, 1])",
            id="canary-replicas-decreasing",
        ),
        pytest.param(
            PAUSED,
            PlanOverrides(steps=()),
            "steps=: new pods must not be empty",
            id="paused-rollout-no-steps",
        ),
        pytest.param(
            BLUE_GREEN,
            PlanOverrides(steps=(10, 50)),
            "steps=10,50: hexo-blog is released by blue-green, which has no steps; "
            "start it without steps=",
            id="blue-green-has-no-steps",
        ),
        pytest.param(
            ROLLING,
            PlanOverrides(steps=(1,)),
            "steps=1: testpage is released by rolling, which has no steps; start it without steps=",
            id="rolling-has-no-steps",
        ),
        pytest.param(
            CANARY,
            PlanOverrides(window=timedelta(0)),
            "window=0s: bad duration: must be positive",
            id="window-zero",
        ),
        pytest.param(
            CANARY,
            PlanOverrides(window=timedelta(minutes=-5)),
            "window=-5m: bad duration: must be positive",
            id="window-negative",
        ),
    ],
)
def test_overrides_the_service_cannot_use_are_refused_in_words(
    spec: ServiceSpec, overrides: PlanOverrides, message: str
) -> None:
    with pytest.raises(OverrideError) as refused:
        apply_overrides(spec, overrides)
    assert str(refused.value) == message


@pytest.mark.parametrize("service", ["hexo-blog", "testpage"])
def test_the_engine_refuses_steps_for_blue_green_and_rolling_before_touching_anything(
    service: str, store: ReleaseStore, redis_client: redis.Redis
) -> None:
    def no_cluster(spec: ServiceSpec) -> ReleaseStrategy:
        raise AssertionError(f"the cluster was reached for {spec.name}")

    engine = Engine(store=store, registry=REGISTRY, strategies=no_cluster, clock=utc_now)
    outcome = engine.start(service, NEW, ALICE, steps=(10, 50))
    assert isinstance(outcome, Refused)
    kind = REGISTRY.get(service).strategy.kind.value
    assert f"is released by {kind}, which has no steps" in outcome.reason
    assert redis_client.keys("*") == []


# --- the spec a release acts on ----------------------------------------------------------------


def test_a_release_acts_with_the_step_values_its_plan_copied() -> None:
    plan = apply_overrides(CANARY, PlanOverrides(steps=(1, 2))).plan()
    strategy = release_spec(CANARY, plan).strategy
    assert isinstance(strategy, CanaryDeploymentSpec)
    assert strategy.steps == (1, 2)


def test_a_release_stored_without_step_values_acts_with_the_services_own() -> None:
    assert release_spec(ISTIO, Plan(steps=3)) is ISTIO


def test_a_strategy_without_steps_is_acted_on_as_configured() -> None:
    assert release_spec(BLUE_GREEN, Plan(step_values=(1, 2))) is BLUE_GREEN


# --- reading what a person typed ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("10,x", "--steps 10,x is not a list of positive whole numbers", id="word"),
        pytest.param("50,10", "--steps 50,10 must increase from step to step", id="decreasing"),
        pytest.param(
            ",".join(map(str, range(1, 12))), "has 11 steps: at most 10 are allowed", id="too-many"
        ),
    ],
)
def test_steps_errors_quote_the_option_as_it_was_written(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_steps(text, option="--steps ")


def test_steps_are_read_as_a_comma_separated_list() -> None:
    assert parse_steps("10,50,100") == (10, 50, 100)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("soon", "window=soon is not a duration: use e.g. 10m, 1h30m", id="word"),
        pytest.param("2d", "window=2d is too long: at most 1d", id="too-long"),
    ],
)
def test_window_errors_say_what_is_accepted(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_window(text)


def test_overrides_read_back_as_audit_details() -> None:
    overrides = PlanOverrides(steps=(10, 50, 100), window=timedelta(hours=1, minutes=30))
    assert overrides.audit_details() == {"steps": "10,50,100", "window": "1h30m"}
    assert PlanOverrides().audit_details() == {}
