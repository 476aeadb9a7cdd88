"""Judged windows' reports, held in Redis until their summary is posted.

A verdict is committed to the release first and its summary posted after. A bot killed between
the two would lose the summary, so the report is written here before the verdict is committed
and removed once posted; the next scheduler leader posts whatever a committed verdict left
behind (:meth:`bot.engine.Engine.post_held_reports`). A summary is thus posted at least once,
and twice only if the bot dies in the moment between posting it and removing it here.
"""

from __future__ import annotations

from datetime import timedelta
from typing import cast

import redis
from pydantic import TypeAdapter

from bot import keys
from bot.windows import WindowReport

_REPORT = TypeAdapter(WindowReport)
HOLD_FOR = timedelta(days=1)  # a report nobody could post by then is of no use


class PendingReports:
    """Reports by the idempotency key of their verdict."""

    def __init__(self, client: redis.Redis) -> None:
        """Keep them in `client`'s Redis (decode_responses=True)."""
        self._redis = client

    def hold(self, key: str, report: WindowReport) -> None:
        """Keep `report` until :meth:`done`."""
        self._redis.set(keys.pending_report(key), _REPORT.dump_json(report), ex=HOLD_FOR)

    def done(self, key: str) -> None:
        """The report was posted, or its verdict was never committed: forget it."""
        self._redis.delete(keys.pending_report(key))

    def held(self) -> list[tuple[str, WindowReport]]:
        """Every held report with its key."""
        prefix = keys.pending_report("")
        found: list[tuple[str, WindowReport]] = []
        for name in self._redis.scan_iter(match=f"{prefix}*", count=100):
            raw = cast(str | None, self._redis.get(name))
            if raw is not None:
                found.append((cast(str, name)[len(prefix) :], _REPORT.validate_json(raw)))
        return found
