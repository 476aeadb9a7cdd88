"""``/healthz``, ``/readyz`` and ``/metrics``: what an orchestrator and Prometheus ask the bot.

A plain WSGI app with the checks injected as callables, so the routing and the answers are
tested without the servers, and the composition root (:mod:`bot.app`) decides what is checked:

- ``GET /healthz``: 200 ``{"status": "ok"}`` while the process serves HTTP at all.
- ``GET /readyz``: 200 when every check passes, else 503; the body names each check's result
  and whether this replica leads the scheduler (information, not a condition of readiness).
  Checks run at once, each in its own thread, and one that has not answered within
  `timeout_s` fails as timed out, so a probe never hangs on a dead dependency.
- ``GET /metrics``: the bot's metrics in Prometheus's text format (:mod:`bot.telemetry`).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import redis

from bot.wsgi_json import json_response, status_line

if TYPE_CHECKING:
    from wsgiref.types import StartResponse, WSGIEnvironment

HEALTHZ = "/healthz"
READYZ = "/readyz"
METRICS = "/metrics"
PATHS = frozenset({HEALTHZ, READYZ, METRICS})
TIMEOUT_S = 2.0
_LEADER = " leader"  # not a check: the leader flag, asked in the same bounded way

# A check returns a few words on success ("PONG", "v1.31.2") and raises on failure.
Check = Callable[[], str]


# A probe's answer is about now: no proxy or client may keep it.
_NO_STORE = [("Cache-Control", "no-store")]
_ALLOW = ("Allow", "GET, HEAD")


@dataclass(frozen=True)
class CheckResult:
    """One check's answer: whether it passed, what it said, how long it took."""

    ok: bool
    detail: str
    seconds: float

    def shown(self) -> dict[str, Any]:
        """As the readiness body shows it."""
        return {"ok": self.ok, "detail": self.detail, "ms": round(self.seconds * 1000, 1)}


def run_checks(checks: Mapping[str, Check], *, timeout_s: float) -> dict[str, CheckResult]:
    """Every check at once, each given at most `timeout_s`; their results by name."""
    results: dict[str, CheckResult] = {}
    lock = threading.Lock()
    started = time.monotonic()

    def run(name: str, check: Check) -> None:
        try:
            result = CheckResult(True, check(), time.monotonic() - started)
        except Exception as err:  # any failure is the check's answer, not the probe's
            result = CheckResult(False, _one_line(err), time.monotonic() - started)
        with lock:
            results.setdefault(name, result)

    # Daemon threads: one stuck past its timeout is left behind, never waited for.
    threads = [
        threading.Thread(target=run, args=item, name=f"canarybot-check-{item[0]}", daemon=True)
        for item in checks.items()
    ]
    for thread in threads:
        thread.start()
    deadline = started + timeout_s
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    with lock:
        silent = CheckResult(False, f"no answer within {timeout_s:g} s", timeout_s)
        for name in checks:
            results.setdefault(name, silent)
        return {name: results[name] for name in checks}


def redis_check(client: redis.Redis) -> Check:
    """PING through `client` (give it socket timeouts: the probe's own bound is a backstop)."""

    def ping() -> str:
        if not client.ping():
            raise RuntimeError("PING did not answer PONG")
        return "PONG"

    return ping


class VersionProbe(Protocol):
    """What the Kubernetes check needs (:class:`k8s.api_probe.ApiProbe`)."""

    def version(self, context: str | None) -> str:
        """The API server's version; raises when it does not answer."""


def kubernetes_check(probe: VersionProbe, context: str | None) -> Check:
    """``GET /version`` on the API server of `context`."""
    return lambda: probe.version(context)


def kubernetes_check_name(context: str | None) -> str:
    """``kubernetes:CONTEXT`` (``kubernetes:current`` for the kubeconfig's current context)."""
    return f"kubernetes:{context or 'current'}"


class HealthApp:
    """The WSGI app answering the three paths; anything else is 404."""

    def __init__(
        self,
        *,
        checks: Mapping[str, Check],
        leading: Callable[[], bool | None],
        metrics: Callable[[], tuple[bytes, str]],
        timeout_s: float = TIMEOUT_S,
        closers: Sequence[Callable[[], None]] = (),
    ) -> None:
        """Answer readiness from `checks`; `leading()` says whether this replica runs the
        scheduler's jobs (None: unknown); `metrics()` gives the exposition and its type."""
        self._checks = dict(checks)
        self._leading = leading
        self._metrics = metrics
        self._timeout_s = timeout_s
        self._closers = list(closers)

    def readiness(self) -> tuple[bool, dict[str, Any]]:
        """Whether the bot is ready, and the body that says why."""
        # Asked alongside the checks, under the same bound (it may read the lease in Redis).
        results = run_checks(
            {**self._checks, _LEADER: lambda: json.dumps(self._leading())},
            timeout_s=self._timeout_s,
        )
        leader = results.pop(_LEADER)
        ready = all(result.ok for result in results.values())
        body = {
            "ready": ready,
            "checks": {name: result.shown() for name, result in results.items()},
            "leader": json.loads(leader.detail) if leader.ok else None,
        }
        return ready, body

    def close(self) -> None:
        """Release what the checks hold (connections)."""
        for close in self._closers:
            close()

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        """Answer one request."""
        path = str(environ.get("PATH_INFO") or "")
        if path not in PATHS:
            return json_response(
                start_response, 404, {"error": f"no such endpoint {path}"}, _NO_STORE
            )
        if environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
            return json_response(start_response, 405, {"error": "use GET"}, [*_NO_STORE, _ALLOW])
        if path == HEALTHZ:
            return json_response(start_response, 200, {"status": "ok"}, _NO_STORE)
        if path == READYZ:
            ready, body = self.readiness()
            return json_response(start_response, 200 if ready else 503, body, _NO_STORE)
        payload, content_type = self._metrics()
        start_response(
            status_line(200),
            [("Content-Type", content_type), ("Content-Length", str(len(payload)))],
        )
        return [payload]


def _one_line(err: Exception) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0] if text else ''}".rstrip(": ")
