"""Seed 002: a plain rolling update, gated by readiness, watched like `kubectl rollout status`.

The image and the configured `maxSurge` / `maxUnavailable` / `progressDeadlineSeconds` go onto
the Deployment in one write; the controller replaces pods as new ones become Ready. There is
no canary step to hold: a completed rollout is the promotion. Undo is `kubectl rollout undo`.
"""

from __future__ import annotations

from dataclasses import dataclass

from k8s.cluster import Cluster, Obj
from k8s.history import history_of, rollback
from k8s.resources import DEPLOYMENTS
from k8s.rollouts import (
    health_of,
    pause_deployment,
    rollout_complete,
    set_image,
    workload_of,
)
from k8s.strategy import IMAGE, annotations_of, expect_image, wait_rolled_out
from k8s.types import ReleaseStatus, Revision


@dataclass(frozen=True)
class RollingStrategy:
    """Release by the Deployment's own rolling update."""

    cluster: Cluster
    namespace: str
    deployment: str
    max_surge: int | str = "25%"
    max_unavailable: int | str = 0
    progress_deadline_s: int = 600
    container: str | None = None

    def start(self, image: str) -> None:
        """Set the image and the rolling parameters, and wait for the rollout to finish."""

        def roll(deployment: Obj) -> bool:
            annotations_of(deployment)[IMAGE] = image
            spec = deployment["spec"]
            spec["strategy"] = {
                "type": "RollingUpdate",
                "rollingUpdate": {
                    "maxSurge": self.max_surge,
                    "maxUnavailable": self.max_unavailable,
                },
            }
            spec["progressDeadlineSeconds"] = self.progress_deadline_s
            spec["paused"] = False
            set_image(deployment, self.container, image)
            return True

        self.cluster.modify(DEPLOYMENTS, self.namespace, self.deployment, roll)
        self._wait(f"rolling {self.deployment} to {image}")

    def set_step(self, step: int) -> None:
        """A rolling update has one step."""

    def status(self) -> ReleaseStatus:
        """How far the rollout got."""
        deployment = self.cluster.get(DEPLOYMENTS, self.namespace, self.deployment)
        whole = workload_of(deployment, self.container)
        share = whole.updated / whole.replicas if whole.replicas else 0.0
        line = (
            f"{whole.updated}/{whole.replicas} pods updated to {whole.image}, "
            f"{whole.available} available"
        )
        health, message = health_of(
            self.cluster,
            self.namespace,
            deployment,
            line=line,
            in_place=rollout_complete(deployment),
        )
        return ReleaseStatus(health, message, canary=whole, canary_share=share)

    def pause(self) -> None:
        """`kubectl rollout pause`."""
        pause_deployment(self.cluster, self.namespace, self.deployment, paused=True)

    def resume(self) -> None:
        """`kubectl rollout resume`."""
        pause_deployment(self.cluster, self.namespace, self.deployment, paused=False)

    def promote(self) -> None:
        """Nothing to switch: make sure the rollout finished on the release's image."""
        deployment = self.cluster.get(DEPLOYMENTS, self.namespace, self.deployment)
        expect_image(deployment, workload_of(deployment, self.container).image)
        self.resume()
        self._wait(f"finishing the rollout of {self.deployment}")

    def undo(self, to_revision: int | None = None) -> None:
        """`kubectl rollout undo [--to-revision]`, and wait for it."""
        rollback(self.cluster, self.namespace, self.deployment, to_revision)
        self._wait(f"rolling {self.deployment} back")

    def history(self) -> list[Revision]:
        """The Deployment's revisions."""
        return history_of(self.cluster, self.namespace, self.deployment)

    def _wait(self, what: str) -> None:
        # The Deployment's own progress deadline decides failure; allow a little past it.
        wait_rolled_out(
            self.cluster,
            self.namespace,
            self.deployment,
            timeout_s=self.progress_deadline_s + 30,
            what=what,
        )
