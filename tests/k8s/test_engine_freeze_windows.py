"""A window the judge passes during a freeze: the scheduler's wake-up asks instead of advancing.

The engine judges a real 3-second window from the real Prometheus scraping the traffic app,
on the cluster simulator and the test Redis, as the scheduler's `close_window` does.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
import redis

from bot.engine import Engine
from bot.freeze_store import FreezeStore
from bot.metrics import PrometheusMetrics
from bot.registry import parse_registry
from bot.release import Phase
from bot.rollout_strategies import ClusterPool, strategy_for
from bot.service_spec import ServiceSpec
from bot.store import ReleaseStore
from bot.transitions import Applied
from bot.windows import WindowJudge
from k8s.strategy import ReleaseStrategy
from sim.traffic import TRACKS, TrackBehaviour, TrafficApp
from tests.k8s.conftest import SimCluster
from tests.k8s.engine_rig import ALICE
from tests.k8s.scenarios import CANARY_DEPLOYMENT, NEW, Scenario, services_yaml
from tests.servers import PrometheusServer, wait_until

TWO_STEPS = services_yaml(CANARY_DEPLOYMENT).replace("steps: [1]", "steps: [1, 2]")
SERVICES = TWO_STEPS.replace("observation: {window: 1m}", "observation: {window: 3s}")


@pytest.fixture
def traffic(traffic_app: TrafficApp, prometheus_server: PrometheusServer) -> Iterator[None]:
    """fop-gate's two tracks answer ~300 requests a second each, none failing."""
    traffic_app.add_service("shop", "fop-gate")
    for track in TRACKS:
        traffic_app.set_behaviour("shop", "fop-gate", track, TrackBehaviour())
    series = 'count(http_requests_total{namespace="shop", service="fop-gate"})'

    def scraped() -> bool:
        result = prometheus_server.query(series)
        return bool(result) and int(result[0]["value"][1]) >= len(TRACKS) * 3

    wait_until(scraped, timeout_s=15, what="fop-gate's series in Prometheus")
    stop = threading.Event()

    def drive() -> None:
        while not stop.wait(0.01):
            for track in TRACKS:
                for _ in range(3):
                    traffic_app.answer("shop", "fop-gate", track)

    driver = threading.Thread(target=drive, name="freeze-window-traffic")
    driver.start()
    yield
    stop.set()
    driver.join(timeout=5)


def test_a_window_judged_passed_during_a_freeze_asks_instead_of_deploying_step_2(
    scenario_cluster: Callable[[Scenario], SimCluster],
    store: ReleaseStore,
    redis_client: redis.Redis,
    prometheus_server: PrometheusServer,
    traffic: None,
) -> None:
    cluster = scenario_cluster(CANARY_DEPLOYMENT)
    pool = ClusterPool(kubeconfig=str(cluster.kubeconfig))

    def strategies(spec: ServiceSpec) -> ReleaseStrategy:
        return strategy_for(spec, pool.for_context(spec.context), timeout=timedelta(seconds=30))

    metrics = PrometheusMetrics(prometheus_server.url, timeout_seconds=2)
    engine = Engine(
        store=store,
        registry=parse_registry(SERVICES),
        strategies=strategies,
        clock=lambda: datetime.now(UTC),
        windows=WindowJudge(metrics),
        freezes=FreezeStore(redis_client),
    )
    try:
        started = engine.start("fop-gate", NEW, ALICE)
        assert isinstance(started, Applied), started
        window = started.release.window
        assert window is not None
        until = datetime.now(UTC) + timedelta(hours=1)
        engine.freeze("fop-gate", until=until, reason="incident 4711", actor=ALICE)
        time.sleep(max(0.0, (window.ends_at - datetime.now(UTC)).total_seconds()) + 1.5)

        judged = engine.close_window(started.release.id, step=0, index=0)
    finally:
        metrics.close()

    assert isinstance(judged, Applied), judged
    assert (judged.release.phase, judged.release.step) == (Phase.AWAITING_APPROVAL, 0)
    assert judged.release.reason.startswith(
        "step 1 passed every window, but fop-gate is frozen until "
    )
    assert judged.release.reason.endswith("(incident 4711)")
    assert cluster.jsonpath("deployment/fop-gate-canary", "{.spec.replicas}") == "1"
