"""The scale bench on a short run: the releases started and held, every judged window's
lateness read from Redis, Prometheus queries and Kubernetes calls counted, everything stopped,
and the report in its promised form.

Timing is never asserted here (machines are noisy); ``python -m bench.scale`` holds the
targets. The short run's windows are 3 s long, so they see a tenth of a 30 s window's
requests and are judged INCONCLUSIVE: what is checked is the plumbing, not the verdicts.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

import bench.scale
from bench.scale import Outcome, Setup, checks, last_line, main, measure
from bench.scale_figures import Spread, overdue_windows
from bench.scale_rig import steps_for
from bot.release import SCHEDULER, Phase, Plan, Release, Window
from tests.servers import live_children

RELEASES, WINDOW_S, WINDOWS = 3, 3, 2
LAST_LINE = re.compile(r"scale: releases=\d+ wake_p99=\d+\.\d\ds rss=\d+MB")


@dataclass(frozen=True)
class ShortRun:
    """One short run of the whole bench, and the child processes it left behind."""

    outcome: Outcome
    leftovers: list[str]


@pytest.fixture(scope="module")
def run() -> ShortRun:
    """Redis, the simulator, Prometheus' answers, Slack, the bot and the releases, once."""
    before = live_children()
    outcome = measure(Setup(releases=RELEASES, window_s=WINDOW_S, windows=WINDOWS))
    return ShortRun(
        outcome, [cmdline for pid, cmdline in live_children().items() if pid not in before]
    )


@pytest.fixture
def outcome(run: ShortRun) -> Outcome:
    """What the short run measured."""
    return run.outcome


def test_every_release_started_and_was_held_live(outcome: Outcome) -> None:
    assert (outcome.started, outcome.start_failures) == (RELEASES, [])
    assert outcome.live_max == RELEASES
    assert sum(outcome.phases.values()) == RELEASES  # none ended before the stop


def test_every_judged_window_has_its_lateness(outcome: Outcome) -> None:
    assert len(outcome.windows) >= RELEASES  # each release's first window at least
    assert outcome.unmatched == 0
    assert {w.release_id.split("#")[0] for w in outcome.windows} == {
        f"svc-{number:03d}" for number in range(RELEASES)
    }
    assert all(math.isfinite(w.late_s) for w in outcome.windows)
    assert outcome.wake.n == len(outcome.windows) + len(outcome.overdue)


def test_prometheus_queries_and_kubernetes_calls_were_counted(outcome: Outcome) -> None:
    judged = len(outcome.windows)
    assert outcome.queries["unrecorded"] == 0
    # Each judged window asked for its counts and its chart's series, for both tracks.
    assert outcome.queries["query"] >= 2 * judged
    assert outcome.queries["query_range"] >= 2 * judged
    assert outcome.steps >= RELEASES  # each release's first step at least
    assert outcome.k8s_calls["create"] >= RELEASES  # each release's canary Deployment
    assert math.isfinite(outcome.k8s_calls_per_step)
    assert outcome.slack_calls["chat.postMessage"] >= judged  # each window's summary


def test_the_bots_memory_and_cpu_were_read(outcome: Outcome) -> None:
    assert outcome.rss_mb > 0
    assert outcome.bot_cpu_s > 0
    assert outcome.bot_threads > 0


def test_no_server_or_bot_outlives_the_run(run: ShortRun) -> None:
    assert run.leftovers == []


def test_main_prints_the_report_and_last_the_line(
    outcome: Outcome, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(bench.scale, "measure", lambda _setup: outcome)
    args = ["--releases", str(RELEASES), "--window", str(WINDOW_S), "--windows", str(WINDOWS)]
    code = main(args)
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert LAST_LINE.fullmatch(lines[-1])
    assert lines[-1] == last_line(outcome)
    assert "pass  every judged window's lateness was read: 0 were not" in out
    assert code == 1  # a short run is never an official one
    assert "(an official run)" in err


def test_a_window_still_waiting_at_the_stop_counts_as_late_by_at_least_its_wait() -> None:
    stop = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)

    def observing(ends_at: datetime, phase: Phase = Phase.OBSERVING) -> Release:
        window = Window(0, 0, ends_at - timedelta(seconds=30), ends_at)
        return Release(
            "svc-000#1", "svc-000", "reg/svc-000:2", Plan(), SCHEDULER, stop, phase, SCHEDULER,
            stop, window=window,
        )  # fmt: skip

    releases = [
        observing(stop - timedelta(seconds=4)),  # due 4 s ago, never judged
        observing(stop + timedelta(seconds=10)),  # not due yet
        observing(stop - timedelta(seconds=9), Phase.DEPLOYING),  # judged, moved on
    ]
    assert overdue_windows(releases, at=stop) == [4.0]


def test_percentiles_are_nearest_rank() -> None:
    spread = Spread.of([float(s) for s in range(1, 101)])
    assert (spread.n, spread.p50, spread.p99, spread.max) == (100, 50.0, 99.0, 100.0)
    assert math.isnan(Spread.of([]).p99)


def test_releases_have_more_steps_than_the_run_has_windows() -> None:
    # The first release sees WINDOWS + 1 windows at most; two windows a step.
    assert [len(steps_for(windows)) * 2 > windows + 1 for windows in range(1, 9)] == [True] * 8


def test_checks_name_the_three_targets_and_the_official_size() -> None:
    found = [c.detail for c in checks(Outcome(Setup(releases=3, window_s=3, windows=1)))]
    assert any("live releases held at once" in detail for detail in found)
    assert any(detail.startswith("wake p99") for detail in found)
    assert any(detail.startswith("bot peak RSS") for detail in found)
    assert any("(an official run)" in detail for detail in found)
