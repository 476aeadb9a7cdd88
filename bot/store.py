"""The Redis store: release records, the live-release lock, history, audit and idempotency.

A thin adapter. Every write of a release is a compare-and-set on its `version` under
`WATCH`/`MULTI`: a stale writer gets `Conflict` and must re-read and decide again; nothing is
ever merged. The store makes no decisions about releases; `bot.machine` does.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Any

import redis
from pydantic import TypeAdapter

from bot import keys
from bot.leader import FencedOut, current_fence
from bot.release import AuditEntry, Release

_RELEASE = TypeAdapter(Release)
_AUDIT = TypeAdapter(AuditEntry)
_CAS_ATTEMPTS = 20  # a WATCH lost to another writer is retried; past this the caller hears why


@dataclass(frozen=True)
class Committed:
    """The write happened; `release` is what is stored now (with its new version)."""

    release: Release


@dataclass(frozen=True)
class Conflict:
    """Someone else wrote first: re-read and decide again."""

    current: Release | None


@dataclass(frozen=True)
class LockHeld:
    """The service already has a live release: `holder`."""

    holder: Release


@dataclass(frozen=True)
class Remembered:
    """A request with this idempotency key was already applied; this is what it did."""

    release_id: str
    version: int


class StoreBusyError(RuntimeError):
    """Too many writers raced for the same keys; the caller should say so and let the user retry."""


class ReleaseStore:
    """Release records and their audit trail in Redis."""

    def __init__(self, client: redis.Redis, *, idempotency_ttl_s: int = 86_400) -> None:
        """Use `client` (decode_responses=True) and remember idempotency keys for the TTL."""
        self._redis = client
        self._idem_ttl = idempotency_ttl_s

    # --- reads ---------------------------------------------------------------------------------

    def get(self, release_id: str) -> Release | None:
        """The stored release, or None."""
        raw = self._redis.get(keys.release(release_id))
        return None if raw is None else _RELEASE.validate_json(raw)

    def live_release(self, service: str) -> Release | None:
        """The service's live release, if any."""
        holder = self._redis.get(keys.live_lock(service))
        return None if holder is None else self.get(_text(holder))

    def live_releases(self) -> list[Release]:
        """Every live release, ordered by id."""
        ids = sorted(_text(i) for i in self._redis.smembers(keys.live_index()))
        return self._many(ids)

    def history(self, service: str, *, limit: int = 10) -> list[Release]:
        """The service's last `limit` releases, newest first."""
        ids = self._redis.lrange(keys.history(service), 0, limit - 1)
        return self._many([_text(i) for i in ids])

    def audit_trail(
        self, *, release_id: str | None = None, service: str | None = None, limit: int = 100
    ) -> list[AuditEntry]:
        """The last `limit` audit entries of a release or a service, oldest first."""
        if (release_id is None) == (service is None):
            raise ValueError("name exactly one of release_id and service")
        key = keys.release_audit(release_id) if release_id else keys.service_audit(service or "")
        rows = self._redis.xrevrange(key, count=limit) or []
        return [_decode_audit(fields or {}) for _id, fields in reversed(rows)]

    def remembered(self, idempotency_key: str) -> Remembered | None:
        """What a request with this key did, if it was applied before."""
        raw = self._redis.get(keys.idempotency(idempotency_key))
        if raw is None:
            return None
        data = json.loads(raw)
        return Remembered(release_id=data["release_id"], version=int(data["version"]))

    # --- writes --------------------------------------------------------------------------------

    def create(
        self, draft: Release, *, audit: AuditEntry, idempotency_key: str | None = None
    ) -> Committed | LockHeld | Remembered:
        """Store a new release under a fresh id, taking the service's live-release lock.

        Refused with `LockHeld` while another release is live; the caller audits the refusal.
        """
        lock = keys.live_lock(draft.service)
        for _ in range(_CAS_ATTEMPTS):
            with self._redis.pipeline() as pipe:
                try:
                    _watch(pipe, lock, *self._idem_keys(idempotency_key))
                    _check_fence(pipe)
                    if seen := self._seen(pipe, idempotency_key):
                        return seen
                    holder = self._current_holder(pipe, lock)
                    if holder is not None:
                        pipe.unwatch()
                        return LockHeld(holder)
                    number = int(pipe.incr(keys.release_seq(draft.service)))
                    release = replace(draft, id=f"{draft.service}#{number}", version=1)
                    pipe.multi()
                    pipe.set(lock, release.id)
                    pipe.sadd(keys.live_index(), release.id)
                    pipe.lpush(keys.history(release.service), release.id)
                    self._write(
                        pipe, release, replace(audit, release_id=release.id), idempotency_key
                    )
                    pipe.execute()
                    return Committed(release)
                except redis.WatchError:
                    continue
        raise StoreBusyError(f"{draft.service}: too many concurrent starts; try again")

    def commit(
        self,
        release: Release,
        *,
        expected_version: int,
        audit: AuditEntry,
        idempotency_key: str | None = None,
    ) -> Committed | Conflict | Remembered:
        """Replace the stored release if it is still at `expected_version`.

        A terminal release gives up its service's lock in the same transaction.
        """
        key = keys.release(release.id)
        lock = keys.live_lock(release.service)
        with self._redis.pipeline() as pipe:
            try:
                _watch(pipe, key, lock, *self._idem_keys(idempotency_key))
                _check_fence(pipe)
                if seen := self._seen(pipe, idempotency_key):
                    return seen
                raw = pipe.get(key)
                current = None if raw is None else _RELEASE.validate_json(raw)
                if current is None or current.version != expected_version:
                    pipe.unwatch()
                    return Conflict(current)
                stored = replace(release, version=expected_version + 1)
                holds_lock = _text(pipe.get(lock) or b"") == release.id
                pipe.multi()
                if stored.phase.is_terminal:
                    pipe.srem(keys.live_index(), release.id)
                    if holds_lock:
                        pipe.delete(lock)
                self._write(pipe, stored, audit, idempotency_key)
                pipe.execute()
                return Committed(stored)
            except redis.WatchError:
                return Conflict(None)

    def record_refusal(self, audit: AuditEntry) -> None:
        """Append a refused attempt to the audit trail; nothing else changes."""
        self._append_audit(self._redis, audit)

    # --- pieces --------------------------------------------------------------------------------

    def _many(self, ids: list[str]) -> list[Release]:
        if not ids:
            return []
        raws = self._redis.mget([keys.release(i) for i in ids])
        return [_RELEASE.validate_json(raw) for raw in raws if raw is not None]

    def _current_holder(self, pipe: Any, lock: str) -> Release | None:
        """The live release holding `lock`; a lock left by an ended or missing one is free."""
        holder_id = pipe.get(lock)
        if holder_id is None:
            return None
        raw = pipe.get(keys.release(holder_id))
        holder = None if raw is None else _RELEASE.validate_json(raw)
        return holder if holder is not None and holder.is_live else None

    def _idem_keys(self, idempotency_key: str | None) -> list[str]:
        return [] if idempotency_key is None else [keys.idempotency(idempotency_key)]

    def _seen(self, pipe: Any, idempotency_key: str | None) -> Remembered | None:
        if idempotency_key is None:
            return None
        raw = pipe.get(keys.idempotency(idempotency_key))
        if raw is None:
            return None
        pipe.unwatch()
        data = json.loads(raw)
        return Remembered(release_id=data["release_id"], version=int(data["version"]))

    def _write(
        self, pipe: Any, release: Release, audit: AuditEntry, idempotency_key: str | None
    ) -> None:
        """Queue the record, its audit entry and the idempotency key in one transaction."""
        pipe.set(keys.release(release.id), _RELEASE.dump_json(release))
        self._append_audit(pipe, audit)
        if idempotency_key is not None:
            remembered = {"release_id": release.id, "version": release.version}
            pipe.set(keys.idempotency(idempotency_key), json.dumps(remembered), ex=self._idem_ttl)

    @staticmethod
    def _append_audit(target: Any, audit: AuditEntry) -> None:
        fields = _encode_audit(audit)
        target.xadd(keys.service_audit(audit.service), fields)
        if audit.release_id:
            target.xadd(keys.release_audit(audit.release_id), fields)


def _text(value: bytes | str) -> str:
    """redis-py types replies as bytes or str; the store's client decodes, so this is str."""
    return value.decode() if isinstance(value, bytes) else value


def _watch(pipe: Any, *names: str) -> None:
    fence = current_fence()
    pipe.watch(*names, *([fence.key] if fence is not None else []))


def _check_fence(pipe: Any) -> None:
    """In a scheduled job: raise `FencedOut` unless this replica still holds the lease.

    The lease key is watched with the rest, so a lease taken over between this check and
    ``EXEC`` fails the transaction too.
    """
    fence = current_fence()
    if fence is not None and _text(pipe.get(fence.key) or b"") != fence.value:
        pipe.unwatch()
        raise FencedOut(f"no longer the scheduler's leader (token {fence.token}); not written")


def _encode_audit(entry: AuditEntry) -> dict[str, str]:
    """Stream fields, one JSON value each, so `XRANGE` in redis-cli stays readable."""
    data = _AUDIT.dump_python(entry, mode="json")
    return {name: json.dumps(value) for name, value in data.items()}


def _decode_audit(fields: dict[bytes | str, bytes | str]) -> AuditEntry:
    data = {_text(name): json.loads(value) for name, value in fields.items()}
    return _AUDIT.validate_python(data)
