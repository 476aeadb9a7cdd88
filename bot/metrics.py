"""The Prometheus adapter: one track's counts and latency over a window, never an exception.

It sends the queries :func:`bot.queries.queries_for` builds and turns the answers into
:mod:`bot.measurements` values. When Prometheus is down, slow or rejects a query, the
measurement carries the error instead, and the judge calls the window INCONCLUSIVE.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

import requests
from prometheus_api_client.exceptions import PrometheusApiClientException
from prometheus_api_client.prometheus_connect import PrometheusConnect
from urllib3 import exceptions as urllib3_errors
from urllib3.util.retry import Retry

from bot.measurements import (
    Series,
    TrackCounts,
    TrackMeasurement,
    TrackSeries,
    WindowMeasurement,
    WindowSeries,
)
from bot.queries import COUNT_QUERIES, LATENCY_QUERIES, TrackRef, queries_for
from bot.service_spec import ServiceSpec

# Rates for the chart are averaged over this many sample steps, so one missed scrape
# does not draw a gap.
_RATE_STEPS = 4


class QueryError(Exception):
    """A query Prometheus could not answer with one number."""


class PrometheusMetrics:
    """Measures tracks of a service against one Prometheus server."""

    def __init__(self, url: str, *, timeout_seconds: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self._timeout_seconds = timeout_seconds
        # One quick retry for a dropped connection; a stopped server must not stall a window.
        retry = Retry(total=1, backoff_factor=0.1, status_forcelist=(502, 503, 504))
        # The client annotates timeout as int, but hands it to requests, which takes a float.
        self._prometheus = PrometheusConnect(
            url=self.url,
            retry=retry,
            timeout=timeout_seconds,  # type: ignore[arg-type]
        )

    def close(self) -> None:
        """Release the HTTP session."""
        self._prometheus.close()

    def measure(
        self,
        spec: ServiceSpec,
        stable: TrackRef,
        canary: TrackRef,
        *,
        end: datetime,
        window: timedelta,
    ) -> WindowMeasurement:
        """Both tracks over the window that ends at ``end``."""
        return WindowMeasurement(
            start=end - window,
            end=end,
            stable=self.measure_track(spec, stable, end=end, window=window),
            canary=self.measure_track(spec, canary, end=end, window=window),
        )

    def measure_track(
        self, spec: ServiceSpec, ref: TrackRef, *, end: datetime, window: timedelta
    ) -> TrackMeasurement:
        """One track's request counts by class and its latency over the window."""
        queries = queries_for(spec, ref, window)
        wanted = COUNT_QUERIES + (LATENCY_QUERIES if _wants_latency(spec) else ())
        sent = {name: queries[name] for name in wanted}
        try:
            values = {name: self._instant(query, end) for name, query in sent.items()}
        except QueryError as err:
            return TrackMeasurement(ref.track, window=window, queries=sent, error=str(err))
        requests_ = values["requests"] or 0.0
        # A class query that found no series while the track had traffic means none of that
        # class: an override written without the preset's `or … * 0` still reads 0.
        counts = TrackCounts(
            requests=requests_,
            ok=values["success"] or 0.0,
            client_errors=values["client_errors"] or 0.0,
            errors=values["errors"] or 0.0,
        )
        return TrackMeasurement(
            ref.track,
            counts=counts,
            window=window,
            p50_ms=values.get("latency_p50"),
            p99_ms=values.get("latency_p99"),
            queries=sent,
        )

    def series(
        self,
        spec: ServiceSpec,
        stable: TrackRef,
        canary: TrackRef,
        *,
        end: datetime,
        window: timedelta,
        points: int = 60,
    ) -> WindowSeries:
        """TPS2XX and TPS5XX of both tracks across the window, ``points`` samples each."""
        # Whole seconds: Prometheus reads "1.5s" as no duration at all, and the rate range
        # below must be exactly what it is divided by.
        step = timedelta(seconds=max(1, round(window.total_seconds() / points)))
        return WindowSeries(
            start=end - window,
            end=end,
            stable=self._track_series(spec, stable, end=end, window=window, step=step),
            canary=self._track_series(spec, canary, end=end, window=window, step=step),
        )

    def _track_series(
        self,
        spec: ServiceSpec,
        ref: TrackRef,
        *,
        end: datetime,
        window: timedelta,
        step: timedelta,
    ) -> TrackSeries:
        # The count queries over a short range, divided by it, are per-second rates; using the
        # same templates keeps a service's overrides in the chart too.
        rate_range = step * _RATE_STEPS
        queries = queries_for(spec, ref, rate_range)
        seconds = rate_range.total_seconds()
        try:
            ok, errors = (
                self._range(queries[name], end - window, end, step, per=seconds)
                for name in ("success", "errors")
            )
        except QueryError as err:
            return TrackSeries(ref.track, error=str(err))
        return TrackSeries(ref.track, tps_2xx=ok, tps_5xx=errors)

    def _instant(self, query: str, at: datetime) -> float | None:
        result = self._call(self._prometheus.custom_query, query, params={"time": at.timestamp()})
        if not result:
            return None
        if len(result) > 1:
            raise QueryError(f"{len(result)} series for {query!r}: expected one (sum it)")
        value = float(result[0]["value"][1])
        return None if math.isnan(value) else value

    def _range(
        self, query: str, start: datetime, end: datetime, step: timedelta, *, per: float
    ) -> Series:
        result = self._call(
            self._prometheus.custom_query_range,
            query,
            start_time=start,
            end_time=end,
            step=f"{step.total_seconds():g}s",
            # The client rounds start and end to whole seconds; these keep the window exact.
            params={"start": start.timestamp(), "end": end.timestamp()},
        )
        if len(result) > 1:
            raise QueryError(f"{len(result)} series for {query!r}: expected one (sum it)")
        values = result[0]["values"] if result else []
        return Series(
            tuple(
                (datetime.fromtimestamp(float(stamp), tz=start.tzinfo), float(value) / per)
                for stamp, value in values
                if not math.isnan(float(value))
            )
        )

    def _failure(self, err: requests.RequestException) -> str:
        # With retries on, urllib3 wraps the cause in MaxRetryError, which requests raises as
        # a ConnectionError; the cause is the wrapped error's reason. NewConnectionError (a
        # refused connection) is checked first: urllib3 makes it a kind of timeout too.
        reason = getattr(err.args[0] if err.args else None, "reason", None)
        text = str(err)
        if "Connection refused" in text:
            return "unreachable: connection refused"
        if isinstance(reason, urllib3_errors.NewConnectionError):  # e.g. an unknown host name
            return f"unreachable: {str(reason)[-200:]}"
        if isinstance(err, requests.Timeout) or isinstance(reason, urllib3_errors.TimeoutError):
            return f"gave no answer within {self._timeout_seconds:g} s"
        # urllib3 puts the cause last, after the whole query URL: keep the end of the message.
        return f"unreachable: {text[-200:] if text else type(err).__name__}"

    def _call(self, method: Any, query: str, **kwargs: Any) -> list[dict[str, Any]]:
        try:
            result: list[dict[str, Any]] = method(query, **kwargs)
        except requests.RequestException as err:
            raise QueryError(f"Prometheus at {self.url} {self._failure(err)}") from err
        except PrometheusApiClientException as err:
            raise QueryError(f"Prometheus at {self.url} refused {query!r}: {err}") from err
        except (ValueError, KeyError) as err:  # a proxy's HTML page, or a reply of another shape
            raise QueryError(f"Prometheus at {self.url} answered oddly: {err}") from err
        return result


def _wants_latency(spec: ServiceSpec) -> bool:
    # Latency is queried when the judge uses it or the service names its own latency query.
    overrides = spec.metrics.queries
    named = overrides.latency_p50 is not None or overrides.latency_p99 is not None
    return spec.analysis.max_p99_latency_ms is not None or named
