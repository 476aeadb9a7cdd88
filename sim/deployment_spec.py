"""Reading Deployments and ReplicaSets as their controllers do: defaults, fenceposts, counts.

The API server defaults every field read here, but an object written straight into the store
may lack them, so each accessor falls back to the same default. All functions are purely
computational.
"""

from __future__ import annotations

import math
from typing import Any

Obj = dict[str, Any]

ROLLING_UPDATE = "RollingUpdate"
RECREATE = "Recreate"
MAX_INT32 = 2**31 - 1
DEFAULT_SURGE_AND_UNAVAILABLE = "25%"


def spec_replicas(obj: Obj) -> int:
    """spec.replicas of a Deployment or ReplicaSet (default 1)."""
    value = obj.get("spec", {}).get("replicas")
    return 1 if value is None else int(value)


def status_count(obj: Obj, key: str) -> int:
    """An integer status field (replicas, availableReplicas, …), 0 when absent."""
    return int(obj.get("status", {}).get(key) or 0)


def strategy_type(deployment: Obj) -> str:
    """RollingUpdate or Recreate."""
    strategy = deployment.get("spec", {}).get("strategy") or {}
    return str(strategy.get("type") or ROLLING_UPDATE)


def is_paused(deployment: Obj) -> bool:
    """Whether spec.paused is set."""
    return bool(deployment.get("spec", {}).get("paused"))


def min_ready_seconds(obj: Obj) -> int:
    """spec.minReadySeconds (default 0)."""
    return int(obj.get("spec", {}).get("minReadySeconds") or 0)


def progress_deadline(deployment: Obj) -> int | None:
    """spec.progressDeadlineSeconds, or None when the deployment has no deadline (MaxInt32)."""
    value = deployment.get("spec", {}).get("progressDeadlineSeconds", 600)
    return None if value is None or int(value) == MAX_INT32 else int(value)


def revision_history_limit(deployment: Obj) -> int | None:
    """spec.revisionHistoryLimit (default 10; None keeps every old ReplicaSet)."""
    spec = deployment.get("spec", {})
    if "revisionHistoryLimit" not in spec:
        return 10
    value = spec["revisionHistoryLimit"]
    return None if value is None else int(value)


def scaled_value(value: int | str | None, total: int, *, round_up: bool) -> int:
    """An IntOrString against `total`: ints as they are, percents rounded up or down."""
    if value is None:
        return 0
    if isinstance(value, int):
        return value
    text = str(value).strip()
    if not text.endswith("%"):
        return int(text)
    exact = int(text[:-1]) * total / 100
    return math.ceil(exact) if round_up else math.floor(exact)


def fenceposts(deployment: Obj) -> tuple[int, int]:
    """(maxSurge, maxUnavailable) resolved against spec.replicas, as ResolveFenceposts.

    Surge rounds up and unavailability down; if both come out zero, unavailability is 1 so a
    rollout can still move.
    """
    rolling = (deployment.get("spec", {}).get("strategy") or {}).get("rollingUpdate") or {}
    desired = spec_replicas(deployment)
    surge = scaled_value(
        rolling.get("maxSurge", DEFAULT_SURGE_AND_UNAVAILABLE), desired, round_up=True
    )
    unavailable = scaled_value(
        rolling.get("maxUnavailable", DEFAULT_SURGE_AND_UNAVAILABLE), desired, round_up=False
    )
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, unavailable


def max_surge(deployment: Obj) -> int:
    """How many pods above spec.replicas a rollout may run (0 for Recreate)."""
    if strategy_type(deployment) != ROLLING_UPDATE:
        return 0
    return fenceposts(deployment)[0]


def max_unavailable(deployment: Obj) -> int:
    """How many pods below spec.replicas may be unavailable (0 for Recreate or no replicas)."""
    desired = spec_replicas(deployment)
    if strategy_type(deployment) != ROLLING_UPDATE or desired == 0:
        return 0
    return min(fenceposts(deployment)[1], desired)


def controller_uid(obj: Obj) -> str | None:
    """The uid of the object's controlling owner, if it has one."""
    for ref in obj.get("metadata", {}).get("ownerReferences") or []:
        if ref.get("controller"):
            return str(ref.get("uid"))
    return None


def controller_ref(owner: Obj) -> Obj:
    """An ownerReference making `owner` the controller of a dependent."""
    meta = owner["metadata"]
    return {
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": meta["name"],
        "uid": meta["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def creation_order(obj: Obj) -> tuple[str, str]:
    """Sort key oldest first, ties by name; objects not yet created sort last."""
    meta = obj.get("metadata", {})
    return (str(meta.get("creationTimestamp") or "~"), str(meta.get("name", "")))


def new_rs_new_replicas(deployment: Obj, all_rss: list[Obj], *, new_rs: Obj) -> int:
    """How far the new ReplicaSet may grow now (NewRSNewReplicas).

    A rolling update stays within spec.replicas + maxSurge counted over every ReplicaSet's
    spec.replicas; Recreate goes straight to spec.replicas.
    """
    desired = spec_replicas(deployment)
    if strategy_type(deployment) != ROLLING_UPDATE:
        return desired
    current = sum(spec_replicas(rs) for rs in all_rss)
    max_total = desired + max_surge(deployment)
    if current >= max_total:
        return spec_replicas(new_rs)
    scale_up = min(max_total - current, desired - spec_replicas(new_rs))
    return spec_replicas(new_rs) + scale_up
