"""What every release strategy does, and the waiting they share.

A strategy holds no release state of its own: what it needs to remember across calls (the image
it deployed, the step it is at) it writes onto the objects it manages as annotations, so a
restarted bot or another replica reads the same answer from the cluster.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

from k8s.cluster import Cluster, Obj
from k8s.errors import DriftError, RolloutFailedError, RolloutTimeoutError
from k8s.resources import DEPLOYMENTS
from k8s.rollouts import failure_of, rollout_complete
from k8s.types import ReleaseStatus, Revision

IMAGE = "canarybot.io/image"  # the image the release put on a workload
STEP = "canarybot.io/step"  # the step the release last put in place
POLL_S = 0.1


class ReleaseStrategy(Protocol):
    """The operations the engine drives, the same for every way of releasing."""

    def start(self, image: str) -> None:
        """Put the first step of `image` in place; return when it is, raise when it cannot be."""

    def set_step(self, step: int) -> None:
        """Move to step `step` of the plan (more canary pods, more weight)."""

    def status(self) -> ReleaseStatus:
        """Where the release stands in the cluster now."""

    def pause(self) -> None:
        """Hold the rollout where it is."""

    def resume(self) -> None:
        """Let a paused rollout go on."""

    def promote(self) -> None:
        """Give the new version everything; return when it runs everywhere."""

    def undo(self, to_revision: int | None = None) -> None:
        """Return to the version that ran before (or to `to_revision`); return when back."""

    def history(self) -> list[Revision]:
        """The rollout history of the service's workload."""


def annotations_of(obj: Obj) -> dict[str, str]:
    """The object's annotations, created empty when it has none (so callers can write)."""
    meta = obj.setdefault("metadata", {})
    if meta.get("annotations") is None:
        meta["annotations"] = {}
    result: dict[str, str] = meta["annotations"]
    return result


def expect_image(deployment: Obj, actual: str) -> None:
    """Raise DriftError when the workload no longer runs the image the release put there."""
    wanted = annotations_of(deployment).get(IMAGE)
    if wanted and wanted != actual:
        name = deployment["metadata"]["name"]
        raise DriftError(
            f"deployment {name} runs {actual}, but the release deployed {wanted}: it was "
            "changed outside canarybot; undo the release or put the image back"
        )


def wait_deployment(
    cluster: Cluster,
    namespace: str,
    name: str,
    *,
    until: Callable[[Obj], bool],
    timeout_s: float,
    what: str,
) -> Obj:
    """Poll the Deployment until `until(deployment)`; raise with the pods' reason on failure."""
    deadline = time.monotonic() + timeout_s
    while True:
        deployment = cluster.get(DEPLOYMENTS, namespace, name)
        if until(deployment):
            return deployment
        if reason := failure_of(cluster, namespace, deployment):
            raise RolloutFailedError(f"{what}: {reason}")
        if time.monotonic() >= deadline:
            raise RolloutTimeoutError(f"{what}: not done after {timeout_s:.0f} s")
        time.sleep(POLL_S)


def wait_rolled_out(
    cluster: Cluster, namespace: str, name: str, *, timeout_s: float, what: str
) -> Obj:
    """Wait until the Deployment's rollout completed, as `kubectl rollout status` would."""
    return wait_deployment(
        cluster, namespace, name, until=rollout_complete, timeout_s=timeout_s, what=what
    )
