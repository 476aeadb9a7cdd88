"""core/v1 Events as Kubernetes components write them, repeats folded into a count.

Like client-go's EventCorrelator, an event with the same source, object, type, reason and
message as an earlier one bumps that one's `count` and `lastTimestamp` instead of adding
another; `kubectl describe` shows it as ``(x3 over 20s)``.
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass
from typing import Any

from sim.clock import SimTime
from sim.store import EVENTS, ObjectStore, StoreError

Obj = dict[str, Any]

NORMAL = "Normal"
WARNING = "Warning"


@dataclass(frozen=True)
class Source:
    """Who reports an event: a controller, the scheduler, or a node's kubelet."""

    component: str
    host: str = ""


DEPLOYMENT_CONTROLLER = Source("deployment-controller")
REPLICASET_CONTROLLER = Source("replicaset-controller")
SCHEDULER = Source("default-scheduler")


class EventRecorder:
    """Writes Events about objects into the store; thread-safe."""

    def __init__(self, store: ObjectStore, time: SimTime) -> None:
        """A recorder stamping events with `time`."""
        self._store = store
        self._time = time
        self._lock = threading.Lock()
        self._names: dict[tuple[str, ...], str] = {}
        self._serial = itertools.count()

    def record(
        self,
        obj: Obj,
        type_: str,
        reason: str,
        message: str,
        *,
        source: Source,
        field_path: str = "",
    ) -> None:
        """Record an event about `obj`; a store refusal loses the event, as in Kubernetes."""
        meta = obj["metadata"]
        key = (
            source.component,
            source.host,
            meta.get("uid", ""),
            field_path,
            type_,
            reason,
            message,
        )
        with self._lock:
            try:
                if not self._bump(key, meta.get("namespace")):
                    self._names[key] = self._create(obj, type_, reason, message, source, field_path)
            except StoreError:
                return

    def _bump(self, key: tuple[str, ...], namespace: str | None) -> bool:
        name = self._names.get(key)
        if name is None:
            return False
        try:
            event = self._store.get(EVENTS, namespace, name)
        except StoreError:
            return False
        event["count"] = int(event.get("count") or 1) + 1
        event["lastTimestamp"] = self._time.stamp()
        self._store.update(EVENTS, event)
        return True

    def _create(
        self, obj: Obj, type_: str, reason: str, message: str, source: Source, field_path: str
    ) -> str:
        meta = obj["metadata"]
        stamp = self._time.stamp()
        unique = int(self._time.wall() * 1e9) + next(self._serial)
        involved = {
            "kind": obj.get("kind"),
            "namespace": meta.get("namespace"),
            "name": meta["name"],
            "uid": meta.get("uid"),
            "apiVersion": obj.get("apiVersion"),
            "resourceVersion": meta.get("resourceVersion"),
        }
        if field_path:
            involved["fieldPath"] = field_path
        event = {
            "metadata": {"name": f"{meta['name']}.{unique:x}", "namespace": meta.get("namespace")},
            "involvedObject": involved,
            "reason": reason,
            "message": message,
            "source": {
                "component": source.component,
                **({"host": source.host} if source.host else {}),
            },
            "firstTimestamp": stamp,
            "lastTimestamp": stamp,
            "count": 1,
            "type": type_,
            "eventTime": None,
            "reportingComponent": source.component,
            "reportingInstance": source.host,
        }
        created = self._store.create(EVENTS, event)
        return str(created["metadata"]["name"])
