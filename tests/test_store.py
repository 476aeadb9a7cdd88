"""The Redis store on a real redis-server: compare-and-set, the live lock, audit, idempotency."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import replace
from datetime import timedelta
from multiprocessing import get_context

import redis

from bot import keys
from bot.release import AuditEntry, Event, EventKind, Phase, PlanOverrides, Release
from bot.store import Committed, Conflict, ReleaseStore
from bot.transitions import Applied, Refused, apply_event, start_release
from tests.factories import ALICE, BOB, CAROL, T0, WINDOW, plan, release


def started(store: ReleaseStore, **overrides: object) -> Release:
    """A fop-gate release started by alice and stored; `overrides` change the draft."""
    draft = replace(release(), id="", **overrides)  # type: ignore[arg-type]
    outcome = start_release(store, draft, now=T0)
    assert isinstance(outcome, Applied), outcome
    return outcome.release


def observing_release(store: ReleaseStore) -> Release:
    """A stored release in its first observation window."""
    r = started(store)
    outcome = apply_event(store, r.id, Event(EventKind.DEPLOYED, BOB), now=T0)
    assert isinstance(outcome, Applied)
    return outcome.release


def audit_for(r: Release) -> AuditEntry:
    return AuditEntry(at=T0, service=r.service, release_id=r.id, actor=BOB,
                      event=EventKind.PAUSE, applied=True)  # fmt: skip


# --- creating and the live lock ----------------------------------------------------------------


def test_start_numbers_the_release_and_takes_the_service_lock(
    store: ReleaseStore, redis_client: redis.Redis
) -> None:
    r = started(store)
    assert (r.id, r.version, r.phase) == ("fop-gate#1", 1, Phase.DEPLOYING)
    assert redis_client.get(keys.live_lock("fop-gate")) == "fop-gate#1"
    assert store.live_release("fop-gate") == r
    assert store.live_releases() == [r]


def test_second_start_is_refused_naming_the_holder_and_both_attempts_are_audited(
    store: ReleaseStore,
) -> None:
    first = started(store)
    second = start_release(store, replace(release(), id="", requested_by=BOB), now=T0)
    assert second == Refused(
        "fop-gate already has a live release fop-gate#1 (deploying), started by @alice", first
    )
    trail = store.audit_trail(service="fop-gate")
    assert [(e.event, e.actor, e.applied) for e in trail] == [
        (EventKind.START, ALICE, True),
        (EventKind.START, BOB, False),
    ]
    assert trail[1].reason == second.reason
    assert trail[1].details == {"holder": "fop-gate#1"}


def test_an_ended_release_frees_the_service_for_the_next(store: ReleaseStore) -> None:
    first = started(store)
    for kind in (EventKind.UNDO, EventKind.STEP_DONE):
        assert isinstance(apply_event(store, first.id, Event(kind, BOB), now=T0), Applied)
    assert store.live_release("fop-gate") is None
    assert store.live_releases() == []
    assert started(store).id == "fop-gate#2"


def test_a_lock_left_by_a_vanished_release_does_not_block_a_start(
    store: ReleaseStore, redis_client: redis.Redis
) -> None:
    redis_client.set(keys.live_lock("fop-gate"), "fop-gate#99")
    assert started(store).id == "fop-gate#1"


def test_releases_of_different_services_do_not_block_each_other(store: ReleaseStore) -> None:
    assert started(store).id == "fop-gate#1"
    assert started(store, service="pay-api").id == "pay-api#1"


# --- compare-and-set ---------------------------------------------------------------------------


def test_a_stale_writer_is_refused_and_nothing_is_merged(store: ReleaseStore) -> None:
    r = started(store)
    paused = replace(r, phase=Phase.PAUSED, paused_from=Phase.DEPLOYING)
    assert isinstance(store.commit(paused, expected_version=1, audit=audit_for(r)), Committed)
    stale = replace(r, image="reg/fop-gate:other")
    result = store.commit(stale, expected_version=1, audit=audit_for(r))
    assert isinstance(result, Conflict)
    assert result.current is not None
    assert (result.current.version, result.current.phase) == (2, Phase.PAUSED)
    assert store.get(r.id) == result.current


def test_two_writers_racing_on_one_version_exactly_one_wins(store: ReleaseStore) -> None:
    r = started(store)
    writers = 16
    barrier = threading.Barrier(writers)

    def write(n: int) -> Committed | Conflict:
        mine = replace(r, reason=f"writer {n}")
        barrier.wait()  # everyone holds version 1 before anyone writes
        result = store.commit(mine, expected_version=r.version, audit=audit_for(r))
        assert isinstance(result, Committed | Conflict)
        return result

    with ThreadPoolExecutor(writers) as pool:
        results = list(pool.map(write, range(writers)))
    winners = [x for x in results if isinstance(x, Committed)]
    assert len(winners) == 1
    assert sum(isinstance(x, Conflict) for x in results) == writers - 1
    stored = store.get(r.id)
    assert stored is not None
    assert (stored.version, stored.reason) == (2, winners[0].release.reason)


def test_concurrent_promotes_apply_once_and_the_others_hear_who_won(store: ReleaseStore) -> None:
    r = observing_release(store)
    clickers = 8
    barrier = threading.Barrier(clickers)

    def click(_n: int) -> Applied | Refused:
        barrier.wait()
        return apply_event(store, r.id, Event(EventKind.PROMOTE, BOB), now=T0 + WINDOW)

    with ThreadPoolExecutor(clickers) as pool:
        outcomes = list(pool.map(click, range(clickers)))
    applied = [o for o in outcomes if isinstance(o, Applied)]
    refused = [o for o in outcomes if isinstance(o, Refused)]
    assert len(applied) == 1
    assert applied[0].release.phase is Phase.PROMOTING
    assert {o.reason for o in refused} == {
        "fop-gate#1 is already being promoted by @bob; can't promote it now"
    }
    trail = [e for e in store.audit_trail(release_id=r.id) if e.event is EventKind.PROMOTE]
    assert sorted(e.applied for e in trail) == [False] * (clickers - 1) + [True]


def _promote_in_another_process(url: str, release_id: str) -> str:
    client = redis.Redis.from_url(url, decode_responses=True)
    outcome = apply_event(
        ReleaseStore(client), release_id, Event(EventKind.PROMOTE, BOB), now=T0 + WINDOW
    )
    client.close()
    return "applied" if isinstance(outcome, Applied) else outcome.reason


def test_two_processes_promoting_one_release_promote_it_once(
    store: ReleaseStore, redis_server: object
) -> None:
    r = observing_release(store)
    url: str = redis_server.url  # type: ignore[attr-defined]
    with ProcessPoolExecutor(2, mp_context=get_context("spawn")) as pool:
        results = list(pool.map(_promote_in_another_process, [url, url], [r.id, r.id]))
    assert sorted(results) == [
        "applied",
        "fop-gate#1 is already being promoted by @bob; can't promote it now",
    ]
    stored = store.get(r.id)
    assert stored is not None
    assert (stored.phase, stored.version) == (Phase.PROMOTING, r.version + 1)


# --- idempotency -------------------------------------------------------------------------------


def test_a_retried_request_is_applied_once(store: ReleaseStore) -> None:
    r = observing_release(store)
    event = Event(EventKind.PAUSE, BOB)
    first = apply_event(store, r.id, event, now=T0, idempotency_key="slack:trigger-1")
    again = apply_event(store, r.id, event, now=T0, idempotency_key="slack:trigger-1")
    assert isinstance(first, Applied)
    assert not first.replayed
    assert first.actions
    assert again == Applied(first.release, (), replayed=True)
    pauses = [e for e in store.audit_trail(release_id=r.id) if e.event is EventKind.PAUSE]
    assert len(pauses) == 1


def test_the_same_request_delivered_twice_at_once_is_applied_once(store: ReleaseStore) -> None:
    r = observing_release(store)
    rounds = 30  # the race is decided by scheduling: give it many chances to go wrong
    barrier = threading.Barrier(2)

    def deliver(kind: EventKind, key: str) -> Applied | Refused:
        barrier.wait()
        return apply_event(store, r.id, Event(kind, BOB), now=T0, idempotency_key=key)

    with ThreadPoolExecutor(2) as pool:
        for n in range(rounds):
            kind = EventKind.PAUSE if n % 2 == 0 else EventKind.RESUME
            outcomes = list(pool.map(deliver, [kind, kind], [f"slack:trigger-{n}"] * 2))
            assert all(isinstance(o, Applied) for o in outcomes), outcomes
            assert sorted(o.replayed for o in outcomes if isinstance(o, Applied)) == [False, True]
    stored = store.get(r.id)
    assert stored is not None
    assert stored.version == r.version + rounds


def test_a_retried_start_creates_one_release(store: ReleaseStore) -> None:
    draft = replace(release(), id="")
    first = start_release(store, draft, now=T0, idempotency_key="ci:build-7")
    again = start_release(store, draft, now=T0, idempotency_key="ci:build-7")
    assert isinstance(first, Applied)
    assert again == Applied(first.release, (), replayed=True)
    assert [x.id for x in store.history("fop-gate")] == ["fop-gate#1"]


# --- history and audit -------------------------------------------------------------------------


def test_history_lists_the_last_releases_newest_first(store: ReleaseStore) -> None:
    for _ in range(4):
        r = started(store)
        apply_event(store, r.id, Event(EventKind.UNDO, BOB), now=T0)
        apply_event(store, r.id, Event(EventKind.STEP_DONE, BOB), now=T0)
    assert [x.id for x in store.history("fop-gate", limit=3)] == [
        "fop-gate#4",
        "fop-gate#3",
        "fop-gate#2",
    ]
    assert all(x.phase is Phase.UNDONE for x in store.history("fop-gate"))


def test_audit_records_who_what_when_from_which_door_and_why(store: ReleaseStore) -> None:
    r = observing_release(store)
    apply_event(store, r.id, Event(EventKind.UNDO, CAROL, reason="wrong image", to_revision=4),
                now=T0 + WINDOW)  # fmt: skip
    last = store.audit_trail(release_id=r.id)[-1]
    assert last == AuditEntry(
        at=T0 + WINDOW,
        service="fop-gate",
        release_id="fop-gate#1",
        actor=CAROL,
        event=EventKind.UNDO,
        applied=True,
        from_phase=Phase.OBSERVING,
        to_phase=Phase.UNDOING,
        reason="wrong image",
        details={"to_revision": "4"},
    )
    assert last.actor.door.value == "cli"


def test_the_release_record_round_trips_through_redis(store: ReleaseStore) -> None:
    r = started(store, plan=plan(steps=3, windows_per_step=2))
    assert store.get(r.id) == r


def test_a_release_keeps_its_overrides_through_redis(store: ReleaseStore) -> None:
    overrides = PlanOverrides(steps=(10, 50), window=timedelta(minutes=5))
    r = started(store, plan=plan(steps=2, step_values=(10, 50)), overrides=overrides)
    stored = store.get(r.id)
    assert stored is not None
    assert (stored.overrides, stored.plan.step_values) == (overrides, (10, 50))


def test_a_release_stored_before_overrides_existed_loads_without_any(
    store: ReleaseStore, redis_client: redis.Redis
) -> None:
    r = started(store)
    record = json.loads(str(redis_client.get(keys.release(r.id))))
    # What the store wrote before releases kept overrides and their plans copied step values.
    del record["overrides"], record["plan"]["step_values"]
    redis_client.set(keys.release(r.id), json.dumps(record))
    old = store.get(r.id)
    assert old is not None
    assert (old.overrides, old.plan.step_values) == (PlanOverrides(), ())
