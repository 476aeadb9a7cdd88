"""Seeds 001, 003, 004: `kubectl set image … && kubectl rollout pause`, then resume or undo.

The new image goes onto the one Deployment; once the step's number of new pods is Ready the
rollout is paused, so old and new pods serve side by side (the split is by pod count, so it is
approximate). An optional preview Service selects only the new pods by their
`pod-template-hash` (seed 003's pod isolation) so testers can reach the new version alone.
Undo is `kubectl rollout undo` (see k8s.history), paused or not.
"""

from __future__ import annotations

from dataclasses import dataclass

from k8s.cluster import Cluster, Obj
from k8s.errors import ClusterError, InvalidError
from k8s.history import history_of, rollback
from k8s.resources import DEPLOYMENTS, SERVICES
from k8s.rollouts import (
    HASH_LABEL,
    failure_of,
    image_of,
    newest_replica_set,
    owned_replica_sets,
    pause_deployment,
    rollout_complete,
    set_image,
    set_paused,
    workload_of,
)
from k8s.strategy import IMAGE, STEP, annotations_of, expect_image, wait_deployment, wait_rolled_out
from k8s.types import Health, ReleaseStatus, Revision, Workload


@dataclass(frozen=True)
class PausedRolloutStrategy:
    """Release by setting the image on the Deployment and pausing after the first new pods."""

    cluster: Cluster
    namespace: str
    deployment: str
    steps: tuple[int, ...] = (1,)
    container: str | None = None
    preview_service: str | None = None
    timeout_s: float = 600.0

    def start(self, image: str) -> None:
        """Set the image, let the step's new pods come up, pause, and open the preview."""

        def set_new_image(deployment: Obj) -> bool:
            notes = annotations_of(deployment)
            notes.update({IMAGE: image, STEP: "0"})
            set_image(deployment, self.container, image)
            deployment["spec"]["paused"] = False
            return True

        self.cluster.modify(DEPLOYMENTS, self.namespace, self.deployment, set_new_image)
        self._roll_to(0, f"{self.deployment} on {image}")
        self._open_preview()

    def set_step(self, step: int) -> None:
        """Let the rollout go on until the step's number of new pods is Ready, then pause."""

        def go_on(deployment: Obj) -> bool:
            expect_image(deployment, image_of(deployment, self.container))
            annotations_of(deployment)[STEP] = str(step)
            deployment["spec"]["paused"] = False
            return True

        self.cluster.modify(DEPLOYMENTS, self.namespace, self.deployment, go_on)
        self._roll_to(step, f"{self.deployment} step {step + 1}")

    def status(self) -> ReleaseStatus:
        """New pods against old ones, and whether the step's share is in place."""
        deployment = self.cluster.get(DEPLOYMENTS, self.namespace, self.deployment)
        whole = workload_of(deployment, self.container)
        new_ready = self._new_ready(deployment)
        share = new_ready / whole.replicas if whole.replicas else 0.0
        canary = Workload(
            name=whole.name,
            image=whole.image,
            replicas=self._target(deployment),
            updated=whole.updated,
            ready=new_ready,
            available=new_ready,
            paused=whole.paused,
        )
        line = f"{new_ready} of {whole.replicas} pods run {whole.image} ({share:.0%})"
        if reason := failure_of(self.cluster, self.namespace, deployment):
            return ReleaseStatus(Health.FAILED, f"{line}; {reason}", whole, canary, share)
        if self._in_place(deployment):
            return ReleaseStatus(Health.READY, line, whole, canary, share)
        health = Health.PAUSED if whole.paused else Health.PROGRESSING
        return ReleaseStatus(health, line, whole, canary, share)

    def pause(self) -> None:
        """Hold the rollout (`kubectl rollout pause`)."""
        pause_deployment(self.cluster, self.namespace, self.deployment, paused=True)

    def resume(self) -> None:
        """Go back to holding at the current step, finishing it first if it was cut short."""
        deployment = self.cluster.get(DEPLOYMENTS, self.namespace, self.deployment)
        step = int(annotations_of(deployment).get(STEP, "0"))
        if not self._in_place(deployment):
            self.set_step(step)

    def promote(self) -> None:
        """`kubectl rollout resume`, then wait until every pod runs the new image."""

        def resume(deployment: Obj) -> bool:
            expect_image(deployment, image_of(deployment, self.container))
            return set_paused(deployment, False)

        self._close_preview()
        self.cluster.modify(DEPLOYMENTS, self.namespace, self.deployment, resume)
        wait_rolled_out(
            self.cluster,
            self.namespace,
            self.deployment,
            timeout_s=self.timeout_s,
            what=f"promoting {self.deployment}",
        )

    def undo(self, to_revision: int | None = None) -> None:
        """`kubectl rollout undo [--to-revision]`, paused or not, and wait for it."""
        self._close_preview()
        rollback(self.cluster, self.namespace, self.deployment, to_revision)
        wait_rolled_out(
            self.cluster,
            self.namespace,
            self.deployment,
            timeout_s=self.timeout_s,
            what=f"rolling {self.deployment} back",
        )

    def history(self) -> list[Revision]:
        """The Deployment's revisions."""
        return history_of(self.cluster, self.namespace, self.deployment)

    # --- pieces ------------------------------------------------------------------------------

    def _target(self, deployment: Obj) -> int:
        step = int(annotations_of(deployment).get(STEP, "0"))
        return int(min(self.steps[min(step, len(self.steps) - 1)], deployment["spec"]["replicas"]))

    def _new_ready(self, deployment: Obj) -> int:
        newest = newest_replica_set(owned_replica_sets(self.cluster, self.namespace, deployment))
        if newest is None or image_of(newest, self.container) != image_of(
            deployment, self.container
        ):
            return 0
        return int(newest.get("status", {}).get("readyReplicas", 0))

    def _in_place(self, deployment: Obj) -> bool:
        if rollout_complete(deployment):
            return True
        return self._new_ready(deployment) >= self._target(deployment)

    def _roll_to(self, step: int, what: str) -> None:
        """Wait for the step's new pods, then pause; on failure pause too, so nothing rolls on."""
        try:
            wait_deployment(
                self.cluster,
                self.namespace,
                self.deployment,
                until=self._in_place,
                timeout_s=self.timeout_s,
                what=what,
            )
        except ClusterError:
            self.pause()
            raise
        deployment = self.cluster.get(DEPLOYMENTS, self.namespace, self.deployment)
        if not rollout_complete(deployment):
            self.pause()

    def _open_preview(self) -> None:
        if self.preview_service is None:
            return
        deployment = self.cluster.get(DEPLOYMENTS, self.namespace, self.deployment)
        newest = newest_replica_set(owned_replica_sets(self.cluster, self.namespace, deployment))
        if newest is None:
            return
        selector = dict(deployment["spec"]["selector"].get("matchLabels", {}))
        selector[HASH_LABEL] = newest["metadata"]["labels"][HASH_LABEL]
        body = preview_service(
            name=self.preview_service,
            namespace=self.namespace,
            selector=selector,
            deployment=deployment,
            container=self.container,
        )
        existing = self.cluster.find(SERVICES, self.namespace, self.preview_service)
        if existing is None:
            self.cluster.create(SERVICES, self.namespace, body)
            return

        def point(service: Obj) -> bool:
            if service["spec"].get("selector") == selector:
                return False
            service["spec"]["selector"] = selector
            return True

        self.cluster.modify(SERVICES, self.namespace, self.preview_service, point)

    def _close_preview(self) -> None:
        if self.preview_service is not None:
            self.cluster.delete(SERVICES, self.namespace, self.preview_service)


def preview_service(
    *, name: str, namespace: str, selector: dict[str, str], deployment: Obj, container: str | None
) -> Obj:
    """A ClusterIP Service reaching only the selected pods, on the container's ports.

    Purely computational.
    """
    containers = deployment["spec"]["template"]["spec"]["containers"]
    chosen = next((c for c in containers if container in (None, c["name"])), containers[0])
    ports = [
        {
            "name": p.get("name") or f"port-{p['containerPort']}",
            "port": p["containerPort"],
            "targetPort": p["containerPort"],
            "protocol": p.get("protocol", "TCP"),
        }
        for p in chosen.get("ports") or []
    ]
    if not ports:
        raise InvalidError(f"preview Service {name}: container {chosen['name']} declares no ports")
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {"app.kubernetes.io/managed-by": "canarybot"},
        },
        "spec": {"selector": selector, "ports": ports},
    }
