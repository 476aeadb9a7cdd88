"""Which ReplicaSet is a Deployment's new one, its name, and revision numbering.

As Kubernetes' getNewReplicaSet: the new ReplicaSet is the one whose pod template equals the
Deployment's (ignoring the pod-template-hash label). It gets revision max(old revisions)+1;
an old ReplicaSet that becomes new again (a rollback) takes the new number and keeps its old
one in `deployment.kubernetes.io/revision-history`. The Deployment's annotations (all but the
controller's own) are copied to the new ReplicaSet. Purely computational.
"""

from __future__ import annotations

import copy
from typing import Any

from sim.deployment_plan import (
    DESIRED_REPLICAS,
    HASH_LABEL,
    MAX_REPLICAS,
    REVISION,
    REVISION_HISTORY,
    DeploymentPlan,
    set_replicas_annotations,
)
from sim.deployment_spec import (
    controller_ref,
    creation_order,
    max_surge,
    min_ready_seconds,
    new_rs_new_replicas,
    progress_deadline,
    spec_replicas,
)
from sim.deployment_status import (
    FOUND_NEW_RS_REASON,
    NEW_RS_REASON,
    PROGRESSING,
    get_condition,
    new_condition,
    set_condition,
)
from sim.hashing import pod_template_hash
from sim.store import copied

Obj = dict[str, Any]

# Annotations the controller owns, never copied from a Deployment to its ReplicaSets.
NOT_COPIED = frozenset(
    {
        "kubectl.kubernetes.io/last-applied-configuration",
        REVISION,
        REVISION_HISTORY,
        DESIRED_REPLICAS,
        MAX_REPLICAS,
        "deprecated.deployment.rollback.to",
    }
)
MAX_REVISION_HISTORY_CHARS = 2000


def revision(obj: Obj) -> int | None:
    """The object's revision annotation as a number, None if missing or malformed."""
    text = (obj.get("metadata", {}).get("annotations") or {}).get(REVISION)
    try:
        return None if text is None else int(text)
    except ValueError:
        return None


def max_revision(rss: list[Obj]) -> int:
    """The highest revision among ReplicaSets (0 if none has one)."""
    return max((revision(rs) or 0 for rs in rss), default=0)


def without_hash(template: Obj) -> Obj:
    """A pod template without the pod-template-hash label."""
    result = copied(template)
    labels = result.get("metadata", {}).get("labels")
    if labels is not None:
        labels.pop(HASH_LABEL, None)
    return result


def same_template(a: Obj, b: Obj) -> bool:
    """Whether two pod templates are equal ignoring pod-template-hash (EqualIgnoreHash)."""
    return without_hash(a) == without_hash(b)


def find_new_rs(deployment: Obj, rss: list[Obj]) -> Obj | None:
    """The oldest ReplicaSet whose template is the Deployment's."""
    template = deployment["spec"]["template"]
    for rs in sorted(rss, key=creation_order):
        if same_template(rs["spec"]["template"], template):
            return rs
    return None


def copy_annotations(deployment: Obj, rs: Obj) -> bool:
    """Copy the Deployment's annotations but the controller's own; True if any changed."""
    annotations = rs["metadata"].setdefault("annotations", {})
    changed = False
    for key, value in (deployment["metadata"].get("annotations") or {}).items():
        if key in NOT_COPIED or annotations.get(key) == value:
            continue
        annotations[key] = value
        changed = True
    return changed


def set_new_rs_annotations(deployment: Obj, rs: Obj, *, new_revision: int, exists: bool) -> bool:
    """Annotate the new ReplicaSet (SetNewReplicaSetAnnotations); True if anything changed."""
    changed = copy_annotations(deployment, rs)
    annotations = rs["metadata"]["annotations"]
    old_text = annotations.get(REVISION)
    old = revision(rs)
    if old is None and old_text is not None:
        return False  # a malformed revision is left alone, as Kubernetes does
    if (old or 0) < new_revision:
        annotations[REVISION] = str(new_revision)
        changed = True
        if old_text is not None:
            _remember_revision(annotations, old_text)
    if not exists:
        desired = spec_replicas(deployment)
        changed |= set_replicas_annotations(
            rs, desired=desired, maximum=desired + max_surge(deployment)
        )
    return changed


def _remember_revision(annotations: dict[str, str], old: str) -> None:
    """Append `old` to revision-history, dropping the oldest beyond 2000 characters."""
    history = [r for r in annotations.get(REVISION_HISTORY, "").split(",") if r]
    history.append(old)
    while len(",".join(history)) > MAX_REVISION_HISTORY_CHARS and len(history) > 1:
        history.pop(0)
    annotations[REVISION_HISTORY] = ",".join(history)


def new_replica_set(plan: DeploymentPlan, new_revision: int) -> Obj:
    """The ReplicaSet for the Deployment's current template, not yet created."""
    deployment = plan.deployment
    template = copy.deepcopy(deployment["spec"]["template"])
    pod_hash = pod_template_hash(template, plan.status.get("collisionCount"))
    template.setdefault("metadata", {})
    template["metadata"]["labels"] = {
        **(template["metadata"].get("labels") or {}),
        HASH_LABEL: pod_hash,
    }
    selector = copy.deepcopy(deployment["spec"].get("selector") or {})
    selector["matchLabels"] = {**(selector.get("matchLabels") or {}), HASH_LABEL: pod_hash}
    rs: Obj = {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": f"{plan.name}-{pod_hash}",
            "namespace": deployment["metadata"].get("namespace"),
            "labels": dict(template["metadata"]["labels"]),
            "ownerReferences": [controller_ref(deployment)],
        },
        "spec": {"replicas": 0, "selector": selector, "template": template},
    }
    _set_min_ready_seconds(rs, min_ready_seconds(deployment))
    rs["spec"]["replicas"] = new_rs_new_replicas(deployment, [*plan.all_rss(), rs], new_rs=rs)
    set_new_rs_annotations(deployment, rs, new_revision=new_revision, exists=False)
    return rs


def sync_new_replica_set(plan: DeploymentPlan, *, create: bool, now: float) -> None:
    """Find (or, if `create`, make) the new ReplicaSet and sync revisions (getNewReplicaSet)."""
    existing = find_new_rs(plan.deployment, [plan.replica_sets[n] for n in _live(plan)])
    olds = [
        plan.replica_sets[n]
        for n in _live(plan)
        if existing is None or n != existing["metadata"]["name"]
    ]
    new_revision = max_revision(olds) + 1
    has_deadline = progress_deadline(plan.deployment) is not None
    if existing is not None:
        plan.new_name = existing["metadata"]["name"]
        set_new_rs_annotations(plan.deployment, existing, new_revision=new_revision, exists=True)
        _set_min_ready_seconds(existing, min_ready_seconds(plan.deployment))
        plan.annotations[REVISION] = existing["metadata"]["annotations"][REVISION]
        if has_deadline and get_condition(plan.status, PROGRESSING) is None:
            message = f'Found new replica set "{plan.new_name}"'
            set_condition(
                plan.status,
                new_condition(PROGRESSING, "True", FOUND_NEW_RS_REASON, message, now=now),
            )
        return
    if not create:
        plan.new_name = None
        return
    rs = new_replica_set(plan, new_revision)
    plan.add(rs)
    plan.annotations[REVISION] = str(new_revision)
    if has_deadline:
        message = f'Created new replica set "{plan.new_name}"'
        set_condition(
            plan.status, new_condition(PROGRESSING, "True", NEW_RS_REASON, message, now=now)
        )


def _set_min_ready_seconds(rs: Obj, seconds: int) -> None:
    """spec.minReadySeconds as the API serves it: omitted when zero."""
    if seconds:
        rs["spec"]["minReadySeconds"] = seconds
    else:
        rs["spec"].pop("minReadySeconds", None)


def _live(plan: DeploymentPlan) -> list[str]:
    return [name for name in plan.replica_sets if name not in plan.deleted]
