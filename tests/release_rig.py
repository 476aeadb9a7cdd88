"""What tests that run a whole release share: a simulated cluster with the stable Deployment
rolled out, and the traffic app's series for its tracks already in Prometheus."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from sim.store import DEPLOYMENTS
from sim.traffic import TRACKS, TrackBehaviour, TrafficApp
from tests.k8s.conftest import SimCluster, start_sim
from tests.servers import PrometheusServer, wait_until


@contextmanager
def rolled_out(
    directory: Path, manifests: str, *, namespace: str, name: str, replicas: int
) -> Iterator[SimCluster]:
    """The simulator with `manifests` loaded and Deployment `name` ready; stopped after."""
    sim = start_sim(directory)
    try:
        sim.load(manifests)

        def ready() -> bool:
            status = sim.server.store.get(DEPLOYMENTS, namespace, name).get("status") or {}
            return bool(status.get("readyReplicas") == replicas)

        wait_until(ready, timeout_s=10, what=f"the Deployment {name}")
        yield sim
    finally:
        sim.server.stop()


def healthy_series(
    traffic_app: TrafficApp, prometheus: PrometheusServer, *, namespace: str, service: str
) -> None:
    """The service's tracks answer without errors, and Prometheus has their series at 0
    already (else increase() would miss the first requests)."""
    traffic_app.add_service(namespace, service)
    for track in TRACKS:
        traffic_app.set_behaviour(namespace, service, track, TrackBehaviour())
    expr = f'count(http_requests_total{{namespace="{namespace}", service="{service}"}})'

    def scraped() -> bool:
        result = prometheus.query(expr)
        return bool(result) and int(result[0]["value"][1]) >= len(TRACKS) * 3  # 3 codes each

    wait_until(scraped, timeout_s=15, what=f"{service}'s series in Prometheus")


@contextmanager
def steady_traffic(
    traffic_app: TrafficApp, *, namespace: str, services: Iterable[str]
) -> Iterator[None]:
    """Every track of `services` answers ~300 requests a second until the block ends."""
    stop = threading.Event()
    names = list(services)

    def drive() -> None:
        while not stop.wait(0.01):
            for name in names:
                for track in TRACKS:
                    for _ in range(3):
                        traffic_app.answer(namespace, name, track)

    driver = threading.Thread(target=drive, name=f"traffic-{namespace}")
    driver.start()
    try:
        yield
    finally:
        stop.set()
        driver.join(timeout=5)
