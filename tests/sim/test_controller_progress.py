"""Progress as Kubernetes reports it: pause and resume, and the progress deadline."""

from __future__ import annotations

import pytest

from sim.behaviour import PodFate
from tests.sim.fake_cluster import FakeCluster, image_of


@pytest.fixture
def cluster() -> FakeCluster:
    cluster = FakeCluster()
    cluster.create_deployment(replicas=2, progressDeadlineSeconds=60)
    cluster.run_until(cluster.rolled_out)
    return cluster


class TestPause:
    def test_a_paused_deployment_reports_deployment_paused(self, cluster: FakeCluster) -> None:
        cluster.set_paused("web", True)
        cluster.step()

        progressing = cluster.condition("Progressing")
        assert (progressing["status"], progressing["reason"]) == ("Unknown", "DeploymentPaused")
        assert progressing["message"] == "Deployment is paused"

    def test_a_template_change_while_paused_creates_nothing(self, cluster: FakeCluster) -> None:
        cluster.set_paused("web", True)
        cluster.set_image("web", "web:2")
        cluster.settle()

        assert [image_of(rs) for rs in cluster.replica_sets()] == ["web:1"]
        assert {image_of(p) for p in cluster.pods()} == {"web:1"}
        status = cluster.deployment()["status"]
        assert status["observedGeneration"] == cluster.deployment()["metadata"]["generation"]
        assert status.get("updatedReplicas", 0) == 0

    def test_scaling_still_applies_while_paused(self, cluster: FakeCluster) -> None:
        cluster.set_paused("web", True)
        cluster.set_image("web", "web:2")
        cluster.scale("web", 4)
        cluster.settle()

        (rs,) = cluster.replica_sets()
        assert rs["spec"]["replicas"] == 4
        assert len(cluster.pods()) == 4

    def test_scaling_a_paused_rollout_is_proportional(self) -> None:
        cluster = FakeCluster()
        cluster.fate("web:2", PodFate.NEVER_READY)
        strategy = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 3, "maxUnavailable": 0}}
        cluster.create_deployment(replicas=10, strategy=strategy)
        cluster.run_until(cluster.rolled_out)
        cluster.set_image("web", "web:2")
        cluster.settle()
        cluster.set_paused("web", True)
        cluster.scale("web", 5)  # max 8 from 13: -5 shared 10:3
        cluster.settle()

        old, new = cluster.replica_sets()
        assert (old["spec"]["replicas"], new["spec"]["replicas"]) == (6, 2)

    def test_resuming_rolls_out_the_new_template(self, cluster: FakeCluster) -> None:
        cluster.set_paused("web", True)
        cluster.set_image("web", "web:2")
        cluster.settle()
        cluster.set_paused("web", False)
        cluster.step()

        assert cluster.condition("Progressing")["reason"] in (
            "DeploymentResumed",
            "NewReplicaSetCreated",
        )
        cluster.run_until(cluster.rolled_out)
        assert {image_of(p) for p in cluster.pods()} == {"web:2"}
        assert cluster.condition("Progressing")["reason"] == "NewReplicaSetAvailable"

    def test_a_paused_deployment_never_times_out(self, cluster: FakeCluster) -> None:
        cluster.set_paused("web", True)
        cluster.set_image("web", "web:2")
        for _ in range(10):
            cluster.step(seconds=60)

        assert cluster.condition("Progressing")["reason"] == "DeploymentPaused"


class TestProgressDeadline:
    @pytest.mark.parametrize(
        "fate", [PodFate.NEVER_READY, PodFate.CRASH_LOOP, PodFate.IMAGE_PULL_ERROR]
    )
    def test_pods_that_never_become_ready_exceed_the_deadline(
        self, cluster: FakeCluster, fate: PodFate
    ) -> None:
        cluster.fate("web:2", fate)
        cluster.set_image("web", "web:2")
        cluster.settle(seconds=1)
        assert cluster.condition("Progressing")["status"] == "True"

        for _ in range(50):  # 50 s: still inside the 60 s deadline
            cluster.step(seconds=1)
        assert cluster.condition("Progressing")["status"] == "True"

        cluster.run_until(
            lambda: cluster.condition("Progressing")["status"] == "False", seconds=1, max_steps=15
        )
        progressing = cluster.condition("Progressing")
        new = cluster.replica_sets()[-1]["metadata"]["name"]
        assert progressing["reason"] == "ProgressDeadlineExceeded"
        assert progressing["message"] == f'ReplicaSet "{new}" has timed out progressing.'

    def test_old_pods_keep_serving_after_the_deadline(self, cluster: FakeCluster) -> None:
        cluster.fate("web:2", PodFate.NEVER_READY)
        cluster.set_image("web", "web:2")
        cluster.run_until(lambda: cluster.condition("Progressing")["status"] == "False", seconds=5)

        available = cluster.condition("Available")
        assert available["status"] == "True"
        assert [image_of(p) for p in cluster.pods()].count("web:1") >= 1

    def test_progress_restarts_the_deadline(self) -> None:
        cluster = FakeCluster()
        cluster.fate("web:1", PodFate.READY, ready_after_s=40)
        cluster.create_deployment(
            replicas=3,
            progressDeadlineSeconds=60,
            strategy={
                "type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0},
            },
        )

        cluster.run_until(cluster.rolled_out, seconds=5)  # three pods of 40 s each: 120 s > 60 s

        assert cluster.condition("Progressing")["reason"] == "NewReplicaSetAvailable"

    def test_a_rollout_that_finishes_late_recovers(self, cluster: FakeCluster) -> None:
        cluster.fate("web:2", PodFate.READY, ready_after_s=90)
        cluster.set_image("web", "web:2")
        cluster.run_until(lambda: cluster.condition("Progressing")["status"] == "False", seconds=5)

        cluster.run_until(cluster.rolled_out, seconds=5)
        progressing = cluster.condition("Progressing")
        assert (progressing["status"], progressing["reason"]) == ("True", "NewReplicaSetAvailable")

    def test_available_is_false_below_minimum(self) -> None:
        cluster = FakeCluster()
        cluster.fate("web:1", PodFate.NEVER_READY)
        cluster.create_deployment(replicas=4)
        cluster.settle()

        available = cluster.condition("Available")
        assert (available["status"], available["reason"]) == ("False", "MinimumReplicasUnavailable")
        assert available["message"] == "Deployment does not have minimum availability."
        assert cluster.deployment()["status"]["unavailableReplicas"] == 4
