"""The Endpoints controller: for each Service with a selector, the pods it sends traffic to.

Ready pods go to `addresses`, running but unready ones to `notReadyAddresses`, each with a
targetRef to its pod; ports come from the Service, a named targetPort resolved against each
pod's container ports. Pods of several Deployments sharing the selected labels (stable and
canary) all appear.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

from sim.clock import Clock, SimTime
from sim.replicasets import is_ready
from sim.store import ENDPOINTS, PODS, SERVICES, NotFoundError, ObjectStore, StoreError

Obj = dict[str, Any]

TRIGGER_TIME = "endpoints.kubernetes.io/last-change-trigger-time"
HEADLESS_LABEL = "service.kubernetes.io/headless"


def _selects(selector: dict[str, str], pod: Obj) -> bool:
    labels = pod["metadata"].get("labels") or {}
    return all(labels.get(key) == value for key, value in selector.items())


def _target_port(service_port: Obj, pod: Obj) -> int | None:
    """The pod port a Service port sends to (findPort); None if a named port is missing."""
    target = service_port.get("targetPort", service_port.get("port"))
    if isinstance(target, int):
        return target
    if isinstance(target, str) and target.isdigit():
        return int(target)
    for container in pod.get("spec", {}).get("containers") or []:
        for port in container.get("ports") or []:
            if port.get("name") == target:
                return int(port["containerPort"])
    return None


def _endpoint_port(service_port: Obj, number: int) -> Obj:
    port: Obj = {"port": number, "protocol": service_port.get("protocol", "TCP")}
    if service_port.get("name"):
        port["name"] = service_port["name"]
    if service_port.get("appProtocol"):
        port["appProtocol"] = service_port["appProtocol"]
    return port


def _address(pod: Obj) -> Obj:
    meta = pod["metadata"]
    address: Obj = {"ip": pod["status"]["podIP"]}
    if pod.get("spec", {}).get("nodeName"):
        address["nodeName"] = pod["spec"]["nodeName"]
    address["targetRef"] = {
        "kind": "Pod",
        "namespace": meta.get("namespace"),
        "name": meta["name"],
        "uid": meta.get("uid"),
    }
    return address


def endpoint_subsets(service: Obj, pods: list[Obj]) -> list[Obj]:
    """The subsets of a Service's Endpoints, grouped by port set and sorted (RepackSubsets).

    Purely computational.
    """
    spec = service.get("spec", {})
    selector = spec.get("selector") or {}
    publish_unready = bool(spec.get("publishNotReadyAddresses"))
    groups: dict[str, tuple[list[Obj], list[Obj], list[Obj]]] = {}
    for pod in pods:
        status = pod.get("status", {})
        if not status.get("podIP") or status.get("phase") in ("Failed", "Succeeded"):
            continue
        if not _selects(selector, pod):
            continue
        ports = []
        for service_port in spec.get("ports") or []:
            number = _target_port(service_port, pod)
            if number is not None:
                ports.append(_endpoint_port(service_port, number))
        if not ports and spec.get("clusterIP") != "None":
            continue
        ports.sort(key=lambda p: (p.get("name", ""), p["port"]))
        addresses, unready, _ = groups.setdefault(repr(ports), ([], [], ports))
        (addresses if publish_unready or is_ready(pod) else unready).append(_address(pod))
    subsets = []
    for key in sorted(groups):
        addresses, unready, ports = groups[key]
        subset: Obj = {}
        if addresses:
            subset["addresses"] = sorted(addresses, key=lambda a: a["ip"])
        if unready:
            subset["notReadyAddresses"] = sorted(unready, key=lambda a: a["ip"])
        if ports:
            subset["ports"] = ports
        subsets.append(subset)
    return subsets


def endpoints_for(service: Obj, pods: list[Obj]) -> Obj:
    """The Endpoints object a Service with a selector should have (without trigger time)."""
    meta = service["metadata"]
    labels = dict(meta.get("labels") or {})
    if service.get("spec", {}).get("clusterIP") == "None":
        labels[HEADLESS_LABEL] = ""
    endpoints: Obj = {
        "apiVersion": "v1",
        "kind": "Endpoints",
        "metadata": {"name": meta["name"], "namespace": meta.get("namespace")},
    }
    if labels:
        endpoints["metadata"]["labels"] = labels
    subsets = endpoint_subsets(service, pods)
    if subsets:
        endpoints["subsets"] = subsets
    return endpoints


class EndpointsController:
    """Keeps an Endpoints object beside every Service that has a selector."""

    def __init__(
        self, store: ObjectStore, *, clock: Clock = time.monotonic, epoch: float | None = None
    ) -> None:
        """A controller on `store`; `clock` stamps the last-change trigger time."""
        self._store = store
        self._time = SimTime.starting_now(clock, epoch)
        self._managed: set[tuple[str | None, str]] = set()

    def reconcile(self) -> None:
        """Sync every Service's Endpoints; remove those of deleted Services."""
        services = [
            s for s in self._store.select(SERVICES) if (s.get("spec") or {}).get("selector")
        ]
        pods = self._store.select(PODS) if services else []
        wanted = set()
        for service in services:
            namespace = service["metadata"].get("namespace")
            wanted.add((namespace, service["metadata"]["name"]))
            in_namespace = [p for p in pods if p["metadata"].get("namespace") == namespace]
            try:
                self._write(endpoints_for(service, in_namespace))
            except StoreError:
                continue
        for namespace, name in self._managed - wanted:
            with contextlib.suppress(NotFoundError):
                self._store.delete(ENDPOINTS, namespace, name)
        self._managed = wanted

    def _write(self, wanted: Obj) -> None:
        meta = wanted["metadata"]
        try:
            current = self._store.get(ENDPOINTS, meta.get("namespace"), meta["name"])
        except NotFoundError:
            meta["annotations"] = {TRIGGER_TIME: self._time.stamp()}
            self._store.create(ENDPOINTS, wanted)
            return
        if (current.get("subsets"), current["metadata"].get("labels")) == (
            wanted.get("subsets"),
            meta.get("labels"),
        ):
            return
        current["metadata"]["labels"] = meta.get("labels")
        if not meta.get("labels"):
            current["metadata"].pop("labels", None)
        current["metadata"].setdefault("annotations", {})[TRIGGER_TIME] = self._time.stamp()
        current.pop("subsets", None)
        current.update({k: v for k, v in wanted.items() if k == "subsets"})
        self._store.update(ENDPOINTS, current)
