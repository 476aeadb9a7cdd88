"""Release candidates in the real Redis: recorded, the newest taken once, older ones superseded."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import redis

from bot.candidates import Candidate, CandidateStore, next_nightly
from bot.images import BadImageError
from bot.registry import UnknownService, parse_registry
from tests.factories import T0

SERVICES = """
defaults:
  channel: "#releases"
  approval: {approvers: [U0BOB0001]}
  strategy: {kind: rolling, deployment: app}
services:
  fop-gate:
    nightly: {cron: "0 2 * * *", timezone: Europe/Berlin}
  billing: {}
"""
REGISTRY = parse_registry(SERVICES)
HOUR = timedelta(hours=1)


@pytest.fixture
def candidates(redis_client: redis.Redis) -> CandidateStore:
    return CandidateStore(redis_client, REGISTRY)


def test_the_newest_recorded_candidate_is_the_one_to_release(candidates: CandidateStore) -> None:
    candidates.record("fop-gate", "reg/fop-gate:1.4", by="ci", at=T0)
    newest = candidates.record("fop-gate", "reg/fop-gate:1.5", by="ci", at=T0 + HOUR)
    assert newest == Candidate("fop-gate", "reg/fop-gate:1.5", "ci", T0 + HOUR)
    assert candidates.newest_unreleased("fop-gate") == newest


def test_a_released_candidate_is_not_released_again(candidates: CandidateStore) -> None:
    candidates.record("fop-gate", "reg/fop-gate:1.5", by="ci", at=T0)
    assert candidates.mark_released("fop-gate", "reg/fop-gate:1.5", at=T0 + HOUR)
    assert candidates.newest_unreleased("fop-gate") is None
    last = candidates.last_released("fop-gate")
    assert last is not None
    assert (last.image, last.released_at) == ("reg/fop-gate:1.5", T0 + HOUR)


def test_a_newer_released_candidate_supersedes_older_unreleased_ones(
    candidates: CandidateStore,
) -> None:
    candidates.record("fop-gate", "reg/fop-gate:1.4", by="ci", at=T0)
    candidates.record("fop-gate", "reg/fop-gate:1.5", by="ci", at=T0 + HOUR)
    candidates.mark_released("fop-gate", "reg/fop-gate:1.5", at=T0 + 2 * HOUR)
    assert candidates.newest_unreleased("fop-gate") is None  # never 1.4, older than what runs


def test_recording_a_candidate_again_keeps_it_released(candidates: CandidateStore) -> None:
    candidates.record("fop-gate", "reg/fop-gate:1.5", by="ci", at=T0)
    candidates.mark_released("fop-gate", "reg/fop-gate:1.5", at=T0 + HOUR)
    again = candidates.record("fop-gate", "reg/fop-gate:1.5", by="ci-retry", at=T0 + 2 * HOUR)
    assert (again.recorded_by, again.released_at) == ("ci", T0 + HOUR)
    assert candidates.newest_unreleased("fop-gate") is None


def test_a_second_release_keeps_the_first_release_time(candidates: CandidateStore) -> None:
    candidates.record("fop-gate", "reg/fop-gate:1.5", by="ci", at=T0)
    candidates.mark_released("fop-gate", "reg/fop-gate:1.5", at=T0 + HOUR)
    candidates.mark_released("fop-gate", "reg/fop-gate:1.5", at=T0 + 2 * HOUR)
    last = candidates.last_released("fop-gate")
    assert last is not None
    assert last.released_at == T0 + HOUR


def test_an_image_that_is_no_candidate_is_not_marked(
    candidates: CandidateStore, redis_client: redis.Redis
) -> None:
    assert not candidates.mark_released("fop-gate", "reg/fop-gate:9.9", at=T0)
    assert redis_client.keys("*") == []


def test_candidates_are_kept_per_service(candidates: CandidateStore) -> None:
    candidates.record("fop-gate", "reg/fop-gate:1.5", by="ci", at=T0)
    assert candidates.newest_unreleased("billing") is None


def test_only_the_last_fifty_candidates_are_kept(
    candidates: CandidateStore, redis_client: redis.Redis
) -> None:
    for number in range(60):
        candidates.record("fop-gate", f"reg/fop-gate:1.{number}", by="ci", at=T0 + number * HOUR)
    assert redis_client.zcard("canarybot:candidates:fop-gate") == 50
    assert redis_client.hlen("canarybot:candidate-records:fop-gate") == 50
    newest = candidates.newest_unreleased("fop-gate")
    assert newest is not None
    assert newest.image == "reg/fop-gate:1.59"


def test_an_unknown_service_is_refused_by_name(
    candidates: CandidateStore, redis_client: redis.Redis
) -> None:
    with pytest.raises(UnknownService, match="did you mean: fop-gate"):
        candidates.record("fop-gat", "reg/fop-gate:1.5", by="ci", at=T0)
    assert redis_client.keys("*") == []


@pytest.mark.parametrize("image", ["reg/fop-gate", "reg/fop-gate:latest", "Reg/App:1", ""])
def test_an_unpinned_or_malformed_image_is_refused(
    candidates: CandidateStore, redis_client: redis.Redis, image: str
) -> None:
    with pytest.raises(BadImageError):
        candidates.record("fop-gate", image, by="ci", at=T0)
    assert redis_client.keys("*") == []


def test_the_next_nightly_is_said_in_the_services_own_zone() -> None:
    at = next_nightly(REGISTRY.get("fop-gate"), now=T0)  # Sunday 14:00 UTC
    assert at == datetime(2026, 11, 23, 2, 0, tzinfo=ZoneInfo("Europe/Berlin"))
    assert next_nightly(REGISTRY.get("billing"), now=T0) is None
