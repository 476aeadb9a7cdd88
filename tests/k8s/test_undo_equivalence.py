"""`canarybot … undo --to-revision N` does what `kubectl rollout undo --to-revision=N` does."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.k8s.conftest import ReleaseCli, SimCluster, start_sim
from tests.k8s.scenarios import NEW, ROLLING, Scenario

MIDDLE = "reg/app:1.5.0"


def rollout_state(cluster: SimCluster) -> dict[str, Any]:
    """The pod template and the revision history, as both tools leave them."""
    deployment = cluster.json("deployment", "testpage", "-n", "shop")
    replica_sets = json.loads(
        cluster.kubectl(
            "get", "replicasets", "-n", "shop", "-l", "app=testpage", "-o", "json"
        ).stdout
    )["items"]
    spec: dict[str, Any] = deployment["spec"]  # type: ignore[assignment]
    meta: dict[str, Any] = deployment["metadata"]  # type: ignore[assignment]
    return {
        "template": spec["template"],
        "revision": meta["annotations"]["deployment.kubernetes.io/revision"],
        "history": sorted(
            (
                rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"],
                rs["metadata"]["name"],
                rs["spec"]["template"]["spec"]["containers"][0]["image"],
                rs["spec"]["replicas"],
            )
            for rs in replica_sets
        ),
        "kubectl_history": cluster.kubectl(
            "rollout", "history", "deployment/testpage", "-n", "shop"
        ).stdout,
    }


def with_two_revisions(cluster: SimCluster) -> None:
    """testpage at revision 1 (OLD), then revision 2 (MIDDLE), both by hand with kubectl."""
    cluster.load(ROLLING.manifests)
    cluster.wait_ready("testpage")
    cluster.kubectl("set", "image", "deployment/testpage", f"app={MIDDLE}", "-n", "shop")
    cluster.wait_ready("testpage")


def test_undo_to_a_revision_leaves_the_cluster_as_kubectl_would(
    sim: SimCluster, cli: Callable[[Scenario], ReleaseCli], tmp_path: Path
) -> None:
    by_kubectl = start_sim(tmp_path / "kubectl-side")
    try:
        # Revision 3 = NEW on both, then back to revision 1: kubectl on one, canarybot on other.
        with_two_revisions(by_kubectl)
        by_kubectl.kubectl("set", "image", "deployment/testpage", f"app={NEW}", "-n", "shop")
        by_kubectl.wait_ready("testpage")
        by_kubectl.kubectl(
            "rollout", "undo", "deployment/testpage", "--to-revision=1", "-n", "shop"
        )
        by_kubectl.wait_ready("testpage")

        with_two_revisions(sim)
        run = cli(ROLLING)
        assert run("testpage", "start", "--image", NEW).returncode == 0
        undone = run("testpage", "undo", "--to-revision", "1", who="bob")
        assert undone.returncode == 0, undone.stderr
        assert undone.stdout.startswith("testpage#1: undone"), undone.stdout

        expected = rollout_state(by_kubectl)
        assert expected["revision"] == "4"  # revision 1 came back as 4, as Kubernetes numbers it
        assert rollout_state(sim) == expected
    finally:
        by_kubectl.server.stop()
