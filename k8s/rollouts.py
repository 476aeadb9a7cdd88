"""What every strategy needs to know about a Deployment: its image, health and failures.

Deciding functions take raw objects and return answers (no I/O); the few that read the cluster
say so in their names and take a `Cluster`.
"""

from __future__ import annotations

from typing import Any

from k8s.cluster import Cluster, Obj
from k8s.errors import RolloutFailedError
from k8s.resources import DEPLOYMENTS, PODS, REPLICASETS
from k8s.types import Health, Workload

REVISION = "deployment.kubernetes.io/revision"
HASH_LABEL = "pod-template-hash"
# Waiting reasons of a container that will not become Ready by waiting longer.
FATAL_WAITING = frozenset(
    {
        "CrashLoopBackOff",
        "ErrImagePull",
        "ImagePullBackOff",
        "InvalidImageName",
        "CreateContainerConfigError",
        "CreateContainerError",
        "RunContainerError",
    }
)


def containers(deployment: Obj) -> list[dict[str, Any]]:
    """The pod template's containers."""
    result: list[dict[str, Any]] = deployment["spec"]["template"]["spec"]["containers"]
    return result


def container_named(deployment: Obj, container: str | None) -> dict[str, Any]:
    """The container the release changes: the named one, or the first."""
    found = containers(deployment)
    if container is None:
        return found[0]
    for candidate in found:
        if candidate["name"] == container:
            return candidate
    names = ", ".join(c["name"] for c in found)
    name = deployment["metadata"]["name"]
    raise RolloutFailedError(f"deployment {name} has no container {container!r} (has: {names})")


def image_of(deployment: Obj, container: str | None) -> str:
    """The image the release's container runs."""
    return str(container_named(deployment, container)["image"])


def set_image(deployment: Obj, container: str | None, image: str) -> bool:
    """Put `image` in the container; False when it is already there (nothing to write)."""
    target = container_named(deployment, container)
    if target.get("image") == image:
        return False
    target["image"] = image
    return True


def set_paused(deployment: Obj, paused: bool) -> bool:
    """Set `spec.paused`; False when it already was (nothing to write)."""
    if bool(deployment["spec"].get("paused", False)) == paused:
        return False
    deployment["spec"]["paused"] = paused
    return True


def selector_of(obj: Obj) -> str:
    """The label selector (matchLabels) of a Deployment or ReplicaSet, as a query string."""
    labels = obj["spec"]["selector"].get("matchLabels", {})
    return ",".join(f"{key}={value}" for key, value in sorted(labels.items()))


def rollout_complete(deployment: Obj) -> bool:
    """`kubectl rollout status`'s test: every replica updated and available, no old ones left.

    Purely computational.
    """
    spec, status = deployment["spec"], deployment.get("status", {})
    generation = deployment["metadata"].get("generation", 0)
    replicas = spec.get("replicas", 1)
    updated = status.get("updatedReplicas", 0)
    return bool(
        status.get("observedGeneration", 0) >= generation
        and updated == replicas
        and status.get("replicas", 0) == updated
        and status.get("availableReplicas", 0) == updated
    )


def deadline_exceeded(deployment: Obj) -> str | None:
    """The Progressing condition's message when the progress deadline passed, else None."""
    for condition in deployment.get("status", {}).get("conditions", []):
        if condition.get("type") == "Progressing" and condition.get("reason") == (
            "ProgressDeadlineExceeded"
        ):
            return str(condition.get("message") or "progress deadline exceeded")
    return None


def pod_failure(pods: list[Obj]) -> str | None:
    """The first pod stuck for good (crash loop, pull error …), as `pod: reason: message`.

    Purely computational.
    """
    for pod in pods:
        statuses = pod.get("status", {}).get("containerStatuses") or []
        for status in statuses:
            waiting = (status.get("state") or {}).get("waiting") or {}
            if waiting.get("reason") in FATAL_WAITING:
                message = waiting.get("message", "")
                detail = f": {message}" if message else ""
                return f"pod {pod['metadata']['name']}: {waiting['reason']}{detail}"
    return None


def workload_of(deployment: Obj, container: str | None) -> Workload:
    """The numbers of one Deployment. Purely computational."""
    status = deployment.get("status", {})
    return Workload(
        name=deployment["metadata"]["name"],
        image=image_of(deployment, container),
        replicas=int(deployment["spec"].get("replicas", 1)),
        updated=int(status.get("updatedReplicas", 0)),
        ready=int(status.get("readyReplicas", 0)),
        available=int(status.get("availableReplicas", 0)),
        paused=bool(deployment["spec"].get("paused", False)),
    )


def owned_replica_sets(cluster: Cluster, namespace: str, deployment: Obj) -> list[Obj]:
    """The ReplicaSets the Deployment owns (its revisions), read from the cluster."""
    uid = deployment["metadata"]["uid"]
    return [
        rs
        for rs in cluster.select(REPLICASETS, namespace, selector=selector_of(deployment))
        if any(ref.get("uid") == uid for ref in rs["metadata"].get("ownerReferences", []))
    ]


def newest_replica_set(replica_sets: list[Obj]) -> Obj | None:
    """The ReplicaSet with the highest revision. Purely computational."""
    if not replica_sets:
        return None
    return max(replica_sets, key=lambda rs: int(rs["metadata"]["annotations"].get(REVISION, 0)))


def failure_of(cluster: Cluster, namespace: str, deployment: Obj) -> str | None:
    """Why the Deployment's newest pods will not come up, read from the cluster; None if fine."""
    newest = newest_replica_set(owned_replica_sets(cluster, namespace, deployment))
    if newest is not None:
        pods = cluster.select(PODS, namespace, selector=selector_of(newest))
        if reason := pod_failure(pods):
            return reason
    return deadline_exceeded(deployment)


def health_of(
    cluster: Cluster, namespace: str, deployment: Obj, *, line: str, in_place: bool
) -> tuple[Health, str]:
    """The release's health from its new Deployment: failed, paused, in place or on its way."""
    if reason := failure_of(cluster, namespace, deployment):
        return Health.FAILED, f"{line}; {reason}"
    if deployment["spec"].get("paused"):
        return Health.PAUSED, f"{line}; paused"
    return (Health.READY if in_place else Health.PROGRESSING), line


def pause_deployment(cluster: Cluster, namespace: str, name: str, *, paused: bool) -> None:
    """`kubectl rollout pause` (or `resume`), written only when it changes something."""
    cluster.modify(DEPLOYMENTS, namespace, name, lambda d: set_paused(d, paused))
