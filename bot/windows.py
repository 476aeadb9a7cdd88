"""Judging an observation window: which pods each track is, what Prometheus saw, the verdict.

:class:`WindowJudge` measures the window that ended and asks :func:`bot.analysis.judge`; the
engine turns the verdict into the release's next event. The chart's series are fetched too,
but a failure there never changes the verdict.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.analysis import Judgment, Verdict, judge
from bot.measurements import Track, TrackMeasurement, WindowMeasurement, WindowSeries
from bot.metrics import PrometheusMetrics
from bot.queries import TrackRef
from bot.release import EventKind, Release, Window
from bot.service_spec import ServiceSpec, TrackSelector
from bot.strategy_specs import BlueGreenSpec, CanaryDeploymentSpec, IstioSpec
from k8s.versions import version_from_image

# What canary-deployment's track label says on each track's pods (k8s/canary_deployment.py
# sets `canary`; the stable Deployment's own pods are expected to say `stable`).
STABLE_TRACK, CANARY_TRACK = "stable", "canary"
VERDICT_EVENTS = {
    Verdict.PASS: EventKind.WINDOW_PASSED,
    Verdict.FAIL: EventKind.WINDOW_FAILED,
    Verdict.INCONCLUSIVE: EventKind.WINDOW_INCONCLUSIVE,
}


@dataclass(frozen=True)
class WindowReport:
    """One judged window: what was measured, the verdict, and the chart's series."""

    release: Release
    window: Window
    measured: WindowMeasurement
    judgment: Judgment
    series: WindowSeries | None = None

    @property
    def event_kind(self) -> EventKind:
        """The event the verdict sends to the release."""
        return VERDICT_EVENTS[self.judgment.verdict]


class WindowJudge:
    """Measures a release's current window in Prometheus and judges it."""

    def __init__(self, metrics: PrometheusMetrics) -> None:
        """Judge with measurements from `metrics`."""
        self._metrics = metrics

    def report(self, release: Release, window: Window, spec: ServiceSpec) -> WindowReport:
        """Measure and judge `window` of `release`; never raises for Prometheus' sake."""
        refs = track_refs(spec, release)
        length = window.ends_at - window.started_at
        if refs is None:
            # No way to tell the tracks apart: judged INCONCLUSIVE, so a person is asked.
            why = _why_unmeasured(spec)
            measured = WindowMeasurement(
                window.started_at,
                window.ends_at,
                stable=TrackMeasurement(Track.STABLE, error=why),
                canary=TrackMeasurement(Track.CANARY, error=why),
            )
            return WindowReport(release, window, measured, judge(measured, spec.analysis))
        stable, canary = refs
        measured = self._metrics.measure(spec, stable, canary, end=window.ends_at, window=length)
        series = self._metrics.series(spec, stable, canary, end=window.ends_at, window=length)
        return WindowReport(release, window, measured, judge(measured, spec.analysis), series)


def track_refs(spec: ServiceSpec, release: Release) -> tuple[TrackRef, TrackRef] | None:
    """What ``{track}`` stands for on each track of this release, or None when unknown.

    Label selectors are known from the release itself: canary-deployment's track label, or the
    version label blue-green and Istio derive from the images (which needs the image stable ran
    before). A pod-template-hash is only known to the cluster, and is not looked up yet.
    """
    if spec.metrics.track_selector is not TrackSelector.LABEL:
        return None
    strategy = spec.strategy
    if isinstance(strategy, CanaryDeploymentSpec):
        return TrackRef(Track.STABLE, STABLE_TRACK), TrackRef(Track.CANARY, CANARY_TRACK)
    if isinstance(strategy, BlueGreenSpec | IstioSpec) and release.previous_image:
        return (
            TrackRef(Track.STABLE, version_from_image(release.previous_image)),
            TrackRef(Track.CANARY, version_from_image(release.image)),
        )
    return None


def _why_unmeasured(spec: ServiceSpec) -> str:
    if spec.metrics.track_selector is not TrackSelector.LABEL:
        return (
            f"{spec.name}'s tracks are told apart by {spec.metrics.track_selector}, which the "
            "bot does not look up in the cluster yet"
        )
    return f"{spec.name}'s strategy gives its tracks no label to tell them apart"
