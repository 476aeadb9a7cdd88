"""What bench/scale.py reads after a run: each window's wake-up lateness, steps and verdicts
from the bot's Redis, and a process's memory and CPU from Linux's /proc.

A window's lateness is the time of its verdict minus the end of the window it judged. Both
come from what the bot committed, not from the bench's clock: the engine commits a verdict
under the idempotency key ``window:RELEASE:STEP:INDEX:ENDS_AT`` (the window's end, as the
release stored it), remembering the release's version after the commit; the release's audit
stream has one applied entry per version, so the entry of that version is the verdict, and
its time is when it was committed. A window that was due when the bot stopped and was never
judged counts as late by at least the time from its end to the stop.
"""

from __future__ import annotations

import math
import os
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import redis

from bot import keys
from bot.release import AuditEntry, EventKind, Phase, Release
from bot.store import ReleaseStore

VERDICTS = frozenset(
    {EventKind.WINDOW_PASSED, EventKind.WINDOW_FAILED, EventKind.WINDOW_INCONCLUSIVE}
)
_WINDOW_KEYS = keys.idempotency("window:")


@dataclass(frozen=True)
class WindowWake:
    """One judged window: which, when it ended, when its verdict was committed, and which."""

    release_id: str
    step: int
    index: int
    ends_at: datetime
    verdict_at: datetime
    verdict: EventKind

    @property
    def late_s(self) -> float:
        """Seconds from the window's end to its verdict."""
        return (self.verdict_at - self.ends_at).total_seconds()


@dataclass(frozen=True)
class Judged:
    """Every window the bot judged, and the window keys whose verdict was not found."""

    windows: list[WindowWake]
    unmatched: list[str]


def judged_windows(client: redis.Redis, store: ReleaseStore) -> Judged:
    """Every window verdict committed in this Redis, matched to its audit entry."""
    names = sorted(str(name) for name in client.scan_iter(match=f"{_WINDOW_KEYS}*", count=1000))
    trails: dict[str, list[AuditEntry]] = {}
    windows, unmatched = [], []
    for name in names:
        parsed = _parse_window_key(name.removeprefix(_WINDOW_KEYS))
        remembered = store.remembered(name.removeprefix(keys.idempotency("")))
        if parsed is None or remembered is None:
            unmatched.append(name)
            continue
        release_id, step, index, ends_at = parsed
        if release_id not in trails:
            trails[release_id] = applied_entries(store, release_id)
        applied = trails[release_id]
        entry = applied[remembered.version - 1] if remembered.version <= len(applied) else None
        if entry is None or entry.event not in VERDICTS:
            unmatched.append(name)
            continue
        windows.append(WindowWake(release_id, step, index, ends_at, entry.at, entry.event))
    return Judged(windows, unmatched)


def applied_entries(store: ReleaseStore, release_id: str) -> list[AuditEntry]:
    """The release's applied audit entries, oldest first: entry k made version k + 1."""
    trail = store.audit_trail(release_id=release_id, limit=100_000)
    return [entry for entry in trail if entry.applied]


def _parse_window_key(rest: str) -> tuple[str, int, int, datetime] | None:
    """``RELEASE:STEP:INDEX:ENDS_AT`` (the release id has no colon, the time has some)."""
    parts = rest.split(":", 3)
    if len(parts) != 4:
        return None
    release_id, step, index, ends_at = parts
    try:
        return release_id, int(step), int(index), datetime.fromisoformat(ends_at)
    except ValueError:
        return None


def overdue_windows(releases: Iterable[Release], *, at: datetime) -> list[float]:
    """Seconds each open window that had ended by `at` was still waiting for its verdict."""
    return [
        (at - release.window.ends_at).total_seconds()
        for release in releases
        if release.phase is Phase.OBSERVING
        and release.window is not None
        and release.window.ends_at < at
    ]


def deployed_steps(store: ReleaseStore, release_ids: Iterable[str]) -> int:
    """How many steps the cluster reached (applied DEPLOYED events) over these releases."""
    return sum(
        entry.event is EventKind.DEPLOYED
        for release_id in release_ids
        for entry in applied_entries(store, release_id)
    )


@dataclass(frozen=True)
class Spread:
    """Nearest-rank percentiles of some seconds; NaN when there are none."""

    n: int
    p50: float
    p99: float
    max: float

    @classmethod
    def of(cls, values: Sequence[float]) -> Spread:
        """The spread of `values`."""
        ordered = sorted(values)

        def rank(q: float) -> float:
            return ordered[max(0, math.ceil(q * len(ordered)) - 1)] if ordered else math.nan

        return cls(len(ordered), rank(0.5), rank(0.99), rank(1.0))


def verdict_counts(windows: Iterable[WindowWake]) -> Counter[str]:
    """How many windows got each verdict (``passed``, ``failed``, ``inconclusive``)."""
    return Counter(window.verdict.value.removeprefix("window_") for window in windows)


def problem_kinds(lines: Iterable[str]) -> Counter[str]:
    """Log lines counted by kind: without their time, quoted parts and numbers."""
    kinds: Counter[str] = Counter()
    for line in lines:
        text = _LOG_TIME.sub("", line)
        kinds[_NUMBER.sub("N", _QUOTED.sub('"…"', text))[:160]] += 1
    return kinds


_LOG_TIME = re.compile(r"^\d{4}-\d\d-\d\d [\d:,]+ ")
_QUOTED = re.compile(r'"[^"]*"|\'[^\']*\'')
_NUMBER = re.compile(r"\d+")


# --- /proc ----------------------------------------------------------------------------------


def peak_rss_mb(pid: int) -> float:
    """The process's peak resident memory (VmHWM) in MB; NaN when it is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return math.nan
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024  # kB
    return math.nan


def cpu_s(pid: int) -> float:
    """User and system CPU seconds the process has used (its threads included); else NaN."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return math.nan
    fields = stat.rsplit(")", 1)[1].split()  # after the name: state is field 3
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def thread_count(pid: int) -> int:
    """How many threads the process runs now (0 when it is gone)."""
    try:
        return len(os.listdir(f"/proc/{pid}/task"))
    except OSError:
        return 0
