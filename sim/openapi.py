"""A minimal OpenAPI v3 document: just enough for kubectl to choose server-side validation.

kubectl (`create -f`, `apply`, `replace`) validates with `--validate=strict` by default. It asks
``/openapi/v3`` whether the PATCH operation of the object's kind accepts the `fieldValidation`
query parameter; if so, it sends ``fieldValidation=Strict`` and lets the server validate (which
the simulator does); otherwise it downloads schemas to validate itself and fails without them.
So each group-version document lists the resources' operations with their parameters and
`x-kubernetes-group-version-kind`, but no component schemas (`kubectl explain` does not work;
`kubectl apply` falls back to the patch metadata compiled into kubectl).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from sim.store import RESOURCE_TYPES, ResourceType

Obj = dict[str, Any]

_QUERY = ("dryRun", "fieldManager", "fieldValidation", "pretty")


def _gv_path(group: str, version: str) -> str:
    return f"apis/{group}/{version}" if group else f"api/{version}"


def _group_versions() -> list[tuple[str, str]]:
    seen: list[tuple[str, str]] = []
    for rt in RESOURCE_TYPES:
        if (rt.group, rt.version) not in seen:
            seen.append((rt.group, rt.version))
    return seen


def root() -> Obj:
    """``/openapi/v3``: where each group-version's document is."""
    paths = {}
    for group, version in _group_versions():
        gv = _gv_path(group, version)
        digest = hashlib.sha256(json.dumps(group_version(group, version)).encode()).hexdigest()
        paths[gv] = {"serverRelativeURL": f"/openapi/v3/{gv}?hash={digest[:32].upper()}"}
    return {"paths": paths}


def group_version(group: str, version: str) -> Obj | None:
    """``/openapi/v3/apis/{group}/{version}``: the operations of its resources."""
    types = [rt for rt in RESOURCE_TYPES if rt.group == group and rt.version == version]
    if not types:
        return None
    paths: Obj = {}
    for rt in types:
        paths[_object_path(rt)] = _operations(rt)
        for sub in rt.subresources:
            paths[_object_path(rt) + "/" + sub] = _operations(rt)
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "v1.37.1-sim"},
        "paths": paths,
        "components": {"schemas": {}},
    }


def _object_path(rt: ResourceType) -> str:
    prefix = "/" + _gv_path(rt.group, rt.version)
    scope = "/namespaces/{namespace}" if rt.namespaced else ""
    return f"{prefix}{scope}/{rt.plural}/{{name}}"


def _operations(rt: ResourceType) -> Obj:
    gvk = {"group": rt.group, "version": rt.version, "kind": rt.kind}
    parameters = [
        {"name": name, "in": "query", "schema": {"type": "string", "uniqueItems": True}}
        for name in _QUERY
    ]
    operation = {
        "parameters": parameters,
        "responses": {"200": {"description": "OK"}},
        "x-kubernetes-group-version-kind": gvk,
    }
    return {
        verb: {**operation, "operationId": f"{verb}{rt.kind}", "x-kubernetes-action": action}
        for verb, action in (
            ("get", "get"),
            ("put", "put"),
            ("patch", "patch"),
            ("delete", "delete"),
        )
    }
