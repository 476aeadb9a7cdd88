"""What the engine tells a release's Slack thread: card updates, progress, windows, approvals.

:class:`SlackNotifier` provides the engine's hooks (:class:`bot.engine.EngineHooks`). A Slack
failure here is logged, never raised into the engine: the release's state is in Redis, and the
next message will find the thread again.
"""

from __future__ import annotations

import logging
from datetime import UTC, tzinfo

from bot.actions import OpenWindow, RequestApproval
from bot.registry import Registry
from bot.release import Release
from bot.windows import WindowReport
from handlers.chart_poster import ChartPoster
from handlers.render import progress, release_card
from handlers.render_plans import announcement
from handlers.render_window import approval_request, window_summary
from handlers.threads import ReleaseThreads, ThreadRef

log = logging.getLogger(__name__)


class SlackNotifier:
    """Keeps each release's card current and posts its news into its thread."""

    def __init__(
        self,
        threads: ReleaseThreads,
        registry: Registry,
        *,
        tz: tzinfo = UTC,
        charts: ChartPoster | None = None,
    ) -> None:
        """Post through `threads`; window charts go to `charts` (none without it)."""
        self._threads = threads
        self._registry = registry
        self._tz = tz
        self._charts = charts

    def thread(self, release: Release) -> ThreadRef | None:
        """The release's thread, posting its card if it has none yet."""
        spec = self._registry.get(release.service)
        return self._threads.open(release, spec.channel, release_card(release, spec, tz=self._tz))

    def progress(self, release: Release) -> None:
        """A transition was committed: update the card, and say what happened in the thread."""
        try:
            ref = self.thread(release)
            if ref is None:
                return
            spec = self._registry.get(release.service)
            self._threads.update_card(ref, release_card(release, spec, tz=self._tz))
            self._threads.reply(ref, progress(release, _progress_text(release)))
        except Exception:
            log.exception("could not post the progress of %s", release.id)

    def notify(self, release: Release, text: str, alert: bool) -> None:
        """Say `text` in the thread; `alert` mentions the service's on-call group."""
        try:
            ref = self.thread(release)
            if ref is None:
                return
            oncall = self._registry.get(release.service).approval.oncall_group
            mention = f"<!subteam^{oncall}>" if alert and oncall else ""
            self._threads.reply(ref, progress(release, text, mention=mention))
        except Exception:
            log.exception("could not notify the thread of %s", release.id)

    def request_approval(self, release: Release, action: RequestApproval) -> None:
        """Post the approval request with its Promote / Extend / Undo buttons."""
        try:
            ref = self.thread(release)
            if ref is None:
                return
            spec = self._registry.get(release.service)
            message = approval_request(release, spec, reason=action.reason, tz=self._tz)
            self._threads.reply(ref, message)
        except Exception:
            log.exception("could not ask for approval of %s", release.id)

    def window_report(self, report: WindowReport) -> None:
        """Post a judged window's summary, and queue its chart."""
        release = report.release
        try:
            ref = self.thread(release)
            if ref is None:
                return
            spec = self._registry.get(release.service)
            summary = window_summary(release, spec, report.measured, report.judgment, tz=self._tz)
            self._threads.reply(ref, summary)
            if self._charts is not None and report.series is not None:
                title = (
                    f"{release.id} step {report.window.step + 1} window {report.window.index + 1}"
                )
                verdict = report.judgment.verdict
                self._charts.submit(ref, release.id, verdict, report.series, title)
        except Exception:
            log.exception("could not post the window summary of %s", release.id)

    def schedule(self, release: Release, action: OpenWindow | RequestApproval) -> None:
        """The Slack half of the engine's schedule hook: approval requests are posted now."""
        if isinstance(action, RequestApproval):
            self.request_approval(release, action)

    def announce(self, service: str, text: str) -> None:
        """Say `text` in the service's channel, outside any thread (a nightly that was skipped)."""
        try:
            channel = self._registry.get(service).channel
            self._threads.post(channel, announcement(text))
        except Exception:
            log.exception("could not announce in the channel of %s", service)


def _progress_text(release: Release) -> str:
    why = f": {release.reason}" if release.reason else ""
    return f"{release.phase.value.replace('_', ' ')}{why}"
