"""Every preset's PromQL, evaluated by ``promtool test rules`` on synthetic series (no server).

Each preset gets the series its exporter would write for a stable and a canary track, spread
over pods, plus series the queries must not count (other services, namespaces, tracks, Istio's
client-side reports). promtool checks each query's value against the count it should give.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.measurements import Track
from bot.queries import QUERY_NAMES, TrackRef, prometheus_duration, queries_for
from bot.service_spec import ServiceSpec

WINDOW = timedelta(minutes=10)
MINUTES = 10  # samples once a minute from 0 to 10m; the queries are evaluated at 10m

# Responses per minute by status code. Canary has no 5xx at all: its `errors` must read 0.
CODES = {
    Track.STABLE: {"200": 90, "302": 2, "404": 4, "500": 4},
    Track.CANARY: {"200": 45, "201": 3, "404": 2},
}
# Cumulative histogram buckets per minute, upper bounds in seconds. promtool compares values
# exactly, so the bounds are ones whose quantiles come out as whole ms in floating point too.
BUCKETS = {
    Track.STABLE: {"0.05": 50, "0.1": 100, "+Inf": 100},
    Track.CANARY: {"0.05": 0, "0.1": 25, "0.2": 50, "+Inf": 50},
}
# What each query must give over the 10 minutes; latencies in ms.
EXPECTED = {
    Track.STABLE: {
        "requests": 1000,
        "success": 900,
        "client_errors": 40,
        "errors": 40,
        "latency_p50": 50,  # the 50th of 100 a minute is the last under 50 ms
        "latency_p99": 99,  # interpolated: 50 ms + 50 ms * 49/50
    },
    Track.CANARY: {
        "requests": 500,
        "success": 480,
        "client_errors": 20,
        "errors": 0,  # no 5xx series at all: the `or … * 0` fallback
        "latency_p50": 100,  # the 25th of 50 is the last under 100 ms
        "latency_p99": 198,  # 100 ms + 100 ms * 24.5/25
    },
}
NOISE = 1000  # per minute on every series a query must not count: any leak shows


@dataclass(frozen=True)
class Preset:
    """One query preset: a service using it and the series its exporter writes."""

    id: str
    spec: ServiceSpec
    refs: Mapping[Track, TrackRef]
    pods: int  # each track's counts are split over this many pods
    # The series of one track's counter for a status code, and of one histogram bucket.
    counter: Callable[[Track, int, str], str]
    bucket: Callable[[Track, int, str], str]
    noise: tuple[str, ...]
    # Matchers of the queries that keep the noise out: without any one of them, a count is off.
    matchers: tuple[str, ...]
    le_scale: float = 1.0  # bucket bounds are in seconds; Istio's are in ms


def spec(name: str, strategy: Mapping[str, Any], preset: str, **metrics: Any) -> ServiceSpec:
    """A service `name` in namespace `shop` with this strategy and query preset."""
    return ServiceSpec.model_validate(
        {
            "name": name,
            "namespace": "shop",
            "channel": "#releases",
            "strategy": dict(strategy),
            "metrics": {"preset": preset, **metrics},
            "approval": {"approvers": ["U012ABCDEF"]},
        }
    )


CANARY_DEPLOYMENT = {"kind": "canary-deployment", "deployment": "checkout", "service": "checkout"}
ISTIO = {
    "kind": "istio",
    "deployment": "checkout",
    "host": "checkout",
    "virtual_service": "checkout",
    "destination_rule": "checkout",
}
GENERIC_TRACK = {Track.STABLE: "stable", Track.CANARY: "canary"}
HASH = {Track.STABLE: "7d4b9c8f6", Track.CANARY: "5f6d8e7a9"}
VERSION = {Track.STABLE: "v1", Track.CANARY: "v2"}


def _generic(label: str, values: Mapping[Track, str]) -> Callable[[Track, int, str], str]:
    def series(track: Track, pod: int, extra: str) -> str:
        return (
            f'{{namespace="shop", service="checkout", {label}="{values[track]}", '
            f'pod="checkout-{values[track]}-{pod}", {extra}}}'
        )

    return series


def _istio(track: Track, pod: int, extra: str) -> str:
    return (
        f'{{reporter="destination", destination_workload_namespace="shop", '
        f'destination_app="checkout", destination_version="{VERSION[track]}", '
        f'pod="checkout-{VERSION[track]}-{pod}", {extra}}}'
    )


def _nginx(track: Track, pod: int, extra: str) -> str:
    # ingress-nginx names the canary upstream in `canary`; the main one has none.
    canary = ', canary="shop-checkout-canary-80"' if track is Track.CANARY else ""
    return (
        f'{{namespace="shop", ingress="checkout"{canary}, controller_pod="nginx-{pod}", {extra}}}'
    )


def _with_name(
    metric: str, labels: Callable[[Track, int, str], str]
) -> Callable[[Track, int, str], str]:
    return lambda track, pod, extra: metric + labels(track, pod, extra)


PRESETS = (
    Preset(
        id="generic",
        spec=spec("checkout", CANARY_DEPLOYMENT, "generic"),
        refs={track: TrackRef(track, GENERIC_TRACK[track]) for track in Track},
        pods=2,
        counter=_with_name("http_requests_total", _generic("track", GENERIC_TRACK)),
        bucket=_with_name("http_request_duration_seconds_bucket", _generic("track", GENERIC_TRACK)),
        noise=(
            'http_requests_total{namespace="staging", service="checkout", track="canary", '
            'code="500"}',
            'http_requests_total{namespace="shop", service="cart", track="stable", code="200"}',
            'http_requests_total{namespace="shop", service="checkout", track="preview", '
            'code="500"}',
            'http_request_duration_seconds_bucket{namespace="shop", service="cart", '
            'track="canary", le="0.05"}',
        ),
        matchers=('namespace="shop"', 'service="checkout"', 'track="canary"'),
    ),
    Preset(
        id="generic-pod-template-hash",
        spec=spec(
            "checkout",
            {"kind": "paused-rollout", "deployment": "checkout"},
            "generic",
            track_selector="pod-template-hash",
        ),
        refs={track: TrackRef(track, HASH[track]) for track in Track},
        pods=2,
        counter=_with_name("http_requests_total", _generic("pod_template_hash", HASH)),
        bucket=_with_name(
            "http_request_duration_seconds_bucket", _generic("pod_template_hash", HASH)
        ),
        noise=(
            'http_requests_total{namespace="shop", service="checkout", '
            'pod_template_hash="0000000", code="500"}',
            # The same pod template in another namespace hashes the same.
            'http_requests_total{namespace="staging", service="checkout", '
            'pod_template_hash="5f6d8e7a9", code="500"}',
        ),
        matchers=('namespace="shop"', 'pod_template_hash="5f6d8e7a9"'),
    ),
    Preset(
        id="istio",
        spec=spec("checkout", ISTIO, "istio"),
        refs={track: TrackRef(track, VERSION[track]) for track in Track},
        pods=2,
        counter=_with_name("istio_requests_total", _istio),
        bucket=_with_name("istio_request_duration_milliseconds_bucket", _istio),
        le_scale=1000.0,
        noise=(
            # The calling side's proxy reports the same requests again.
            'istio_requests_total{reporter="source", destination_workload_namespace="shop", '
            'destination_app="checkout", destination_version="v2", response_code="503"}',
            'istio_requests_total{reporter="destination", destination_workload_namespace="shop", '
            'destination_app="cart", destination_version="v2", response_code="200"}',
            'istio_requests_total{reporter="destination", destination_workload_namespace="shop", '
            'destination_app="checkout", destination_version="v3", response_code="500"}',
            'istio_request_duration_milliseconds_bucket{reporter="source", '
            'destination_workload_namespace="shop", destination_app="checkout", '
            'destination_version="v1", le="50"}',
            'istio_requests_total{reporter="destination", destination_workload_namespace="dev", '
            'destination_app="checkout", destination_version="v2", response_code="200"}',
        ),
        matchers=(
            'reporter="destination"',
            'destination_workload_namespace="shop"',
            'destination_app="checkout"',
            'destination_version="v2"',
        ),
    ),
    Preset(
        id="nginx",
        spec=spec("checkout", CANARY_DEPLOYMENT, "nginx"),
        refs={track: TrackRef(track, GENERIC_TRACK[track]) for track in Track},
        pods=2,
        counter=_with_name("nginx_ingress_controller_requests", _nginx),
        bucket=_with_name("nginx_ingress_controller_request_duration_seconds_bucket", _nginx),
        noise=(
            'nginx_ingress_controller_requests{namespace="shop", ingress="cart", status="500"}',
            'nginx_ingress_controller_requests{namespace="shop", ingress="cart", '
            'canary="shop-cart-canary-80", status="500"}',
            'nginx_ingress_controller_requests{namespace="staging", ingress="checkout", '
            'canary="staging-checkout-canary-80", status="200"}',
        ),
        matchers=('namespace="shop"', 'ingress="checkout"', 'canary!=""'),
    ),
)
CODE_LABEL = {
    "generic": "code",
    "generic-pod-template-hash": "code",
    "istio": "response_code",
    "nginx": "status",
}


def input_series(preset: Preset) -> list[dict[str, str]]:
    """Counters growing by CODES and BUCKETS a minute, split over pods, and the noise."""

    def share(per_minute: int, pod: int) -> int:
        # The first pods take the remainder, so the pods add up to the count.
        return per_minute // preset.pods + (1 if pod < per_minute % preset.pods else 0)

    series = []
    for track in Track:
        for pod in range(preset.pods):
            for code, per_minute in CODES[track].items():
                extra = f'{CODE_LABEL[preset.id]}="{code}"'
                series.append(_growing(preset.counter(track, pod, extra), share(per_minute, pod)))
            for le, per_minute in BUCKETS[track].items():
                bound = le if le == "+Inf" else f"{float(le) * preset.le_scale:g}"
                extra = f'le="{bound}"'
                series.append(_growing(preset.bucket(track, pod, extra), share(per_minute, pod)))
    series.extend(_growing(noise, NOISE) for noise in preset.noise)
    return series


def _growing(series: str, per_minute: int) -> dict[str, str]:
    return {"series": series, "values": f"0+{per_minute}x{MINUTES}"}


def expr_tests(preset: Preset, expected: Mapping[Track, Mapping[str, float]]) -> list[Any]:
    """One promql_expr_test per track and query, its expr exactly what the bot sends."""
    tests = []
    for track, ref in preset.refs.items():
        queries = queries_for(preset.spec, ref, WINDOW)
        for name in QUERY_NAMES:
            tests.append(
                {
                    "expr": queries[name],
                    "eval_time": f"{MINUTES}m",
                    "exp_samples": [{"labels": "{}", "value": expected[track][name]}],
                }
            )
    return tests


def write_test_file(
    path: Path, preset: Preset, expected: Mapping[Track, Mapping[str, float]] = EXPECTED
) -> Path:
    """A promtool unit-test file for one preset; it needs no rule_files."""
    document = {
        "evaluation_interval": "1m",
        "tests": [
            {
                "name": preset.id,
                "interval": "1m",
                "input_series": input_series(preset),
                "promql_expr_test": expr_tests(preset, expected),
            }
        ],
    }
    path.write_text(yaml.safe_dump(document, sort_keys=False, width=200))
    return path


def promtool_test(path: Path) -> subprocess.CompletedProcess[str]:
    """`promtool test rules PATH`, its output captured for the assertion message."""
    binary = shutil.which("promtool")
    if binary is None:
        pytest.fail("promtool is not installed (Debian's prometheus): run scripts/bootstrap")
    return subprocess.run(
        [binary, "test", "rules", str(path)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def output_of(result: subprocess.CompletedProcess[str], path: Path) -> str:
    """What promtool said, and where the file it read is."""
    return f"promtool exited {result.returncode} on {path}:\n{result.stdout}{result.stderr}"


# --- promtool ---------------------------------------------------------------------------------


@pytest.mark.parametrize("preset", PRESETS, ids=lambda preset: preset.id)
def test_every_query_of_the_preset_counts_the_window_of_one_track(
    preset: Preset, tmp_path: Path
) -> None:
    path = write_test_file(tmp_path / f"{preset.id}.test.yaml", preset)
    result = promtool_test(path)
    assert result.returncode == 0, output_of(result, path)
    assert "SUCCESS" in result.stdout


@pytest.mark.parametrize("preset", PRESETS, ids=lambda preset: preset.id)
def test_promtool_rejects_a_wrong_expected_value(preset: Preset, tmp_path: Path) -> None:
    # The same file with the canary's 5xx count off by one: a test that cannot fail is no test.
    wrong = {track: dict(values) for track, values in EXPECTED.items()}
    wrong[Track.CANARY]["errors"] = 1
    path = write_test_file(tmp_path / f"{preset.id}.wrong.yaml", preset, wrong)
    result = promtool_test(path)
    assert result.returncode != 0, output_of(result, path)
    canary_errors = queries_for(preset.spec, preset.refs[Track.CANARY], WINDOW)["errors"]
    assert "FAILED" in result.stdout + result.stderr
    assert canary_errors in (result.stdout + result.stderr).replace('\\"', '"')


@pytest.mark.parametrize("preset", PRESETS, ids=lambda preset: preset.id)
def test_each_matcher_of_the_preset_keeps_other_series_out(preset: Preset, tmp_path: Path) -> None:
    # The canary's queries without one matcher must count the noise, and promtool say so:
    # otherwise the synthetic series could not catch a preset that matched too much.
    canary = queries_for(preset.spec, preset.refs[Track.CANARY], WINDOW)
    for matcher in preset.matchers:
        assert all(matcher in canary[name] for name in QUERY_NAMES), matcher
        path = write_test_file(tmp_path / "loose.yaml", preset)
        document = yaml.safe_load(path.read_text())
        for test in document["tests"][0]["promql_expr_test"]:
            if test["expr"] in canary.values():
                test["expr"] = test["expr"].replace(f"{matcher}, ", "").replace(f", {matcher}", "")
        path.write_text(yaml.safe_dump(document, sort_keys=False, width=200))
        result = promtool_test(path)
        assert result.returncode != 0, f"without {matcher}: " + output_of(result, path)


# --- the query text ---------------------------------------------------------------------------

CANARY = TrackRef(Track.CANARY, "canary")


def test_an_override_replaces_only_the_query_it_names() -> None:
    override = 'sum(increase(http_requests_total{code=~"5..", svc="{service}"}[{window}]))'
    overridden = spec("checkout", CANARY_DEPLOYMENT, "generic", queries={"errors": override})
    plain = spec("checkout", CANARY_DEPLOYMENT, "generic")
    queries, preset = queries_for(overridden, CANARY, WINDOW), queries_for(plain, CANARY, WINDOW)
    assert (
        queries["errors"] == 'sum(increase(http_requests_total{code=~"5..", svc="checkout"}[600s]))'
    )
    assert queries["errors"] != preset["errors"]
    assert {name: q for name, q in queries.items() if name != "errors"} == {
        name: q for name, q in preset.items() if name != "errors"
    }


def test_an_override_gets_every_placeholder_filled() -> None:
    override = 'my_errors{ns="{namespace}", app="{service}", v="{track}"}[{window}]'
    overridden = spec("checkout", CANARY_DEPLOYMENT, "generic", queries={"latency_p99": override})
    queries = queries_for(overridden, TrackRef(Track.CANARY, "v2"), timedelta(minutes=5))
    assert queries["latency_p99"] == 'my_errors{ns="shop", app="checkout", v="v2"}[300s]'


@pytest.mark.parametrize("preset", PRESETS, ids=lambda preset: preset.id)
def test_preset_queries_have_no_placeholder_left(preset: Preset) -> None:
    for query in queries_for(preset.spec, preset.refs[Track.CANARY], WINDOW).values():
        for placeholder in ("{namespace}", "{service}", "{track}", "{window}"):
            assert placeholder not in query


@pytest.mark.parametrize(
    ("window", "rendered"),
    [
        pytest.param(timedelta(minutes=10), "600s", id="minutes"),
        pytest.param(timedelta(hours=1, seconds=30), "3630s", id="hours"),
        pytest.param(timedelta(seconds=90.4), "90s", id="rounded"),
        pytest.param(timedelta(milliseconds=300), "1s", id="at-least-one-second"),
    ],
)
def test_the_window_is_rendered_in_whole_seconds(window: timedelta, rendered: str) -> None:
    assert prometheus_duration(window) == rendered
    queries = queries_for(spec("checkout", CANARY_DEPLOYMENT, "generic"), CANARY, window)
    assert all(f"[{rendered}]" in query for query in queries.values())


def test_nginx_tells_the_tracks_apart_by_the_canary_label() -> None:
    nginx = spec("checkout", CANARY_DEPLOYMENT, "nginx")
    stable = queries_for(nginx, TrackRef(Track.STABLE, "stable"), WINDOW)["requests"]
    canary = queries_for(nginx, CANARY, WINDOW)["requests"]
    assert 'canary=""' in stable
    assert 'canary!=""' in canary
