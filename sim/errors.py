"""Kubernetes `Status` errors: what the API server answers when it refuses a request.

Messages are worded as the real API server words them, because kubectl prints them verbatim
(`Error from server (NotFound): deployments.apps "x" not found`) and tests compare that text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sim.store import ResourceType, StoreError

Obj = dict[str, Any]


@dataclass(frozen=True)
class Cause:
    """One field-level reason an object is invalid (`details.causes[]`)."""

    reason: str  # FieldValueRequired, FieldValueInvalid, FieldValueNotSupported, …
    message: str
    field: str

    def to_json(self) -> Obj:
        """The cause as the API sends it."""
        return {"reason": self.reason, "message": self.message, "field": self.field}


@dataclass
class ApiError(Exception):
    """A refusal the server turns into a `Status` body with HTTP status `code`."""

    code: int
    reason: str
    message: str
    details: Obj = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__init__(self.message)

    def status(self) -> Obj:
        """The `Status` body."""
        body: Obj = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if self.details:
            body["details"] = self.details
        return body


def qualified(rt: ResourceType) -> str:
    """How messages name a resource: ``deployments.apps``, or ``pods`` for the core group."""
    return f"{rt.plural}.{rt.group}" if rt.group else rt.plural


def _details(rt: ResourceType, name: str, kind: str | None = None) -> Obj:
    details: Obj = {"name": name} if name else {}
    if rt.group:
        details["group"] = rt.group
    details["kind"] = kind or rt.plural
    return details


def from_store(err: StoreError) -> ApiError:
    """The Status for a store refusal (NotFound, AlreadyExists, Conflict)."""
    return ApiError(err.code, err.reason, err.message, _details(err.rt, err.name))


def not_found(rt: ResourceType, name: str) -> ApiError:
    """404: ``deployments.apps "x" not found``."""
    return ApiError(404, "NotFound", f'{qualified(rt)} "{name}" not found', _details(rt, name))


def already_exists(rt: ResourceType, name: str) -> ApiError:
    """409: ``deployments.apps "x" already exists``."""
    message = f'{qualified(rt)} "{name}" already exists'
    return ApiError(409, "AlreadyExists", message, _details(rt, name))


def conflict(rt: ResourceType, name: str) -> ApiError:
    """409: the write carried (or is treated as carrying) a stale resourceVersion."""
    message = (
        f'Operation cannot be fulfilled on {qualified(rt)} "{name}": the object has been '
        "modified; please apply your changes to the latest version and try again"
    )
    return ApiError(409, "Conflict", message, _details(rt, name))


def precondition_failed(rt: ResourceType, name: str, mismatch: str) -> ApiError:
    """409: a DELETE's preconditions (uid, resourceVersion) do not hold."""
    message = f'Operation cannot be fulfilled on {qualified(rt)} "{name}": Precondition failed: '
    return ApiError(409, "Conflict", message + mismatch, _details(rt, name))


def invalid(rt: ResourceType, name: str, causes: list[Cause]) -> ApiError:
    """422: ``Deployment.apps "x" is invalid: spec.replicas: Invalid value: …``."""
    kind = f"{rt.kind}.{rt.group}" if rt.group else rt.kind
    texts = [
        f"{cause.field}: {cause.message}" if cause.field else cause.message for cause in causes
    ]
    summary = texts[0] if len(texts) == 1 else "[" + ", ".join(texts) + "]"
    details = _details(rt, name, kind=rt.kind)
    details["causes"] = [cause.to_json() for cause in causes]
    return ApiError(422, "Invalid", f'{kind} "{name}" is invalid: {summary}', details)


def forbidden(rt: ResourceType, name: str, reason: str) -> ApiError:
    """403: ``deployments.apps "x" is forbidden: User "…" cannot patch resource …``."""
    subject = f'{qualified(rt)} "{name}"' if name else qualified(rt)
    return ApiError(403, "Forbidden", f"{subject} is forbidden: {reason}", _details(rt, name))


def bad_request(message: str) -> ApiError:
    """400 BadRequest."""
    return ApiError(400, "BadRequest", message)


def path_not_found() -> ApiError:
    """404 for a URL that names no resource."""
    return ApiError(404, "NotFound", "the server could not find the requested resource")


def method_not_allowed() -> ApiError:
    """405 for a verb the resource does not support."""
    return ApiError(
        405, "MethodNotAllowed", "the server does not allow this method on the requested resource"
    )


def unsupported_media_type(content_type: str, why: str = "") -> ApiError:
    """415 for a body type the simulator does not read (server-side apply, most protobuf)."""
    message = (
        f"the body of the request was in an unknown format ({content_type}) - accepted media "
        "types include: application/json, application/yaml, application/json-patch+json, "
        "application/merge-patch+json, application/strategic-merge-patch+json"
    )
    return ApiError(415, "UnsupportedMediaType", f"{message} ({why})" if why else message)


def unauthorized() -> ApiError:
    """401 for a bearer token the simulator did not issue."""
    return ApiError(401, "Unauthorized", "Unauthorized")
