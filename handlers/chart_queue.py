"""Which window chart to draw next, and which to give up on when the bot falls behind.

A chart costs a fifth of a CPU-second to draw, while the summary it illustrates costs a Slack
call. One bot holding hundreds of releases judges several windows a second, more than it can
draw, so charts wait here, apart from the windows' jobs, and :class:`ChartQueue` decides (pure,
no I/O, no clock of its own) which one is drawn next:

- a chart of a verdict that needs a person (FAIL, INCONCLUSIVE) is always drawn, first;
- a PASS chart is dropped when a newer chart of the same release arrives, or when it has
  waited longer than ``max_age_s`` (its thread has moved on by then); the summary above it
  already says PASS, with the figures;
- a chart is taken only when its channel may be posted to now, so no drawer sleeps on Slack's
  pacing while another channel's chart could go.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from bot.analysis import Verdict

Payload = TypeVar("Payload")


@dataclass(frozen=True)
class ChartJob(Generic[Payload]):
    """One chart waiting to be drawn and posted."""

    release_id: str
    channel: str
    verdict: Verdict
    queued_at: float  # seconds on the caller's monotonic clock
    payload: Payload  # what the drawer needs (the series, the thread, the title)

    @property
    def needs_a_person(self) -> bool:
        """FAIL and INCONCLUSIVE charts are never dropped: someone will look at them."""
        return self.verdict is not Verdict.PASS


@dataclass
class Dropped:
    """Charts given up on, by why."""

    replaced: int = 0  # a newer chart of the same release came
    stale: int = 0  # waited longer than max_age_s


@dataclass
class ChartQueue(Generic[Payload]):
    """Charts waiting to be drawn, at most one PASS chart per release."""

    max_age_s: float = 60.0
    _jobs: list[ChartJob[Payload]] = field(default_factory=list)
    dropped: Dropped = field(default_factory=Dropped)

    def __len__(self) -> int:
        return len(self._jobs)

    def add(self, job: ChartJob[Payload]) -> None:
        """Queue `job`; an older PASS chart of its release waiting here is dropped."""
        kept = [j for j in self._jobs if j.needs_a_person or j.release_id != job.release_id]
        self.dropped.replaced += len(self._jobs) - len(kept)
        self._jobs = [*kept, job]

    def take(self, now: float, ready: Callable[[str], bool]) -> ChartJob[Payload] | None:
        """The next chart to draw at `now`, among those whose channel is `ready`, or None.

        Stale PASS charts are dropped on the way. Charts that need a person go first; among
        equals the oldest.
        """
        fresh = [j for j in self._jobs if j.needs_a_person or now - j.queued_at <= self.max_age_s]
        self.dropped.stale += len(self._jobs) - len(fresh)
        self._jobs = fresh
        candidates = [j for j in fresh if ready(j.channel)]
        if not candidates:
            return None
        chosen = min(candidates, key=lambda j: (not j.needs_a_person, j.queued_at))
        self._jobs.remove(chosen)
        return chosen

    def channels(self) -> set[str]:
        """The channels of the charts waiting."""
        return {j.channel for j in self._jobs}
