"""The PromQL a window is measured with: presets per exporter, and a service's own overrides.

Pure: nothing here talks to Prometheus. :mod:`bot.metrics` sends what :func:`queries_for`
returns, and ``tests/test_queries_promtool.py`` checks every preset with ``promtool``.

Each query yields one number for one track over one window:

- ``requests``, ``success`` (2xx), ``client_errors`` (4xx) and ``errors`` (5xx): counts, made
  with ``increase(…[window])``. A class query falls back to ``total * 0``, so a track that had
  traffic but no 5xx reads 0, not "no data" (Flagger counts "no data" as a failure).
- ``latency_p50`` and ``latency_p99``: milliseconds, from the exporter's histogram.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

from bot.measurements import Track
from bot.service_spec import MetricsPreset, ServiceSpec, TrackSelector, fill_query
from bot.strategy_specs import BlueGreenSpec, CanaryDeploymentSpec, IstioSpec

COUNT_QUERIES = ("requests", "success", "client_errors", "errors")
LATENCY_QUERIES = ("latency_p50", "latency_p99")
QUERY_NAMES = COUNT_QUERIES + LATENCY_QUERIES
_CLASS_OF = {"success": "2..", "client_errors": "4..", "errors": "5.."}
_QUANTILE_OF = {"latency_p50": "0.5", "latency_p99": "0.99"}
POD_TEMPLATE_HASH = "pod_template_hash"  # the pod label as Prometheus' kubernetes_sd maps it


@dataclass(frozen=True)
class TrackRef:
    """Which pods a query counts: the track, and what ``{track}`` stands for in the templates.

    ``value`` is the track label's value (``canary``), the version (``v2``) or the
    ReplicaSet's pod-template-hash, depending on the service's ``track_selector``.
    """

    track: Track
    value: str


@dataclass(frozen=True)
class _Preset:
    counter: str
    code_label: str
    matchers: str  # a template: fill_query fills {namespace} {service}
    histogram: str  # a *_bucket series
    to_ms: str  # what turns the histogram's unit into milliseconds


_PRESETS = {
    # Any app exporting http_requests_total{code} (prometheus_client, Micrometer, …), scraped
    # with namespace and service labels and the pods' track label kept (kubernetes_sd labelmap).
    MetricsPreset.GENERIC: _Preset(
        counter="http_requests_total",
        code_label="code",
        matchers='namespace="{namespace}", service="{service}"',
        histogram="http_request_duration_seconds_bucket",
        to_ms=" * 1000",
    ),
    # Istio's standard metrics, as reported by the server-side proxy of each pod.
    MetricsPreset.ISTIO: _Preset(
        counter="istio_requests_total",
        code_label="response_code",
        matchers=(
            'reporter="destination", destination_workload_namespace="{namespace}", '
            'destination_app="{service}"'
        ),
        histogram="istio_request_duration_milliseconds_bucket",
        to_ms="",
    ),
    # ingress-nginx: requests through the Ingress named after the service; the `canary` label
    # names the canary upstream and is empty for the main one.
    MetricsPreset.NGINX: _Preset(
        counter="nginx_ingress_controller_requests",
        code_label="status",
        matchers='namespace="{namespace}", ingress="{service}"',
        histogram="nginx_ingress_controller_request_duration_seconds_bucket",
        to_ms=" * 1000",
    ),
}


def prometheus_label(name: str) -> str:
    """A Kubernetes label key as Prometheus' kubernetes_sd labelmap turns it into a label name."""
    return re.sub(r"[^A-Za-z0-9_]", "_", name)


def track_label(spec: ServiceSpec) -> str:
    """The Prometheus label that tells this service's canary pods from its stable ones.

    With ``track_selector: label`` it is the label the strategy sets (canary-deployment's
    track label, blue-green's and Istio's version label). Paused and rolling updates set no
    label of their own, so for them, as with ``pod-template-hash``, it is the ReplicaSet's hash.
    """
    strategy = spec.strategy
    if spec.metrics.track_selector is TrackSelector.LABEL:
        if isinstance(strategy, CanaryDeploymentSpec):
            return prometheus_label(strategy.track_label)
        if isinstance(strategy, BlueGreenSpec | IstioSpec):
            return prometheus_label(strategy.version_label)
    return POD_TEMPLATE_HASH


def _track_matcher(spec: ServiceSpec, ref: TrackRef) -> str:
    if spec.metrics.preset is MetricsPreset.NGINX:
        return 'canary!=""' if ref.track is Track.CANARY else 'canary=""'
    if spec.metrics.preset is MetricsPreset.ISTIO:
        return 'destination_version="{track}"'
    return f'{track_label(spec)}="{{track}}"'


def _preset_templates(spec: ServiceSpec, ref: TrackRef) -> dict[str, str]:
    preset = _PRESETS[spec.metrics.preset]
    selector = f"{preset.matchers}, {_track_matcher(spec, ref)}"
    total = f"sum(increase({preset.counter}{{{selector}}}[{{window}}]))"
    templates = {"requests": total}
    for name, code in _CLASS_OF.items():
        of_class = f'{preset.counter}{{{selector}, {preset.code_label}=~"{code}"}}'
        templates[name] = f"sum(increase({of_class}[{{window}}])) or {total} * 0"
    for name, quantile in _QUANTILE_OF.items():
        buckets = f"sum by (le) (rate({preset.histogram}{{{selector}}}[{{window}}]))"
        templates[name] = f"histogram_quantile({quantile}, {buckets}){preset.to_ms}"
    return templates


def prometheus_duration(window: timedelta) -> str:
    """A window as a PromQL range, in whole seconds (at least one)."""
    return f"{max(1, round(window.total_seconds()))}s"


def queries_for(spec: ServiceSpec, ref: TrackRef, window: timedelta) -> dict[str, str]:
    """Every query for one track of ``spec`` over ``window``, by name (see the module doc)."""
    templates = _preset_templates(spec, ref)
    overrides = spec.metrics.queries.model_dump(exclude_none=True)
    templates.update(overrides)
    values = {
        "namespace": spec.namespace,
        "service": spec.name,
        "track": ref.value,
        "window": prometheus_duration(window),
    }
    return {name: fill_query(template, values) for name, template in templates.items()}
