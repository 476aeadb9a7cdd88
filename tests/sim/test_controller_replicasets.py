"""The ReplicaSet controller: pod counts, which pods go first, and the status it reports."""

from __future__ import annotations

from typing import Any

import pytest

from sim.clock import rfc3339
from sim.replicasets import plan_replica_set
from tests.sim.fake_cluster import FakeCluster

Obj = dict[str, Any]
NOW = 1_800_000_000.0


def stamp(seconds_ago: float) -> str:
    return rfc3339(NOW - seconds_ago)


def pod(
    name: str,
    *,
    phase: str = "Running",
    ready_for: float | None = 60,
    created_ago: float = 600,
    restarts: int = 0,
    labels: dict[str, str] | None = None,
) -> Obj:
    return {
        "metadata": {
            "name": name,
            "creationTimestamp": stamp(created_ago),
            "labels": labels if labels is not None else {"app": "web"},
        },
        "spec": {"nodeName": "sim-node-1"},
        "status": {
            "phase": phase,
            "conditions": [
                {
                    "type": "Ready",
                    "status": "False" if ready_for is None else "True",
                    "lastTransitionTime": stamp(ready_for or 0),
                }
            ],
            "containerStatuses": [{"name": "app", "restartCount": restarts}],
        },
    }


def replica_set(replicas: int, *, min_ready_seconds: int = 0) -> Obj:
    spec: Obj = {"replicas": replicas, "template": {"metadata": {"labels": {"app": "web"}}}}
    if min_ready_seconds:
        spec["minReadySeconds"] = min_ready_seconds
    return {"metadata": {"name": "web-abc", "generation": 3}, "spec": spec}


@pytest.mark.parametrize(
    ("pods", "doomed"),
    [
        pytest.param(
            [pod("ready"), pod("unready", ready_for=None)], "unready", id="not-ready-first"
        ),
        pytest.param(
            [pod("running"), pod("pending", phase="Pending", ready_for=None)],
            "pending",
            id="pending-before-running",
        ),
        pytest.param(
            [pod("old", ready_for=600), pod("fresh", ready_for=5)],
            "fresh",
            id="ready-for-less-time-first",
        ),
        pytest.param([pod("calm"), pod("flaky", restarts=4)], "flaky", id="more-restarts-first"),
        pytest.param(
            [pod("older", created_ago=900), pod("newer", created_ago=60)], "newer", id="newer-first"
        ),
    ],
)
def test_scaling_down_removes_the_pod_kubernetes_would(pods: list[Obj], doomed: str) -> None:
    plan = plan_replica_set(replica_set(1), pods, now=NOW)
    assert [p["metadata"]["name"] for p in plan.delete] == [doomed]
    assert plan.create == 0


def test_scaling_up_creates_the_missing_pods() -> None:
    plan = plan_replica_set(replica_set(4), [pod("a")], now=NOW)
    assert (plan.create, plan.delete) == (3, [])
    assert plan.status["replicas"] == 4


def test_status_counts_ready_available_and_fully_labeled_pods() -> None:
    pods = [
        pod("long-ready", ready_for=60),
        pod("just-ready", ready_for=2),
        pod("unready", ready_for=None),
        pod("relabelled", labels={"other": "x"}),
    ]
    plan = plan_replica_set(replica_set(4, min_ready_seconds=10), pods, now=NOW)
    assert plan.status == {
        "replicas": 4,
        "fullyLabeledReplicas": 3,
        "readyReplicas": 3,
        "availableReplicas": 2,
        "observedGeneration": 3,
    }


def test_an_empty_replica_set_reports_zero_replicas() -> None:
    plan = plan_replica_set(replica_set(0), [], now=NOW)
    assert plan.status == {"replicas": 0, "observedGeneration": 3}


def test_events_name_each_created_and_deleted_pod() -> None:
    cluster = FakeCluster()
    cluster.create_deployment(replicas=3)
    cluster.run_until(cluster.rolled_out)
    cluster.scale("web", 1)
    cluster.run_until(lambda: len(cluster.pods()) == 1)

    created = [e["message"] for e in cluster.events("SuccessfulCreate")]
    deleted = [e["message"] for e in cluster.events("SuccessfulDelete")]
    assert len(created) == 3
    assert len(deleted) == 2
    (survivor,) = cluster.pods()
    assert f"Created pod: {survivor['metadata']['name']}" in created
    assert all(m.startswith("Deleted pod: web-") for m in deleted)
    assert all(
        e["source"] == {"component": "replicaset-controller"}
        for e in cluster.events("SuccessfulDelete")
    )
