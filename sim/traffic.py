"""A small real HTTP app for Prometheus to scrape: services with a stable and a canary track.

    with TrafficApp([("shop", "checkout")]) as app:
        app.set_behaviour("shop", "checkout", "canary", TrackBehaviour(error_share=0.2))
        # GET {app.url}/shop/checkout/canary  -> 200, 404 or 500 as the shares say
        # GET {app.url}/metrics               -> what Prometheus scrapes

It counts ``http_requests_total{namespace, service, track, code}`` and observes
``http_request_duration_seconds{namespace, service, track}``, the shape the bot's ``generic``
query preset reads. Responses follow a fixed pattern rather than chance, so a share of 0.05 is
exactly one request in twenty and a test can compare what Prometheus saw with what was served.

Over HTTP, for the playground: ``POST /_control/services?namespace=shop&service=checkout`` adds
a service; ``POST /_control/behaviour?namespace=shop&service=checkout&track=canary``
``&error_share=0.05&client_error_share=0.01&latency_ms=20`` changes the fields it names.
"""

from __future__ import annotations

import argparse
import contextlib
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from fractions import Fraction
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram
from prometheus_client.exposition import generate_latest

from sim.served import ServedInThread

TRACKS = ("stable", "canary")
CODES = ("200", "404", "500")
CONTROL_PREFIX = "/_control/"
_BEHAVIOUR_FIELDS = {"error_share", "client_error_share", "latency_ms"}


@dataclass(frozen=True)
class TrackBehaviour:
    """How one track of one service answers: its 5xx and 4xx shares and an added latency."""

    error_share: float = 0.0
    client_error_share: float = 0.0
    latency_s: float = 0.0

    def __post_init__(self) -> None:
        shares = (self.error_share, self.client_error_share)
        if any(not 0 <= share <= 1 for share in shares) or sum(shares) > 1:
            raise ValueError(f"shares must be in [0, 1] and add up to at most 1, got {shares}")
        if self.latency_s < 0:
            raise ValueError(f"latency must not be negative, got {self.latency_s}")


class _TrackState:
    """The behaviour of one track and how far along its response pattern it is."""

    def __init__(self) -> None:
        self.behaviour = TrackBehaviour()
        self._errors_due = Fraction(0)
        self._client_errors_due = Fraction(0)

    def next_code(self) -> str:
        # Each request adds the shares to what is due and answers 500 (or 404) once a whole
        # response is due. Fractions keep 0.05 exactly 1/20, where float sums would drift.
        self._errors_due += _fraction(self.behaviour.error_share)
        self._client_errors_due += _fraction(self.behaviour.client_error_share)
        if self._errors_due >= 1:
            self._errors_due -= 1
            return "500"
        if self._client_errors_due >= 1:
            self._client_errors_due -= 1
            return "404"
        return "200"


def _fraction(share: float) -> Fraction:
    return Fraction(share).limit_denominator(1_000_000)


class TrafficApp(ServedInThread):
    """The app on 127.0.0.1 (port 0: a free port); a context manager that starts and stops it."""

    thread_name = "traffic"

    def __init__(self, services: Iterable[tuple[str, str]] = (), *, port: int = 0) -> None:
        """A stopped app serving ``(namespace, service)`` pairs; more can be added later."""
        # Its own registry: two apps in one process (or the test process' own metrics) never mix.
        self.registry = CollectorRegistry()
        self._requests = Counter(
            "http_requests",
            "Requests answered, by status code.",
            ["namespace", "service", "track", "code"],
            registry=self.registry,
        )
        self._duration = Histogram(
            "http_request_duration_seconds",
            "Time to answer a request, added latency included.",
            ["namespace", "service", "track"],
            registry=self.registry,
        )
        self._lock = threading.Lock()
        self._tracks: dict[tuple[str, str, str], _TrackState] = {}
        self._http = _HttpServer(("127.0.0.1", port), self)
        self.port = int(self._http.server_address[1])
        self.url = f"http://127.0.0.1:{self.port}"
        for namespace, service in services:
            self.add_service(namespace, service)

    def add_service(self, namespace: str, service: str) -> None:
        """Serve a service's two tracks; adding one twice changes nothing."""
        with self._lock:
            for track in TRACKS:
                if (namespace, service, track) in self._tracks:
                    continue
                # Every series exists at 0 before the first request: Prometheus' increase()
                # only counts growth between samples, so a series born at 1 would lose one.
                for code in CODES:
                    self._requests.labels(namespace, service, track, code)
                self._duration.labels(namespace, service, track)
                self._tracks[namespace, service, track] = _TrackState()

    def set_behaviour(
        self, namespace: str, service: str, track: str, behaviour: TrackBehaviour
    ) -> None:
        """Change how a track answers from its next request on."""
        with self._lock:
            self._state(namespace, service, track).behaviour = behaviour

    def set_error_share(self, namespace: str, service: str, track: str, share: float) -> None:
        """Change a track's 5xx share, keeping its other behaviour."""
        with self._lock:
            state = self._state(namespace, service, track)
            state.behaviour = replace(state.behaviour, error_share=share)

    def served(self, namespace: str, service: str, track: str) -> dict[str, int]:
        """What a track has answered so far, by status code, as its counter says."""
        counts = {}
        for code in CODES:
            labels = {"namespace": namespace, "service": service, "track": track, "code": code}
            value = self.registry.get_sample_value("http_requests_total", labels)
            counts[code] = int(value or 0)
        return counts

    def answer(self, namespace: str, service: str, track: str) -> int:
        """Serve one request of a track: wait its latency, count it, return the status code."""
        started = time.perf_counter()
        with self._lock:
            state = self._state(namespace, service, track)
            code, latency = state.next_code(), state.behaviour.latency_s
        if latency:
            time.sleep(latency)
        # Counted before the response is sent, so a client that got its answer can rely on
        # the next scrape having it.
        self._requests.labels(namespace, service, track, code).inc()
        self._duration.labels(namespace, service, track).observe(time.perf_counter() - started)
        return int(code)

    def control(self, action: str, query: Mapping[str, str]) -> None:
        """Apply a ``/_control/<action>`` request; KeyError or ValueError when it is wrong."""
        namespace, service = query["namespace"], query["service"]
        if action == "services":
            self.add_service(namespace, service)
            return
        if action != "behaviour":
            raise KeyError(action)
        unknown = set(query) - _BEHAVIOUR_FIELDS - {"namespace", "service", "track"}
        if unknown:
            raise ValueError(f"unknown fields {sorted(unknown)}")
        with self._lock:
            state = self._state(namespace, service, query["track"])
            current = state.behaviour
            state.behaviour = TrackBehaviour(
                error_share=float(query.get("error_share", current.error_share)),
                client_error_share=float(
                    query.get("client_error_share", current.client_error_share)
                ),
                latency_s=float(query.get("latency_ms", current.latency_s * 1000)) / 1000,
            )

    def metrics(self) -> bytes:
        """The text exposition Prometheus scrapes."""
        return generate_latest(self.registry)

    def _state(self, namespace: str, service: str, track: str) -> _TrackState:
        try:
            return self._tracks[namespace, service, track]
        except KeyError:
            raise KeyError(f"no track {track!r} of service {namespace}/{service}") from None


class _HttpServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], app: TrafficApp) -> None:
        self.app = app
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, so a test can send hundreds of requests quickly
    disable_nagle_algorithm = True  # otherwise every small response waits ~40 ms for an ACK
    timeout = 30  # an idle kept-alive connection ends its thread eventually
    server: _HttpServer

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet: a test sends hundreds of requests."""

    def do_GET(self) -> None:
        """``/metrics``, or one request of ``/<namespace>/<service>/<track>``."""
        path = urlsplit(self.path).path
        if path == "/metrics":
            self._send(200, self.server.app.metrics(), CONTENT_TYPE_LATEST)
            return
        parts = path.strip("/").split("/")
        try:
            if len(parts) != 3:
                raise KeyError(path)
            code = self.server.app.answer(*parts)
        except KeyError as err:
            self._send(404, f"unknown: {err}\n".encode())
            return
        self._send(code, f"{code}\n".encode())

    def do_POST(self) -> None:
        """``/_control/services`` or ``/_control/behaviour``, arguments in the query string."""
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        url = urlsplit(self.path)
        query = {key: values[-1] for key, values in parse_qs(url.query).items()}
        if not url.path.startswith(CONTROL_PREFIX):
            self._send(404, b"not found\n")
            return
        try:
            self.server.app.control(url.path.removeprefix(CONTROL_PREFIX), query)
        except KeyError as err:
            self._send(404, f"unknown or missing: {err}\n".encode())
        except ValueError as err:
            self._send(400, f"{err}\n".encode())
        else:
            self._send(200, b"ok\n")

    def _send(self, code: int, body: bytes, content_type: str = "text/plain") -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def _service(text: str) -> tuple[str, str]:
    namespace, slash, service = text.partition("/")
    if not slash or not namespace or not service:
        raise argparse.ArgumentTypeError(f"expected NAMESPACE/SERVICE, got {text!r}")
    return namespace, service


def main(argv: list[str] | None = None) -> None:
    """``python -m sim.traffic --port 9101 --service shop/checkout``: serve until Ctrl-C."""
    parser = argparse.ArgumentParser(
        prog="python -m sim.traffic", description="Serve the traffic app on 127.0.0.1."
    )
    parser.add_argument("--port", type=int, default=0, help="TCP port (0: a free one)")
    parser.add_argument(
        "--service", type=_service, action="append", default=[], help="NAMESPACE/SERVICE"
    )
    args = parser.parse_args(argv)
    with TrafficApp(args.service, port=args.port) as app:
        print(f"traffic app on {app.url}", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()


if __name__ == "__main__":
    main()
