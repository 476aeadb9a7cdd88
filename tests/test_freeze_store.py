"""Ad-hoc freezes in the real Redis: set, read, lifted, and gone once they end."""

from __future__ import annotations

from datetime import timedelta

import pytest
import redis

from bot import keys
from bot.freeze_store import FreezeBook, FreezeStore
from bot.freezes import ALL_SERVICES, Freeze
from bot.registry import UnknownService, parse_registry
from bot.release import Actor, Door
from bot.transitions import Refused
from tests.factories import ALICE, BOB, T0

SERVICES = """
admins: [U0ADMIN01]
freezes:
  - {cron: "0 18 * * fri", duration: 14h, timezone: Europe/Berlin, reason: friday night}
defaults:
  channel: "#releases"
  approval: {approvers: [U0BOB0001]}
  strategy: {kind: rolling, deployment: app}
services:
  fop-gate: {}
  billing:
    freezes: [{cron: "0 9 22 11 *", duration: 2h, reason: billing run}]
"""
REGISTRY = parse_registry(SERVICES)
ADMIN = Actor(id="U0ADMIN01", name="root", door=Door.SLACK)
INCIDENT = Freeze(scope="fop-gate", until=T0 + timedelta(hours=2), reason="incident", by=ALICE)


@pytest.fixture
def freezes(redis_client: redis.Redis) -> FreezeStore:
    return FreezeStore(redis_client)


def book(store: FreezeStore | None, at: timedelta = timedelta(0)) -> FreezeBook:
    return FreezeBook(REGISTRY, store, clock=lambda: T0 + at)


def test_a_freeze_set_is_read_back_while_it_lasts(freezes: FreezeStore) -> None:
    freezes.set(INCIDENT, now=T0)
    assert freezes.get("fop-gate", now=T0 + timedelta(minutes=119)) == INCIDENT
    assert freezes.covering("fop-gate", now=T0) == [INCIDENT]


def test_an_ended_freeze_is_ignored_even_before_redis_drops_it(freezes: FreezeStore) -> None:
    freezes.set(INCIDENT, now=T0)
    assert freezes.get("fop-gate", now=T0 + timedelta(hours=2)) is None
    assert freezes.covering("fop-gate", now=T0 + timedelta(hours=2)) == []


def test_the_key_expires_when_the_freeze_ends(
    freezes: FreezeStore, redis_client: redis.Redis
) -> None:
    freezes.set(INCIDENT, now=T0)
    ttl_ms = redis_client.pttl(keys.service_freeze("fop-gate"))
    assert 2 * 3_600_000 - 5_000 < ttl_ms <= 2 * 3_600_000


def test_a_freeze_of_every_service_covers_each_one(freezes: FreezeStore) -> None:
    everything = Freeze(scope=ALL_SERVICES, until=T0 + timedelta(hours=1), reason="x", by=BOB)
    freezes.set(everything, now=T0)
    assert freezes.covering("billing", now=T0) == [everything]
    assert freezes.get("billing", now=T0) is None  # billing has no freeze of its own


def test_a_new_freeze_replaces_the_last_one_of_its_scope(freezes: FreezeStore) -> None:
    freezes.set(INCIDENT, now=T0)
    later = Freeze(scope="fop-gate", until=T0 + timedelta(days=1), reason="again", by=BOB)
    freezes.set(later, now=T0)
    assert freezes.covering("fop-gate", now=T0) == [later]


def test_clearing_lifts_the_freeze_and_says_what_it_was(freezes: FreezeStore) -> None:
    freezes.set(INCIDENT, now=T0)
    assert freezes.clear("fop-gate", now=T0) == INCIDENT
    assert freezes.get("fop-gate", now=T0) is None
    assert freezes.clear("fop-gate", now=T0) is None


def test_a_freeze_that_already_ended_is_not_set(
    freezes: FreezeStore, redis_client: redis.Redis
) -> None:
    with pytest.raises(ValueError, match="must end in the future"):
        freezes.set(INCIDENT, now=INCIDENT.until)
    assert redis_client.keys("*") == []


# --- the book: windows and ad-hoc freezes together --------------------------------------------


def test_the_book_finds_a_services_own_window(freezes: FreezeStore) -> None:
    assert book(freezes).active("billing") is None  # T0 is 22 Nov, 14:00 UTC: after the run
    during = book(freezes, at=timedelta(hours=-4)).active("billing")
    assert during is not None
    assert (during.scope, during.reason) == ("billing", "billing run")


def test_the_book_finds_a_window_of_every_service(freezes: FreezeStore) -> None:
    assert book(freezes).active("fop-gate") is None  # Sunday afternoon
    found = book(freezes, at=-timedelta(days=1, hours=8)).active("fop-gate")  # Saturday 07:00
    assert found is not None
    assert (found.scope, found.reason) == (ALL_SERVICES, "friday night")


def test_the_book_sets_a_freeze_by_whoever_asked(freezes: FreezeStore) -> None:
    set_ = book(freezes).set("fop-gate", until=INCIDENT.until, reason="incident", actor=ALICE)
    assert set_ == INCIDENT
    assert book(freezes).active("fop-gate") == INCIDENT


def test_the_book_refuses_a_freeze_ending_in_the_past(
    freezes: FreezeStore, redis_client: redis.Redis
) -> None:
    refused = book(freezes).set(None, until=T0, reason="x", actor=ALICE)
    assert refused == Refused("2026-11-22 14:00 UTC has passed; a freeze must end later")
    assert redis_client.keys("*") == []


def test_the_book_refuses_an_unknown_service(freezes: FreezeStore) -> None:
    with pytest.raises(UnknownService):
        book(freezes).set("fop-gat", until=INCIDENT.until, reason="x", actor=ALICE)


@pytest.mark.parametrize(
    ("who", "admin", "lifted"),
    [
        pytest.param(ALICE, False, True, id="whoever_set_it"),
        pytest.param(ADMIN, True, True, id="an_admin"),
        pytest.param(BOB, False, False, id="not_someone_else"),
    ],
)
def test_who_may_lift_a_freeze(freezes: FreezeStore, who: Actor, admin: bool, lifted: bool) -> None:
    freezes.set(INCIDENT, now=T0)
    outcome = book(freezes).lift("fop-gate", who, admin=admin)
    if lifted:
        assert outcome == INCIDENT
        assert book(freezes).active("fop-gate") is None
    else:
        assert outcome == Refused("only an admin or @alice, who set this freeze, may lift it")
        assert book(freezes).active("fop-gate") == INCIDENT


def test_lifting_when_nothing_is_frozen_lifts_nothing(freezes: FreezeStore) -> None:
    assert book(freezes).lift(None, ALICE, admin=False) is None


def test_without_a_store_only_windows_hold_and_nothing_can_be_set() -> None:
    assert book(None).active("fop-gate") is None
    refused = book(None).set("fop-gate", until=INCIDENT.until, reason="x", actor=ALICE)
    assert isinstance(refused, Refused)
