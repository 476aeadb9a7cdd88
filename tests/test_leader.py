"""The scheduler's leader lease: one holder, a larger token each time, and stale writes fenced.

Real Redis; the lease's time to live is short so that a lapse takes a second.
"""

from __future__ import annotations

import threading
from dataclasses import replace

import pytest
import redis

from bot.leader import FencedOut, LeaderLease, fenced
from bot.release import SCHEDULER, AuditEntry, Event, EventKind, Phase, Release
from bot.store import Committed, ReleaseStore
from bot.transitions import Applied, apply_event
from tests.factories import T0, release


def test_one_replica_holds_the_lease_and_renews_it(redis_client: redis.Redis) -> None:
    alpha = LeaderLease(redis_client, ttl_s=5, name="alpha")
    beta = LeaderLease(redis_client, ttl_s=5, name="beta")
    first = alpha.keep()
    assert first is not None
    assert beta.keep() is None
    assert alpha.keep() == first  # renewed, same token
    assert alpha.holder() == first.value


def test_a_lapsed_lease_goes_to_another_with_a_larger_token(redis_client: redis.Redis) -> None:
    alpha = LeaderLease(redis_client, ttl_s=0.3, name="alpha")
    beta = LeaderLease(redis_client, ttl_s=0.3, name="beta")
    old = alpha.keep()
    assert old is not None
    threading.Event().wait(0.5)  # alpha stalls past its lease
    new = beta.keep()
    assert new is not None
    assert new.token > old.token
    assert alpha.keep() is None  # it finds out at its next renewal
    assert alpha.fence is None


def test_dropping_the_lease_frees_it_at_once(redis_client: redis.Redis) -> None:
    alpha = LeaderLease(redis_client, ttl_s=30, name="alpha")
    beta = LeaderLease(redis_client, ttl_s=30, name="beta")
    assert alpha.keep() is not None
    alpha.drop()
    assert beta.keep() is not None


def test_a_stale_leaders_write_is_fenced_out_and_changes_nothing(
    redis_client: redis.Redis, store: ReleaseStore
) -> None:
    pending = _stored(store)
    alpha = LeaderLease(redis_client, ttl_s=0.3, name="alpha")
    old = alpha.keep()
    assert old is not None
    threading.Event().wait(0.5)
    assert LeaderLease(redis_client, ttl_s=30, name="beta").keep() is not None

    with fenced(old), pytest.raises(FencedOut):
        apply_event(store, pending.id, Event(EventKind.START, SCHEDULER), now=T0)
    after = store.get(pending.id)
    assert after is not None
    assert (after.phase, after.version) == (Phase.PENDING, pending.version)


def test_the_leaders_write_within_its_fence_lands(
    redis_client: redis.Redis, store: ReleaseStore
) -> None:
    pending = _stored(store)
    fence = LeaderLease(redis_client, ttl_s=30, name="alpha").keep()
    assert fence is not None
    with fenced(fence):
        outcome = apply_event(store, pending.id, Event(EventKind.START, SCHEDULER), now=T0)
    assert isinstance(outcome, Applied)
    assert outcome.release.phase is Phase.DEPLOYING


def _stored(store: ReleaseStore) -> Release:
    """A pending fop-gate release, stored."""
    audit = AuditEntry(
        at=T0,
        service="fop-gate",
        release_id="",
        actor=SCHEDULER,
        event=EventKind.START,
        applied=True,
    )
    created = store.create(replace(release(), id=""), audit=audit)
    assert isinstance(created, Committed)
    return created.release
