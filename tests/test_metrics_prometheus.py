"""The Prometheus adapter against a real Prometheus scraping real HTTP traffic.

One burst of traffic (a few hundred requests per track, over five seconds) is served once for
the module; each test measures it in its own way. The expected numbers are what the clients
actually got back, never what the shares promise.
"""

from __future__ import annotations

import http.client
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

from bot.analysis import Verdict, judge
from bot.measurements import Track, TrackMeasurement, TrackSeries
from bot.metrics import PrometheusMetrics
from bot.queries import TrackRef
from bot.service_spec import ServiceSpec
from sim.traffic import TrackBehaviour, TrafficApp
from tests.servers import PrometheusServer, wait_until

NAMESPACE = "metrics-test"
STABLE, CANARY = TrackRef(Track.STABLE, "stable"), TrackRef(Track.CANARY, "canary")
# How each track of each service answers during the burst.
BEHAVIOUR = {
    ("checkout", "stable"): TrackBehaviour(error_share=0.05, client_error_share=0.02),
    ("checkout", "canary"): TrackBehaviour(error_share=0.2, latency_s=0.006),
    ("search", "stable"): TrackBehaviour(error_share=0.03),
    ("search", "canary"): TrackBehaviour(),  # traffic, but never a 5xx
}
REQUESTS_PER_TRACK = 300
BURST = timedelta(seconds=5)
# Longer than the burst and the waits around it, so the window covers all of the traffic.
WINDOW = timedelta(seconds=30)


@dataclass(frozen=True)
class Burst:
    """What the clients got back per (service, track), and when the traffic ran."""

    codes: Mapping[tuple[str, str], Counter[int]]
    started: datetime
    ended: datetime
    end: datetime  # just after a scrape that saw every request: where windows end

    def ok(self, service: str, track: str) -> int:
        """2xx responses one track served."""
        return self.codes[service, track][200]

    def errors(self, service: str, track: str) -> int:
        """5xx responses one track served."""
        return self.codes[service, track][500]


def spec_for(service: str, *, queries: Mapping[str, str] | None = None) -> ServiceSpec:
    """A canary-deployment service (track label `track`) with the generic preset."""
    return ServiceSpec.model_validate(
        {
            "name": service,
            "namespace": NAMESPACE,
            "channel": "#releases",
            "strategy": {"kind": "canary-deployment", "deployment": service, "service": service},
            "metrics": {"preset": "generic", "queries": dict(queries or {})},
            "analysis": {"max_p99_latency_ms": 500},  # so latency is measured too
            "approval": {"approvers": ["U012ABCDEF"]},
        }
    )


def drive(app: TrafficApp, service: str, track: str, codes: Counter[int]) -> None:
    """Send REQUESTS_PER_TRACK requests to one track, evenly over BURST, on one connection."""
    connection = http.client.HTTPConnection("127.0.0.1", app.port, timeout=10)
    started, gap = time.monotonic(), BURST.total_seconds() / REQUESTS_PER_TRACK
    try:
        for sent in range(REQUESTS_PER_TRACK):
            time.sleep(max(0.0, started + sent * gap - time.monotonic()))
            connection.request("GET", f"/{NAMESPACE}/{service}/{track}")
            response = connection.getresponse()
            response.read()
            codes[response.status] += 1
    finally:
        connection.close()


def latest_scrape(prometheus: PrometheusServer) -> float:
    """When Prometheus last scraped this module's series (Unix seconds), or 0 before that."""
    result = prometheus.query(f'max(timestamp(http_requests_total{{namespace="{NAMESPACE}"}}))')
    return float(result[0]["value"][1]) if result else 0.0


@pytest.fixture(scope="module")
def burst(traffic_app: TrafficApp, prometheus_server: PrometheusServer) -> Burst:
    """Serve the module's traffic once and wait until Prometheus has scraped all of it."""
    for (service, track), behaviour in BEHAVIOUR.items():
        traffic_app.add_service(NAMESPACE, service)
        traffic_app.set_behaviour(NAMESPACE, service, track, behaviour)
    # A sample at 0 before the first request, or increase() would miss what came before it.
    registered = time.time()
    wait_until(
        lambda: latest_scrape(prometheus_server) > registered, timeout_s=10, what="a 0 sample"
    )
    codes: dict[tuple[str, str], Counter[int]] = {key: Counter() for key in BEHAVIOUR}
    threads = [
        threading.Thread(target=drive, args=(traffic_app, service, track, codes[service, track]))
        for service, track in BEHAVIOUR
    ]
    started = datetime.now(UTC)
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    ended = datetime.now(UTC)
    for (service, track), got in codes.items():
        assert got.total() == REQUESTS_PER_TRACK, f"{service}/{track} got {got}"
        assert traffic_app.served(NAMESPACE, service, track) == {
            str(code): got[code] for code in (200, 404, 500)
        }
    wait_until(
        lambda: latest_scrape(prometheus_server) > ended.timestamp(),
        timeout_s=10,
        what="a scrape after the traffic",
    )
    # increase() extrapolates from the last sample to the window's end, at the series' average
    # rate: on a series seconds old that adds over 10 %, on a 10-minute window under 0.2 %.
    # Ending the window just after a scrape keeps the test as exact as a real window.
    end = datetime.fromtimestamp(latest_scrape(prometheus_server) + 0.01, tz=UTC)
    assert end - WINDOW < started, "the window must cover all of the traffic"
    return Burst(codes=codes, started=started, ended=ended, end=end)


@pytest.fixture
def metrics(prometheus_server: PrometheusServer) -> Iterator[PrometheusMetrics]:
    """The adapter on the session's Prometheus."""
    adapter = PrometheusMetrics(prometheus_server.url, timeout_seconds=5)
    yield adapter
    adapter.close()


@pytest.fixture
def own_prometheus(traffic_app: TrafficApp, tmp_path: Path) -> Iterator[PrometheusServer]:
    """A Prometheus of the test's own, which the test may stop."""
    server = PrometheusServer(
        data_dir=tmp_path / "prometheus", targets=(f"127.0.0.1:{traffic_app.port}",)
    )
    try:
        # No need to wait ~5 s for a first scrape: the test needs an answer, not data.
        yield server.start(wait_for_scrape=False)
    finally:
        server.stop()


def close_to(served: float, rel: float = 0.10) -> Any:
    """Within 10 % of what was served: increase() extrapolates a little."""
    return pytest.approx(served, rel=rel)


# --- counts and TPS per track ----------------------------------------------------------------


def test_counts_and_tps_per_track_match_what_was_served(
    metrics: PrometheusMetrics, burst: Burst
) -> None:
    window = metrics.measure(spec_for("checkout"), STABLE, CANARY, end=burst.end, window=WINDOW)
    seconds = WINDOW.total_seconds()
    for measured in (window.stable, window.canary):
        assert measured.error is None
        assert measured.counts is not None
        served = burst.codes["checkout", measured.track]
        assert measured.counts.requests == close_to(served.total())
        assert measured.counts.ok == close_to(served[200])
        assert measured.counts.client_errors == close_to(served[404])
        assert measured.counts.errors == close_to(served[500])
        assert measured.tps_2xx == close_to(served[200] / seconds)
        assert measured.tps_5xx == close_to(served[500] / seconds)
    # The canary erred four times as often as stable, and Prometheus sees it.
    assert burst.errors("checkout", "canary") > 3 * burst.errors("checkout", "stable") > 0


def test_latency_quantiles_come_from_the_histogram(
    metrics: PrometheusMetrics, burst: Burst
) -> None:
    window = metrics.measure(spec_for("checkout"), STABLE, CANARY, end=burst.end, window=WINDOW)
    # The canary waits 6 ms a request: the 5-10 ms bucket. Stable answers in well under 5 ms.
    assert window.canary.p50_ms is not None
    assert 5 <= window.canary.p50_ms <= 10
    assert window.stable.p50_ms is not None
    assert window.stable.p50_ms < 5
    assert window.canary.p99_ms is not None
    assert window.canary.p99_ms >= window.canary.p50_ms


def test_a_track_with_traffic_but_no_5xx_reads_zero_not_none(
    metrics: PrometheusMetrics, burst: Burst
) -> None:
    canary = metrics.measure_track(spec_for("search"), CANARY, end=burst.end, window=WINDOW)
    assert canary.error is None
    assert canary.counts is not None
    assert burst.errors("search", "canary") == 0
    assert canary.counts.requests == close_to(burst.codes["search", "canary"].total())
    assert canary.counts.errors == 0
    assert canary.tps_5xx == 0


def test_a_service_without_traffic_reads_zero_requests(
    metrics: PrometheusMetrics, burst: Burst
) -> None:
    unknown = metrics.measure_track(spec_for("no-traffic"), CANARY, end=burst.end, window=WINDOW)
    assert unknown.error is None
    assert unknown.counts is not None
    assert unknown.counts.requests == 0


# --- query overrides -------------------------------------------------------------------------


def test_a_query_override_is_what_gets_sent_and_measured(
    metrics: PrometheusMetrics, burst: Burst
) -> None:
    # A service that counts 4xx as errors too: its own `errors` query replaces the preset's.
    override = (
        'sum(increase(http_requests_total{namespace="{namespace}", service="{service}", '
        'track="{track}", code=~"4..|5.."}[{window}]))'
    )
    spec = spec_for("checkout", queries={"errors": override})
    stable = metrics.measure_track(spec, STABLE, end=burst.end, window=WINDOW)
    assert stable.queries["errors"] == (
        'sum(increase(http_requests_total{namespace="metrics-test", service="checkout", '
        'track="stable", code=~"4..|5.."}[30s]))'
    )
    preset = metrics.measure_track(spec_for("checkout"), STABLE, end=burst.end, window=WINDOW)
    assert stable.queries["success"] == preset.queries["success"]
    assert stable.counts is not None
    served = burst.codes["checkout", "stable"]
    assert served[404] > 0
    assert stable.counts.errors == close_to(served[404] + served[500])


# --- series for the chart --------------------------------------------------------------------


def peak(series: TrackSeries, *, errors: bool = False) -> float:
    """The highest TPS2XX (or TPS5XX) of a track's series."""
    points = (series.tps_5xx if errors else series.tps_2xx).points
    return max(value for _, value in points)


def test_series_show_both_tracks_at_the_rate_they_were_served(
    metrics: PrometheusMetrics, burst: Burst
) -> None:
    series = metrics.series(
        spec_for("checkout"), STABLE, CANARY, end=burst.end, window=WINDOW, points=30
    )
    seconds = (burst.ended - burst.started).total_seconds()
    # prometheus-api-client rounds a range's start and end to whole seconds.
    rounding = timedelta(seconds=0.5)
    for track in (series.stable, series.canary):
        assert track.error is None
        stamps = [stamp for stamp, _ in track.tps_2xx.points]
        # One point a second wherever a rate's range holds two samples: across the burst (and
        # from its 0 sample on), within the window.
        assert all(later - earlier == timedelta(seconds=1) for earlier, later in pairwise(stamps))
        assert stamps[0] <= burst.started + timedelta(seconds=2)
        assert stamps[-1] >= burst.ended - timedelta(seconds=1)
        assert burst.end - WINDOW - rounding <= stamps[0]
        assert stamps[-1] <= burst.end + rounding
        # A 4 s rate inside the 5 s burst sees it at full speed; its ramps are lower.
        assert peak(track) == close_to(burst.ok("checkout", track.track) / seconds, rel=0.2)
        assert peak(track, errors=True) == close_to(
            burst.errors("checkout", track.track) / seconds, rel=0.2
        )


def test_series_of_a_window_that_is_no_whole_multiple_of_its_points(
    metrics: PrometheusMetrics, burst: Burst
) -> None:
    # A 90 s window in 60 points: a step of 1.5 s.
    window = timedelta(seconds=90)
    series = metrics.series(spec_for("checkout"), STABLE, CANARY, end=burst.end, window=window)
    assert series.canary.error is None
    assert peak(series.canary) > 0


# --- Prometheus unreachable ------------------------------------------------------------------


def test_a_stopped_prometheus_makes_an_error_measurement_and_an_inconclusive_window(
    own_prometheus: PrometheusServer,
) -> None:
    spec = spec_for("checkout")
    adapter = PrometheusMetrics(own_prometheus.url, timeout_seconds=2)
    end = datetime.now(UTC)
    before = adapter.measure(spec, STABLE, CANARY, end=end, window=WINDOW)
    assert before.stable.error is None
    assert before.canary.error is None

    own_prometheus.stop()
    started = time.monotonic()
    after = adapter.measure(spec, STABLE, CANARY, end=end, window=WINDOW)
    adapter.close()

    assert time.monotonic() - started < 5, "a stopped server must not stall the window"
    for measured in (after.stable, after.canary):
        assert_unreachable(measured, own_prometheus.url)
    judgment = judge(after, spec.analysis)
    assert judgment.verdict is Verdict.INCONCLUSIVE
    assert after.canary.error is not None
    assert after.canary.error in judgment.reason


def test_a_prometheus_that_never_answers_makes_an_error_measurement_within_the_timeout() -> None:
    # A socket that takes connections into its backlog and never answers: a hung server.
    with socket.create_server(("127.0.0.1", 0)) as hung:
        url = f"http://127.0.0.1:{hung.getsockname()[1]}"
        adapter = PrometheusMetrics(url, timeout_seconds=0.25)
        started = time.monotonic()
        window = adapter.measure(
            spec_for("checkout"), STABLE, CANARY, end=datetime.now(UTC), window=WINDOW
        )
        adapter.close()
    # Each track gives up after its first query: a try and one retry of 0.25 s each.
    assert time.monotonic() - started < 5, "a hung server must not stall the window"
    for measured in (window.stable, window.canary):
        assert measured.counts is None
        assert measured.error is not None
        assert measured.error == f"Prometheus at {url} gave no answer within 0.25 s"
    assert judge(window, spec_for("checkout").analysis).verdict is Verdict.INCONCLUSIVE


def assert_unreachable(measured: TrackMeasurement, url: str) -> None:
    """The measurement carries the error, names the server and keeps the queries it tried."""
    assert measured.counts is None
    assert measured.error is not None
    assert url in measured.error
    assert "unreachable" in measured.error
    assert "connection refused" in measured.error
    assert "errors" in measured.queries
