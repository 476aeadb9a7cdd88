"""The API server's front: authentication, routing, content negotiation, access control.

Independent of sockets: `ApiServer.handle` takes a decoded `Request` and returns a `Response`
(a JSON body, or a stream of watch events), which sim/server.py writes to the connection.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import yaml

from sim import discovery, openapi, protobuf
from sim.access import AccessControl, rbac_verb
from sim.errors import (
    ApiError,
    bad_request,
    method_not_allowed,
    path_not_found,
    unauthorized,
    unsupported_media_type,
)
from sim.rest import Reply, ResourceApi, selector_of
from sim.routes import Route, parse
from sim.store import ObjectStore
from sim.tables import table
from sim.watch import EventStream, WatchRequest, events

Obj = dict[str, Any]

JSON = "application/json"
TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io"


@dataclass(frozen=True)
class Request:
    """One HTTP request, decoded: header names are lowercase, query values the last given."""

    method: str
    path: str
    query: Mapping[str, str] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""

    def json_body(self) -> Any:
        """The body as JSON (or YAML, which some clients send); 415 for protobuf or CBOR."""
        if not self.body:
            return None
        content_type = self.headers.get("content-type", "")
        if "protobuf" in content_type:
            try:
                return protobuf.decode(self.body)
            except protobuf.ProtobufError as err:
                raise unsupported_media_type(content_type, str(err)) from err
        if "cbor" in content_type:
            raise unsupported_media_type(content_type)
        try:
            if "yaml" in self.headers.get("content-type", ""):
                return yaml.safe_load(self.body)
            return json.loads(self.body)
        except (ValueError, yaml.YAMLError) as err:
            raise bad_request(f"the body of the request could not be decoded: {err}") from err


@dataclass
class Response:
    """What to send back: a JSON body, or a chunked stream of watch events (None: flush)."""

    code: int
    body: Obj | str | None = None
    content_type: str = JSON
    headers: list[tuple[str, str]] = field(default_factory=list)
    stream: EventStream | None = None

    def encoded(self) -> bytes:
        """The body as bytes."""
        if self.body is None:
            return b""
        if isinstance(self.body, str):
            return self.body.encode()
        return json.dumps(self.body, separators=(",", ":")).encode()


def error_response(err: ApiError) -> Response:
    """A Status body for a refusal."""
    return Response(err.code, err.status())


class ApiServer:
    """Kubernetes API semantics over one ObjectStore."""

    def __init__(
        self,
        store: ObjectStore,
        access: AccessControl,
        *,
        token: str,
        stop: threading.Event,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        """Serve `store`; requests with a bearer token other than `token` are refused (401)."""
        self.store = store
        self.access = access
        self.resources = ResourceApi(store)
        self.token = token
        self.stop = stop
        self.server_address = "127.0.0.1:0"
        self._now = now or (lambda: datetime.now(UTC))

    def handle(self, request: Request) -> Response:
        """Answer one request; every refusal becomes a Status body."""
        try:
            self._authenticate(request)
            return self._route(request)
        except ApiError as err:
            return error_response(err)

    def _authenticate(self, request: Request) -> None:
        # No Authorization header is accepted (anonymous); a wrong token never is.
        header = request.headers.get("authorization")
        if header is not None and header != f"Bearer {self.token}":
            raise unauthorized()

    def _route(self, request: Request) -> Response:
        path = request.path.rstrip("/") or "/"
        document = self._discovery(path)
        if document is not None:
            if request.method != "GET":
                raise method_not_allowed()
            return Response(200, document)
        if path.startswith(("/api/", "/apis/")):
            return self._resource(request, parse(path))
        raise path_not_found()

    def _discovery(self, path: str) -> Obj | None:
        parts = [p for p in path.split("/") if p]
        if path == "/version":
            return discovery.VERSION
        if path == "/api":
            return discovery.api_versions(self.server_address)
        if path == "/api/v1":
            return discovery.api_resource_list("", "v1")
        if path == "/apis":
            return discovery.api_group_list()
        if len(parts) == 2 and parts[0] == "apis":
            return discovery.api_group(parts[1])
        if len(parts) == 3 and parts[0] == "apis":
            return discovery.api_resource_list(parts[1], parts[2])
        if parts[:2] == ["openapi", "v3"]:
            return self._openapi(parts[2:])
        return None

    @staticmethod
    def _openapi(parts: list[str]) -> Obj | None:
        if not parts:
            return openapi.root()
        if parts == ["api", "v1"]:
            return openapi.group_version("", "v1")
        if len(parts) == 3 and parts[0] == "apis":
            return openapi.group_version(parts[1], parts[2])
        return None

    def _resource(self, request: Request, route: Route) -> Response:
        query = dict(request.query)
        watch = query.get("watch", "") in ("true", "1")
        verb = rbac_verb(request.method, route, watch=watch)
        self.access.admit(verb, route)
        wants_table = _wants_table(request.headers.get("accept", ""))
        method = request.method
        if method == "GET" and watch and route.is_collection:
            return self._watch(route, query, table_rows=wants_table)
        if method == "GET":
            reply = (
                self.resources.list(route, query)
                if route.is_collection
                else self.resources.get(route)
            )
            return self._reply(route, reply, query, table_rows=wants_table)
        if method == "POST" and route.is_collection:
            return self._reply(
                route, self.resources.create(route, request.json_body(), query), query
            )
        if method == "PUT" and not route.is_collection:
            return self._reply(
                route, self.resources.replace(route, request.json_body(), query), query
            )
        if method == "PATCH" and not route.is_collection:
            content_type = request.headers.get("content-type", "")
            reply = self.resources.patch(route, request.body, content_type, query)
            return self._reply(route, reply, query)
        if method == "DELETE" and not route.is_collection:
            return self._reply(
                route, self.resources.delete(route, request.json_body(), query), query
            )
        if method == "DELETE":
            return self._reply(route, self.resources.delete_collection(route, query), query)
        raise method_not_allowed()

    def _reply(
        self, route: Route, reply: Reply, query: Mapping[str, str], *, table_rows: bool = False
    ) -> Response:
        headers = [("Warning", _warning(text)) for text in reply.warnings]
        if not table_rows or route.subresource:
            return Response(reply.code, reply.body, headers=headers)
        objects = reply.body.get("items") if "items" in reply.body else [reply.body]
        body = table(
            route.rt,
            list(objects or []),
            include=query.get("includeObject", "Metadata"),
            resource_version=self.store.resource_version,
            now=self._now(),
        )
        return Response(reply.code, body, content_type=TABLE, headers=headers)

    def _watch(self, route: Route, query: dict[str, str], *, table_rows: bool) -> Response:
        request = WatchRequest.from_query(route, selector_of(route, query), query)
        stream = events(self.store, request, self.stop)
        if table_rows:
            stream = self._as_tables(route, stream, query.get("includeObject", "Metadata"))
        return Response(200, stream=stream)

    def _as_tables(self, route: Route, stream: EventStream, include: str) -> EventStream:
        try:
            for event in stream:
                if event is None or event["type"] in ("ERROR", "BOOKMARK"):
                    yield event
                    continue
                version = event["object"]["metadata"].get("resourceVersion", "")
                body = table(
                    route.rt,
                    [event["object"]],
                    include=include,
                    resource_version=version,
                    now=self._now(),
                )
                yield {"type": event["type"], "object": body}
        finally:
            stream.close()


def _warning(text: str) -> str:
    """A `Warning` header value (RFC 7234 code 299, as the API server sends them)."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return f'299 - "{escaped}"'


def _wants_table(accept: str) -> bool:
    return any("as=Table" in part and "g=meta.k8s.io" in part for part in accept.split(","))
