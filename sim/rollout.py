"""What a Deployment controller pass decides: rolling update, Recreate, scaling, cleanup.

A faithful port of Kubernetes' deployment controller (sync.go, rolling.go, recreate.go):
`plan_deployment` reads a Deployment, the ReplicaSets it controls and their pods, and returns
a `DeploymentPlan` saying what should change. Purely computational, no side effects; the
controller writes the plan.
"""

from __future__ import annotations

from typing import Any

from sim.deployment_plan import DESIRED_REPLICAS, MAX_REPLICAS, DeploymentPlan
from sim.deployment_spec import (
    RECREATE,
    controller_uid,
    creation_order,
    is_paused,
    max_surge,
    max_unavailable,
    new_rs_new_replicas,
    revision_history_limit,
    spec_replicas,
    status_count,
    strategy_type,
)
from sim.deployment_status import (
    check_paused_conditions,
    deployment_complete,
    sync_rollout_status,
    sync_status,
)
from sim.revisions import revision, sync_new_replica_set

Obj = dict[str, Any]


def plan_deployment(
    deployment: Obj, owned: list[Obj], pods: list[Obj], *, now: float
) -> DeploymentPlan:
    """One sync of a Deployment (syncDeployment), `now` in epoch seconds."""
    plan = DeploymentPlan.start(deployment, owned)
    check_paused_conditions(plan, now)
    if plan.status_changed():
        # Kubernetes writes a pause or resume on its own before syncing, so watchers see
        # DeploymentPaused / DeploymentResumed; the rollout goes on next pass.
        return plan
    if is_paused(deployment) or _is_scaling_event(plan, now):
        _sync(plan, now)
    elif strategy_type(deployment) == RECREATE:
        _rollout_recreate(plan, pods, now)
    else:
        _rollout_rolling(plan, now)
    return plan


def _active(rss: list[Obj]) -> list[Obj]:
    return [rs for rs in rss if spec_replicas(rs) > 0]


def _available(rs: Obj) -> int:
    """Available pods a ReplicaSet will still have once it reaches spec.replicas.

    The ReplicaSet controller deletes unavailable pods first, so a ReplicaSet scaled down but
    not yet synced keeps at most spec.replicas available pods; counting its stale status would
    let two passes in a row scale down twice.
    """
    return min(status_count(rs, "availableReplicas"), spec_replicas(rs))


def _is_scaling_event(plan: DeploymentPlan, now: float) -> bool:
    """Whether spec.replicas differs from what an active ReplicaSet was last sized for."""
    sync_new_replica_set(plan, create=False, now=now)
    desired = str(spec_replicas(plan.deployment))
    for rs in _active(plan.all_rss()):
        recorded = (rs["metadata"].get("annotations") or {}).get(DESIRED_REPLICAS)
        if recorded is not None and recorded != desired:
            return True
    return False


def _sync(plan: DeploymentPlan, now: float) -> None:
    """Scale without rolling out (paused, or replicas changed): `sync` in sync.go."""
    sync_new_replica_set(plan, create=False, now=now)
    _scale(plan)
    if is_paused(plan.deployment):
        _cleanup(plan)
    sync_status(plan, now)


def _rollout_rolling(plan: DeploymentPlan, now: float) -> None:
    sync_new_replica_set(plan, create=True, now=now)
    scaled = _reconcile_new_rs(plan) or _reconcile_old_rss(plan)
    if not scaled and deployment_complete(plan.deployment, plan.deployment.get("status", {})):
        _cleanup(plan)
    sync_rollout_status(plan, now)


def _reconcile_new_rs(plan: DeploymentPlan) -> bool:
    """Grow the new ReplicaSet as far as maxSurge allows (or shrink it to spec.replicas)."""
    new = plan.new_rs()
    assert new is not None  # sync_new_replica_set(create=True) made one
    desired = spec_replicas(plan.deployment)
    if spec_replicas(new) == desired:
        return False
    if spec_replicas(new) > desired:
        return plan.scale_if_resized(new, desired)
    return plan.scale_if_resized(
        new, new_rs_new_replicas(plan.deployment, plan.all_rss(), new_rs=new)
    )


def _reconcile_old_rss(plan: DeploymentPlan) -> bool:
    """Shrink old ReplicaSets as far as maxUnavailable allows, unhealthy replicas first."""
    new, olds = plan.new_rs(), plan.old_rss()
    assert new is not None
    if sum(spec_replicas(rs) for rs in olds) == 0:
        return False
    all_pods = sum(spec_replicas(rs) for rs in plan.all_rss())
    min_available = spec_replicas(plan.deployment) - max_unavailable(plan.deployment)
    new_unavailable = spec_replicas(new) - status_count(new, "availableReplicas")
    max_scaled_down = all_pods - min_available - new_unavailable
    if max_scaled_down <= 0:
        return False
    cleaned = _cleanup_unhealthy(plan, _active(olds), max_scaled_down)
    return cleaned + _scale_down_old(plan, _active(olds)) > 0


def _cleanup_unhealthy(plan: DeploymentPlan, olds: list[Obj], budget: int) -> int:
    """Scale old ReplicaSets down by their unavailable replicas, within `budget`."""
    total = 0
    for rs in olds:
        if total >= budget:
            break
        unhealthy = spec_replicas(rs) - status_count(rs, "availableReplicas")
        if unhealthy <= 0:
            continue
        count = min(budget - total, unhealthy)
        plan.scale_if_resized(rs, spec_replicas(rs) - count)
        total += count
    return total


def _scale_down_old(plan: DeploymentPlan, olds: list[Obj]) -> int:
    """Scale old ReplicaSets down, oldest first, while availability stays above minimum."""
    min_available = spec_replicas(plan.deployment) - max_unavailable(plan.deployment)
    available = sum(_available(rs) for rs in plan.all_rss())
    if available <= min_available:
        return 0
    wanted, total = available - min_available, 0
    for rs in olds:
        if total >= wanted:
            break
        if spec_replicas(rs) == 0:
            continue
        count = min(spec_replicas(rs), wanted - total)
        plan.scale_if_resized(rs, spec_replicas(rs) - count)
        total += count
    return total


def _rollout_recreate(plan: DeploymentPlan, pods: list[Obj], now: float) -> None:
    """Old ReplicaSets to zero; once their pods are gone, the new one to spec.replicas."""
    sync_new_replica_set(plan, create=False, now=now)
    scaled_down = False
    for rs in _active(plan.old_rss()):
        scaled_down |= plan.scale_if_resized(rs, 0)
    if scaled_down or _old_pods_running(plan, pods):
        sync_rollout_status(plan, now)
        return
    if plan.new_rs() is None:
        sync_new_replica_set(plan, create=True, now=now)
    new = plan.new_rs()
    assert new is not None
    plan.scale_if_resized(new, spec_replicas(plan.deployment))
    if deployment_complete(plan.deployment, plan.deployment.get("status", {})):
        _cleanup(plan)
    sync_rollout_status(plan, now)


def _old_pods_running(plan: DeploymentPlan, pods: list[Obj]) -> bool:
    olds = plan.old_rss()
    if sum(status_count(rs, "replicas") for rs in olds) > 0:
        return True
    old_uids = {rs["metadata"].get("uid") for rs in olds}
    return any(
        controller_uid(pod) in old_uids
        and pod.get("status", {}).get("phase") not in ("Failed", "Succeeded")
        for pod in pods
    )


def _scale(plan: DeploymentPlan) -> None:
    """Bring the ReplicaSets to spec.replicas, proportionally if several are active."""
    deployment, new = plan.deployment, plan.new_rs()
    desired = spec_replicas(deployment)
    only = _active_or_latest(plan)
    if only is not None:
        plan.scale_if_resized(only, desired)
        return
    if new is not None and _is_saturated(deployment, new):
        for rs in _active(plan.old_rss()):
            plan.scale_if_resized(rs, 0)
        return
    if strategy_type(deployment) == RECREATE:
        return
    active = _active(plan.all_rss())
    allowed = desired + max_surge(deployment) if desired > 0 else 0
    to_add = allowed - sum(spec_replicas(rs) for rs in active)
    sizes = _proportions(plan, active, to_add)
    for rs in active:
        plan.scale(rs, sizes[rs["metadata"]["name"]])


def _proportions(plan: DeploymentPlan, active: list[Obj], to_add: int) -> dict[str, int]:
    """New sizes sharing `to_add` replicas in proportion to each ReplicaSet's size.

    Largest first; among equals newer first when growing, older first when shrinking. Any
    leftover goes to the first (largest) ReplicaSet.
    """
    ordered = sorted(active, key=creation_order, reverse=to_add > 0)
    ordered.sort(key=spec_replicas, reverse=True)
    added, sizes = 0, {}
    for rs in ordered:
        share = _proportion(plan.deployment, rs, to_add, added) if to_add else 0
        sizes[rs["metadata"]["name"]] = spec_replicas(rs) + share
        added += share
    if ordered and to_add:
        first = ordered[0]["metadata"]["name"]
        sizes[first] = max(sizes[first] + to_add - added, 0)
    return sizes


def _proportion(deployment: Obj, rs: Obj, to_add: int, added: int) -> int:
    if spec_replicas(rs) == 0 or to_add == added:
        return 0
    desired = spec_replicas(deployment)
    if desired == 0:
        fraction = -spec_replicas(rs)
    else:
        max_replicas = desired + max_surge(deployment)
        recorded = (rs["metadata"].get("annotations") or {}).get(MAX_REPLICAS, "")
        before = int(recorded) if recorded.isdigit() else 0
        # Without the annotation Kubernetes falls back to the Deployment's current size.
        before = before or status_count(deployment, "replicas") or 1
        fraction = _round_half_away(spec_replicas(rs) * max_replicas / before) - spec_replicas(rs)
    allowed = to_add - added
    return min(fraction, allowed) if to_add > 0 else max(fraction, allowed)


def _round_half_away(value: float) -> int:
    """math.Round as Go does it (halves away from zero), unlike Python's banker's round."""
    return int(value + 0.5) if value >= 0 else -int(-value + 0.5)


def _active_or_latest(plan: DeploymentPlan) -> Obj | None:
    """The only active ReplicaSet, or the newest if none is active; None if several are."""
    new, olds = plan.new_rs(), plan.old_rss()
    candidates = [*reversed(olds), *([new] if new is not None else [])]
    active = _active(candidates)
    if len(active) == 1:
        return active[0]
    if not active and candidates:
        return new if new is not None else candidates[0]
    return None


def _is_saturated(deployment: Obj, rs: Obj) -> bool:
    desired = spec_replicas(deployment)
    recorded = (rs["metadata"].get("annotations") or {}).get(DESIRED_REPLICAS)
    return (
        spec_replicas(rs) == desired
        and recorded == str(desired)
        and status_count(rs, "availableReplicas") == desired
    )


def _cleanup(plan: DeploymentPlan) -> None:
    """Delete the oldest fully scaled-down ReplicaSets beyond revisionHistoryLimit."""
    limit = revision_history_limit(plan.deployment)
    olds = plan.old_rss()
    if limit is None or len(olds) <= limit:
        return
    by_revision = sorted(olds, key=lambda rs: (revision(rs) or 0, creation_order(rs)))
    for rs in by_revision[: len(olds) - limit]:
        if status_count(rs, "replicas") or spec_replicas(rs):
            continue
        if rs["metadata"].get("generation", 0) > status_count(rs, "observedGeneration"):
            continue
        plan.delete(rs)
