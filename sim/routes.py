"""Which resource a REST path names: ``/apis/apps/v1/namespaces/x/deployments/y/scale``."""

from __future__ import annotations

from dataclasses import dataclass

from sim.errors import path_not_found
from sim.store import RESOURCE_TYPES, ResourceType

_BY_PATH: dict[tuple[str, str, str], ResourceType] = {
    (rt.group, rt.version, rt.plural): rt for rt in RESOURCE_TYPES
}


@dataclass(frozen=True)
class Route:
    """A parsed resource URL: the collection (name empty) or one object and its subresource."""

    rt: ResourceType
    namespace: str | None  # None: cluster-scoped, or every namespace
    name: str = ""
    subresource: str = ""

    @property
    def is_collection(self) -> bool:
        """A list/create/watch/deletecollection URL rather than one object's."""
        return not self.name


def lookup(group: str, version: str, plural: str) -> ResourceType | None:
    """The resource type served at group/version/plural, if the simulator has it."""
    return _BY_PATH.get((group, version, plural))


def parse(path: str) -> Route:
    """The route of a resource path; an ApiError (404) for anything else."""
    parts = [p for p in path.split("/") if p]
    if parts[:2] == ["api", "v1"]:
        group, version, rest = "", "v1", parts[2:]
    elif len(parts) >= 3 and parts[0] == "apis":
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        raise path_not_found()
    namespace: str | None = None
    # /namespaces/{ns}/{plural}/… is namespaced; /namespaces/{name}[/status] is a Namespace.
    if len(rest) >= 3 and rest[0] == "namespaces" and rest[2] not in ("status", "finalize"):
        namespace, rest = rest[1], rest[2:]
    if not rest or len(rest) > 3:
        raise path_not_found()
    rt = lookup(group, version, rest[0])
    if rt is None or (namespace is not None and not rt.namespaced):
        raise path_not_found()
    name = rest[1] if len(rest) > 1 else ""
    subresource = rest[2] if len(rest) > 2 else ""
    if subresource and subresource not in rt.subresources:
        raise path_not_found()
    if rt.namespaced and name and namespace is None:
        raise path_not_found()  # /api/v1/pods/x names nothing
    return Route(rt, namespace, name, subresource)
