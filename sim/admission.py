"""What happens to an object between the request body and the store: checks, defaults, validation.

Mirrors the API server's order: decode and check the body against the URL, default, keep
allocated and immutable fields on update, validate.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field
from typing import Any

from sim.defaults import allocate_cluster_ip, allocate_node_ports, defaulted, initial_status
from sim.errors import Cause, bad_request, invalid
from sim.routes import Route
from sim.store import DEPLOYMENTS, REPLICASETS, SERVICES, ObjectStore, ResourceType
from sim.validation import validate

Obj = dict[str, Any]


def checked_body(route: Route, body: Any) -> Obj:
    """The request body if it is an object of the route's kind in the route's namespace."""
    rt = route.rt
    if not isinstance(body, dict):
        raise bad_request("the body of the request was not a JSON object")
    api_version, kind = body.get("apiVersion"), body.get("kind")
    if api_version and api_version != rt.api_version:
        raise bad_request(
            f"the API version in the data ({api_version}) does not match the "
            f"expected API version ({rt.api_version})"
        )
    if kind and kind != rt.kind:
        raise bad_request(
            f"the kind in the data ({kind}) does not match the expected kind ({rt.kind})"
        )
    meta = body.setdefault("metadata", {})
    if not isinstance(meta, dict):
        raise bad_request("metadata must be an object")
    if rt.namespaced:
        if meta.get("namespace") and meta["namespace"] != route.namespace:
            raise bad_request(
                "the namespace of the provided object does not match the "
                "namespace sent on the request"
            )
        meta["namespace"] = route.namespace
    else:
        meta.pop("namespace", None)
    if route.name and meta.get("name") and meta["name"] != route.name:
        raise bad_request(
            f"the name of the object ({meta['name']}) does not match the name on "
            f"the URL ({route.name})"
        )
    if route.name:
        meta["name"] = route.name
    body["apiVersion"], body["kind"] = rt.api_version, rt.kind
    return body


@dataclass
class Admission:
    """Defaulting, allocation and validation against the current contents of a store."""

    store: ObjectStore
    rng: random.Random = field(default_factory=random.Random)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def for_create(self, rt: ResourceType, obj: Obj, *, strict: bool) -> tuple[Obj, list[str]]:
        """The object to store for a create, and warnings for the response."""
        meta = obj["metadata"]
        for owned in (
            "uid",
            "resourceVersion",
            "creationTimestamp",
            "generation",
            "deletionTimestamp",
            "managedFields",
        ):
            meta.pop(owned, None)
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = meta["generateName"] + "".join(
                self.rng.choice("bcdfghjklmnpqrstvwxz2456789") for _ in range(5)
            )
        obj = defaulted(rt, obj)
        initial_status(rt, obj)
        if rt == SERVICES:
            with self._lock:
                self._allocate(obj["spec"])
        return validate(rt, obj, strict_fields=strict)

    def for_update(
        self, rt: ResourceType, obj: Obj, current: Obj, *, strict: bool
    ) -> tuple[Obj, list[str]]:
        """The object to store for a replace or patch of `current`, and warnings."""
        obj = defaulted(rt, obj)
        if rt == SERVICES:
            _keep_allocated(obj.setdefault("spec", {}), current.get("spec", {}))
        _check_immutable(rt, obj, current)
        return validate(rt, obj, strict_fields=strict)

    def _allocate(self, spec: Obj) -> None:
        services = self.store.select(SERVICES)
        used_ips = {s.get("spec", {}).get("clusterIP", "") for s in services}
        used_ports = {
            p.get("nodePort") for s in services for p in s.get("spec", {}).get("ports") or []
        }
        allocate_cluster_ip(spec, used_ips, self.rng)
        allocate_node_ports(spec, {p for p in used_ports if isinstance(p, int)}, self.rng)


def _keep_allocated(spec: Obj, old: Obj) -> None:
    """An update that leaves clusterIP or nodePorts empty keeps the allocated ones."""
    for key in ("clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy"):
        if not spec.get(key) and old.get(key):
            spec[key] = old[key]
    old_ports = {p.get("port"): p.get("nodePort") for p in old.get("ports") or []}
    for port in spec.get("ports") or []:
        if not port.get("nodePort") and old_ports.get(port.get("port")):
            port["nodePort"] = old_ports[port.get("port")]


def _check_immutable(rt: ResourceType, obj: Obj, current: Obj) -> None:
    name = obj.get("metadata", {}).get("name", "")
    causes = []
    if rt in (DEPLOYMENTS, REPLICASETS):
        old, new = current.get("spec", {}).get("selector"), obj.get("spec", {}).get("selector")
        if old != new:
            causes.append(_immutable("spec.selector", new))
    elif rt == SERVICES:
        old_ip = current.get("spec", {}).get("clusterIP")
        new_ip = obj.get("spec", {}).get("clusterIP")
        if old_ip and new_ip != old_ip:
            causes.append(_immutable("spec.clusterIPs[0]", new_ip))
    if causes:
        raise invalid(rt, name, causes)


def _immutable(path: str, value: Any) -> Cause:
    shown = f'"{value}"' if isinstance(value, str) else "{...}"
    return Cause("FieldValueInvalid", f"Invalid value: {shown}: field is immutable", path)
