"""Draws window charts and puts them in their threads, from one thread of its own.

The window's job posts the summary and hands the chart here, so drawing never holds up the
scheduler's threads. :class:`~handlers.chart_queue.ChartQueue` decides what is drawn and what
is dropped when charts come faster than they can be drawn; the drawer runs at a lower CPU
priority and rests between charts (``duty``), so that windows, deadlines and clicks keep the
CPU they need. A chart still waiting when the bot stops is lost; its summary was posted.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from bot.analysis import Verdict
from bot.chart import render_window_chart
from bot.measurements import WindowSeries
from handlers.chart_queue import ChartJob, ChartQueue, Dropped
from handlers.threads import ReleaseThreads, ThreadRef

log = logging.getLogger(__name__)
_NICENESS = 10  # below the scheduler's threads, above nothing else the bot does


@dataclass(frozen=True)
class Chart:
    """What drawing and posting one chart needs."""

    ref: ThreadRef
    series: WindowSeries
    title: str


class ChartPoster:
    """A queue of charts and the thread that draws and uploads them."""

    def __init__(
        self,
        threads: ReleaseThreads,
        *,
        max_age_s: float = 60.0,
        duty: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
        render: Callable[[WindowSeries, str], bytes] | None = None,
    ) -> None:
        """Upload through `threads`; draw at most `duty` of the time; drop PASS charts older
        than `max_age_s`."""
        if not 0 < duty <= 1:
            raise ValueError(f"duty must be in (0, 1], not {duty}")
        self._threads = threads
        self._duty = duty
        self._clock = clock
        self._render = render or (lambda series, title: render_window_chart(series, title=title))
        self._queue: ChartQueue[Chart] = ChartQueue(max_age_s=max_age_s)
        self._changed = threading.Condition()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.posted = 0

    @property
    def dropped(self) -> Dropped:
        """Charts given up on so far."""
        return self._queue.dropped

    def submit(
        self, ref: ThreadRef, release_id: str, verdict: Verdict, series: WindowSeries, title: str
    ) -> None:
        """Queue a chart for `release_id`'s thread; returns at once."""
        job = ChartJob(
            release_id=release_id,
            channel=ref.channel,
            verdict=verdict,
            queued_at=self._clock(),
            payload=Chart(ref, series, title),
        )
        with self._changed:
            self._queue.add(job)
            self._changed.notify()

    def start(self) -> ChartPoster:
        """Start drawing; returns self."""
        self._thread = threading.Thread(target=self._run, name="canarybot-charts", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop after the chart being drawn, if any; the ones waiting are dropped."""
        self._stop.set()
        with self._changed:
            self._changed.notify()
        if self._thread is not None:
            self._thread.join(timeout=timeout_s)
        with self._changed:
            left = len(self._queue)
        if left:
            log.info("stopped with %d window charts not drawn", left)

    def _run(self) -> None:
        # Linux lets a thread have its own niceness; elsewhere, draw at the bot's own.
        with contextlib.suppress(AttributeError, OSError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), _NICENESS)
        while not self._stop.is_set():
            job = self._next()
            if job is None:
                continue
            spent = self._post(job.payload, job.release_id)
            self._stop.wait(spent * (1 / self._duty - 1))

    def _next(self) -> ChartJob[Chart] | None:
        """The next chart to draw, or None after waiting for one (or for a channel)."""
        with self._changed:
            job = self._queue.take(self._clock(), lambda channel: self._ready_in(channel) == 0)
            if job is None and not self._stop.is_set():
                waits = [self._ready_in(channel) for channel in self._queue.channels()]
                self._changed.wait(timeout=min(waits, default=1.0))
            return job

    def _ready_in(self, channel: str) -> float:
        return self._threads.ready_in(channel)

    def _post(self, chart: Chart, release_id: str) -> float:
        """Draw and upload `chart`; the CPU seconds the drawing took."""
        started = time.thread_time()
        try:
            png = self._render(chart.series, chart.title)
        except Exception:
            log.exception("could not draw the window chart of %s", release_id)
            return time.thread_time() - started
        spent = time.thread_time() - started
        try:
            self._threads.upload_chart(chart.ref, png, title=chart.title)
            self.posted += 1
        except Exception:
            log.exception("could not post the window chart of %s", release_id)
        return spent
