"""Nothing committed is lost when Redis dies: AOF on, SIGKILL, restart on the same data."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from bot.release import Event, EventKind, Phase
from bot.store import ReleaseStore
from bot.transitions import Applied, apply_event, start_release
from tests.factories import BOB, T0, WINDOW, release
from tests.servers import RedisServer


def snapshot(store: ReleaseStore, live_id: str) -> tuple[object, ...]:
    """Everything the store can tell about fop-gate: records, lock, audit, remembered requests."""
    return (
        store.history("fop-gate"),
        store.live_releases(),
        store.audit_trail(service="fop-gate"),
        store.audit_trail(release_id=live_id),
        store.remembered("k1"),
    )


def test_committed_releases_and_audit_survive_a_killed_redis(fresh_redis_dir: Path) -> None:
    server = RedisServer(data_dir=fresh_redis_dir, appendonly=True).start()
    try:
        store = ReleaseStore(server.client())
        # One release that ended and one still live, with transitions and a refusal in between.
        done = start_release(store, replace(release(), id=""), now=T0)
        assert isinstance(done, Applied)
        for kind in (EventKind.UNDO, EventKind.STEP_DONE):
            apply_event(store, done.release.id, Event(kind, BOB), now=T0)
        live = start_release(store, replace(release(), id=""), now=T0, idempotency_key="k1")
        assert isinstance(live, Applied)
        apply_event(store, live.release.id, Event(EventKind.DEPLOYED, BOB), now=T0)
        apply_event(store, live.release.id, Event(EventKind.RESUME, BOB), now=T0)  # refused
        before = snapshot(store, live.release.id)

        server.kill()  # no SHUTDOWN, no final save
        server.start()

        after_store = ReleaseStore(server.client())
        after = snapshot(after_store, live.release.id)
        assert after == before
        assert [r.phase for r in after_store.history("fop-gate")] == [
            Phase.OBSERVING,
            Phase.UNDONE,
        ]
        # The restarted server still enforces the lock and keeps numbering.
        again = start_release(after_store, replace(release(), id=""), now=T0 + WINDOW)
        assert not isinstance(again, Applied)
    finally:
        server.stop()
