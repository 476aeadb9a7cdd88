"""Watch streams: the events a `?watch=true` request receives, one JSON object a line.

Without a resourceVersion (or with "0") the stream starts with an ADDED event for every
matching object, as the API server does; with one, it replays the recorded changes after it.
An object that stops matching the selectors is sent as DELETED, one that starts as ADDED.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any

from sim.errors import bad_request
from sim.routes import Route
from sim.store import ExpiredError, ObjectStore, WatchEvent

Obj = dict[str, Any]
EventStream = Generator[Obj | None, None, None]  # watch events; None: idle, flush

DEFAULT_TIMEOUT_S = 1800.0  # the API server's --min-request-timeout
_POLL_S = 0.25  # how often an idle stream checks for shutdown and its deadline


@dataclass(frozen=True)
class WatchRequest:
    """What a watch asks for."""

    route: Route
    match: Callable[[Obj], bool]
    resource_version: str = ""
    timeout_s: float = DEFAULT_TIMEOUT_S
    send_initial_events: bool = (
        False  # sendInitialEvents=true: end the initial list with a bookmark
    )

    @classmethod
    def from_query(
        cls, route: Route, match: Callable[[Obj], bool], query: dict[str, str]
    ) -> WatchRequest:
        """The watch of a list URL's query parameters."""
        try:
            timeout = float(query.get("timeoutSeconds") or DEFAULT_TIMEOUT_S)
        except ValueError as err:
            raise bad_request(f"invalid timeoutSeconds: {query['timeoutSeconds']}") from err
        rv = query.get("resourceVersion", "")
        if rv and not rv.isdigit():
            raise bad_request(f"invalid resource version: {rv}")
        initial = query.get("sendInitialEvents", "") == "true"
        return cls(route, match, rv, timeout, initial)


def events(store: ObjectStore, request: WatchRequest, stop: threading.Event) -> EventStream:
    """The watch events, each `{"type", "object"}`; None when idle, so the caller can flush.

    Ends at the request's timeout, when `stop` is set, or when the generator is closed.
    """
    route = request.route
    deadline = time.monotonic() + request.timeout_s
    visible: set[tuple[str, str]] = set()
    with store.changed:  # the initial state and the watcher's start are one atomic step
        initial: list[Obj] = []
        backlog: list[WatchEvent] = []
        if request.resource_version in ("", "0") or request.send_initial_events:
            initial = store.select(route.rt, route.namespace, request.match)
            watcher = store.watch(route.rt, route.namespace)
        else:
            try:
                watcher, backlog = store.watch_since(
                    route.rt, route.namespace, int(request.resource_version)
                )
            except ExpiredError as err:
                yield _expired(err.message)
                return
            visible = {_key(obj) for obj in store.select(route.rt, route.namespace, request.match)}
        version = store.resource_version
    try:
        for obj in initial:
            visible.add(_key(obj))
            yield {"type": "ADDED", "object": obj}
        if request.send_initial_events:
            yield _initial_events_end(route, version)
        for event in backlog:
            if (sent := _visible_event(event, request.match, visible)) is not None:
                yield sent
        while not stop.is_set() and time.monotonic() < deadline:
            try:
                event = watcher.events.get(
                    timeout=min(_POLL_S, max(0.0, deadline - time.monotonic()))
                )
            except queue.Empty:
                yield None
                continue
            if (sent := _visible_event(event, request.match, visible)) is not None:
                yield sent
    finally:
        store.unwatch(watcher)


def _key(obj: Obj) -> tuple[str, str]:
    meta = obj.get("metadata", {})
    return (meta.get("namespace", ""), meta.get("name", ""))


def _visible_event(
    event: WatchEvent, match: Callable[[Obj], bool], visible: set[tuple[str, str]]
) -> Obj | None:
    key, obj = _key(event.object), event.object
    if event.type == "DELETED":
        if key in visible or match(obj):
            visible.discard(key)
            return {"type": "DELETED", "object": obj}
        return None
    if match(obj):
        kind = "MODIFIED" if key in visible and event.type == "MODIFIED" else "ADDED"
        visible.add(key)
        return {"type": kind, "object": obj}
    if key in visible:  # it no longer matches: for this watch it is gone
        visible.discard(key)
        return {"type": "DELETED", "object": obj}
    return None


def _initial_events_end(route: Route, version: str) -> Obj:
    return {
        "type": "BOOKMARK",
        "object": {
            "kind": route.rt.kind,
            "apiVersion": route.rt.api_version,
            "metadata": {
                "resourceVersion": version,
                "annotations": {"k8s.io/initial-events-end": "true"},
            },
        },
    }


def _expired(message: str) -> Obj:
    return {
        "type": "ERROR",
        "object": {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": message,
            "reason": "Expired",
            "code": 410,
        },
    }
