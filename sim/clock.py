"""Time as the controllers see it: one monotonic clock, and wall-clock timestamps tied to it.

Controllers measure delays (a pod's readiness delay, a progress deadline) on an injectable
monotonic clock, so tests advance time without sleeping. Timestamps they write into objects
(RFC 3339, whole seconds, as the API serves them) come from the same clock shifted by a fixed
`epoch`, so a test that moves the clock moves every timestamp with it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

Clock = Callable[[], float]


@dataclass(frozen=True)
class SimTime:
    """A monotonic clock and the wall time (epoch seconds) at which it read zero."""

    clock: Clock
    epoch: float

    @classmethod
    def starting_now(cls, clock: Clock = time.monotonic, epoch: float | None = None) -> SimTime:
        """`clock` tied to the current wall time (or to `epoch`, the wall time at zero)."""
        return cls(clock, time.time() - clock() if epoch is None else epoch)

    def monotonic(self) -> float:
        """Seconds on the monotonic clock."""
        return self.clock()

    def wall(self) -> float:
        """Epoch seconds now."""
        return self.epoch + self.clock()

    def stamp(self) -> str:
        """Now as an RFC 3339 timestamp (``2026-11-22T14:00:00Z``)."""
        return rfc3339(self.wall())


def rfc3339(epoch_seconds: float) -> str:
    """Epoch seconds as the API writes a metav1.Time: UTC, whole seconds."""
    return datetime.fromtimestamp(epoch_seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_rfc3339(text: str | None) -> float | None:
    """Epoch seconds of an RFC 3339 timestamp, or None if missing or malformed."""
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None
