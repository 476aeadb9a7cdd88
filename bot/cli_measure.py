"""`canarybot measure`: one observation window, measured and judged now, from a terminal.

    canarybot measure SERVICE [--stable VALUE] [--canary VALUE] [--window 10m] [--chart FILE]

It sends the service's queries to Prometheus, prints TPS2XX / TPS5XX and the counts per track,
and the verdict with its reason — so whoever writes ``services.yaml`` can see their queries
work before a release depends on them. ``--stable`` and ``--canary`` are what ``{track}``
stands for: the track label's value, the version, or the pod-template-hash.

Exit status: 0 PASS; 1 FAIL; 2 bad input; 3 INCONCLUSIVE (too little traffic, no Prometheus).
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeAlias

from bot.analysis import Judgment, Verdict, judge
from bot.chart import render_window_chart
from bot.durations import parse_duration
from bot.measurements import Track, TrackMeasurement, WindowMeasurement
from bot.metrics import PrometheusMetrics
from bot.queries import TrackRef, track_label
from bot.registry import RegistryError, UnknownService, load_registry
from bot.service_spec import MetricsPreset, ServiceSpec
from bot.settings import SettingsError, load_settings
from bot.strategy_specs import CanaryDeploymentSpec

EXIT_PASS, EXIT_FAIL, EXIT_USAGE, EXIT_INCONCLUSIVE = 0, 1, 2, 3
_EXIT = {Verdict.PASS: EXIT_PASS, Verdict.FAIL: EXIT_FAIL, Verdict.INCONCLUSIVE: EXIT_INCONCLUSIVE}
Subcommands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def add_measure(subcommands: Subcommands) -> None:
    """Declare `canarybot measure`."""
    parser = subcommands.add_parser(
        "measure",
        help="measure and judge one window of a service now",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("service", help="the service, as named in services.yaml")
    parser.add_argument("--stable", help="what {track} is for stable pods")
    parser.add_argument("--canary", help="what {track} is for canary pods")
    parser.add_argument("--window", help="how far back (default: the service's window)")
    parser.add_argument("--chart", type=Path, help="also write the window's chart, a PNG")
    parser.add_argument("--queries", action="store_true", help="print the PromQL sent")
    parser.add_argument("--config", help="services file (default: $CANARYBOT_CONFIG)")
    parser.set_defaults(handler=run_measure)


def run_measure(args: argparse.Namespace) -> int:
    """Run `canarybot measure` and return its exit status."""
    try:
        settings = load_settings()
        registry = load_registry(
            args.config or settings.registry.path, default_window=settings.timing.default_window
        )
        spec = registry.get(args.service)
        window = parse_duration(args.window) if args.window else spec.observation.window
        stable, canary = _refs(spec, args.stable, args.canary)
    except (SettingsError, RegistryError, UnknownService, ValueError) as err:
        print(f"canarybot measure: {err}", file=sys.stderr)
        return EXIT_USAGE
    metrics = PrometheusMetrics(
        settings.prometheus.url, timeout_seconds=settings.prometheus.timeout_seconds
    )
    try:
        end = datetime.now(UTC)
        measured = metrics.measure(spec, stable, canary, end=end, window=window)
        judgment = judge(measured, spec.analysis)
        for line in summary_lines(spec, measured, judgment, show_queries=args.queries):
            print(line)
        if args.chart:
            series = metrics.series(spec, stable, canary, end=end, window=window)
            title = f"{spec.name} {_clock(measured.start)} to {_clock(end)} UTC"
            args.chart.write_bytes(render_window_chart(series, title=title))
            print(f"chart: {args.chart}")
    finally:
        metrics.close()
    return _EXIT[judgment.verdict]


def summary_lines(
    spec: ServiceSpec, measured: WindowMeasurement, judgment: Judgment, *, show_queries: bool
) -> list[str]:
    """The window as a small table, then the verdict and its reason."""
    seconds = (measured.end - measured.start).total_seconds()
    lines = [
        f"{spec.name} over {seconds:g}s ending {_clock(measured.end)} UTC",
        f"{'':7} {'TPS2XX':>9} {'TPS5XX':>9} {'requests':>10} {'2xx':>9} {'4xx':>7} {'5xx':>7}"
        f" {'p99':>8}",
    ]
    lines += [_track_line(track) for track in (measured.stable, measured.canary)]
    lines.append(f"verdict: {judgment.verdict.upper()}: {judgment.reason}")
    if show_queries:
        for track in (measured.stable, measured.canary):
            lines += [f"{track.track} {name}: {query}" for name, query in track.queries.items()]
    return lines


def _track_line(track: TrackMeasurement) -> str:
    counts = track.counts
    if counts is None:
        return f"{track.track:7} no data: {track.error}"
    p99 = f"{track.p99_ms:,.0f} ms" if track.p99_ms is not None else "-"
    return (
        f"{track.track:7} {track.tps_2xx or 0:9.2f} {track.tps_5xx or 0:9.2f}"
        f" {counts.requests:10,.0f} {counts.ok:9,.0f} {counts.client_errors:7,.0f}"
        f" {counts.errors:7,.0f} {p99:>8}"
    )


def _refs(spec: ServiceSpec, stable: str | None, canary: str | None) -> tuple[TrackRef, TrackRef]:
    # Only a canary-deployment's track label has values known in advance; versions and
    # pod-template-hashes change with every release, so they must be given.
    known = isinstance(spec.strategy, CanaryDeploymentSpec) or (
        spec.metrics.preset is MetricsPreset.NGINX
    )
    if not known and not (stable and canary):
        what = track_label(spec) if spec.metrics.preset is MetricsPreset.GENERIC else "version"
        raise ValueError(f"{spec.name}: give --stable and --canary, the {what} of each track")
    return TrackRef(Track.STABLE, stable or "stable"), TrackRef(Track.CANARY, canary or "canary")


def _clock(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%H:%M:%S")
