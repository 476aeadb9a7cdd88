"""Prometheus' query API answered from recorded answers: every service's same query gets the
recorded answer, relabelled, scaled to its range and re-timed; what was not recorded is refused
as Prometheus refuses a bad query; and the bot's own adapter reads it like a real Prometheus."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.error import HTTPError
from urllib.parse import urlencode
from urllib.request import urlopen

import pytest

from bench.scale import ANSWERS
from bench.scale_rig import namespace_of, service_name, services_yaml
from bot.measurements import Track
from bot.metrics import PrometheusMetrics
from bot.queries import TrackRef
from bot.registry import parse_registry
from sim.recorded_prometheus import Answers, RecordedPrometheus, Shape

COUNT = (
    'sum(increase(http_requests_total{namespace="shop", service="checkout", track="canary"}[30s]))'
)
RATES = (
    'sum(increase(http_requests_total{namespace="shop", service="checkout", track="canary"}[4s]))'
)


def _answers() -> Answers:
    answers = Answers()
    answers.record("query", Shape.of(COUNT), 0, [{"metric": {}, "value": [1.0, "300"]}])
    rates = [[1.0, "4"], [2.0, "8"]]
    answers.record("query_range", Shape.of(RATES), 0, [{"metric": {}, "values": rates}])
    return answers


@pytest.fixture
def prometheus() -> Iterator[RecordedPrometheus]:
    with RecordedPrometheus(_answers()) as server:
        yield server


def _get(server: RecordedPrometheus, path: str, **params: str) -> tuple[int, dict[str, Any]]:
    try:
        with urlopen(f"{server.url}{path}?{urlencode(params)}", timeout=5) as response:
            return response.status, json.load(response)
    except HTTPError as err:
        return err.code, json.loads(err.read())


def test_a_query_shape_hides_the_namespace_service_and_range() -> None:
    shape = Shape.of(COUNT)
    assert shape.text == (
        'sum(increase(http_requests_total{namespace="{namespace}", service="{service}", '
        'track="canary"}[{range}]))'
    )
    assert (shape.labels, shape.range_s) == ({"namespace": "shop", "service": "checkout"}, 30.0)


def test_another_services_query_gets_the_answer_scaled_to_its_range(
    prometheus: RecordedPrometheus,
) -> None:
    query = COUNT.replace('"checkout"', '"payments"').replace("[30s]", "[3s]")
    status, body = _get(prometheus, "/api/v1/query", query=query, time="1795000000.5")
    assert status == 200
    assert body["data"]["result"] == [{"metric": {}, "value": [1795000000.5, "30.0"]}]


def test_a_range_query_is_retimed_from_start_to_end_by_step(
    prometheus: RecordedPrometheus,
) -> None:
    params = {"query": RATES, "start": "100", "end": "103", "step": "1s"}
    status, body = _get(prometheus, "/api/v1/query_range", **params)
    assert status == 200
    values = body["data"]["result"][0]["values"]
    assert values == [[100.0, "4.0"], [101.0, "8.0"], [102.0, "4.0"], [103.0, "8.0"]]


def test_an_unrecorded_query_is_refused_and_counted(prometheus: RecordedPrometheus) -> None:
    status, body = _get(prometheus, "/api/v1/query", query="up", time="1")
    assert (status, body["errorType"]) == (400, "bad_data")
    _get(prometheus, "/api/v1/query", query=COUNT, time="1")
    assert prometheus.counts() == {"query": 1, "query_range": 0, "unrecorded": 1}


def test_the_bots_adapter_measures_a_window_from_the_benchs_recorded_answers() -> None:
    spec = parse_registry(services_yaml(8, window_s=30, windows=3)).get(service_name(7))
    end = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
    stable, canary = TrackRef(Track.STABLE, "stable"), TrackRef(Track.CANARY, "canary")
    with RecordedPrometheus(Answers.load(ANSWERS)) as server:
        metrics = PrometheusMetrics(server.url)
        window = timedelta(seconds=30)
        measured = metrics.measure(spec, stable, canary, end=end, window=window)
        series = metrics.series(spec, stable, canary, end=end, window=window)
        metrics.close()
        counts = server.counts()
    assert spec.namespace == namespace_of(7)
    canary_counts, stable_counts = measured.canary.counts, measured.stable.counts
    assert measured.canary.error is None
    assert canary_counts is not None
    assert stable_counts is not None
    assert (
        50 <= canary_counts.requests < stable_counts.requests
    )  # enough for the judge, a smaller share
    assert canary_counts.ok <= canary_counts.requests
    assert len(series.canary.tps_2xx.points) == 31  # every second of the window, both ends
    assert counts["unrecorded"] == 0
