"""What one observation window measured: request counts per track, latency, and the series.

Plain values shared by the Prometheus adapter (:mod:`bot.metrics`, which makes them), the judge
(:mod:`bot.analysis`, which reads them) and the chart (:mod:`bot.chart`, which draws them).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum


class Track(StrEnum):
    """The two sets of pods a window compares."""

    STABLE = "stable"
    CANARY = "canary"


@dataclass(frozen=True)
class TrackCounts:
    """Requests one track answered in a window, by status class.

    Counts are floats because Prometheus' ``increase()`` extrapolates to the window's edges.
    ``requests`` is the total, so it also holds classes other than 2xx/4xx/5xx (1xx, 3xx).
    """

    requests: float
    ok: float = 0.0  # 2xx
    client_errors: float = 0.0  # 4xx
    errors: float = 0.0  # 5xx

    @property
    def error_ratio(self) -> float | None:
        """The 5xx share of all requests, or None without traffic."""
        return self.errors / self.requests if self.requests > 0 else None


@dataclass(frozen=True)
class TrackMeasurement:
    """One track over one window, or why it could not be measured.

    ``queries`` holds the PromQL that was sent, by name, so a summary can show where the
    numbers came from; ``error`` is set instead of raising when Prometheus failed.
    """

    track: Track
    counts: TrackCounts | None = None
    window: timedelta = timedelta(0)
    p50_ms: float | None = None
    p99_ms: float | None = None
    queries: dict[str, str] = field(default_factory=dict)
    error: str | None = None

    @property
    def tps_2xx(self) -> float | None:
        """2xx responses per second over the window (TPS2XX)."""
        return _per_second(self.counts.ok if self.counts else None, self.window)

    @property
    def tps_5xx(self) -> float | None:
        """5xx responses per second over the window (TPS5XX)."""
        return _per_second(self.counts.errors if self.counts else None, self.window)


@dataclass(frozen=True)
class WindowMeasurement:
    """Both tracks over the same window: what the judge decides from."""

    start: datetime
    end: datetime
    stable: TrackMeasurement
    canary: TrackMeasurement


@dataclass(frozen=True)
class Series:
    """A per-second rate sampled over time: (timestamp, value) pairs in time order."""

    points: tuple[tuple[datetime, float], ...] = ()


@dataclass(frozen=True)
class TrackSeries:
    """TPS2XX and TPS5XX of one track over a window, for the chart."""

    track: Track
    tps_2xx: Series = Series()
    tps_5xx: Series = Series()
    error: str | None = None


@dataclass(frozen=True)
class WindowSeries:
    """Both tracks' series over one window."""

    start: datetime
    end: datetime
    stable: TrackSeries
    canary: TrackSeries


def _per_second(count: float | None, window: timedelta) -> float | None:
    seconds = window.total_seconds()
    if count is None or seconds <= 0:
        return None
    return count / seconds
