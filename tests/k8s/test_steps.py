"""Steps: more canary pods, more Istio weight, or an A/B match, one step at a time."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from k8s.canary_deployment import CanaryDeploymentStrategy
from k8s.cluster import connect
from k8s.istio import IstioStrategy, TrafficMatch
from k8s.paused_rollout import PausedRolloutStrategy
from k8s.types import Health
from tests.k8s.conftest import SimCluster
from tests.k8s.scenarios import CANARY_DEPLOYMENT, ISTIO, NEW, PAUSED_ROLLOUT, Scenario


def routes(cluster: SimCluster) -> list[dict[str, Any]]:
    vs = json.loads(
        cluster.kubectl("get", "virtualservice", "myapp-vs", "-n", "shop", "-o", "json").stdout
    )
    http: list[dict[str, Any]] = vs["spec"]["http"]
    return http


def weights(cluster: SimCluster) -> list[tuple[str, int]]:
    return [
        (d["destination"]["subset"], d.get("weight", 100))
        for r in routes(cluster)
        for d in r["route"]
    ]


def istio(cluster: SimCluster, **kwargs: Any) -> IstioStrategy:
    return IstioStrategy(
        connect(kubeconfig=str(cluster.kubeconfig), context="sim"),
        "shop",
        "myapp",
        "myapp-svc",
        "myapp-vs",
        "myapp-dr",
        timeout_s=20,
        **kwargs,
    )


def test_istio_weights_follow_the_steps(scenario_cluster: Callable[[Scenario], SimCluster]) -> None:
    cluster = scenario_cluster(ISTIO)
    strategy = istio(cluster)
    strategy.start(NEW)
    assert weights(cluster) == [("v1", 90), ("2.0.0", 10)]
    strategy.set_step(1)
    assert weights(cluster) == [("v1", 50), ("2.0.0", 50)]
    assert strategy.status().canary_share == 0.5
    strategy.set_step(2)
    assert weights(cluster) == [("2.0.0", 100)]


def test_istio_ab_sends_only_matching_requests_to_the_new_version(
    scenario_cluster: Callable[[Scenario], SimCluster],
) -> None:
    cluster = scenario_cluster(ISTIO)
    strategy = istio(cluster, steps=(100,), match=TrafficMatch(header="x-canary", value="always"))
    strategy.start(NEW)
    ab, rest = routes(cluster)
    assert ab["match"] == [{"headers": {"x-canary": {"exact": "always"}}}]
    assert ab["route"] == [{"destination": {"host": "myapp-svc", "subset": "2.0.0"}}]
    assert rest["route"] == [{"destination": {"host": "myapp-svc", "subset": "v1"}}]
    strategy.undo()
    assert weights(cluster) == [("v1", 100)]


def test_canary_replicas_follow_the_steps(
    scenario_cluster: Callable[[Scenario], SimCluster],
) -> None:
    cluster = scenario_cluster(CANARY_DEPLOYMENT)
    strategy = CanaryDeploymentStrategy(
        connect(kubeconfig=str(cluster.kubeconfig), context="sim"),
        "shop",
        "fop-gate",
        "fop-gate",
        steps=(1, 3),
        timeout_s=20,
    )
    strategy.start(NEW)
    assert strategy.status().canary_share == 0.1  # 1 of 10 Ready pods, as in seed 000
    strategy.set_step(1)
    status = strategy.status()
    assert status.health is Health.READY
    assert status.canary is not None
    assert (status.canary.ready, round(status.canary_share, 2)) == (3, 0.25)


def test_a_paused_rollout_holds_at_each_steps_number_of_new_pods(
    scenario_cluster: Callable[[Scenario], SimCluster],
) -> None:
    cluster = scenario_cluster(PAUSED_ROLLOUT)
    strategy = PausedRolloutStrategy(
        connect(kubeconfig=str(cluster.kubeconfig), context="sim"),
        "shop",
        "img-thumbnail",
        steps=(1, 2),
        preview_service="img-thumbnail-preview",
        timeout_s=20,
    )
    strategy.start(NEW)
    assert cluster.jsonpath("deployment/img-thumbnail", "{.spec.paused}") == "true"
    first = strategy.status()
    assert first.health is Health.READY
    assert first.canary is not None
    assert first.canary.ready >= 1
    # Seed 003's pod isolation: the preview Service selects only the new pods.
    selector = cluster.jsonpath("service/img-thumbnail-preview", "{.spec.selector}")
    assert "pod-template-hash" in selector
    strategy.set_step(1)
    second = strategy.status()
    assert second.canary is not None
    assert second.canary.ready >= 2
    assert cluster.jsonpath("deployment/img-thumbnail", "{.spec.paused}") == "true"
