"""Endpoints follow pod readiness, for every pod a Service selects."""

from __future__ import annotations

from typing import Any

import pytest

from sim.behaviour import PodFate
from sim.defaults import defaulted
from sim.store import ENDPOINTS, SERVICES, NotFoundError
from tests.sim.fake_cluster import NS, FakeCluster

Obj = dict[str, Any]


def service(
    name: str = "web", *, selector: dict[str, str] | None = None, ports: list[Obj] | None = None
) -> Obj:
    spec: Obj = {"ports": ports or [{"name": "http", "port": 80, "targetPort": 8080}]}
    if selector is not None:
        spec["selector"] = selector
    return defaulted(
        SERVICES,
        {"metadata": {"name": name, "namespace": NS, "labels": {"team": "a"}}, "spec": spec},
    )


def endpoints(cluster: FakeCluster, name: str = "web") -> Obj:
    return cluster.store.get(ENDPOINTS, NS, name)


def ips(subset: Obj, key: str) -> list[str]:
    return [a["ip"] for a in subset.get(key, [])]


@pytest.fixture
def cluster() -> FakeCluster:
    cluster = FakeCluster()
    cluster.store.create(SERVICES, service(selector={"app": "web"}))
    return cluster


def test_a_service_without_pods_has_endpoints_without_subsets(cluster: FakeCluster) -> None:
    cluster.step()
    current = endpoints(cluster)
    assert "subsets" not in current
    assert current["metadata"]["labels"] == {"team": "a"}


def test_pods_move_from_not_ready_to_ready_addresses(cluster: FakeCluster) -> None:
    cluster.fate("web:1", PodFate.READY, ready_after_s=5)
    cluster.create_deployment(replicas=2)
    cluster.step(seconds=0)
    cluster.step(seconds=0)
    cluster.step()

    (subset,) = endpoints(cluster)["subsets"]
    pod_ips = sorted(p["status"]["podIP"] for p in cluster.pods())
    assert ips(subset, "notReadyAddresses") == pod_ips
    assert "addresses" not in subset
    assert subset["ports"] == [{"name": "http", "port": 8080, "protocol": "TCP"}]

    cluster.run_until(cluster.rolled_out)
    cluster.step()
    (subset,) = endpoints(cluster)["subsets"]
    assert ips(subset, "addresses") == pod_ips
    assert "notReadyAddresses" not in subset


def test_addresses_point_at_their_pods(cluster: FakeCluster) -> None:
    cluster.create_deployment(replicas=1)
    cluster.settle()

    (address,) = endpoints(cluster)["subsets"][0]["addresses"]
    (pod,) = cluster.pods()
    assert address == {
        "ip": pod["status"]["podIP"],
        "nodeName": "sim-node-1",
        "targetRef": {
            "kind": "Pod",
            "namespace": NS,
            "name": pod["metadata"]["name"],
            "uid": pod["metadata"]["uid"],
        },
    }


def test_stable_and_canary_sharing_labels_are_both_listed() -> None:
    cluster = FakeCluster()
    cluster.store.create(SERVICES, service("shop", selector={"app": "shop"}))
    cluster.create_deployment(
        "shop", replicas=2, image="shop:1", labels={"app": "shop", "track": "stable"}
    )
    cluster.create_deployment(
        "shop-canary", replicas=1, image="shop:2", labels={"app": "shop", "track": "canary"}
    )
    cluster.settle()

    (subset,) = endpoints(cluster, "shop")["subsets"]
    pods = {p["metadata"]["name"]: p for p in cluster.pods()}
    tracks = sorted(
        pods[a["targetRef"]["name"]]["metadata"]["labels"]["track"] for a in subset["addresses"]
    )
    assert tracks == ["canary", "stable", "stable"]


def test_a_named_target_port_resolves_to_the_container_port() -> None:
    cluster = FakeCluster()
    cluster.store.create(
        SERVICES, service(selector={"app": "web"}, ports=[{"port": 80, "targetPort": "http"}])
    )
    cluster.create_deployment(replicas=1)
    cluster.edit(
        "web",
        lambda d: d["spec"]["template"]["spec"]["containers"][0].update(
            ports=[{"name": "http", "containerPort": 9090}]
        ),
    )
    cluster.settle()

    (subset,) = endpoints(cluster)["subsets"]
    assert subset["ports"] == [{"port": 9090, "protocol": "TCP"}]


def test_a_service_without_selector_gets_no_endpoints(cluster: FakeCluster) -> None:
    cluster.store.create(SERVICES, service("external"))
    cluster.step()
    with pytest.raises(NotFoundError):
        endpoints(cluster, "external")


def test_endpoints_go_with_their_service(cluster: FakeCluster) -> None:
    cluster.step()
    cluster.store.delete(SERVICES, NS, "web")
    cluster.step()
    with pytest.raises(NotFoundError):
        endpoints(cluster)


def test_nothing_is_written_when_nothing_changed(cluster: FakeCluster) -> None:
    cluster.create_deployment(replicas=2)
    cluster.settle()
    version = endpoints(cluster)["metadata"]["resourceVersion"]
    for _ in range(3):
        cluster.step(seconds=10)
    assert endpoints(cluster)["metadata"]["resourceVersion"] == version
