"""The simulator sharded by namespace: one endpoint, each namespace's objects in its own shard,
rolled out by the shards' controllers, every request recorded by the shard that served it."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any
from urllib.request import Request, urlopen

import pytest

from sim.sharded import ShardedSim
from sim.store import DEPLOYMENTS

NAMESPACES = ("team-a", "team-b")


def deployment(namespace: str, replicas: int) -> str:
    return f"""
apiVersion: apps/v1
kind: Deployment
metadata: {{name: web, namespace: {namespace}}}
spec:
  replicas: {replicas}
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata: {{labels: {{app: web}}}}
    spec:
      containers: [{{name: app, image: "reg/web:1"}}]
"""


@pytest.fixture
def cluster() -> Iterator[ShardedSim]:
    with ShardedSim(NAMESPACES) as sharded:
        yield sharded


def _get(cluster: ShardedSim, path: str) -> dict[str, Any]:
    request = Request(f"{cluster.url}{path}", headers={"Accept": "application/json"})
    with urlopen(request, timeout=5) as response:
        body: dict[str, Any] = json.load(response)
    return body


def test_each_namespace_lives_in_its_own_shard_behind_one_endpoint(cluster: ShardedSim) -> None:
    cluster.load(deployment("team-a", 1) + "---" + deployment("team-b", 2))

    assert cluster.store("team-a").get(DEPLOYMENTS, "team-a", "web")["spec"]["replicas"] == 1
    assert cluster.store("team-a").select(DEPLOYMENTS, "team-b") == []
    found = _get(cluster, "/apis/apps/v1/namespaces/team-b/deployments/web")
    assert found["spec"]["replicas"] == 2


def test_the_shards_controllers_roll_deployments_out(cluster: ShardedSim) -> None:
    cluster.load(deployment("team-b", 2))

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        status = _get(cluster, "/apis/apps/v1/namespaces/team-b/deployments/web").get("status")
        if (status or {}).get("readyReplicas") == 2:
            return
        time.sleep(0.05)
    raise AssertionError("team-b/web never became ready")


def test_requests_are_recorded_by_the_shard_that_served_them(cluster: ShardedSim) -> None:
    cluster.load(deployment("team-a", 1))
    cluster.clear_requests()

    _get(cluster, "/apis/apps/v1/namespaces/team-a/deployments/web")
    _get(cluster, "/api/v1/namespaces/team-b/pods")

    recorded = [(r.verb, r.resource, r.namespace) for r in cluster.requests()]
    assert recorded == [("get", "deployments", "team-a"), ("list", "pods", "team-b")]
