"""Users of the playground's services: requests to each track, as many as its pods can take.

Every tick each service's stable and canary tracks are asked as many requests as their ready
pods would get (``RATE_PER_POD`` a second each), so a canary Deployment of 1 pod beside 9 stable
ones gets a tenth of the traffic, as behind a real Service. The requests are counted by the
:class:`~sim.traffic.TrafficApp` in this process (its ``answer``, without an HTTP round trip:
the playground shares two CPUs with everything else), and Prometheus scrapes what it counted.

Only canary-deployment services have pods the app tells apart by track; the other strategies'
services get stable traffic only (their windows read as too little traffic to judge).

A *bad canary* errs (``BAD_ERROR_SHARE`` of 5xx) from the moment it is asked for until the
next canary to start (after any canary still running then has gone) is gone again, so the next
release's window fails and is undone.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from bot.registry import Registry
from bot.strategy_specs import CanaryDeploymentSpec
from playground.cluster import ready_replicas
from sim.server import SimServer
from sim.traffic import TrafficApp

RATE_PER_POD = 12.0  # requests a second: a canary pod sees ~240 in a 20 s window
BAD_ERROR_SHARE = 0.4
TICK_S = 0.1


@dataclass
class _Service:
    namespace: str
    name: str
    stable: str  # the stable Deployment
    canary: str | None  # the canary Deployment, for canary-deployment services
    owed: dict[str, float]  # requests due but not yet sent, by track
    bad_canary: bool = False
    bad_armed: bool = False  # no canary pods seen since the bad canary was asked for
    bad_running: bool = False  # ... and since then the bad canary's pods have come


class ServiceUsers:
    """A thread sending each service's traffic to the app; a context manager."""

    def __init__(self, app: TrafficApp, cluster: SimServer, registry: Registry) -> None:
        """Users of every service of `registry`, added to `app`, following `cluster`'s pods."""
        self._app = app
        self._cluster = cluster
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._services: dict[str, _Service] = {}
        for spec in registry.services.values():
            strategy = spec.strategy
            canary = (
                f"{strategy.deployment}-canary"
                if isinstance(strategy, CanaryDeploymentSpec)
                else None
            )
            self._services[spec.name] = _Service(
                spec.namespace, spec.name, strategy.deployment, canary, {"stable": 0, "canary": 0}
            )
            app.add_service(spec.namespace, spec.name)
        self._thread = threading.Thread(target=self._run, name="playground-users", daemon=True)

    def __enter__(self) -> ServiceUsers:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def bad_next_canary(self, service: str) -> None:
        """Make `service`'s next canary (or the running one) answer BAD_ERROR_SHARE with 5xx."""
        with self._lock:
            state = self._services[service]
            state.bad_canary, state.bad_armed, state.bad_running = True, False, False
            self._app.set_error_share(state.namespace, state.name, "canary", BAD_ERROR_SHARE)

    def _run(self) -> None:
        while not self._stop.wait(TICK_S):
            for state in self._services.values():
                self._serve(state)

    def _serve(self, state: _Service) -> None:
        pods = {
            "stable": ready_replicas(self._cluster, state.namespace, state.stable),
            "canary": ready_replicas(self._cluster, state.namespace, state.canary)
            if state.canary
            else 0,
        }
        with self._lock:
            if state.bad_canary:
                self._after_bad_canary(state, canary_pods=pods["canary"])
        for track, count in pods.items():
            state.owed[track] += count * RATE_PER_POD * TICK_S
            while state.owed[track] >= 1:
                state.owed[track] -= 1
                self._app.answer(state.namespace, state.name, track)

    def _after_bad_canary(self, state: _Service, *, canary_pods: int) -> None:
        """Heal the canary track once the next canary has come and gone.

        A canary whose pods are still going away (the last release's) is not the next one:
        only pods seen after a moment with none count.
        """
        if not canary_pods:
            if state.bad_running:
                state.bad_canary = state.bad_armed = state.bad_running = False
                self._app.set_error_share(state.namespace, state.name, "canary", 0.0)
            else:
                state.bad_armed = True
        elif state.bad_armed:
            state.bad_running = True
