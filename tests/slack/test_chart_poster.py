"""Window charts are drawn from a thread of their own, newest first when the bot falls behind,
and never wait on one channel's pacing while another channel's chart could go."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import redis
from slack_sdk import WebClient

from bot.analysis import Verdict
from bot.measurements import Series, Track, TrackSeries, WindowSeries
from handlers.chart_poster import ChartPoster
from handlers.render import Message
from handlers.threads import ChannelPacer, ReleaseThreads, ThreadRef
from tests.slack.recording import RecordingSlackApi

START = datetime(2026, 11, 22, 2, 0, tzinfo=UTC)
SERIES = WindowSeries(
    START,
    START + timedelta(seconds=30),
    TrackSeries(Track.STABLE, Series(((START, 9.0), (START + timedelta(seconds=30), 9.5)))),
    TrackSeries(Track.CANARY, Series(((START, 1.0), (START + timedelta(seconds=30), 1.2)))),
)


@pytest.fixture
def slack() -> Iterator[RecordingSlackApi]:
    with RecordingSlackApi() as api:
        yield api


def threads_for(slack: RecordingSlackApi, client: redis.Redis, pacing_s: float) -> ReleaseThreads:
    web = WebClient(token="xoxb-test", base_url=slack.url)
    return ReleaseThreads(web, client, pacer=ChannelPacer(pacing_s))


def uploaded_titles(slack: RecordingSlackApi) -> list[str]:
    return [
        json.loads(call.params["files"])[0]["title"]
        for call in slack.calls("files.completeUploadExternal")
    ]


def test_a_queued_chart_is_drawn_and_shared_in_its_thread(
    slack: RecordingSlackApi, redis_client: redis.Redis
) -> None:
    poster = ChartPoster(threads_for(slack, redis_client, 0)).start()
    try:
        poster.submit(ThreadRef("C1", "100.1"), "r1", Verdict.PASS, SERIES, "r1 step 1 window 1")
        shared = slack.wait_for("files.completeUploadExternal")
    finally:
        poster.stop()
    assert shared.params["thread_ts"] == "100.1"
    (uploaded,) = json.loads(shared.params["files"])
    assert uploaded["title"] == "r1 step 1 window 1"
    assert slack.uploads()[uploaded["id"]].startswith(b"\x89PNG")


def test_behind_it_draws_a_fail_chart_first_and_only_the_newest_pass_chart_of_a_release(
    slack: RecordingSlackApi, redis_client: redis.Redis
) -> None:
    drawing, go_on = threading.Event(), threading.Event()

    def slow_render(series: WindowSeries, title: str) -> bytes:
        drawing.set()
        go_on.wait(10)
        return b"\x89PNG " + title.encode()

    poster = ChartPoster(threads_for(slack, redis_client, 0), render=slow_render).start()
    try:
        poster.submit(ThreadRef("C1", "1.1"), "r1", Verdict.PASS, SERIES, "r1 w1")
        assert drawing.wait(10)  # r1 w1 is being drawn; the rest wait behind it
        poster.submit(ThreadRef("C2", "2.1"), "r2", Verdict.PASS, SERIES, "r2 w1")
        poster.submit(ThreadRef("C2", "2.1"), "r2", Verdict.PASS, SERIES, "r2 w2")
        poster.submit(ThreadRef("C3", "3.1"), "r3", Verdict.FAIL, SERIES, "r3 w1")
        go_on.set()
        slack.wait_for("files.completeUploadExternal", lambda c: "r2 w2" in c.params["files"])
    finally:
        poster.stop()
    assert uploaded_titles(slack) == ["r1 w1", "r3 w1", "r2 w2"]
    assert poster.dropped.replaced == 1


def test_a_chart_for_a_paced_channel_does_not_hold_up_another_channels_chart(
    slack: RecordingSlackApi, redis_client: redis.Redis
) -> None:
    threads = threads_for(slack, redis_client, 30)
    threads.reply(
        ThreadRef("BUSY", "1.1"), Message(text="summary", blocks=[])
    )  # BUSY may not post for 30 s
    poster = ChartPoster(threads).start()
    try:
        poster.submit(ThreadRef("BUSY", "1.1"), "r1", Verdict.FAIL, SERIES, "busy chart")
        poster.submit(ThreadRef("FREE", "2.1"), "r2", Verdict.PASS, SERIES, "free chart")
        slack.wait_for("files.completeUploadExternal", lambda c: "free chart" in c.params["files"])
        time.sleep(0.5)
    finally:
        poster.stop(timeout_s=5)
    assert uploaded_titles(slack) == ["free chart"]
