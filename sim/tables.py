"""Server-side printing: the meta.k8s.io/v1 Table `kubectl get` asks for.

Columns follow the API server's printers and, for the Istio kinds, their CRDs'
additionalPrinterColumns; sim/printers.py formats the cells. Columns with priority 1 are the
ones `-o wide` adds. Purely computational: `now` comes in from the caller.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sim import printers
from sim.store import ResourceType

Obj = dict[str, Any]
Column = tuple[str, str, int]  # name, type, priority

_NAME: Column = ("Name", "string", 0)
_AGE: Column = ("Age", "string", 0)


_WIDE_WORKLOAD: list[Column] = [
    ("Containers", "string", 1),
    ("Images", "string", 1),
    ("Selector", "string", 1),
]
_PRINTERS: dict[str, tuple[list[Column], Callable[[Obj, datetime], list[Any]]]] = {
    "deployments": (
        [
            _NAME,
            ("Ready", "string", 0),
            ("Up-to-date", "integer", 0),
            ("Available", "integer", 0),
            _AGE,
            *_WIDE_WORKLOAD,
        ],
        printers.deployment_cells,
    ),
    "replicasets": (
        [
            _NAME,
            ("Desired", "integer", 0),
            ("Current", "integer", 0),
            ("Ready", "integer", 0),
            _AGE,
            *_WIDE_WORKLOAD,
        ],
        printers.replicaset_cells,
    ),
    "pods": (
        [
            _NAME,
            ("Ready", "string", 0),
            ("Status", "string", 0),
            ("Restarts", "string", 0),
            _AGE,
            ("IP", "string", 1),
            ("Node", "string", 1),
            ("Nominated Node", "string", 1),
            ("Readiness Gates", "string", 1),
        ],
        printers.pod_cells,
    ),
    "services": (
        [
            _NAME,
            ("Type", "string", 0),
            ("Cluster-IP", "string", 0),
            ("External-IP", "string", 0),
            ("Port(s)", "string", 0),
            _AGE,
            ("Selector", "string", 1),
        ],
        printers.service_cells,
    ),
    "endpoints": ([_NAME, ("Endpoints", "string", 0), _AGE], printers.endpoints_cells),
    "namespaces": ([_NAME, ("Status", "string", 0), _AGE], printers.namespace_cells),
    "events": (
        [
            ("Last Seen", "string", 0),
            ("Type", "string", 0),
            ("Reason", "string", 0),
            ("Object", "string", 0),
            ("Message", "string", 0),
        ],
        printers.event_cells,
    ),
    "virtualservices": (
        [_NAME, ("Gateways", "string", 0), ("Hosts", "string", 0), _AGE],
        printers.virtual_service_cells,
    ),
    "destinationrules": ([_NAME, ("Host", "string", 0), _AGE], printers.destination_rule_cells),
}


def table(
    rt: ResourceType, objects: list[Obj], *, include: str, resource_version: str, now: datetime
) -> Obj:
    """A Table of `objects`; rows carry the object as `include` asks (Object, Metadata, None)."""
    columns, row_of = _PRINTERS[rt.plural]
    rows = []
    for obj in objects:
        row: Obj = {"cells": row_of(obj, now)}
        full = {"kind": rt.kind, "apiVersion": rt.api_version, **obj}
        if include == "Object":
            row["object"] = full
        elif include != "None":
            row["object"] = {
                "kind": "PartialObjectMetadata",
                "apiVersion": "meta.k8s.io/v1",
                "metadata": obj.get("metadata", {}),
            }
        rows.append(row)
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": resource_version},
        "columnDefinitions": [
            {
                "name": name,
                "type": kind,
                "format": "name" if name == "Name" else "",
                "description": name,
                "priority": priority,
            }
            for name, kind, priority in columns
        ],
        "rows": rows,
    }
