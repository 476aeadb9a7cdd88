"""Seed 000: the canary is a second Deployment next to the stable one, behind the same Service.

`fop-gate` (9 replicas) keeps running; `fop-gate-canary` gets the stable's pod template with the
new image and a `track: canary` label, and as many replicas as the step says. The Service
selects both, so the canary's share of traffic is its share of the Ready pods. Promotion rolls
the new image onto the stable Deployment, waits for it, and scales the canary to 0.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

from k8s.cluster import Cluster, Obj
from k8s.errors import DriftError
from k8s.history import history_of, rollback
from k8s.resources import DEPLOYMENTS
from k8s.rollouts import (
    health_of,
    image_of,
    pause_deployment,
    rollout_complete,
    set_image,
    set_paused,
    workload_of,
)
from k8s.strategy import IMAGE, STEP, annotations_of, expect_image, wait_deployment, wait_rolled_out
from k8s.types import Health, ReleaseStatus, Revision

STABLE_IMAGE = "canarybot.io/stable-image"  # what the stable ran when the canary started
CANARY = "canary"


def canary_from(
    stable: Obj, *, name: str, image: str, container: str | None, replicas: int, track_label: str
) -> Obj:
    """The canary Deployment built from the stable one. Purely computational."""
    spec = copy.deepcopy(stable["spec"])
    spec.pop("paused", None)
    spec["replicas"] = replicas
    spec["selector"].setdefault("matchLabels", {})[track_label] = CANARY
    spec["template"].setdefault("metadata", {}).setdefault("labels", {})[track_label] = CANARY
    canary: Obj = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": name,
            "namespace": stable["metadata"]["namespace"],
            "labels": {**(stable["metadata"].get("labels") or {}), track_label: CANARY},
            "annotations": {
                IMAGE: image,
                STABLE_IMAGE: image_of(stable, container),
                STEP: "0",
            },
        },
        "spec": spec,
    }
    set_image(canary, container, image)
    return canary


@dataclass(frozen=True)
class CanaryDeploymentStrategy:
    """Release by a second Deployment `<deployment>-canary` with the stable's labels."""

    cluster: Cluster
    namespace: str
    deployment: str
    service: str
    steps: tuple[int, ...] = (1,)
    container: str | None = None
    track_label: str = "track"
    timeout_s: float = 600.0

    @property
    def canary_name(self) -> str:
        """The canary Deployment's name."""
        return f"{self.deployment}-canary"

    def start(self, image: str) -> None:
        """Create (or re-shape) the canary with the new image and the first step's replicas."""
        stable = self.cluster.get(DEPLOYMENTS, self.namespace, self.deployment)
        wanted = canary_from(
            stable,
            name=self.canary_name,
            image=image,
            container=self.container,
            replicas=self.steps[0],
            track_label=self.track_label,
        )
        existing = self.cluster.find(DEPLOYMENTS, self.namespace, self.canary_name)
        if existing is None:
            self.cluster.create(DEPLOYMENTS, self.namespace, wanted)
        else:
            self.cluster.modify(
                DEPLOYMENTS,
                self.namespace,
                self.canary_name,
                lambda current: _reshape(current, wanted),
            )
        self._wait_canary(f"canary {self.canary_name} on {image}")

    def set_step(self, step: int) -> None:
        """Scale the canary to the step's replicas, unless someone changed it by hand."""
        replicas = self.steps[step]

        def scale(canary: Obj) -> bool:
            expect_image(canary, image_of(canary, self.container))
            annotations_of(canary)[STEP] = str(step)
            if canary["spec"].get("replicas") == replicas:
                return False
            canary["spec"]["replicas"] = replicas
            return True

        self.cluster.modify(DEPLOYMENTS, self.namespace, self.canary_name, scale)
        self._wait_canary(f"canary {self.canary_name} at {replicas} replicas")

    def status(self) -> ReleaseStatus:
        """Canary and stable pods, and the canary's share of the Ready ones."""
        stable_obj = self.cluster.get(DEPLOYMENTS, self.namespace, self.deployment)
        canary_obj = self.cluster.find(DEPLOYMENTS, self.namespace, self.canary_name)
        stable = workload_of(stable_obj, self.container)
        if canary_obj is None:
            return ReleaseStatus(
                Health.READY,
                f"no canary; stable {stable.ready}/{stable.replicas} ready on {stable.image}",
                stable=stable,
            )
        canary = workload_of(canary_obj, self.container)
        ready_total = stable.ready + canary.ready
        share = canary.ready / ready_total if ready_total else 0.0
        line = (
            f"canary {canary.ready}/{canary.replicas} ready on {canary.image}, stable "
            f"{stable.ready}/{stable.replicas} on {stable.image}: {share:.0%} of pods"
        )
        in_place = rollout_complete(canary_obj) and canary.ready == canary.replicas
        health, message = health_of(
            self.cluster, self.namespace, canary_obj, line=line, in_place=in_place
        )
        return ReleaseStatus(health, message, stable, canary, share)

    def pause(self) -> None:
        """Hold the canary (and the stable, if a promotion is rolling)."""
        for name in (self.canary_name, self.deployment):
            pause_deployment(self.cluster, self.namespace, name, paused=True)

    def resume(self) -> None:
        """Let both Deployments roll again."""
        for name in (self.canary_name, self.deployment):
            pause_deployment(self.cluster, self.namespace, name, paused=False)

    def promote(self) -> None:
        """Roll the canary's image onto the stable Deployment, wait, then retire the canary."""
        canary = self.cluster.get(DEPLOYMENTS, self.namespace, self.canary_name)
        image = image_of(canary, self.container)
        expect_image(canary, image)
        stable_was = annotations_of(canary).get(STABLE_IMAGE)

        def roll(stable: Obj) -> bool:
            running = image_of(stable, self.container)
            if stable_was and running not in (stable_was, image):
                raise DriftError(
                    f"deployment {self.deployment} runs {running}, not {stable_was}"
                    " as when the canary started: changed outside canarybot"
                )
            changed = set_paused(stable, False)
            return set_image(stable, self.container, image) or changed

        self.cluster.modify(DEPLOYMENTS, self.namespace, self.deployment, roll)
        wait_rolled_out(
            self.cluster,
            self.namespace,
            self.deployment,
            timeout_s=self.timeout_s,
            what=f"promoting {self.deployment} to {image}",
        )
        self._scale_canary_to_zero()

    def undo(self, to_revision: int | None = None) -> None:
        """Scale the canary to 0; roll the stable back if promotion had reached it."""
        canary = self.cluster.find(DEPLOYMENTS, self.namespace, self.canary_name)
        self._scale_canary_to_zero()
        stable = self.cluster.get(DEPLOYMENTS, self.namespace, self.deployment)
        stable_was = annotations_of(canary).get(STABLE_IMAGE) if canary else None
        promoted = stable_was is not None and image_of(stable, self.container) != stable_was
        if to_revision is not None or promoted:
            rollback(self.cluster, self.namespace, self.deployment, to_revision)
        elif stable["spec"].get("paused"):
            pause_deployment(self.cluster, self.namespace, self.deployment, paused=False)
        wait_rolled_out(
            self.cluster,
            self.namespace,
            self.deployment,
            timeout_s=self.timeout_s,
            what=f"rolling {self.deployment} back",
        )

    def history(self) -> list[Revision]:
        """The stable Deployment's revisions."""
        return history_of(self.cluster, self.namespace, self.deployment)

    def _wait_canary(self, what: str) -> None:
        def in_place(canary: Obj) -> bool:
            ready = canary.get("status", {}).get("readyReplicas", 0)
            return rollout_complete(canary) and ready == canary["spec"]["replicas"]

        wait_deployment(
            self.cluster,
            self.namespace,
            self.canary_name,
            until=in_place,
            timeout_s=self.timeout_s,
            what=what,
        )

    def _scale_canary_to_zero(self) -> None:
        if self.cluster.find(DEPLOYMENTS, self.namespace, self.canary_name) is None:
            return

        def to_zero(canary: Obj) -> bool:
            changed = set_paused(canary, False)
            if canary["spec"].get("replicas") == 0:
                return changed
            canary["spec"]["replicas"] = 0
            return True

        self.cluster.modify(DEPLOYMENTS, self.namespace, self.canary_name, to_zero)


def _reshape(current: Obj, wanted: Obj) -> bool:
    """Give an existing canary the wanted template, replicas and annotations (selector stays)."""
    before = copy.deepcopy(current)
    annotations_of(current).update(wanted["metadata"]["annotations"])
    current["spec"]["template"] = copy.deepcopy(wanted["spec"]["template"])
    current["spec"]["replicas"] = wanted["spec"]["replicas"]
    current["spec"]["paused"] = False
    return current != before
