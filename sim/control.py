"""The simulator's own control API under ``/_sim/`` (not part of Kubernetes).

GET    /_sim/healthz      "ok"
GET    /_sim/requests     {"requests": [{verb, api_group, resource, subresource, namespace,
                          name, denied}, …]}
DELETE /_sim/requests     forget them
POST   /_sim/deny         [{"verb": "patch", "resource": "deployments/scale", …}, …]
                          replaces the deny list ([] allows everything)
POST   /_sim/conflicts    {"count": 1, "verb": "patch", "resource": "deployments", "name": …}
POST   /_sim/pods         {"default_ready_after_s": 0.2, "rules": [{"image", "fate",
                          "ready_after_s"}, …]}
POST   /_sim/load         a multi-document YAML of objects to create
"""

from __future__ import annotations

from typing import Any

import yaml

from sim.access import AccessControl, AccessRule
from sim.api import Request, Response
from sim.behaviour import PodBehaviour, PodRule
from sim.errors import ApiError, bad_request, method_not_allowed, path_not_found
from sim.rest import ResourceApi
from sim.routes import Route, lookup

Obj = dict[str, Any]
PREFIX = "/_sim/"


def load_objects(resources: ResourceApi, text: str) -> list[Obj]:
    """Create every object of a multi-document YAML through the API (defaults, validation)."""
    try:
        documents = [doc for doc in yaml.safe_load_all(text) if doc]
    except yaml.YAMLError as err:
        raise bad_request(f"invalid YAML: {err}") from err
    created = []
    for doc in documents:
        if not isinstance(doc, dict):
            raise bad_request("every YAML document must be an object")
        group, _, version = str(doc.get("apiVersion", "")).rpartition("/")
        kind = str(doc.get("kind", ""))
        rt = next((lookup(group, version, plural) for plural in _plurals(kind)), None)
        if rt is None:
            raise bad_request(f'no matches for kind "{kind}" in version "{doc.get("apiVersion")}"')
        namespace = doc.get("metadata", {}).get("namespace") or "default"
        route = Route(rt, namespace if rt.namespaced else None)
        created.append(resources.create(route, doc, {}).body)
    return created


def _plurals(kind: str) -> list[str]:
    lower = kind.lower()
    return [plural for plural in (lower + "s", lower + "es", lower) if plural]


class ControlApi:
    """Answers /_sim/ requests by changing the access rules, pod behaviour or objects."""

    def __init__(
        self, access: AccessControl, behaviour: PodBehaviour, resources: ResourceApi
    ) -> None:
        """Control `access`, `behaviour` and the objects behind `resources`."""
        self.access = access
        self.behaviour = behaviour
        self.resources = resources

    def handle(self, request: Request) -> Response:
        """Answer one control request."""
        try:
            return self._route(request)
        except ApiError as err:
            return Response(err.code, err.status())
        except (KeyError, TypeError, ValueError) as err:
            return Response(400, bad_request(f"invalid control request: {err}").status())

    def _route(self, request: Request) -> Response:
        action = (request.method, request.path[len(PREFIX) :].rstrip("/"))
        if action == ("GET", "healthz"):
            return Response(200, "ok", content_type="text/plain")
        if action == ("GET", "requests"):
            return Response(200, {"requests": [r.to_json() for r in self.access.requests()]})
        if action == ("DELETE", "requests"):
            self.access.clear_requests()
            return Response(200, {})
        if action == ("POST", "deny"):
            rules = request.json_body() or []
            self.access.deny([AccessRule.from_json(rule) for rule in _listed(rules)])
            return Response(200, {})
        if action == ("POST", "conflicts"):
            spec = dict(request.json_body() or {})
            count = int(spec.pop("count", 1))
            self.access.inject_conflicts(AccessRule.from_json(spec), count)
            return Response(200, {})
        if action == ("POST", "pods"):
            self._set_pods(request.json_body() or {})
            return Response(200, {})
        if action == ("POST", "load"):
            created = load_objects(self.resources, request.body.decode())
            return Response(201, {"created": len(created)})
        if action[1] in ("healthz", "requests", "deny", "conflicts", "pods", "load"):
            raise method_not_allowed()
        raise path_not_found()

    def _set_pods(self, body: Obj) -> None:
        delay = body.get("default_ready_after_s")
        rules = [PodRule.from_json(rule) for rule in body.get("rules") or []]
        self.behaviour.set_rules(
            rules, default_ready_after_s=None if delay is None else float(delay)
        )


def _listed(rules: Any) -> list[Obj]:
    if isinstance(rules, dict):
        rules = rules.get("rules") or []
    if not isinstance(rules, list):
        raise bad_request("deny rules must be a list")
    return rules
