"""The three PATCH flavours the API server applies: JSON merge, JSON patch, strategic merge.

All functions are purely computational: they return a new document and never change their
arguments. A patch that cannot be applied raises `PatchError`.
"""

from __future__ import annotations

import copy
from typing import Any

import jsonpatch

Obj = dict[str, Any]

# Kubernetes' patchMergeKey for lists that merge element-wise rather than being replaced.
_MERGE_KEYS: dict[str, str] = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "env": "name",
    "volumes": "name",
    "volumeMounts": "mountPath",
    "volumeDevices": "devicePath",
    "imagePullSecrets": "name",
    "conditions": "type",
    "hostAliases": "ip",
    "topologySpreadConstraints": "topologyKey",
    "ownerReferences": "uid",
    "resourceClaims": "name",
}
_SERVICE_KINDS = ("Service",)
_DIRECTIVE = "$patch"
_ORDER_PREFIX = "$setElementOrder/"
_DELETE_PRIMITIVE_PREFIX = "$deleteFromPrimitiveList/"
_RETAIN_KEYS = "$retainKeys"


class PatchError(ValueError):
    """A patch that does not apply to the object (the API answers 422 or 400)."""


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch: objects merge recursively, null deletes, the rest replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def json_patch(target: Obj, operations: Any) -> Obj:
    """RFC 6902 JSON patch (a list of add/remove/replace/move/copy/test operations)."""
    if not isinstance(operations, list):
        raise PatchError("json patch must be a list of operations")
    try:
        result = jsonpatch.apply_patch(copy.deepcopy(target), operations)
    except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as err:
        raise PatchError(str(err)) from err
    except (KeyError, TypeError, ValueError) as err:
        raise PatchError(f"invalid json patch: {err}") from err
    if not isinstance(result, dict):
        raise PatchError("json patch must leave an object")
    return result


def strategic_merge_patch(target: Obj, patch: Any, *, kind: str) -> Obj:
    """Kubernetes strategic merge patch of an object of `kind`.

    Lists with a patchMergeKey (containers by name, env by name, ports by containerPort —
    Service ports by port —, volumes, volumeMounts by mountPath, conditions by type, …)
    merge element by element; other lists replace. Supports ``$patch: delete|replace|merge``,
    ``null`` deletes, ``$setElementOrder/<list>``, ``$deleteFromPrimitiveList/<list>`` and
    ``$retainKeys``, which kubectl apply sends.
    """
    if not isinstance(patch, dict):
        raise PatchError("strategic merge patch must be a JSON object")
    keys = dict(_MERGE_KEYS, ports="port" if kind in _SERVICE_KINDS else "containerPort")
    result = _merge_map(copy.deepcopy(target), patch, keys)
    if result is None:
        raise PatchError("strategic merge patch deleted the whole object")
    return result


def _merge_map(target: Obj | None, patch: Obj, keys: dict[str, str]) -> Obj | None:
    directive = patch.get(_DIRECTIVE)
    if directive == "delete":
        return None
    body = {k: v for k, v in patch.items() if k != _DIRECTIVE}
    if directive == "replace":
        replaced: Obj = _strip_directives(body)
        return replaced
    if directive not in (None, "merge"):
        raise PatchError(f"unknown patch type: {directive}")
    result = target if isinstance(target, dict) else {}
    orders = {}
    for key, value in body.items():
        if key.startswith(_ORDER_PREFIX):
            orders[key[len(_ORDER_PREFIX) :]] = value
        elif key.startswith(_DELETE_PRIMITIVE_PREFIX):
            field = key[len(_DELETE_PRIMITIVE_PREFIX) :]
            doomed = value if isinstance(value, list) else []
            if isinstance(result.get(field), list):
                result[field] = [item for item in result[field] if item not in doomed]
        elif key != _RETAIN_KEYS:
            _merge_field(result, key, value, keys)
    for field, order in orders.items():
        if isinstance(result.get(field), list) and isinstance(order, list):
            result[field] = _ordered(result[field], order, keys.get(field))
    retain = body.get(_RETAIN_KEYS)
    if isinstance(retain, list):
        result = {k: v for k, v in result.items() if k in retain}
    return result


def _merge_field(result: Obj, key: str, value: Any, keys: dict[str, str]) -> None:
    if value is None:
        result.pop(key, None)
    elif isinstance(value, dict):
        merged = _merge_map(result.get(key), value, keys)
        if merged is None:
            result.pop(key, None)
        else:
            result[key] = merged
    elif isinstance(value, list) and key in keys:
        result[key] = _merge_list(result.get(key), value, keys[key], keys)
    else:
        result[key] = _strip_directives(value)


def _merge_list(target: Any, patch: list[Any], merge_key: str, keys: dict[str, str]) -> list[Any]:
    if any(isinstance(item, dict) and item.get(_DIRECTIVE) == "replace" for item in patch):
        return [
            _strip_directives(item)
            for item in patch
            if not (isinstance(item, dict) and item.get(_DIRECTIVE) == "replace")
        ]
    result = list(target) if isinstance(target, list) else []
    for item in patch:
        if not isinstance(item, dict) or merge_key not in item:
            if isinstance(item, dict) and item.get(_DIRECTIVE) == "delete":
                raise PatchError(f"delete directive without merge key {merge_key}")
            result.append(_strip_directives(item))
            continue
        index = next(
            (
                i
                for i, old in enumerate(result)
                if isinstance(old, dict) and old.get(merge_key) == item[merge_key]
            ),
            None,
        )
        if item.get(_DIRECTIVE) == "delete":
            if index is not None:
                result.pop(index)
        elif index is None:
            result.append(_strip_directives(item))
        else:
            merged = _merge_map(result[index], item, keys)
            result[index] = merged if merged is not None else result[index]
    return result


def _ordered(items: list[Any], order: list[Any], merge_key: str | None) -> list[Any]:
    """Items sorted as `order` lists them; items it does not name keep their place at the end."""

    def key_of(item: Any) -> Any:
        return item.get(merge_key) if merge_key and isinstance(item, dict) else item

    wanted = [key_of(entry) for entry in order]
    ranked = [item for item in items if key_of(item) in wanted]
    ranked.sort(key=lambda item: wanted.index(key_of(item)))
    return ranked + [item for item in items if key_of(item) not in wanted]


def _strip_directives(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: _strip_directives(v)
            for k, v in value.items()
            if k != _DIRECTIVE
            and k != _RETAIN_KEYS
            and not k.startswith((_ORDER_PREFIX, _DELETE_PRIMITIVE_PREFIX))
            and v is not None
        }
    if isinstance(value, list):
        return [_strip_directives(v) for v in value]
    return value
