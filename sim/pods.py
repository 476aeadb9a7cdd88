"""Pod lifecycle: the kubelet of the simulator's one node, running every pod.

`PodLifecycle` remembers when it first saw each pod, asks `sim.pod_status` what the pod looks
like at its age, writes the status when it changed, and reports what changed as the events
`kubectl describe pod` shows (Scheduled, Pulled, Started, BackOff, Failed, Unhealthy).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from sim.behaviour import PodBehaviour, PodFate
from sim.clock import Clock, SimTime
from sim.events import NORMAL, SCHEDULER, WARNING, EventRecorder, Source
from sim.pod_status import PodClock, pod_status, pull_error
from sim.replicasets import NODE_NAME
from sim.store import PODS, ObjectStore, StoreError

Obj = dict[str, Any]

KUBELET = Source("kubelet", NODE_NAME)


@dataclass(frozen=True)
class PodEvent:
    """An event the kubelet (or scheduler) reports about a pod."""

    type: str
    reason: str
    message: str
    field_path: str = ""
    source: Source = KUBELET


def pod_events(pod: Obj, new_status: Obj, *, fates: list[tuple[PodFate, float]]) -> list[PodEvent]:
    """What happened between the pod's current status and `new_status`, as events."""
    meta = pod["metadata"]
    old = pod.get("status", {})
    events = []
    if not old.get("startTime"):
        events.append(
            PodEvent(
                NORMAL,
                "Scheduled",
                f"Successfully assigned {meta.get('namespace')}/{meta['name']} to {NODE_NAME}",
                source=SCHEDULER,
            )
        )
    before = {s["name"]: s for s in old.get("containerStatuses") or []}
    for status, (fate, _) in zip(new_status["containerStatuses"], fates, strict=True):
        never_ready = fate is PodFate.NEVER_READY
        events += _container_events(pod, before.get(status["name"]), status, never_ready)
    return events


def _container_events(pod: Obj, old: Obj | None, new: Obj, never_ready: bool) -> list[PodEvent]:
    name, image = new["name"], new["image"]
    path = f"spec.containers{{{name}}}"
    old_waiting = ((old or {}).get("state") or {}).get("waiting", {}).get("reason")
    new_waiting = new["state"].get("waiting", {}).get("reason")
    events: list[PodEvent] = []
    if old is None and new_waiting not in ("ErrImagePull", "ImagePullBackOff"):
        events += [
            PodEvent(
                NORMAL, "Pulled", f'Container image "{image}" already present on machine', path
            ),
            PodEvent(NORMAL, "Created", f"Created container: {name}", path),
            PodEvent(NORMAL, "Started", f"Started container {name}", path),
        ]
        if never_ready:
            events.append(
                PodEvent(
                    WARNING,
                    "Unhealthy",
                    "Readiness probe failed: HTTP probe failed with statuscode: 503",
                    path,
                )
            )
    if new_waiting == "CrashLoopBackOff" and new["restartCount"] > int(
        (old or {}).get("restartCount") or 0
    ):
        uid = pod["metadata"].get("uid")
        message = (
            f"Back-off restarting failed container {name} in pod "
            f"{pod['metadata']['name']}_{pod['metadata'].get('namespace')}({uid})"
        )
        events.append(PodEvent(WARNING, "BackOff", message, path))
    if new_waiting == "ErrImagePull" and old_waiting != "ErrImagePull":
        events += [
            PodEvent(NORMAL, "Pulling", f'Pulling image "{image}"', path),
            PodEvent(
                WARNING, "Failed", f'Failed to pull image "{image}": {pull_error(image)}', path
            ),
            PodEvent(WARNING, "Failed", "Error: ErrImagePull", path),
        ]
    if new_waiting == "ImagePullBackOff" and old_waiting != "ImagePullBackOff":
        events += [
            PodEvent(NORMAL, "BackOff", f'Back-off pulling image "{image}"', path),
            PodEvent(WARNING, "Failed", "Error: ImagePullBackOff", path),
        ]
    return events


class PodLifecycle:
    """The kubelet of node sim-node-1: runs every pod and reports its status."""

    def __init__(
        self,
        store: ObjectStore,
        behaviour: PodBehaviour,
        *,
        clock: Clock = time.monotonic,
        epoch: float | None = None,
        events: EventRecorder | None = None,
    ) -> None:
        """A kubelet on `store`, pods meeting the fates `behaviour` gives their images."""
        self._store = store
        self._behaviour = behaviour
        self._time = SimTime.starting_now(clock, epoch)
        self._events = events or EventRecorder(store, self._time)
        self._started: dict[str, float] = {}  # pod uid → monotonic time the kubelet saw it
        self._ips: dict[str, str] = {}
        self._next_ip = 0

    def reconcile(self) -> None:
        """Bring every pod's status up to date."""
        pods = self._store.select(PODS)
        live = {pod["metadata"]["uid"] for pod in pods}
        for uid in set(self._started) - live:
            del self._started[uid]
            self._ips.pop(uid, None)
        for pod in pods:
            try:
                self._sync(pod)
            except StoreError:
                continue  # changed or deleted meanwhile: next pass

    def _sync(self, pod: Obj) -> None:
        uid = pod["metadata"]["uid"]
        now = self._time.monotonic()
        first_seen = self._started.setdefault(uid, now)
        clock = PodClock(
            age_s=now - first_seen, started=self._time.epoch + first_seen, now=self._time.wall()
        )
        containers = pod.get("spec", {}).get("containers") or []
        fates = [self._behaviour.fate_of(c.get("image", "")) for c in containers]
        status = pod_status(pod, fates=fates, clock=clock, pod_ip=self._ip_of(pod))
        if status == pod.get("status"):
            return
        if not pod.get("spec", {}).get("nodeName"):
            pod = self._store.update(PODS, {**pod, "spec": {**pod["spec"], "nodeName": NODE_NAME}})
        written = self._store.update(PODS, {**pod, "status": status}, subresource="status")
        for event in pod_events(pod, status, fates=fates):
            self._events.record(
                written,
                event.type,
                event.reason,
                event.message,
                source=event.source,
                field_path=event.field_path,
            )

    def _ip_of(self, pod: Obj) -> str:
        uid = pod["metadata"]["uid"]
        if uid not in self._ips:
            known = pod.get("status", {}).get("podIP")
            if not known:
                self._next_ip += 1
                known = f"10.244.{self._next_ip // 250}.{self._next_ip % 250 + 2}"
            self._ips[uid] = known
        return self._ips[uid]
