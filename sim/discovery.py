"""Discovery documents: how kubectl and the client learn which resources the server has.

Served as the legacy (unaggregated) documents; kubectl asks for aggregated discovery first
and falls back to these when the answer's Content-Type is plain `application/json`.
"""

from __future__ import annotations

from typing import Any

from sim.store import RESOURCE_TYPES, ResourceType

Obj = dict[str, Any]

VERSION: Obj = {
    "major": "1",
    "minor": "37",
    "emulationMajor": "1",
    "emulationMinor": "37",
    "minCompatibilityMajor": "1",
    "minCompatibilityMinor": "36",
    "gitVersion": "v1.37.1-sim",
    "gitCommit": "0000000000000000000000000000000000000000",
    "gitTreeState": "clean",
    "buildDate": "2026-01-01T00:00:00Z",
    "goVersion": "go1.25.0",
    "compiler": "gc",
    "platform": "linux/amd64",
}

_VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
_SUBRESOURCE_VERBS = ["get", "patch", "update"]
_CATEGORY_ALL = {"pods", "services", "deployments", "replicasets"}


def _group_versions() -> dict[str, list[str]]:
    versions: dict[str, list[str]] = {}
    for rt in RESOURCE_TYPES:
        if rt.version not in versions.setdefault(rt.group, []):
            versions[rt.group].append(rt.version)
    return versions


def api_versions(server_address: str) -> Obj:
    """``/api``: the core group's versions."""
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [
            {"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}
        ],
    }


def api_group_list() -> Obj:
    """``/apis``: every named group (apps, networking.istio.io) and its versions."""
    groups = []
    for group, versions in _group_versions().items():
        if not group:
            continue
        entries = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
        groups.append({"name": group, "versions": entries, "preferredVersion": entries[0]})
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def api_group(group: str) -> Obj | None:
    """``/apis/{group}``: one group, or None if the simulator does not serve it."""
    versions = _group_versions().get(group)
    if not group or versions is None:
        return None
    entries = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
    return {
        "kind": "APIGroup",
        "apiVersion": "v1",
        "name": group,
        "versions": entries,
        "preferredVersion": entries[0],
    }


def api_resource_list(group: str, version: str) -> Obj | None:
    """``/api/v1`` or ``/apis/{group}/{version}``: resources, subresources, verbs, short names."""
    types = [rt for rt in RESOURCE_TYPES if rt.group == group and rt.version == version]
    if not types:
        return None
    resources: list[Obj] = []
    for rt in types:
        resources.append(_resource(rt))
        for sub in rt.subresources:
            resources.append(_subresource(rt, sub))
    group_version = f"{group}/{version}" if group else version
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": group_version,
        "resources": resources,
    }


def _resource(rt: ResourceType) -> Obj:
    entry: Obj = {
        "name": rt.plural,
        "singularName": rt.singular,
        "namespaced": rt.namespaced,
        "kind": rt.kind,
        "verbs": _VERBS,
    }
    if rt.short_names:
        entry["shortNames"] = list(rt.short_names)
    if rt.plural in _CATEGORY_ALL:
        entry["categories"] = ["all"]
    elif rt.group == "networking.istio.io":
        entry["categories"] = ["istio-io", "networking-istio-io"]
    return entry


def _subresource(rt: ResourceType, sub: str) -> Obj:
    entry: Obj = {
        "name": f"{rt.plural}/{sub}",
        "singularName": "",
        "namespaced": rt.namespaced,
        "kind": rt.kind,
        "verbs": _SUBRESOURCE_VERBS,
    }
    if sub == "scale":
        entry.update(group="autoscaling", version="v1", kind="Scale")
    return entry
