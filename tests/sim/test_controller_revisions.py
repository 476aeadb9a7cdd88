"""Revisions as Kubernetes numbers them: new templates, rollbacks, history limits, copies."""

from __future__ import annotations

import pytest

from sim.defaults import defaulted
from sim.hashing import fnv32a, pod_template_hash, safe_encode
from sim.store import DEPLOYMENTS, REPLICASETS
from tests.sim.fake_cluster import NS, FakeCluster, image_of

REVISION = "deployment.kubernetes.io/revision"
HISTORY = "deployment.kubernetes.io/revision-history"


@pytest.fixture
def cluster() -> FakeCluster:
    cluster = FakeCluster()
    cluster.create_deployment(replicas=2)
    cluster.run_until(cluster.rolled_out)
    return cluster


def roll(cluster: FakeCluster, image: str) -> None:
    cluster.set_image("web", image)
    cluster.run_until(cluster.rolled_out)


def revisions(cluster: FakeCluster) -> dict[str, str]:
    """Image → revision of each ReplicaSet."""
    return {image_of(rs): rs["metadata"]["annotations"][REVISION] for rs in cluster.replica_sets()}


def test_each_new_template_gets_the_next_revision(cluster: FakeCluster) -> None:
    roll(cluster, "web:2")
    roll(cluster, "web:3")

    assert revisions(cluster) == {"web:1": "1", "web:2": "2", "web:3": "3"}
    assert cluster.deployment()["metadata"]["annotations"][REVISION] == "3"


def test_rolling_back_reuses_the_old_replica_set_under_a_new_revision(cluster: FakeCluster) -> None:
    roll(cluster, "web:2")
    (first, _) = cluster.replica_sets()

    roll(cluster, "web:1")  # what `kubectl rollout undo` writes: the old template

    assert len(cluster.replica_sets()) == 2
    assert revisions(cluster) == {"web:2": "2", "web:1": "3"}
    reused = cluster.store.get(REPLICASETS, NS, first["metadata"]["name"])
    assert reused["metadata"]["annotations"][HISTORY] == "1"
    assert reused["spec"]["replicas"] == 2
    assert cluster.deployment()["metadata"]["annotations"][REVISION] == "3"


def test_revision_history_keeps_every_earlier_number(cluster: FakeCluster) -> None:
    roll(cluster, "web:2")
    roll(cluster, "web:1")
    roll(cluster, "web:2")
    roll(cluster, "web:1")

    assert revisions(cluster) == {"web:2": "4", "web:1": "5"}
    by_image = {image_of(rs): rs for rs in cluster.replica_sets()}
    assert by_image["web:1"]["metadata"]["annotations"][HISTORY] == "1,3"
    assert by_image["web:2"]["metadata"]["annotations"][HISTORY] == "2"


def test_revision_history_limit_deletes_the_oldest_scaled_down_replica_sets() -> None:
    cluster = FakeCluster()
    cluster.create_deployment(replicas=1, revisionHistoryLimit=2)
    cluster.run_until(cluster.rolled_out)
    for image in ("web:2", "web:3", "web:4", "web:5"):
        roll(cluster, image)
    cluster.settle()

    assert revisions(cluster) == {"web:3": "3", "web:4": "4", "web:5": "5"}


def test_a_history_limit_of_zero_keeps_only_the_current_replica_set() -> None:
    cluster = FakeCluster()
    cluster.create_deployment(replicas=1, revisionHistoryLimit=0)
    cluster.run_until(cluster.rolled_out)
    roll(cluster, "web:2")
    cluster.settle()

    assert revisions(cluster) == {"web:2": "2"}


def test_deployment_annotations_are_copied_to_the_new_replica_set(cluster: FakeCluster) -> None:
    def annotate(obj: dict[str, object]) -> None:
        meta = obj["metadata"]
        assert isinstance(meta, dict)
        meta.setdefault("annotations", {})["kubernetes.io/change-cause"] = "deploy web:2"
        spec = obj["spec"]
        assert isinstance(spec, dict)
        spec["template"]["spec"]["containers"][0]["image"] = "web:2"

    cluster.edit("web", annotate)
    cluster.run_until(cluster.rolled_out)

    old, new = cluster.replica_sets()
    assert new["metadata"]["annotations"]["kubernetes.io/change-cause"] == "deploy web:2"
    assert "kubernetes.io/change-cause" not in old["metadata"]["annotations"]


def test_a_name_taken_by_a_foreign_replica_set_bumps_the_collision_count() -> None:
    cluster = FakeCluster()
    template = {
        "metadata": {"labels": {"app": "web"}},
        "spec": {"containers": [{"name": "app", "image": "web:1"}]},
    }
    stored = defaulted(DEPLOYMENTS, {"spec": {"template": template, "selector": {}}})
    squatter = f"web-{pod_template_hash(stored['spec']['template'])}"
    cluster.store.create(
        REPLICASETS,
        {"metadata": {"name": squatter, "namespace": NS}, "spec": {"replicas": 0, "template": {}}},
    )
    cluster.create_deployment(replicas=1)
    cluster.run_until(cluster.rolled_out)

    assert cluster.deployment()["status"]["collisionCount"] == 1
    (rs,) = cluster.replica_sets()
    assert rs["metadata"]["name"] != squatter


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        pytest.param(b"", 0x811C9DC5, id="empty"),
        pytest.param(b"a", 0xE40C292C, id="one-byte"),
        pytest.param(b"foobar", 0xBF9CF968, id="word"),
    ],
)
def test_fnv32a_matches_the_reference_vectors(data: bytes, expected: int) -> None:
    assert fnv32a(data) == expected


def test_safe_encoding_maps_digits_as_kubernetes() -> None:
    assert safe_encode("0123456789") == "456789bcdf"
