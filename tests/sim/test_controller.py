"""The Deployment controller rolls out as Kubernetes documents: pods, status, rolling updates."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.behaviour import PodFate
from sim.deployment_spec import fenceposts
from tests.sim.fake_cluster import FakeCluster, deployment_manifest, image_of, is_ready


@pytest.fixture
def cluster() -> FakeCluster:
    return FakeCluster()


class TestNewDeployment:
    def test_ends_with_n_ready_pods_and_a_complete_status(self, cluster: FakeCluster) -> None:
        cluster.create_deployment(replicas=3)
        cluster.run_until(cluster.rolled_out)
        cluster.settle()

        (rs,) = cluster.replica_sets()
        pods = cluster.pods(rs)
        assert len(pods) == 3
        assert all(is_ready(p) and p["status"]["phase"] == "Running" for p in pods)
        status = cluster.deployment()["status"]
        assert {k: v for k, v in status.items() if k != "conditions"} == {
            "observedGeneration": 1,
            "replicas": 3,
            "updatedReplicas": 3,
            "readyReplicas": 3,
            "availableReplicas": 3,
        }
        available, progressing = cluster.condition("Available"), cluster.condition("Progressing")
        assert (available["status"], available["reason"]) == ("True", "MinimumReplicasAvailable")
        assert available["message"] == "Deployment has minimum availability."
        assert (progressing["status"], progressing["reason"]) == ("True", "NewReplicaSetAvailable")
        assert (
            progressing["message"]
            == f'ReplicaSet "{rs["metadata"]["name"]}" has successfully progressed.'
        )

    def test_replica_set_is_named_for_the_template_hash_and_owned(
        self, cluster: FakeCluster
    ) -> None:
        deployment = cluster.create_deployment()
        cluster.step()

        (rs,) = cluster.replica_sets()
        pod_hash = rs["metadata"]["labels"]["pod-template-hash"]
        assert rs["metadata"]["name"] == f"web-{pod_hash}"
        assert 1 <= len(pod_hash) <= 10
        assert set(pod_hash) <= set("bcdfghjklmnpqrstvwxz2456789")
        assert rs["spec"]["selector"]["matchLabels"] == {
            "app": "web",
            "pod-template-hash": pod_hash,
        }
        assert rs["spec"]["template"]["metadata"]["labels"] == {
            "app": "web",
            "pod-template-hash": pod_hash,
        }
        (owner,) = rs["metadata"]["ownerReferences"]
        assert owner == {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "name": "web",
            "uid": deployment["metadata"]["uid"],
            "controller": True,
            "blockOwnerDeletion": True,
        }
        assert rs["metadata"]["annotations"] == {
            "deployment.kubernetes.io/revision": "1",
            "deployment.kubernetes.io/desired-replicas": "3",
            "deployment.kubernetes.io/max-replicas": "4",
        }

    def test_the_same_template_hashes_the_same_in_another_cluster(self) -> None:
        first, second = FakeCluster(), FakeCluster()
        for cluster in (first, second):
            cluster.create_deployment()
            cluster.step()
        assert (
            first.replica_sets()[0]["metadata"]["name"]
            == second.replica_sets()[0]["metadata"]["name"]
        )

    def test_pods_carry_template_labels_owner_and_node(self, cluster: FakeCluster) -> None:
        cluster.create_deployment(replicas=2)
        cluster.step()

        (rs,) = cluster.replica_sets()
        for pod in cluster.pods(rs):
            assert pod["metadata"]["name"].startswith(rs["metadata"]["name"] + "-")
            assert len(pod["metadata"]["name"]) == len(rs["metadata"]["name"]) + 6
            assert pod["metadata"]["labels"] == rs["spec"]["template"]["metadata"]["labels"]
            assert pod["metadata"]["ownerReferences"][0]["kind"] == "ReplicaSet"
            assert pod["spec"]["nodeName"] == "sim-node-1"
            assert pod["spec"]["containers"][0]["image"] == "web:1"

    def test_a_scaling_event_is_recorded(self, cluster: FakeCluster) -> None:
        cluster.create_deployment(replicas=3)
        cluster.run_until(cluster.rolled_out)

        (rs,) = cluster.replica_sets()
        (event,) = cluster.events("ScalingReplicaSet")
        assert event["message"] == f"Scaled up replica set {rs['metadata']['name']} from 0 to 3"
        assert event["involvedObject"]["kind"] == "Deployment"
        assert event["source"] == {"component": "deployment-controller"}
        assert len(cluster.events("SuccessfulCreate")) == 3

    def test_nothing_is_written_once_rolled_out(self, cluster: FakeCluster) -> None:
        cluster.create_deployment()
        cluster.run_until(cluster.rolled_out)
        cluster.settle()
        version = cluster.store.resource_version

        for _ in range(5):
            cluster.step(seconds=30)

        assert cluster.store.resource_version == version


class TestRollingUpdate:
    def test_surge_one_unavailable_zero_keeps_n_available_and_at_most_n_plus_one_pods(
        self, cluster: FakeCluster
    ) -> None:
        strategy = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}
        cluster.create_deployment(replicas=4, strategy=strategy)
        cluster.run_until(cluster.rolled_out)
        cluster.set_image("web", "web:2")

        def check() -> None:
            pods = cluster.pods()
            assert len(pods) <= 5
            assert sum(is_ready(p) for p in pods) >= 4

        cluster.run_until(cluster.rolled_out, check=check)
        assert {image_of(p) for p in cluster.pods()} == {"web:2"}
        old, new = cluster.replica_sets()
        assert (old["spec"]["replicas"], new["spec"]["replicas"]) == (0, 4)

    def test_scaling_events_tell_the_rollout_step_by_step(self, cluster: FakeCluster) -> None:
        strategy = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}
        cluster.create_deployment(replicas=2, strategy=strategy)
        cluster.run_until(cluster.rolled_out)
        cluster.set_image("web", "web:2")
        cluster.run_until(cluster.rolled_out)

        old, new = (rs["metadata"]["name"] for rs in cluster.replica_sets())
        messages = [e["message"] for e in cluster.events("ScalingReplicaSet")]
        assert messages == [
            f"Scaled up replica set {old} from 0 to 2",
            f"Scaled up replica set {new} from 0 to 1",
            f"Scaled down replica set {old} from 2 to 1",
            f"Scaled up replica set {new} from 1 to 2",
            f"Scaled down replica set {old} from 1 to 0",
        ]

    def test_progressing_reports_the_new_replica_set_while_rolling(
        self, cluster: FakeCluster
    ) -> None:
        cluster.create_deployment(replicas=2)
        cluster.run_until(cluster.rolled_out)
        cluster.set_image("web", "web:2")
        cluster.step()

        new = cluster.replica_sets()[-1]["metadata"]["name"]
        progressing = cluster.condition("Progressing")
        assert progressing["reason"] in ("NewReplicaSetCreated", "ReplicaSetUpdated")
        assert new in progressing["message"]
        assert (
            cluster.deployment()["metadata"]["annotations"]["deployment.kubernetes.io/revision"]
            == "2"
        )
        cluster.run_until(cluster.rolled_out)
        assert (
            cluster.condition("Progressing")["message"]
            == f'ReplicaSet "{new}" has successfully progressed.'
        )

    @settings(max_examples=25, deadline=None)
    @given(
        replicas=st.integers(min_value=1, max_value=6),
        surge=st.one_of(st.integers(0, 3), st.sampled_from(["0%", "25%", "50%", "100%"])),
        unavailable=st.one_of(st.integers(0, 3), st.sampled_from(["0%", "25%", "50%"])),
    )
    def test_any_fenceposts_bound_pods_and_availability(
        self, replicas: int, surge: int | str, unavailable: int | str
    ) -> None:
        cluster = FakeCluster()
        strategy = {
            "type": "RollingUpdate",
            "rollingUpdate": {"maxSurge": surge, "maxUnavailable": unavailable},
        }
        cluster.create_deployment(replicas=replicas, strategy=strategy)
        cluster.run_until(cluster.rolled_out)
        max_surge, max_unavailable = fenceposts(cluster.deployment())
        cluster.set_image("web", "web:2")

        def check() -> None:
            pods = cluster.pods()
            assert len(pods) <= replicas + max_surge
            assert sum(is_ready(p) for p in pods) >= replicas - max_unavailable

        cluster.run_until(cluster.rolled_out, check=check)
        assert {image_of(p) for p in cluster.pods()} == {"web:2"}


@pytest.mark.parametrize(
    ("replicas", "surge", "unavailable", "expected"),
    [
        pytest.param(10, "25%", "25%", (3, 2), id="default-percents-surge-up-unavailable-down"),
        pytest.param(1, "25%", "25%", (1, 0), id="one-replica"),
        pytest.param(4, 1, 0, (1, 0), id="ints"),
        pytest.param(3, 0, 0, (0, 1), id="both-zero-means-one-unavailable"),
        pytest.param(3, "0%", "10%", (0, 1), id="both-round-to-zero"),
        pytest.param(5, "100%", "50%", (5, 2), id="large-percents"),
    ],
)
def test_fenceposts_round_as_kubernetes(
    replicas: int, surge: int | str, unavailable: int | str, expected: tuple[int, int]
) -> None:
    strategy = {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxSurge": surge, "maxUnavailable": unavailable},
    }
    assert fenceposts(deployment_manifest(replicas=replicas, strategy=strategy)) == expected


class TestRecreate:
    def test_old_pods_are_gone_before_new_ones_start(self, cluster: FakeCluster) -> None:
        cluster.create_deployment(replicas=3, strategy={"type": "Recreate"})
        cluster.run_until(cluster.rolled_out)
        cluster.set_image("web", "web:2")

        def check() -> None:
            assert len({image_of(p) for p in cluster.pods()}) <= 1

        cluster.run_until(cluster.rolled_out, check=check)
        assert [image_of(p) for p in cluster.pods()] == ["web:2"] * 3


class TestScaling:
    def test_scaling_resizes_the_only_replica_set(self, cluster: FakeCluster) -> None:
        cluster.create_deployment(replicas=2)
        cluster.run_until(cluster.rolled_out)
        cluster.scale("web", 5)
        cluster.run_until(cluster.rolled_out)
        assert len(cluster.pods()) == 5
        cluster.scale("web", 1)
        cluster.run_until(cluster.rolled_out)

        assert len(cluster.pods()) == 1
        (rs,) = cluster.replica_sets()
        assert rs["metadata"]["annotations"]["deployment.kubernetes.io/desired-replicas"] == "1"
        messages = [e["message"] for e in cluster.events("ScalingReplicaSet")]
        name = rs["metadata"]["name"]
        assert messages[-2:] == [
            f"Scaled up replica set {name} from 2 to 5",
            f"Scaled down replica set {name} from 5 to 1",
        ]

    def test_scaling_mid_rollout_is_proportional(self, cluster: FakeCluster) -> None:
        cluster.fate("web:2", PodFate.NEVER_READY)
        strategy = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 3, "maxUnavailable": 0}}
        cluster.create_deployment(replicas=10, strategy=strategy)
        cluster.run_until(cluster.rolled_out)
        cluster.set_image("web", "web:2")
        cluster.settle()
        old, new = cluster.replica_sets()
        assert (old["spec"]["replicas"], new["spec"]["replicas"]) == (10, 3)

        cluster.scale("web", 20)  # max 23 from 13: +10 shared 10:3
        cluster.settle()

        old, new = cluster.replica_sets()
        assert (old["spec"]["replicas"], new["spec"]["replicas"]) == (18, 5)

    def test_min_ready_seconds_delays_availability(self, cluster: FakeCluster) -> None:
        cluster.create_deployment(replicas=1, minReadySeconds=10)
        cluster.run_until(lambda: cluster.deployment()["status"].get("readyReplicas") == 1)
        assert cluster.deployment()["status"].get("availableReplicas", 0) == 0

        steps = cluster.run_until(cluster.rolled_out, seconds=1)
        assert steps >= 8
