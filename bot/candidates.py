"""Release candidates: the images CI recorded for a service, for its nightly release to take.

A thin Redis adapter. A service's candidates are ordered by when they were recorded; the
nightly release takes the newest one, unless it was released already (by the nightly, a
planned release or a person): older candidates are superseded by a newer one, so a nightly
never releases something older than what was last recorded.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import redis
from pydantic import TypeAdapter

from bot import keys
from bot.images import parse_image
from bot.registry import Registry
from bot.service_spec import ServiceSpec

_KEPT = 50  # candidates kept per service; older ones are forgotten
_CAS_ATTEMPTS = 20


@dataclass(frozen=True)
class Candidate:
    """An image CI says is ready to release."""

    service: str
    image: str
    recorded_by: str  # who recorded it: a pipeline's name, "@alice", "api"
    recorded_at: datetime
    released_at: datetime | None = None  # when a release of it started


_CANDIDATE = TypeAdapter(Candidate)


class CandidateStore:
    """The release candidates of the registry's services."""

    def __init__(self, client: redis.Redis, registry: Registry) -> None:
        """Use `client` (decode_responses=True); services are checked against `registry`."""
        self._redis = client
        self._registry = registry

    def record(self, service: str, image: str, *, by: str, at: datetime) -> Candidate:
        """Record `image` as the service's newest candidate; the stored one if it was already.

        Raises `UnknownService` and `BadImageError` (an unpinned or malformed image).
        """
        self._registry.get(service)
        ref = parse_image(image)
        candidate = Candidate(service=service, image=ref.text, recorded_by=by, recorded_at=at)
        records = keys.candidate_records(service)
        if not self._redis.hsetnx(records, ref.text, _CANDIDATE.dump_json(candidate).decode()):
            # Recorded before (a retried pipeline): keep its place and whether it was released.
            stored = self._get(service, ref.text)
            return stored or candidate
        ordered = keys.candidates(service)
        self._redis.zadd(ordered, {ref.text: at.timestamp()})
        self._forget_old(service)
        return candidate

    def newest(self, service: str) -> Candidate | None:
        """The service's most recently recorded candidate, released or not."""
        images = self._redis.zrevrange(keys.candidates(service), 0, 0)
        return self._get(service, str(images[0])) if images else None

    def newest_unreleased(self, service: str) -> Candidate | None:
        """The newest candidate if nobody released it yet; None otherwise."""
        newest = self.newest(service)
        return newest if newest is not None and newest.released_at is None else None

    def last_released(self, service: str) -> Candidate | None:
        """The candidate whose release started last, if any was released."""
        raws = self._redis.hvals(keys.candidate_records(service))
        released = [c for c in map(_CANDIDATE.validate_json, raws) if c.released_at is not None]
        return max(released, key=lambda c: c.released_at or c.recorded_at, default=None)

    def mark_released(self, service: str, image: str, *, at: datetime) -> bool:
        """Note that a release of `image` started at `at`; False if it is no candidate.

        A candidate released before keeps its first release time.
        """
        records = keys.candidate_records(service)
        for _ in range(_CAS_ATTEMPTS):
            with self._redis.pipeline() as pipe:
                try:
                    _watch(pipe, records)
                    raw = pipe.hget(records, image)
                    if raw is None:
                        return False
                    stored = _CANDIDATE.validate_json(raw)
                    if stored.released_at is not None:
                        return True
                    done = replace(stored, released_at=at)
                    pipe.multi()
                    pipe.hset(records, image, _CANDIDATE.dump_json(done).decode())
                    pipe.execute()
                    return True
                except redis.WatchError:
                    continue
        raise RuntimeError(f"{service}: candidates are changing too fast; try again")

    def _get(self, service: str, image: str) -> Candidate | None:
        raw = self._redis.hget(keys.candidate_records(service), image)
        return None if raw is None else _CANDIDATE.validate_json(raw)

    def _forget_old(self, service: str) -> None:
        ordered = keys.candidates(service)
        old = self._redis.zrange(ordered, 0, -(_KEPT + 1))
        if old:
            with self._redis.pipeline() as pipe:
                pipe.zrem(ordered, *old)
                pipe.hdel(keys.candidate_records(service), *old)
                pipe.execute()


def _watch(pipe: Any, *names: str) -> None:
    pipe.watch(*names)  # redis-py leaves Pipeline.watch unannotated


def next_nightly(spec: ServiceSpec, *, now: datetime) -> datetime | None:
    """When the service's nightly release next runs after `now`, in its own time zone.

    None when the service has no nightly schedule. Purely computational.
    """
    if spec.nightly is None:
        return None
    trigger = spec.nightly.trigger()
    fires: datetime | None = trigger.get_next_fire_time(None, now)
    return fires
