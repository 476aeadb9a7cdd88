"""The window scheduler: wakes the engine once per window, and again after a restart."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from bot.actions import OpenWindow
from bot.release import Phase, Window
from bot.scheduler import WindowScheduler, window_job_id
from tests.factories import release
from tests.servers import wait_until


class Wakes:
    """Records every wake-up the scheduler makes."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, int, int]] = []
        self._lock = threading.Lock()

    def __call__(self, release_id: str, step: int, index: int) -> None:
        with self._lock:
            self.calls.append((release_id, step, index))


def soon(seconds: float = 0.2) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=seconds)


def test_a_window_scheduled_twice_wakes_the_engine_once() -> None:
    wakes = Wakes()
    scheduler = WindowScheduler(wakes)
    scheduler.start()
    try:
        action = OpenWindow(step=0, index=0, ends_at=soon())
        scheduler.schedule(release(), action)
        scheduler.schedule(release(), action)
        wait_until(lambda: bool(wakes.calls), timeout_s=5, what="the wake-up")
        threading.Event().wait(0.5)  # room for a second wake-up, which must not come
    finally:
        scheduler.shutdown()
    assert wakes.calls == [("fop-gate#1", 0, 0)]


def test_a_window_that_ended_while_the_bot_was_down_is_judged_at_start() -> None:
    wakes = Wakes()
    ended = datetime.now(UTC) - timedelta(minutes=5)
    observing = replace(
        release(),
        phase=Phase.OBSERVING,
        window=Window(step=0, index=1, started_at=ended - timedelta(minutes=10), ends_at=ended),
    )
    finished = replace(release(), id="fop-gate#0", phase=Phase.PROMOTED)
    scheduler = WindowScheduler(wakes)
    try:
        scheduler.start([observing, finished])
        wait_until(lambda: bool(wakes.calls), timeout_s=5, what="the wake-up")
    finally:
        scheduler.shutdown()
    assert wakes.calls == [("fop-gate#1", 0, 1)]


def test_an_extended_window_gets_a_job_of_its_own() -> None:
    first = OpenWindow(step=1, index=0, ends_at=datetime(2026, 11, 22, 14, 10, tzinfo=UTC))
    extended = replace(first, ends_at=first.ends_at + timedelta(minutes=10))

    assert window_job_id("fop-gate#1", first) != window_job_id("fop-gate#1", extended)


def test_a_failing_wake_up_does_not_stop_later_ones() -> None:
    calls: list[int] = []

    def wake(_release_id: str, _step: int, index: int) -> None:
        calls.append(index)
        if index == 0:
            raise RuntimeError("Prometheus exploded")

    scheduler = WindowScheduler(wake)
    scheduler.start()
    try:
        scheduler.schedule(release(), OpenWindow(step=0, index=0, ends_at=soon(0.1)))
        scheduler.schedule(release(), OpenWindow(step=0, index=1, ends_at=soon(0.3)))
        wait_until(lambda: len(calls) == 2, timeout_s=5, what="both wake-ups")
    finally:
        scheduler.shutdown()
    assert sorted(calls) == [0, 1]
