"""Validation of objects after defaulting, as the API server refuses them (422 Invalid).

Built-in kinds are checked against the Kubernetes 1.37 OpenAPI schemas that
`kubernetes_validate` ships (strict variant: unknown fields are errors), plus the semantic
rules the schema cannot express (a Deployment's selector must match its template, a container
needs an image, …). Istio kinds get a small structural check only: the official Istio CRD
schemas are not available offline.
"""

from __future__ import annotations

import copy
import functools
import json
import re
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import kubernetes_validate.utils
from referencing import Registry, Resource

from sim.errors import Cause, bad_request, invalid
from sim.selectors import label_selector_matches
from sim.store import (
    DEPLOYMENTS,
    DESTINATION_RULES,
    REPLICASETS,
    SERVICES,
    VIRTUAL_SERVICES,
    ResourceType,
)

Obj = dict[str, Any]

_SCHEMA_DIR = "kubernetes-json-schema/v1.37.0-local-strict"
_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_SUBDOMAIN_TEXT = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' "
    "or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex "
    "used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
_LABEL_TEXT = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and "
    "must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex "
    "used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)


def validate(rt: ResourceType, obj: Obj, *, strict_fields: bool) -> tuple[Obj, list[str]]:
    """The object as it will be stored, and warnings; raises ApiError if it is refused.

    Unknown fields are a 400 BadRequest when the request asked for `fieldValidation=Strict`
    (kubectl does), otherwise dropped with a warning, as the API server does.
    """
    obj = copy.deepcopy(obj)
    name = str(obj.get("metadata", {}).get("name", ""))
    causes: list[Cause] = []
    unknown: list[str] = []
    if rt.group != VIRTUAL_SERVICES.group:
        errors = sorted(_validator(rt).iter_errors(obj), key=lambda e: _path(e.absolute_path))
        unknown = _drop_unknown_fields([e for e in errors if _is_unknown_field(e)])
        causes = [cause for e in errors if not _is_unknown_field(e) for cause in _causes(e)]
    if unknown and strict_fields:
        raise bad_request(
            "strict decoding error: " + ", ".join(f'unknown field "{f}"' for f in unknown)
        )
    causes += _semantic_causes(rt, obj)
    if causes:
        raise invalid(rt, name, causes)
    return obj, [f'unknown field "{f}"' for f in unknown]


@functools.cache
def _validator(rt: ResourceType) -> Any:
    api_version = f"{rt.group.split('.')[0]}-{rt.version}" if rt.group else rt.version
    schema = kubernetes_validate.utils.schema_contents(
        f"{_SCHEMA_DIR}/{rt.kind.lower()}-{api_version}.json", "1.37"
    )
    definitions = kubernetes_validate.utils.schema_contents(
        f"{_SCHEMA_DIR}/_definitions.json", "1.37"
    )
    registry: Registry[Any] = Resource.from_contents(schema) @ Registry()
    registry = Resource.from_contents(definitions) @ registry
    return jsonschema.validators.Draft202012Validator(schema, registry=registry)


def _path(parts: Any) -> str:
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text.lstrip(".")


def _is_unknown_field(error: Any) -> bool:
    return error.validator == "additionalProperties" and isinstance(error.instance, dict)


def _drop_unknown_fields(errors: list[Any]) -> list[str]:
    """Remove the fields these errors name from the object; return their paths."""
    unknown: list[str] = []
    for error in errors:
        known = set(error.schema.get("properties", {}))
        for key in [k for k in error.instance if k not in known]:
            unknown.append(_path([*error.absolute_path, key]))
            del error.instance[key]  # the error's instance is the object's own dict
    return sorted(set(unknown))


def _causes(error: Any) -> list[Cause]:
    path = _path(error.absolute_path)
    if error.validator == "required":
        return [
            Cause("FieldValueRequired", "Required value", _join(path, key))
            for key in error.validator_value
            if key not in error.instance
        ]
    if error.validator == "enum":
        supported = ", ".join(json.dumps(v) for v in error.validator_value if v is not None)
        message = f"Unsupported value: {json.dumps(error.instance)}: supported values: {supported}"
        return [Cause("FieldValueNotSupported", message, path)]
    message = f"Invalid value: {json.dumps(error.instance)}: {error.message}"
    return [Cause("FieldValueInvalid", message, path)]


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _semantic_causes(rt: ResourceType, obj: Obj) -> list[Cause]:
    causes = _metadata_causes(rt, obj)
    spec = obj.get("spec")
    if rt in (DEPLOYMENTS, REPLICASETS) and isinstance(spec, dict):
        causes += _workload_causes(spec)
    elif rt == SERVICES and isinstance(spec, dict):
        causes += _service_causes(spec)
    elif rt in (VIRTUAL_SERVICES, DESTINATION_RULES):
        causes += _istio_causes(rt, obj)
    return causes


def _metadata_causes(rt: ResourceType, obj: Obj) -> list[Cause]:
    meta = obj.get("metadata", {})
    name = meta.get("name", "")
    if not name:
        return [
            Cause(
                "FieldValueRequired",
                "Required value: name or generateName is required",
                "metadata.name",
            )
        ]
    pattern, text = (_LABEL, _LABEL_TEXT) if rt == SERVICES else (_SUBDOMAIN, _SUBDOMAIN_TEXT)
    if not pattern.match(name) or len(name) > 253:
        return [Cause("FieldValueInvalid", f'Invalid value: "{name}": {text}', "metadata.name")]
    return []


def _workload_causes(spec: Obj) -> list[Cause]:
    causes = []
    replicas = spec.get("replicas")
    if isinstance(replicas, int) and replicas < 0:
        causes.append(
            Cause(
                "FieldValueInvalid",
                f"Invalid value: {replicas}: must be greater than or equal to 0",
                "spec.replicas",
            )
        )
    selector = spec.get("selector")
    labels = (spec.get("template") or {}).get("metadata", {}).get("labels") or {}
    if not selector:
        causes.append(Cause("FieldValueRequired", "Required value", "spec.selector"))
    elif not label_selector_matches(selector, labels):
        shown = "map[string]string{" + ", ".join(f'"{k}":"{v}"' for k, v in labels.items()) + "}"
        causes.append(
            Cause(
                "FieldValueInvalid",
                f"Invalid value: {shown}: `selector` does not match template `labels`",
                "spec.template.metadata.labels",
            )
        )
    pod = (spec.get("template") or {}).get("spec") or {}
    if pod.get("restartPolicy", "Always") != "Always":
        causes.append(
            Cause(
                "FieldValueNotSupported",
                f'Unsupported value: "{pod["restartPolicy"]}": supported values: "Always"',
                "spec.template.spec.restartPolicy",
            )
        )
    return causes + _container_causes(pod, "spec.template.spec")


def _container_causes(pod: Obj, path: str) -> list[Cause]:
    containers = pod.get("containers")
    if not containers:
        return [Cause("FieldValueRequired", "Required value", f"{path}.containers")]
    causes = []
    seen: set[str] = set()
    for index, container in enumerate(containers):
        where = f"{path}.containers[{index}]"
        name = container.get("name", "")
        if name and not _LABEL.match(name):
            causes.append(
                Cause(
                    "FieldValueInvalid", f'Invalid value: "{name}": {_LABEL_TEXT}', f"{where}.name"
                )
            )
        elif name in seen:
            causes.append(
                Cause("FieldValueDuplicate", f'Duplicate value: "{name}"', f"{where}.name")
            )
        seen.add(name)
        if not container.get("image"):
            causes.append(Cause("FieldValueRequired", "Required value", f"{where}.image"))
    return causes


def _service_causes(spec: Obj) -> list[Cause]:
    ports = spec.get("ports") or []
    if not ports and spec.get("type") != "ExternalName" and spec.get("clusterIP") != "None":
        return [Cause("FieldValueRequired", "Required value", "spec.ports")]
    causes = []
    for index, port in enumerate(ports):
        number = port.get("port")
        if isinstance(number, int) and not 1 <= number <= 65535:
            causes.append(
                Cause(
                    "FieldValueInvalid",
                    f"Invalid value: {number}: must be between 1 and 65535, inclusive",
                    f"spec.ports[{index}].port",
                )
            )
    return causes


def _istio_causes(rt: ResourceType, obj: Obj) -> list[Cause]:
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return [Cause("FieldValueRequired", "Required value: spec must be an object", "spec")]
    if rt == DESTINATION_RULES:
        if not isinstance(spec.get("host"), str) or not spec["host"]:
            return [Cause("FieldValueRequired", "Required value", "spec.host")]
        return []
    causes = []
    for kind in ("http", "tcp", "tls"):
        for index, route in enumerate(spec.get(kind) or []):
            if not isinstance(route, dict):
                causes.append(
                    Cause(
                        "FieldValueInvalid",
                        "Invalid value: must be an object",
                        f"spec.{kind}[{index}]",
                    )
                )
                continue
            causes += _destination_causes(route.get("route") or [], f"spec.{kind}[{index}].route")
    return causes


def _destination_causes(routes: list[Any], path: str) -> list[Cause]:
    causes = []
    for index, dest in enumerate(routes):
        where = f"{path}[{index}]"
        host = (dest.get("destination") or {}).get("host") if isinstance(dest, dict) else None
        if not host:
            causes.append(
                Cause("FieldValueRequired", "Required value", f"{where}.destination.host")
            )
        weight = dest.get("weight", 0) if isinstance(dest, dict) else 0
        if not isinstance(weight, int) or not 0 <= weight <= 100:
            causes.append(
                Cause(
                    "FieldValueInvalid",
                    f"Invalid value: {json.dumps(weight)}: weight must be between 0 and 100",
                    f"{where}.weight",
                )
            )
    return causes
