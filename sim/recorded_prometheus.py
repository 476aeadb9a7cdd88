"""Prometheus' query API answered from a file of real answers: many services, no TSDB.

A bench that judges hundreds of windows needs a Prometheus that answers the bot's real queries
over HTTP without scraping hundreds of services on the same machine. :class:`RecordingProxy`
stands between the bot's Prometheus client and a real Prometheus once, and keeps every answer;
:class:`RecordedPrometheus` then serves them:

    with RecordedPrometheus(Answers.load(path)) as prometheus:
        ...  # PROMETHEUS_URL=prometheus.url
        prometheus.counts()  # {"query": 812, "query_range": 406, "unrecorded": 0}

A query is looked up with the values of its ``namespace`` and ``service`` labels and its range
durations (``[30s]``) replaced by placeholders, so answers recorded for one service answer
every service's same query. Counts from ``increase()`` grow with the range, so an answer is
scaled by the asked range over the recorded one. The answers were recorded for several
windows; each window asked (its namespace, service and end time) gets one of them, the same
for all of its queries, so a window's requests, 2xx and 5xx agree as they did when recorded.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import signal
import sys
import threading
import time
import zlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.error import HTTPError
from urllib.parse import parse_qs, urlencode, urlsplit
from urllib.request import urlopen

from sim.served import ServedInThread

Result = list[dict[str, Any]]  # what Prometheus answers in data.result
Handle = Callable[[str, dict[str, str]], tuple[int, dict[str, Any]]]  # path, params -> answer
INSTANT, RANGE = "/api/v1/query", "/api/v1/query_range"
COUNTS = "/_recorded/counts"
_LABEL = re.compile(r'\b(namespace|service)="([^"]*)"')
_DURATION = re.compile(r"\[(\d+)s\]")
_MAX_POINTS = 11_000  # Prometheus refuses range queries of more points per series


@dataclass(frozen=True)
class Shape:
    """A query with its namespace, service and range durations taken out."""

    text: str  # the query with {namespace}, {service} and [{range}] in their places
    labels: dict[str, str]  # the namespace and service the query named
    range_s: float | None  # its first range duration, if it has one

    @classmethod
    def of(cls, query: str) -> Shape:
        """The shape of `query`."""
        labels = {name: value for name, value in _LABEL.findall(query)}
        text = _LABEL.sub(lambda match: f'{match[1]}="{{{match[1]}}}"', query)
        durations = _DURATION.findall(text)
        return cls(
            _DURATION.sub("[{range}]", text),
            labels,
            float(durations[0]) if durations else None,
        )

    def window_key(self, at: float) -> bytes:
        """What picks the recorded window for the window of this service ending `at`."""
        return f"{self.labels.get('namespace')}/{self.labels.get('service')}/{at:.3f}".encode()


@dataclass
class Answers:
    """The recorded answers of each endpoint's query shapes: one result per recorded window.

    ``queries["query"][shape]`` holds the instant queries', ``queries["query_range"][shape]``
    the range queries' (a chart's rate over a few seconds has the shape of a window's count).
    """

    queries: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    about: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> Answers:
        """Answers from a file :meth:`save` wrote."""
        data = json.loads(path.read_text())
        return cls(queries=data["queries"], about=data.get("about", {}))

    def save(self, path: Path) -> None:
        """Write the answers as JSON, one query shape a key."""
        path.parent.mkdir(parents=True, exist_ok=True)
        data = {"about": self.about, "queries": self.queries}
        path.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")

    def record(self, endpoint: str, shape: Shape, window: int, result: Result) -> None:
        """Keep `result` as the answer of `shape` at `endpoint` in recorded window `window`."""
        shapes = self.queries.setdefault(endpoint, {})
        entry = shapes.setdefault(shape.text, {"range_s": shape.range_s, "answers": []})
        answers: list[Result | None] = entry["answers"]
        answers.extend([None] * (window + 1 - len(answers)))
        answers[window] = result

    def answer(self, endpoint: str, shape: Shape, at: float) -> tuple[Result, float] | None:
        """The recorded result for the window ending `at`, and the factor its values take."""
        entry = self.queries.get(endpoint, {}).get(shape.text)
        if entry is None:
            return None
        answers = [answer for answer in entry["answers"] if answer is not None]
        if not answers:
            return None
        recorded_s = entry.get("range_s")
        scale = shape.range_s / recorded_s if shape.range_s and recorded_s else 1.0
        return answers[zlib.crc32(shape.window_key(at)) % len(answers)], scale


def _scaled(value: str, scale: float) -> str:
    number = float(value) * scale
    if math.isnan(number):
        return "NaN"
    if math.isinf(number):
        return "+Inf" if number > 0 else "-Inf"
    return repr(number)


def _relabelled(metric: dict[str, str], labels: dict[str, str]) -> dict[str, str]:
    return {name: labels.get(name, value) for name, value in metric.items()}


def instant_result(recorded: Result, *, at: float, scale: float, labels: dict[str, str]) -> Result:
    """A recorded instant vector as of `at`: its series relabelled, values scaled."""
    return [
        {
            "metric": _relabelled(series.get("metric", {}), labels),
            "value": [at, _scaled(series["value"][1], scale)],
        }
        for series in recorded
    ]


def range_result(
    recorded: Result, *, start: float, end: float, step: float, scale: float, labels: dict[str, str]
) -> Result:
    """A recorded matrix re-timed to start..end by step: the recorded values in turn."""
    count = min(_MAX_POINTS, math.floor((end - start) / step) + 1) if end >= start else 0
    stamps = [start + i * step for i in range(count)]
    matrix = []
    for series in recorded:
        values = [value for _stamp, value in series.get("values", [])]
        if values:
            points = [[t, _scaled(values[i % len(values)], scale)] for i, t in enumerate(stamps)]
            matrix.append(
                {"metric": _relabelled(series.get("metric", {}), labels), "values": points}
            )
    return matrix


def _endpoint(path: str) -> str:
    """``query`` or ``query_range``: how answers and counts name an endpoint."""
    return path.rsplit("/", 1)[1]


def seconds(text: str) -> float:
    """A Prometheus step or timestamp: ``15``, ``1.5`` or ``15s``."""
    return float(text.removesuffix("s"))


class RecordedPrometheus(ServedInThread):
    """``/api/v1/query`` and ``/api/v1/query_range`` from :class:`Answers`, on 127.0.0.1.

    A query without a recorded answer gets Prometheus' 400 ``bad_data``; ``GET
    /_recorded/counts`` says how many queries of each kind were answered, and how many not.
    """

    thread_name = "recorded-prometheus"

    def __init__(self, answers: Answers, *, port: int = 0) -> None:
        """A stopped server on `port` (0: a free one)."""
        self.answers = answers
        self._counts: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._http = _HttpServer(("127.0.0.1", port), self._handle)
        self.port = int(self._http.server_address[1])
        self.url = f"http://127.0.0.1:{self.port}"

    def counts(self) -> dict[str, int]:
        """Queries answered by endpoint (``query``, ``query_range``) and ``unrecorded``."""
        with self._lock:
            return {"query": 0, "query_range": 0, "unrecorded": 0} | dict(self._counts)

    def _handle(self, path: str, params: dict[str, str]) -> tuple[int, dict[str, Any]]:
        if path == COUNTS:
            return 200, self.counts()
        if path not in (INSTANT, RANGE):
            return 404, {"status": "error", "errorType": "not_found", "error": path}
        shape = Shape.of(params.get("query", ""))
        at = seconds(params["time"]) if path == INSTANT and "time" in params else time.time()
        if path == RANGE:
            at = seconds(params["end"])
        endpoint = _endpoint(path)
        found = self.answers.answer(endpoint, shape, at)
        with self._lock:
            self._counts[endpoint if found else "unrecorded"] += 1
        if found is None:
            error = f"no recorded answer for {shape.text}"
            return 400, {"status": "error", "errorType": "bad_data", "error": error}
        recorded, scale = found
        if path == INSTANT:
            data = {
                "resultType": "vector",
                "result": instant_result(recorded, at=at, scale=scale, labels=shape.labels),
            }
        else:
            result = range_result(
                recorded,
                start=seconds(params["start"]),
                end=at,
                step=seconds(params["step"]),
                scale=scale,
                labels=shape.labels,
            )
            data = {"resultType": "matrix", "result": result}
        return 200, {"status": "success", "data": data}


class RecordingProxy(ServedInThread):
    """Forwards queries to a real Prometheus and keeps each answer in :attr:`answers`.

    Every distinct evaluation time (an instant query's ``time``, a range query's ``end``)
    starts a recorded window: record one window at a time, all its queries asked at its end.
    """

    thread_name = "recording-prometheus"

    def __init__(self, upstream: str, *, timeout_s: float = 10.0) -> None:
        """A stopped proxy in front of the Prometheus at `upstream`."""
        self.upstream = upstream.rstrip("/")
        self.answers = Answers()
        self._windows: dict[str, int] = {}
        self._timeout_s = timeout_s
        self._lock = threading.Lock()
        self._http = _HttpServer(("127.0.0.1", 0), self._handle)
        self.port = int(self._http.server_address[1])
        self.url = f"http://127.0.0.1:{self.port}"

    def _handle(self, path: str, params: dict[str, str]) -> tuple[int, dict[str, Any]]:
        try:
            with urlopen(
                f"{self.upstream}{path}?{urlencode(params)}", timeout=self._timeout_s
            ) as r:
                body: dict[str, Any] = json.load(r)
        except HTTPError as err:  # Prometheus' own error answer, passed on unrecorded
            return err.code, json.loads(err.read() or b"{}")
        if path in (INSTANT, RANGE) and body.get("status") == "success":
            at = params.get("time" if path == INSTANT else "end", "")
            with self._lock:
                window = self._windows.setdefault(at, len(self._windows))
                result = body["data"]["result"]
                self.answers.record(_endpoint(path), Shape.of(params["query"]), window, result)
        return 200, body


class _HttpServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], handle: Handle) -> None:
        self.handle_query = handle
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the bot's requests session expects
    disable_nagle_algorithm = True  # otherwise every small response waits ~40 ms for an ACK
    timeout = 60  # an idle kept-alive connection ends its thread eventually
    server: _HttpServer

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: a bench sends thousands of queries."""

    def do_GET(self) -> None:
        """A query in the query string."""
        self._answer(urlsplit(self.path).query)

    def do_POST(self) -> None:
        """A query in a form body (Prometheus takes both)."""
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode() if length else ""
        query = urlsplit(self.path).query
        self._answer("&".join(part for part in (query, body) if part))

    def _answer(self, query: str) -> None:
        params = {key: values[-1] for key, values in parse_qs(query).items()}
        try:
            status, body = self.server.handle_query(urlsplit(self.path).path, params)
        except (KeyError, ValueError) as err:
            status, body = 400, {"status": "error", "errorType": "bad_data", "error": str(err)}
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


def main(argv: list[str] | None = None) -> int:
    """``python -m sim.recorded_prometheus --answers FILE [--port N]``: serve until SIGTERM."""
    parser = argparse.ArgumentParser(
        prog="python -m sim.recorded_prometheus", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--answers", type=Path, required=True, help="recorded answers (JSON)")
    parser.add_argument("--port", type=int, default=0, help="TCP port (0: a free one)")
    args = parser.parse_args(argv)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda _signum, _frame: stop.set())
    with RecordedPrometheus(Answers.load(args.answers), port=args.port) as prometheus:
        print(f"recorded prometheus on {prometheus.url}", flush=True)
        stop.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
