"""The simulator's controllers, and the Deployment controller that writes rollout plans.

`build_controllers` is what the API server runs in its background thread: it calls
`reconcile()` on each, in order, whenever the store changes and at least every 50 ms. Each
pass reads, decides with pure functions, and writes once through the store with the objects'
resourceVersions; a conflict just means the next pass decides again.
"""

from __future__ import annotations

import contextlib
import random
import time
from typing import Any, Protocol

from sim.behaviour import PodBehaviour
from sim.clock import Clock, SimTime
from sim.deployment_plan import DeploymentPlan
from sim.deployment_spec import RECREATE, controller_uid, spec_replicas, strategy_type
from sim.endpoints import EndpointsController
from sim.events import DEPLOYMENT_CONTROLLER, NORMAL, EventRecorder
from sim.pods import PodLifecycle
from sim.replicasets import ReplicaSetController
from sim.revisions import same_template
from sim.rollout import plan_deployment
from sim.store import (
    DEPLOYMENTS,
    PODS,
    REPLICASETS,
    AlreadyExistsError,
    ConflictError,
    NotFoundError,
    ObjectStore,
)

Obj = dict[str, Any]


class Controller(Protocol):
    """Something that moves the cluster one step towards what its objects ask for."""

    def reconcile(self) -> None:
        """One pass over the store; writes nothing if nothing needs to change."""


def build_controllers(
    store: ObjectStore,
    behaviour: PodBehaviour,
    *,
    clock: Clock = time.monotonic,
    rng: random.Random | None = None,
) -> list[Controller]:
    """The Deployment, ReplicaSet, pod lifecycle (kubelet) and Endpoints controllers, in the
    order a pass should run them, sharing one clock and one event recorder."""
    sim_time = SimTime.starting_now(clock)
    events = EventRecorder(store, sim_time)
    return [
        DeploymentController(store, clock=clock, epoch=sim_time.epoch, events=events),
        ReplicaSetController(
            store, clock=clock, epoch=sim_time.epoch, events=events, rng=rng or random.Random()
        ),
        PodLifecycle(store, behaviour, clock=clock, epoch=sim_time.epoch, events=events),
        EndpointsController(store, clock=clock, epoch=sim_time.epoch),
    ]


class DeploymentController:
    """Rolls Deployments out through ReplicaSets, as kube-controller-manager's does."""

    def __init__(
        self,
        store: ObjectStore,
        *,
        clock: Clock = time.monotonic,
        epoch: float | None = None,
        events: EventRecorder | None = None,
    ) -> None:
        """A controller on `store`; `epoch` ties `clock` to wall time (default: now)."""
        self._store = store
        self._time = SimTime.starting_now(clock, epoch)
        self._events = events or EventRecorder(store, self._time)

    def reconcile(self) -> None:
        """Sync every Deployment once."""
        deployments = self._store.select(DEPLOYMENTS)
        if not deployments:
            return
        replica_sets = self._store.select(REPLICASETS)
        pods: list[Obj] = []
        if any(strategy_type(d) == RECREATE for d in deployments):
            pods = self._store.select(PODS)
        now = self._time.wall()
        for deployment in deployments:
            uid = deployment["metadata"]["uid"]
            owned = [rs for rs in replica_sets if controller_uid(rs) == uid]
            plan = plan_deployment(deployment, owned, pods, now=now)
            try:
                self._write(plan)
            except (ConflictError, NotFoundError):
                continue  # someone else wrote first: decide again next pass

    def _write(self, plan: DeploymentPlan) -> None:
        for wanted, original in plan.replica_set_writes():
            if original is None:
                if not self._create(plan, wanted):
                    return
            else:
                written = self._store.update(REPLICASETS, wanted)
                self._scaled(plan, written, spec_replicas(original))
        for name in plan.deleted:
            namespace = plan.deployment["metadata"].get("namespace")
            with contextlib.suppress(NotFoundError):
                self._store.delete(REPLICASETS, namespace, name)
        deployment = plan.original
        if plan.metadata_changed():
            deployment = self._store.update(DEPLOYMENTS, plan.deployment)
        if plan.status_changed():
            wanted_status = {**deployment, "status": plan.deployment.get("status", {})}
            self._store.update(DEPLOYMENTS, wanted_status, subresource="status")

    def _create(self, plan: DeploymentPlan, rs: Obj) -> bool:
        """Create the new ReplicaSet; on a name clash with another template, bump
        status.collisionCount so the next pass hashes to a different name."""
        try:
            created = self._store.create(REPLICASETS, rs)
        except AlreadyExistsError:
            meta = rs["metadata"]
            existing = self._store.get(REPLICASETS, meta.get("namespace"), meta["name"])
            ours = controller_uid(existing) == plan.original["metadata"]["uid"]
            if not (ours and same_template(existing["spec"]["template"], rs["spec"]["template"])):
                status = dict(plan.original.get("status", {}))
                status["collisionCount"] = int(status.get("collisionCount") or 0) + 1
                self._store.update(
                    DEPLOYMENTS, {**plan.original, "status": status}, subresource="status"
                )
            return False
        self._scaled(plan, created, 0)
        return True

    def _scaled(self, plan: DeploymentPlan, rs: Obj, before: int) -> None:
        after = spec_replicas(rs)
        if after == before:
            return
        direction = "up" if after > before else "down"
        message = (
            f"Scaled {direction} replica set {rs['metadata']['name']} from {before} to {after}"
        )
        self._events.record(
            plan.original, NORMAL, "ScalingReplicaSet", message, source=DEPLOYMENT_CONTROLLER
        )
