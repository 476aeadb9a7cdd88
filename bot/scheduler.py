"""Wakes the engine when an observation window ends.

The scheduler only wakes; the engine decides from the stored release whether the window is
still open (:meth:`bot.engine.Engine.close_window`), so a late or repeated wake-up is harmless.
Job ids are fixed per release, step, window and end time, so scheduling a window twice keeps
one job. Jobs live in memory: on start, :meth:`WindowScheduler.resume` schedules again every
window the store says is open, so a restart forgets nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import UTC

from apscheduler.schedulers.background import BackgroundScheduler

from bot.actions import OpenWindow
from bot.release import Phase, Release

log = logging.getLogger(__name__)

# (release id, step, window index) → the engine judges that window.
Wake = Callable[[str, int, int], object]


def window_job_id(release_id: str, action: OpenWindow) -> str:
    """The one job that judges this window; an extended window gets a new end, so a new id."""
    return f"window:{release_id}:{action.step}:{action.index}:{action.ends_at.timestamp():.0f}"


class WindowScheduler:
    """Runs a wake-up at the end of every open observation window."""

    def __init__(self, wake: Wake) -> None:
        """Call `wake` when a window ends."""
        self._wake = wake
        self._scheduler = BackgroundScheduler(timezone=UTC)

    def start(self, open_releases: Iterable[Release] = ()) -> None:
        """Start waking, first scheduling again the windows of `open_releases`."""
        self._scheduler.start()
        self.resume(open_releases)

    def shutdown(self) -> None:
        """Stop without waiting for a wake-up in progress to finish."""
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)

    def schedule(self, release: Release, action: OpenWindow) -> None:
        """Wake the engine for `action`'s window at its end (at once if that has passed)."""
        self._scheduler.add_job(
            self._run,
            trigger="date",
            run_date=action.ends_at,
            args=(release.id, action.step, action.index),
            id=window_job_id(release.id, action),
            replace_existing=True,
            misfire_grace_time=None,  # a window that ended while we were down is still judged
            coalesce=True,
        )

    def resume(self, releases: Iterable[Release]) -> None:
        """Schedule the open window of each observing release."""
        for release in releases:
            window = release.window
            if release.phase is Phase.OBSERVING and window is not None:
                self.schedule(release, OpenWindow(window.step, window.index, window.ends_at))

    def _run(self, release_id: str, step: int, index: int) -> None:
        try:
            self._wake(release_id, step, index)
        except Exception:  # one bad window must not stop the others being judged
            log.exception("judging window %s of step %s of %s failed", index, step, release_id)
