"""The `scale` subresource: an autoscaling/v1 Scale view of a Deployment or ReplicaSet."""

from __future__ import annotations

import copy
from typing import Any

from sim.errors import Cause, bad_request, invalid
from sim.selectors import format_label_selector
from sim.store import ResourceType

Obj = dict[str, Any]

SCALE = ResourceType("autoscaling", "v1", "scale", "Scale", has_spec=True)


def scale_of(obj: Obj) -> Obj:
    """The Scale of a workload object: spec.replicas, status.replicas and its selector."""
    meta = obj["metadata"]
    selector = format_label_selector(obj.get("spec", {}).get("selector"))
    return {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            key: meta[key]
            for key in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
            if key in meta
        },
        "spec": {"replicas": obj.get("spec", {}).get("replicas", 0)},
        "status": {
            "replicas": obj.get("status", {}).get("replicas", 0),
            "selector": "" if selector == "<none>" else selector,
        },
    }


def scaled(current: Obj, scale: Any) -> Obj:
    """`current` with the replicas of a Scale body, guarded by the Scale's resourceVersion."""
    if not isinstance(scale, dict) or scale.get("kind", "Scale") != "Scale":
        raise bad_request("the body of the request was not a Scale")
    name = current["metadata"]["name"]
    replicas = (scale.get("spec") or {}).get("replicas", 0)
    if not isinstance(replicas, int) or replicas < 0:
        raise invalid(
            SCALE,
            name,
            [
                Cause(
                    "FieldValueInvalid",
                    f"Invalid value: {replicas}: must be greater than or equal to 0",
                    "spec.replicas",
                )
            ],
        )
    result = copy.deepcopy(current)
    result.setdefault("spec", {})["replicas"] = replicas
    sent_rv = (scale.get("metadata") or {}).get("resourceVersion")
    if sent_rv:
        result["metadata"]["resourceVersion"] = sent_rv
    return result
