"""A Deployment's status and conditions, computed as the Kubernetes deployment controller does.

`Available` says whether enough replicas are available; `Progressing` tells the rollout's
story (NewReplicaSetCreated, FoundNewReplicaSet, ReplicaSetUpdated, NewReplicaSetAvailable,
ProgressDeadlineExceeded, DeploymentPaused, DeploymentResumed). Purely computational: `now` is
epoch seconds passed in.
"""

from __future__ import annotations

from typing import Any

from sim.clock import parse_rfc3339, rfc3339
from sim.deployment_plan import DeploymentPlan
from sim.deployment_spec import (
    is_paused,
    max_unavailable,
    progress_deadline,
    spec_replicas,
    status_count,
)

Obj = dict[str, Any]

AVAILABLE = "Available"
PROGRESSING = "Progressing"
REPLICA_FAILURE = "ReplicaFailure"

NEW_RS_REASON = "NewReplicaSetCreated"
FOUND_NEW_RS_REASON = "FoundNewReplicaSet"
RS_UPDATED_REASON = "ReplicaSetUpdated"
NEW_RS_AVAILABLE_REASON = "NewReplicaSetAvailable"
TIMED_OUT_REASON = "ProgressDeadlineExceeded"
PAUSED_REASON = "DeploymentPaused"
RESUMED_REASON = "DeploymentResumed"
MIN_AVAILABLE_REASON = "MinimumReplicasAvailable"
MIN_UNAVAILABLE_REASON = "MinimumReplicasUnavailable"


def new_condition(type_: str, status: str, reason: str, message: str, *, now: float) -> Obj:
    """A condition whose update and transition times are `now`."""
    stamp = rfc3339(now)
    return {
        "type": type_,
        "status": status,
        "lastUpdateTime": stamp,
        "lastTransitionTime": stamp,
        "reason": reason,
        "message": message,
    }


def get_condition(status: Obj, type_: str) -> Obj | None:
    """The condition of `type_` in a status, if any."""
    return next((c for c in status.get("conditions") or [] if c.get("type") == type_), None)


def set_condition(status: Obj, condition: Obj) -> None:
    """Put a condition in place, as SetDeploymentCondition.

    Same status and reason: nothing changes. Same status: the transition time is kept. The
    condition moves to the end of the list, as in Kubernetes.
    """
    current = get_condition(status, condition["type"])
    if current is not None and (current["status"], current.get("reason")) == (
        condition["status"],
        condition.get("reason"),
    ):
        return
    if current is not None and current["status"] == condition["status"]:
        condition = {**condition, "lastTransitionTime": current.get("lastTransitionTime")}
    remove_condition(status, condition["type"])
    status.setdefault("conditions", []).append(condition)


def remove_condition(status: Obj, type_: str) -> None:
    """Drop the condition of `type_` (and the list itself once empty)."""
    remaining = [c for c in status.get("conditions") or [] if c.get("type") != type_]
    if remaining:
        status["conditions"] = remaining
    else:
        status.pop("conditions", None)


def check_paused_conditions(plan: DeploymentPlan, now: float) -> None:
    """Progressing=Unknown DeploymentPaused on pause, DeploymentResumed on resume.

    A recorded ProgressDeadlineExceeded is never overwritten by a pause.
    """
    if progress_deadline(plan.deployment) is None:
        return
    current = get_condition(plan.status, PROGRESSING)
    if current is not None and current.get("reason") == TIMED_OUT_REASON:
        return
    paused_recorded = current is not None and current.get("reason") == PAUSED_REASON
    if is_paused(plan.deployment) and not paused_recorded:
        set_condition(
            plan.status,
            new_condition(PROGRESSING, "Unknown", PAUSED_REASON, "Deployment is paused", now=now),
        )
    elif not is_paused(plan.deployment) and paused_recorded:
        set_condition(
            plan.status,
            new_condition(PROGRESSING, "Unknown", RESUMED_REASON, "Deployment is resumed", now=now),
        )


def calculate_status(plan: DeploymentPlan, now: float) -> Obj:
    """The status the ReplicaSets imply, with the Available condition brought up to date."""
    deployment, all_rss, new = plan.deployment, plan.all_rss(), plan.new_rs()
    available = sum(status_count(rs, "availableReplicas") for rs in all_rss)
    total = sum(spec_replicas(rs) for rs in all_rss)
    status: Obj = {
        "observedGeneration": deployment["metadata"].get("generation", 0),
        "replicas": sum(status_count(rs, "replicas") for rs in all_rss),
        "updatedReplicas": status_count(new, "replicas") if new is not None else 0,
        "readyReplicas": sum(status_count(rs, "readyReplicas") for rs in all_rss),
        "availableReplicas": available,
        "unavailableReplicas": max(total - available, 0),
    }
    if plan.status.get("collisionCount") is not None:
        status["collisionCount"] = plan.status["collisionCount"]
    if plan.status.get("conditions"):
        status["conditions"] = [dict(c) for c in plan.status["conditions"]]
    if available >= spec_replicas(deployment) - max_unavailable(deployment):
        set_condition(
            status,
            new_condition(
                AVAILABLE,
                "True",
                MIN_AVAILABLE_REASON,
                "Deployment has minimum availability.",
                now=now,
            ),
        )
    else:
        set_condition(
            status,
            new_condition(
                AVAILABLE,
                "False",
                MIN_UNAVAILABLE_REASON,
                "Deployment does not have minimum availability.",
                now=now,
            ),
        )
    return _without_zero_counts(status)


def _without_zero_counts(status: Obj) -> Obj:
    """Zero counts are omitted on the wire (omitempty), as a real API server serves them."""
    return {k: v for k, v in status.items() if v != 0 or k == "observedGeneration"}


def _count(status: Obj, key: str) -> int:
    return int(status.get(key) or 0)


def deployment_complete(deployment: Obj, status: Obj) -> bool:
    """Every replica updated and available, and the latest generation observed."""
    desired = spec_replicas(deployment)
    return (
        _count(status, "updatedReplicas") == desired
        and _count(status, "replicas") == desired
        and _count(status, "availableReplicas") == desired
        and status.get("observedGeneration", 0) >= deployment["metadata"].get("generation", 0)
    )


def deployment_progressing(old: Obj, new: Obj) -> bool:
    """Whether anything moved since the last status: more updated, ready or available
    replicas, or fewer old ones."""
    old_olds = _count(old, "replicas") - _count(old, "updatedReplicas")
    new_olds = _count(new, "replicas") - _count(new, "updatedReplicas")
    return (
        _count(new, "updatedReplicas") > _count(old, "updatedReplicas")
        or new_olds < old_olds
        or _count(new, "readyReplicas") > _count(old, "readyReplicas")
        or _count(new, "availableReplicas") > _count(old, "availableReplicas")
    )


def deployment_timed_out(deployment: Obj, status: Obj, *, now: float) -> bool:
    """Whether progressDeadlineSeconds have passed since the Progressing condition's last
    update (a completed rollout never times out)."""
    deadline = progress_deadline(deployment)
    condition = get_condition(status, PROGRESSING)
    if deadline is None or condition is None:
        return False
    if condition.get("reason") == NEW_RS_AVAILABLE_REASON:
        return False
    if condition.get("reason") == TIMED_OUT_REASON:
        return True
    since = parse_rfc3339(condition.get("lastUpdateTime"))
    return since is not None and since + deadline < now


def sync_rollout_status(plan: DeploymentPlan, now: float) -> None:
    """The status after a rollout step, with Progressing updated (syncRolloutStatus)."""
    deployment, new = plan.deployment, plan.new_rs()
    status = calculate_status(plan, now=now)
    has_deadline = progress_deadline(deployment) is not None
    if not has_deadline:
        remove_condition(status, PROGRESSING)
    current = get_condition(plan.status, PROGRESSING)
    complete = (
        _count(status, "replicas") == _count(status, "updatedReplicas")
        and current is not None
        and current.get("reason") == NEW_RS_AVAILABLE_REASON
    )
    if has_deadline and not complete:
        _update_progressing(deployment, status, current, new, now=now)
    remove_condition(status, REPLICA_FAILURE)
    plan.deployment["status"] = status


def _update_progressing(
    deployment: Obj, status: Obj, current: Obj | None, new: Obj | None, now: float
) -> None:
    subject = (
        f'ReplicaSet "{new["metadata"]["name"]}"'
        if new is not None
        else f'Deployment "{deployment["metadata"]["name"]}"'
    )
    if deployment_complete(deployment, status):
        set_condition(
            status,
            new_condition(
                PROGRESSING,
                "True",
                NEW_RS_AVAILABLE_REASON,
                f"{subject} has successfully progressed.",
                now=now,
            ),
        )
    elif deployment_progressing(deployment.get("status", {}), status):
        condition = new_condition(
            PROGRESSING, "True", RS_UPDATED_REASON, f"{subject} is progressing.", now=now
        )
        if current is not None:
            if current["status"] == "True":
                condition["lastTransitionTime"] = current.get("lastTransitionTime")
            remove_condition(status, PROGRESSING)
        set_condition(status, condition)
    elif deployment_timed_out(deployment, status, now=now):
        set_condition(
            status,
            new_condition(
                PROGRESSING,
                "False",
                TIMED_OUT_REASON,
                f"{subject} has timed out progressing.",
                now=now,
            ),
        )


def sync_status(plan: DeploymentPlan, now: float) -> None:
    """The status when only scaling (paused or a scaling event): no progress estimate."""
    plan.deployment["status"] = calculate_status(plan, now=now)
