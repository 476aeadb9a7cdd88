"""A Deployment's revisions, and `rollout undo` with kubectl's semantics.

kubectl's rollback (k8s.io/kubectl polymorphichelpers/rollback.go): find the ReplicaSet of the
revision asked for (default: the one before the current), take its pod template without the
`pod-template-hash` label, copy its annotations except the controller's own, and write both onto
the Deployment; the controller then re-uses that ReplicaSet under a new revision number. Unlike
kubectl, a paused Deployment is resumed in the same write instead of refused, and the write is
guarded by resourceVersion.
"""

from __future__ import annotations

import copy

from k8s.cluster import Cluster, Obj
from k8s.errors import NotFoundError
from k8s.resources import DEPLOYMENTS
from k8s.rollouts import HASH_LABEL, REVISION, owned_replica_sets
from k8s.types import Revision

CHANGE_CAUSE = "kubernetes.io/change-cause"
# Annotations that belong to the Deployment and its controller, never copied from a revision.
_SKIPPED_ANNOTATIONS = frozenset(
    {
        "kubectl.kubernetes.io/last-applied-configuration",
        REVISION,
        "deployment.kubernetes.io/revision-history",
        "deployment.kubernetes.io/desired-replicas",
        "deployment.kubernetes.io/max-replicas",
        "deprecated.deployment.rollback.to",
    }
)


def revision_of(replica_set: Obj) -> int:
    """The revision number a ReplicaSet carries (0 when it has none)."""
    return int((replica_set["metadata"].get("annotations") or {}).get(REVISION, 0))


def revisions(replica_sets: list[Obj], *, current: int) -> list[Revision]:
    """The history, oldest first, as `kubectl rollout history` lists it. Purely computational."""
    found = []
    for rs in sorted(replica_sets, key=revision_of):
        number = revision_of(rs)
        if number == 0:
            continue
        annotations = rs["metadata"].get("annotations") or {}
        image = rs["spec"]["template"]["spec"]["containers"][0]["image"]
        found.append(
            Revision(
                number=number,
                image=image,
                change_cause=annotations.get(CHANGE_CAUSE, ""),
                current=number == current,
            )
        )
    return found


def revision_to_restore(replica_sets: list[Obj], to_revision: int | None, *, name: str) -> Obj:
    """The ReplicaSet to roll back to: revision `to_revision`, or the one before the newest.

    Purely computational; raises NotFoundError with kubectl's wording when there is none.
    """
    ordered = sorted((rs for rs in replica_sets if revision_of(rs) > 0), key=revision_of)
    if to_revision:
        for rs in ordered:
            if revision_of(rs) == to_revision:
                return rs
        raise NotFoundError(f"unable to find specified revision {to_revision} in history")
    if len(ordered) < 2:
        raise NotFoundError(f'no rollout history found for deployment "{name}"')
    return ordered[-2]


def restore(deployment: Obj, replica_set: Obj) -> bool:
    """Put the revision's template and annotations on the Deployment, resuming it if paused.

    Returns False when the Deployment already runs that template (kubectl: "skipped rollback").
    Purely computational: edits `deployment` in place.
    """
    template = copy.deepcopy(replica_set["spec"]["template"])
    template.get("metadata", {}).get("labels", {}).pop(HASH_LABEL, None)
    if template == deployment["spec"]["template"] and not deployment["spec"].get("paused"):
        return False
    current = deployment["metadata"].get("annotations") or {}
    annotations = {k: v for k, v in current.items() if k in _SKIPPED_ANNOTATIONS}
    for key, value in (replica_set["metadata"].get("annotations") or {}).items():
        if key not in _SKIPPED_ANNOTATIONS:
            annotations[key] = value
    deployment["metadata"]["annotations"] = annotations
    deployment["spec"]["template"] = template
    deployment["spec"]["paused"] = False
    return True


def rollback(cluster: Cluster, namespace: str, name: str, to_revision: int | None) -> int:
    """Roll the Deployment back like `kubectl rollout undo`; returns the revision restored."""
    deployment = cluster.get(DEPLOYMENTS, namespace, name)
    target = revision_to_restore(
        owned_replica_sets(cluster, namespace, deployment), to_revision, name=name
    )
    cluster.modify(DEPLOYMENTS, namespace, name, lambda d: restore(d, target))
    return revision_of(target)


def history_of(cluster: Cluster, namespace: str, name: str) -> list[Revision]:
    """The Deployment's revisions, read from the cluster."""
    deployment = cluster.get(DEPLOYMENTS, namespace, name)
    current = int((deployment["metadata"].get("annotations") or {}).get(REVISION, 0))
    return revisions(owned_replica_sets(cluster, namespace, deployment), current=current)
