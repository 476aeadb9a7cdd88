"""The REST verbs on resources: list, get, create, replace, patch, delete and subresources.

Independent of HTTP: each method takes a parsed `Route` and the request's query and body and
returns a `Reply` (or raises ApiError), so the HTTP layer only decodes and encodes.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sim import patches
from sim.admission import Admission, checked_body
from sim.errors import (
    ApiError,
    already_exists,
    bad_request,
    conflict,
    from_store,
    not_found,
    precondition_failed,
    unsupported_media_type,
)
from sim.routes import Route
from sim.scale import scale_of, scaled
from sim.selectors import SelectorError, object_filter
from sim.store import (
    EVENTS,
    NAMESPACES,
    PODS,
    RESOURCE_TYPES,
    SERVICES,
    ConflictError,
    ObjectStore,
    ResourceType,
    StoreError,
)

Obj = dict[str, Any]

# Resources whose DELETE answers with the deleted object rather than a Status.
_RETURNS_DELETED = (PODS, SERVICES, NAMESPACES)
# Resources a PUT may create (AllowCreateOnUpdate in the API server's strategies).
_CREATE_ON_UPDATE = ("endpoints", EVENTS.plural)
_PATCH_RETRIES = 5


@dataclass
class Reply:
    """A response body with its HTTP status and any `Warning` headers."""

    code: int
    body: Obj
    warnings: list[str] = field(default_factory=list)


def selector_of(route: Route, query: dict[str, str]) -> Callable[[Obj], bool]:
    """The label/field selector predicate of a request; 400 if a selector is malformed."""
    try:
        return object_filter(
            query.get("labelSelector", ""), query.get("fieldSelector", ""), route.rt.plural
        )
    except SelectorError as err:
        raise bad_request(str(err)) from err


def _strict(query: dict[str, str]) -> bool:
    return query.get("fieldValidation", "") == "Strict"


def _dry_run(query: dict[str, str]) -> bool:
    return query.get("dryRun", "") == "All"


class ResourceApi:
    """REST semantics over an ObjectStore."""

    def __init__(self, store: ObjectStore) -> None:
        """Serve the objects of `store`."""
        self.store = store
        self.admission = Admission(store)

    # --- reads ------------------------------------------------------------------------------

    def list(self, route: Route, query: dict[str, str]) -> Reply:
        """A `<Kind>List` of the matching objects, with the store's resourceVersion."""
        match = selector_of(route, query)
        with self.store.changed:  # holds the store's lock: the version and items agree
            version = self.store.resource_version
            items = self.store.select(route.rt, route.namespace, match)
        if route.rt.group != "networking.istio.io":  # built-in lists leave out kind/apiVersion
            for item in items:
                item.pop("kind", None)
                item.pop("apiVersion", None)
        return Reply(
            200,
            {
                "kind": route.rt.kind + "List",
                "apiVersion": route.rt.api_version,
                "metadata": {"resourceVersion": version},
                "items": items,
            },
        )

    def get(self, route: Route) -> Reply:
        """One object, or its scale / status subresource."""
        obj = self._current(route)
        return Reply(200, scale_of(obj) if route.subresource == "scale" else obj)

    # --- writes -----------------------------------------------------------------------------

    def create(self, route: Route, body: Any, query: dict[str, str]) -> Reply:
        """POST to a collection: default, validate, store; 201 with the stored object."""
        rt = route.rt
        obj = checked_body(route, body)
        if rt.namespaced:
            self._require_namespace(str(route.namespace))
        obj, warnings = self.admission.for_create(rt, obj, strict=_strict(query))
        if _dry_run(query):
            self._require_absent(rt, obj)
            return Reply(201, obj, warnings)
        try:
            return Reply(201, self.store.create(rt, obj), warnings)
        except StoreError as err:
            raise from_store(err) from err

    def replace(self, route: Route, body: Any, query: dict[str, str]) -> Reply:
        """PUT: the body replaces the object (or its status / scale); its RV must be current."""
        if route.subresource == "scale":
            current = self._current(route)
            return self._write(route, scaled(current, body), current, query, scale=True)
        obj = checked_body(route, body)
        try:
            current = self.store.get(route.rt, route.namespace, route.name)
        except StoreError as err:
            if route.rt.plural in _CREATE_ON_UPDATE:
                return self.create(Route(route.rt, route.namespace), obj, query)
            raise from_store(err) from err
        if route.subresource == "status":
            obj = {
                **current,
                "status": obj.get("status", {}),
                "metadata": {**current["metadata"], **_rv_of(obj)},
            }
        return self._write(route, obj, current, query)

    def patch(self, route: Route, raw: bytes, content_type: str, query: dict[str, str]) -> Reply:
        """PATCH with a strategic merge, JSON merge or JSON patch; retried on internal races."""
        apply = _patcher(content_type, route.rt)
        try:
            document = json.loads(raw or b"null")
        except ValueError as err:
            raise bad_request(f"error decoding patch: {err}") from err
        for _attempt in range(_PATCH_RETRIES):
            current = self._current(route)
            target = scale_of(current) if route.subresource == "scale" else current
            try:
                patched = apply(target, document)
            except patches.PatchError as err:
                raise ApiError(422, "Invalid", str(err)) from err
            guarded = _rv_of(patched) != _rv_of(target)  # the patch named a resourceVersion
            if route.subresource == "scale":
                patched = scaled(current, patched)
            else:
                patched = checked_body(route, patched)
            try:
                return self._write(
                    route, patched, current, query, scale=route.subresource == "scale"
                )
            except ApiError as err:
                if err.reason != "Conflict" or guarded:
                    raise
        raise conflict(route.rt, route.name)

    def delete(self, route: Route, body: Any, query: dict[str, str]) -> Reply:
        """DELETE one object (dependents go too, unless propagationPolicy is Orphan)."""
        rt = route.rt
        current = self._current(route)
        options = body if isinstance(body, dict) else {}
        _check_preconditions(rt, current, options.get("preconditions") or {})
        policy = options.get("propagationPolicy") or query.get("propagationPolicy", "")
        if _dry_run(query) or "All" in (options.get("dryRun") or []):
            return Reply(200, current)
        if policy == "Orphan":
            self._orphan(current["metadata"]["uid"])
        if rt == NAMESPACES:
            self._empty_namespace(route.name)
        try:
            deleted = self.store.delete(rt, route.namespace, route.name)
        except StoreError as err:
            raise from_store(err) from err
        if rt in _RETURNS_DELETED:
            deleted["metadata"]["deletionTimestamp"] = _now()
            if rt == NAMESPACES:
                deleted["status"] = {"phase": "Terminating"}
            return Reply(200, deleted)
        details: Obj = {"name": route.name, "kind": rt.plural, "uid": current["metadata"]["uid"]}
        if rt.group:
            details["group"] = rt.group
        return Reply(
            200,
            {
                "kind": "Status",
                "apiVersion": "v1",
                "metadata": {},
                "status": "Success",
                "details": details,
            },
        )

    def delete_collection(self, route: Route, query: dict[str, str]) -> Reply:
        """DELETE on a collection: every matching object; answers the list of them."""
        match = selector_of(route, query)
        doomed = self.store.select(route.rt, route.namespace, match)
        for obj in doomed:
            meta = obj["metadata"]
            try:
                self.store.delete(route.rt, meta.get("namespace"), meta["name"])
            except StoreError:
                continue  # garbage-collected with an owner meanwhile
        return Reply(
            200,
            {
                "kind": route.rt.kind + "List",
                "apiVersion": route.rt.api_version,
                "metadata": {"resourceVersion": self.store.resource_version},
                "items": doomed,
            },
        )

    # --- helpers ----------------------------------------------------------------------------

    def _current(self, route: Route) -> Obj:
        try:
            return self.store.get(route.rt, route.namespace, route.name)
        except StoreError as err:
            raise from_store(err) from err

    def _require_absent(self, rt: ResourceType, obj: Obj) -> None:
        meta = obj["metadata"]
        if self.store.select(
            rt, meta.get("namespace"), lambda o: o["metadata"]["name"] == meta["name"]
        ):
            raise already_exists(rt, meta["name"])

    def _require_namespace(self, namespace: str) -> None:
        try:
            self.store.get(NAMESPACES, None, namespace)
        except StoreError as err:
            raise not_found(NAMESPACES, namespace) from err

    def _write(
        self, route: Route, obj: Obj, current: Obj, query: dict[str, str], *, scale: bool = False
    ) -> Reply:
        rt = route.rt
        obj, warnings = self.admission.for_update(rt, obj, current, strict=_strict(query))
        if _dry_run(query):
            stored = obj
        else:
            try:
                stored = self.store.update(
                    rt, obj, subresource=route.subresource if route.subresource == "status" else ""
                )
            except ConflictError as err:
                raise conflict(rt, route.name) from err
            except StoreError as err:
                raise from_store(err) from err
        return Reply(200, scale_of(stored) if scale else stored, warnings)

    def _orphan(self, owner_uid: str) -> None:
        for rt in RESOURCE_TYPES:
            for obj in self.store.select(rt):
                refs = obj["metadata"].get("ownerReferences") or []
                kept = [ref for ref in refs if ref.get("uid") != owner_uid]
                if len(kept) != len(refs):
                    obj["metadata"]["ownerReferences"] = kept
                    self.store.update(rt, obj)

    def _empty_namespace(self, namespace: str) -> None:
        for rt in RESOURCE_TYPES:
            if rt.namespaced:
                for obj in self.store.select(rt, namespace):
                    try:
                        self.store.delete(rt, namespace, obj["metadata"]["name"])
                    except StoreError:
                        continue  # already garbage-collected with its owner


def _patcher(content_type: str, rt: ResourceType) -> Callable[[Obj, Any], Obj]:
    # strategic-merge-patch+json contains "merge-patch+json": test it first.
    if "strategic-merge-patch" in content_type:
        if rt.group == "networking.istio.io":
            raise unsupported_media_type(content_type)  # custom resources: no strategic merge
        return lambda target, doc: patches.strategic_merge_patch(target, doc, kind=rt.kind)
    if "merge-patch" in content_type:
        return _merge
    if "json-patch" in content_type:
        return patches.json_patch
    raise unsupported_media_type(content_type)


def _merge(target: Obj, document: Any) -> Obj:
    if not isinstance(document, dict):
        raise patches.PatchError("merge patch must be a JSON object")
    result = patches.merge_patch(target, document)
    assert isinstance(result, dict)
    return result


def _rv_of(obj: Obj) -> dict[str, str]:
    rv = (obj.get("metadata") or {}).get("resourceVersion")
    return {"resourceVersion": rv} if rv else {}


def _check_preconditions(rt: ResourceType, current: Obj, preconditions: Obj) -> None:
    meta = current["metadata"]
    for key, label in (("uid", "UID"), ("resourceVersion", "ResourceVersion")):
        wanted = preconditions.get(key)
        if wanted and wanted != meta.get(key):
            raise precondition_failed(
                rt,
                meta["name"],
                f"{label} in precondition: {wanted}, {label} in object meta: {meta.get(key)}",
            )


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
