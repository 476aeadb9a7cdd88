"""The ReplicaSet controller: as many pods as spec.replicas, and a status that counts them.

Scaling down removes the pods Kubernetes would remove first (unscheduled, pending, not ready,
ready for the shortest time, most restarted, newest). Pods are created from the template as
the API server would store them (defaulted, phase Pending) on the simulator's one node.
"""

from __future__ import annotations

import copy
import random
import time
from dataclasses import dataclass, field
from typing import Any

from sim.clock import Clock, SimTime, parse_rfc3339
from sim.defaults import defaulted, initial_status
from sim.deployment_spec import controller_ref, controller_uid, min_ready_seconds, spec_replicas
from sim.events import NORMAL, REPLICASET_CONTROLLER, EventRecorder
from sim.hashing import random_suffix
from sim.store import PODS, REPLICASETS, AlreadyExistsError, ObjectStore, StoreError

Obj = dict[str, Any]

NODE_NAME = "sim-node-1"
BURST_REPLICAS = 500  # most pods one pass creates or deletes, as the real controller
_PHASE_RANK = {"Pending": 0, "Unknown": 1, "Running": 2}


@dataclass
class ReplicaSetPlan:
    """What one pass does for a ReplicaSet: pods to create and delete, and its status."""

    create: int = 0
    delete: list[Obj] = field(default_factory=list)
    status: Obj = field(default_factory=dict)


def condition(pod: Obj, type_: str) -> Obj | None:
    """A pod's condition of `type_`, if it has one."""
    conditions = pod.get("status", {}).get("conditions") or []
    return next((c for c in conditions if c.get("type") == type_), None)


def is_ready(pod: Obj) -> bool:
    """Whether the pod's Ready condition is True."""
    ready = condition(pod, "Ready")
    return ready is not None and ready.get("status") == "True"


def is_available(pod: Obj, *, min_ready_s: int, now: float) -> bool:
    """Ready for at least `min_ready_s` seconds (IsPodAvailable), `now` in epoch seconds."""
    if not is_ready(pod):
        return False
    if min_ready_s == 0:
        return True
    ready = condition(pod, "Ready") or {}
    since = parse_rfc3339(ready.get("lastTransitionTime"))
    return since is not None and since + min_ready_s < now


def is_active(pod: Obj) -> bool:
    """Not finished and not being deleted."""
    return pod.get("status", {}).get("phase") not in ("Succeeded", "Failed") and not pod[
        "metadata"
    ].get("deletionTimestamp")


def deletion_rank(pod: Obj) -> tuple[Any, ...]:
    """Sort key putting the pods to delete first (controller.ActivePodsWithRanks)."""
    status = pod.get("status", {})
    ready = is_ready(pod)
    ready_since = parse_rfc3339((condition(pod, "Ready") or {}).get("lastTransitionTime")) or 0.0
    restarts = sum(int(c.get("restartCount") or 0) for c in status.get("containerStatuses") or [])
    created = parse_rfc3339(pod["metadata"].get("creationTimestamp")) or float("inf")
    return (
        bool(pod.get("spec", {}).get("nodeName")),
        _PHASE_RANK.get(status.get("phase", "Pending"), 0),
        ready,
        -ready_since if ready else 0.0,
        -restarts,
        -created,
    )


def plan_replica_set(rs: Obj, pods: list[Obj], *, now: float) -> ReplicaSetPlan:
    """Pods to create or delete and the resulting status. Purely computational.

    `pods` are the active pods the ReplicaSet controls; `now` is epoch seconds.
    """
    diff = len(pods) - spec_replicas(rs)
    plan = ReplicaSetPlan()
    if diff < 0:
        plan.create = min(-diff, BURST_REPLICAS)
    elif diff > 0:
        plan.delete = sorted(pods, key=deletion_rank)[: min(diff, BURST_REPLICAS)]
    doomed = {p["metadata"]["name"] for p in plan.delete}
    remaining = [p for p in pods if p["metadata"]["name"] not in doomed]
    template_labels = rs["spec"].get("template", {}).get("metadata", {}).get("labels") or {}
    min_ready = min_ready_seconds(rs)
    counts = {
        "replicas": len(remaining) + plan.create,
        "fullyLabeledReplicas": plan.create
        + sum(
            template_labels.items() <= (p["metadata"].get("labels") or {}).items()
            for p in remaining
        ),
        "readyReplicas": sum(is_ready(p) for p in remaining),
        "availableReplicas": sum(
            is_available(p, min_ready_s=min_ready, now=now) for p in remaining
        ),
        "observedGeneration": rs["metadata"].get("generation", 0),
    }
    # replicas is always served; the other counts are omitted when zero (omitempty).
    plan.status = {k: v for k, v in counts.items() if v or k == "replicas"}
    if rs.get("status", {}).get("conditions"):
        plan.status["conditions"] = rs["status"]["conditions"]
    return plan


def pod_from_template(rs: Obj, name: str) -> Obj:
    """The pod a ReplicaSet creates, as the API server stores it."""
    template = rs["spec"].get("template", {})
    meta = template.get("metadata", {})
    pod: Obj = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "generateName": f"{rs['metadata']['name']}-",
            "namespace": rs["metadata"].get("namespace"),
            "labels": dict(meta.get("labels") or {}),
            "ownerReferences": [controller_ref(rs)],
        },
        "spec": {**copy.deepcopy(template.get("spec", {})), "nodeName": NODE_NAME},
    }
    if meta.get("annotations"):
        pod["metadata"]["annotations"] = dict(meta["annotations"])
    pod = defaulted(PODS, pod)
    initial_status(PODS, pod)
    return pod


class ReplicaSetController:
    """Keeps each ReplicaSet's pod count at spec.replicas and its status current."""

    def __init__(
        self,
        store: ObjectStore,
        *,
        clock: Clock = time.monotonic,
        epoch: float | None = None,
        events: EventRecorder | None = None,
        rng: random.Random | None = None,
    ) -> None:
        """A controller on `store`; `rng` picks pod name suffixes."""
        self._store = store
        self._time = SimTime.starting_now(clock, epoch)
        self._events = events or EventRecorder(store, self._time)
        self._rng = rng or random.Random()

    def reconcile(self) -> None:
        """Sync every ReplicaSet once."""
        replica_sets = self._store.select(REPLICASETS)
        if not replica_sets:
            return
        pods_by_owner: dict[str, list[Obj]] = {}
        for pod in self._store.select(PODS):
            owner = controller_uid(pod)
            if owner is not None and is_active(pod):
                pods_by_owner.setdefault(owner, []).append(pod)
        now = self._time.wall()
        for rs in replica_sets:
            plan = plan_replica_set(rs, pods_by_owner.get(rs["metadata"]["uid"], []), now=now)
            try:
                self._write(rs, plan)
            except StoreError:
                continue  # conflict or gone: the next pass decides again

    def _write(self, rs: Obj, plan: ReplicaSetPlan) -> None:
        namespace = rs["metadata"].get("namespace")
        for _ in range(plan.create):
            pod = self._create_pod(rs)
            self._events.record(
                rs,
                NORMAL,
                "SuccessfulCreate",
                f"Created pod: {pod['metadata']['name']}",
                source=REPLICASET_CONTROLLER,
            )
        for pod in plan.delete:
            self._store.delete(PODS, namespace, pod["metadata"]["name"])
            self._events.record(
                rs,
                NORMAL,
                "SuccessfulDelete",
                f"Deleted pod: {pod['metadata']['name']}",
                source=REPLICASET_CONTROLLER,
            )
        if plan.status != rs.get("status", {}):
            self._store.update(REPLICASETS, {**rs, "status": plan.status}, subresource="status")

    def _create_pod(self, rs: Obj) -> Obj:
        while True:
            name = f"{rs['metadata']['name']}-{random_suffix(self._rng)}"
            try:
                return self._store.create(PODS, pod_from_template(rs, name))
            except AlreadyExistsError:
                continue
