"""The simulator as an HTTP server on loopback, with its controllers running beside it.

    with SimServer() as sim:
        sim.write_kubeconfig(tmp_path / "kubeconfig")
        ...  # kubectl / the kubernetes client against sim.url

Controllers (the Deployment controller of sim/controller.py, when it exists) reconcile in a
background thread whenever the store changes and at least every 50 ms.
"""

from __future__ import annotations

import importlib
import logging
import socket
import threading
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

import yaml

from sim.access import AccessControl, AccessRule, RecordedRequest
from sim.api import ApiServer, Request, Response
from sim.behaviour import PodBehaviour
from sim.control import PREFIX, ControlApi, load_objects
from sim.defaults import defaulted
from sim.errors import ApiError
from sim.store import NAMESPACES, ObjectStore

log = logging.getLogger(__name__)

RECONCILE_INTERVAL_S = 0.05
INITIAL_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")


class Controller(Protocol):
    """Something that brings the cluster one step closer to what its objects ask for."""

    def reconcile(self) -> None:
        """Reconcile everything once (reads the store, writes what must change)."""


def default_controllers(store: ObjectStore, behaviour: PodBehaviour) -> list[Controller]:
    """The controllers of sim.controller.build_controllers, or none if it does not exist yet."""
    try:
        module = importlib.import_module("sim.controller")
    except ModuleNotFoundError as err:
        if err.name == "sim.controller":
            return []
        raise
    build = getattr(module, "build_controllers", None)
    return [] if build is None else list(build(store, behaviour))


class SimServer:
    """A Kubernetes API simulator on 127.0.0.1; a context manager that starts and stops it."""

    def __init__(
        self,
        port: int = 0,
        *,
        controllers: list[Controller] | None = None,
        behaviour: PodBehaviour | None = None,
        token: str = "sim-token",
    ) -> None:
        """A stopped server: port 0 picks a free port; controllers None builds the default ones."""
        self.store = ObjectStore()
        self.behaviour = behaviour or PodBehaviour()
        self.token = token
        self._stop = threading.Event()
        self._access = AccessControl()
        self._api = ApiServer(self.store, self._access, token=token, stop=self._stop)
        self._control = ControlApi(self._access, self.behaviour, self._api.resources)
        self._controllers = (
            default_controllers(self.store, self.behaviour) if controllers is None else controllers
        )
        self._http = _HttpServer(("127.0.0.1", port), self)
        self.port = int(self._http.server_address[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self._api.server_address = f"127.0.0.1:{self.port}"
        self._threads: list[threading.Thread] = []
        for name in INITIAL_NAMESPACES:
            self.store.create(NAMESPACES, defaulted(NAMESPACES, {"metadata": {"name": name}}))

    # --- lifecycle ----------------------------------------------------------------------------

    def start(self) -> SimServer:
        """Serve and reconcile in background threads; returns self."""
        self._threads = [
            threading.Thread(
                target=self._http.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=f"sim-http-{self.port}",
                daemon=True,
            ),
            threading.Thread(
                target=self._reconcile_loop, name=f"sim-controllers-{self.port}", daemon=True
            ),
        ]
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        """Stop serving (ending open watches and connections) and stop the controllers."""
        self._stop.set()
        with self.store.changed:
            self.store.changed.notify_all()
        if self._threads:
            self._http.shutdown()
        self._http.close_connections()
        self._http.server_close()
        for thread in self._threads:
            thread.join(timeout=5)
        self._threads = []

    def __enter__(self) -> SimServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # --- control --------------------------------------------------------------------------------

    def requests(self) -> list[RecordedRequest]:
        """Every resource request since the last `clear_requests`, in order."""
        return self._access.requests()

    def clear_requests(self) -> None:
        """Forget the recorded requests."""
        self._access.clear_requests()

    def deny(self, rules: Iterable[AccessRule | dict[str, Any]]) -> None:
        """Answer requests matching any rule with 403 Forbidden (replaces the previous list)."""
        self._access.deny(
            [r if isinstance(r, AccessRule) else AccessRule.from_json(r) for r in rules]
        )

    def inject_conflicts(
        self,
        count: int = 1,
        *,
        verb: str,
        resource: str,
        name: str | None = None,
        namespace: str | None = None,
    ) -> None:
        """The next `count` `verb` requests on `resource` (and `name`) answer 409 Conflict."""
        rule = AccessRule(verb=verb, resource=resource, name=name, namespace=namespace)
        self._access.inject_conflicts(rule, count)

    def load_yaml(self, text: str) -> list[dict[str, Any]]:
        """Create the objects of a multi-document YAML as the API would; returns them."""
        return load_objects(self._api.resources, text)

    def write_kubeconfig(
        self, path: Path | str, *, contexts: Iterable[str] = ("sim",), namespace: str = "default"
    ) -> Path:
        """Write a kubeconfig for this server: one context per name, the first current."""
        names = list(contexts)
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "sim", "cluster": {"server": self.url}}],
            "users": [{"name": "sim", "user": {"token": self.token}}],
            "contexts": [
                {"name": name, "context": {"cluster": "sim", "user": "sim", "namespace": namespace}}
                for name in names
            ],
            "current-context": names[0] if names else "",
            "preferences": {},
        }
        target = Path(path)
        target.write_text(yaml.safe_dump(config, sort_keys=False))
        return target

    # --- internals ------------------------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        """Answer one HTTP request (the control API or the Kubernetes API)."""
        try:
            if request.path.startswith(PREFIX):
                return self._control.handle(request)
            return self._api.handle(request)
        except Exception as err:  # a simulator bug: answer as the API server would, and log it
            log.exception("sim: %s %s failed", request.method, request.path)
            return Response(500, ApiError(500, "InternalError", f"sim: {err!r}").status())

    def _reconcile_loop(self) -> None:
        while not self._stop.is_set():
            with self.store.changed:
                self.store.changed.wait(timeout=RECONCILE_INTERVAL_S)
            if self._stop.is_set():
                return
            for controller in self._controllers:
                try:
                    controller.reconcile()
                except Exception:  # a controller bug must not stop the cluster
                    log.exception("sim: controller %r failed", controller)


class _HttpServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], sim: SimServer) -> None:
        self.sim = sim
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().__init__(address, _Handler)

    def opened(self, connection: socket.socket) -> None:
        with self._open_lock:
            self._open.add(connection)

    def closed(self, connection: socket.socket) -> None:
        with self._open_lock:
            self._open.discard(connection)

    def close_connections(self) -> None:
        """Shut down kept-alive connections, so their handler threads end."""
        with self._open_lock:
            for connection in self._open:
                try:
                    connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    continue


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive
    disable_nagle_algorithm = True  # otherwise every small response waits ~40 ms for an ACK
    server: _HttpServer

    def setup(self) -> None:
        super().setup()
        self.server.opened(self.connection)

    def finish(self) -> None:
        self.server.closed(self.connection)
        super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("sim: " + format, *args)

    def _handle(self) -> None:
        url = urlsplit(self.path)
        query = {key: values[-1] for key, values in parse_qs(url.query).items()}
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {key.lower(): value for key, value in self.headers.items()}
        response = self.server.sim.handle(Request(self.command, url.path, query, headers, body))
        if response.stream is not None:
            self._send_stream(response)
        else:
            self._send(response)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle  # noqa: N815 - the base's names

    def _send(self, response: Response) -> None:
        payload = response.encoded()
        self.send_response(response.code)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(payload)))
        for name, value in response.headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    def _send_stream(self, response: Response) -> None:
        assert response.stream is not None
        self.send_response(response.code)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            for event in response.stream:
                if event is not None:
                    line = Response(200, event).encoded() + b"\n"
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(line), line))
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except OSError:  # the client went away, or the server is stopping
            self.close_connection = True
        finally:
            response.stream.close()
