"""Window summaries survive a bot that dies between committing a verdict and posting it."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta

import redis

from bot import keys
from bot.analysis import judge
from bot.engine import Engine, EngineHooks
from bot.measurements import Track, TrackMeasurement, WindowMeasurement
from bot.pending_reports import PendingReports
from bot.registry import load_registry
from bot.release import Phase, Window
from bot.service_spec import Analysis
from bot.store import ReleaseStore
from bot.windows import WindowReport
from tests.factories import T0, release
from tests.test_scheduler import REPO

KEY = "window:fop-gate#1:0:0:2026-11-22T14:10:00+00:00"


def report() -> WindowReport:
    window = Window(step=0, index=0, started_at=T0, ends_at=T0 + timedelta(minutes=10))
    unmeasured = WindowMeasurement(
        window.started_at,
        window.ends_at,
        stable=TrackMeasurement(Track.STABLE, error="no label"),
        canary=TrackMeasurement(Track.CANARY, error="no label"),
    )
    observing = replace(release(), phase=Phase.OBSERVING, window=window)
    return WindowReport(observing, window, unmeasured, judge(unmeasured, Analysis()))


def engine(client: redis.Redis, posted: list[WindowReport]) -> Engine:
    def no_cluster(_spec: object) -> object:
        raise AssertionError("posting a held report needs no cluster")

    return Engine(
        store=ReleaseStore(client),
        registry=load_registry(REPO / "deploy" / "services.example.yaml"),
        strategies=no_cluster,  # type: ignore[arg-type]
        clock=lambda: T0,
        hooks=EngineHooks(window_report=posted.append),
        reports=PendingReports(client),
    )


def test_a_held_report_reads_back_as_it_was_written(redis_client: redis.Redis) -> None:
    reports = PendingReports(redis_client)
    reports.hold(KEY, report())
    assert reports.held() == [(KEY, report())]
    reports.done(KEY)
    assert reports.held() == []


def test_a_committed_verdicts_held_report_is_posted_once_by_the_next_leader(
    redis_client: redis.Redis,
) -> None:
    PendingReports(redis_client).hold(KEY, report())
    remembered = {"release_id": "fop-gate#1", "version": 3}
    redis_client.set(keys.idempotency(KEY), json.dumps(remembered))  # the verdict was committed
    posted: list[WindowReport] = []
    bot = engine(redis_client, posted)

    assert bot.post_held_reports() == 1
    assert bot.post_held_reports() == 0
    assert posted == [report()]


def test_a_report_whose_verdict_is_not_committed_is_left_to_its_judge(
    redis_client: redis.Redis,
) -> None:
    PendingReports(redis_client).hold(KEY, report())
    posted: list[WindowReport] = []

    assert engine(redis_client, posted).post_held_reports() == 0
    assert posted == []
    assert len(PendingReports(redis_client).held()) == 1
