"""Who may do what: request recording, simulated RBAC denials and injected conflicts.

Every resource request is recorded with its RBAC attributes, so a test can compare what the
bot did with what its Role allows. Deny rules answer 403 with the API server's wording;
conflict rules make the next N matching writes answer 409, to prove a caller retries.
"""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass, field
from typing import Any

from sim.errors import ApiError, conflict, forbidden
from sim.routes import Route

SERVICE_ACCOUNT_USER = "system:serviceaccount:canarybot:canarybot"
WRITE_VERBS = ("create", "update", "patch", "delete", "deletecollection")


@dataclass(frozen=True)
class RecordedRequest:
    """One resource request as RBAC sees it."""

    verb: str  # get, list, watch, create, update, patch, delete, deletecollection
    api_group: str  # "" for the core group
    resource: str  # plural: "deployments"
    subresource: str  # "", "scale", "status"
    namespace: str  # "" for cluster-scoped and all-namespaces requests
    name: str  # "" for collection requests
    denied: bool = field(default=False, compare=False)

    def to_json(self) -> dict[str, Any]:
        """The record as the control API lists it."""
        return asdict(self)


def rbac_verb(method: str, route: Route, *, watch: bool) -> str:
    """The RBAC verb of an HTTP method on a route."""
    if method == "GET":
        if watch:
            return "watch"
        return "list" if route.is_collection else "get"
    if method == "DELETE":
        return "deletecollection" if route.is_collection else "delete"
    return {"POST": "create", "PUT": "update", "PATCH": "patch"}.get(method, method.lower())


def record_of(verb: str, route: Route) -> RecordedRequest:
    """The RBAC attributes of a request."""
    return RecordedRequest(
        verb, route.rt.group, route.rt.plural, route.subresource, route.namespace or "", route.name
    )


@dataclass(frozen=True)
class AccessRule:
    """Matches requests; None (or "*") in a field matches anything."""

    verb: str | None = None
    resource: str | None = None  # plural, or "deployments/scale" for a subresource
    api_group: str | None = None
    namespace: str | None = None
    name: str | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> AccessRule:
        """A rule from the control API ({"verb": "patch", "resource": "deployments", …})."""
        known = {"verb", "resource", "api_group", "namespace", "name"}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown rule fields: {sorted(unknown)}")
        return cls(**{key: data.get(key) for key in known})

    def matches(self, request: RecordedRequest) -> bool:
        """Whether the request falls under this rule."""
        resource = request.resource + (f"/{request.subresource}" if request.subresource else "")
        wanted = (
            (self.verb, request.verb),
            (self.resource, resource),
            (self.api_group, request.api_group),
            (self.namespace, request.namespace),
            (self.name, request.name),
        )
        return all(rule in (None, "*", actual) for rule, actual in wanted)


@dataclass
class _ConflictRule:
    rule: AccessRule
    remaining: int


class AccessControl:
    """The recorded requests, the deny list and pending conflicts; thread-safe."""

    def __init__(self, user: str = SERVICE_ACCOUNT_USER) -> None:
        """No requests recorded, nothing denied, no conflicts pending."""
        self.user = user
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []
        self._deny: list[AccessRule] = []
        self._conflicts: list[_ConflictRule] = []

    def admit(self, verb: str, route: Route) -> None:
        """Record the request; raise 403 if a deny rule matches, 409 if a conflict is due."""
        request = record_of(verb, route)
        with self._lock:
            denied = any(rule.matches(request) for rule in self._deny)
            self._requests.append(RecordedRequest(**{**asdict(request), "denied": denied}))
            if denied:
                raise self._forbidden(request, route)
            for pending in self._conflicts:
                if pending.remaining > 0 and verb in WRITE_VERBS and pending.rule.matches(request):
                    pending.remaining -= 1
                    raise conflict(route.rt, route.name or "")

    def requests(self) -> list[RecordedRequest]:
        """Every request recorded since the last `clear_requests`."""
        with self._lock:
            return list(self._requests)

    def clear_requests(self) -> None:
        """Forget the recorded requests."""
        with self._lock:
            self._requests.clear()

    def deny(self, rules: list[AccessRule]) -> None:
        """Replace the deny list (an empty list allows everything again)."""
        with self._lock:
            self._deny = list(rules)

    def inject_conflicts(self, rule: AccessRule, count: int) -> None:
        """Make the next `count` writes matching `rule` answer 409 Conflict."""
        with self._lock:
            self._conflicts.append(_ConflictRule(rule, count))

    def _forbidden(self, request: RecordedRequest, route: Route) -> ApiError:
        resource = request.resource + (f"/{request.subresource}" if request.subresource else "")
        scope = (
            f'in the namespace "{request.namespace}"'
            if request.namespace
            else "at the cluster scope"
        )
        reason = (
            f'User "{self.user}" cannot {request.verb} resource "{resource}" in API group '
            f'"{request.api_group}" {scope}'
        )
        return forbidden(route.rt, request.name, reason)
