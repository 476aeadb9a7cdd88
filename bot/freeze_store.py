"""Ad-hoc freezes in Redis, and the book of every freeze the bot knows of.

:class:`FreezeStore` is a thin adapter: one freeze a scope (a service, or every service),
set by `/canary freeze` and cleared by `/canary unfreeze`. Each key expires when its freeze
ends, and a read also drops one that has ended by the caller's clock, so an expired freeze
never blocks anything. :class:`FreezeBook` adds services.yaml's windows and asks
:mod:`bot.freezes` which freeze is in force.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime

import redis
from pydantic import TypeAdapter

from bot import keys
from bot.freezes import ALL_SERVICES, Freeze, active_freeze
from bot.registry import Registry
from bot.release import Actor
from bot.transitions import Refused

_FREEZE = TypeAdapter(Freeze)


def _key(scope: str) -> str:
    return keys.global_freeze() if scope == ALL_SERVICES else keys.service_freeze(scope)


class FreezeStore:
    """The ad-hoc freezes people set, by scope."""

    def __init__(self, client: redis.Redis) -> None:
        """Use `client` (decode_responses=True)."""
        self._redis = client

    def set(self, freeze: Freeze, *, now: datetime) -> None:
        """Freeze `freeze.scope` until `freeze.until`, replacing the scope's previous freeze.

        Raises ValueError when the freeze has already ended at `now`.
        """
        left_ms = math.ceil((freeze.until - now).total_seconds() * 1000)
        if left_ms <= 0:
            raise ValueError("a freeze must end in the future")
        self._redis.set(_key(freeze.scope), _FREEZE.dump_json(freeze), px=left_ms)

    def get(self, scope: str, *, now: datetime) -> Freeze | None:
        """The scope's own freeze while it lasts at `now`; None for none or an ended one."""
        raw = self._redis.get(_key(scope))
        if raw is None:
            return None
        freeze = _FREEZE.validate_json(raw)
        return freeze if freeze.is_active(now) else None

    def clear(self, scope: str, *, now: datetime) -> Freeze | None:
        """Lift the scope's own freeze; what was lifted, or None when none was in force."""
        with self._redis.pipeline() as pipe:  # MULTI: read and delete as one
            pipe.get(_key(scope))
            pipe.delete(_key(scope))
            raw, _deleted = pipe.execute()
        if raw is None:
            return None
        freeze = _FREEZE.validate_json(raw)
        return freeze if freeze.is_active(now) else None

    def covering(self, service: str, *, now: datetime) -> list[Freeze]:
        """The ad-hoc freezes that hold `service` at `now`: its own and every service's."""
        raws = self._redis.mget([_key(service), _key(ALL_SERVICES)])
        found = [_FREEZE.validate_json(raw) for raw in raws if raw is not None]
        return [freeze for freeze in found if freeze.is_active(now)]


class FreezeBook:
    """Every freeze the bot knows of: services.yaml's windows and the ad-hoc ones in Redis."""

    def __init__(
        self, registry: Registry, store: FreezeStore | None, *, clock: Callable[[], datetime]
    ) -> None:
        """Windows come from `registry`; without `store`, nobody can set a freeze ad hoc."""
        self._registry = registry
        self._store = store
        self._clock = clock

    def active(self, service: str) -> Freeze | None:
        """The freeze holding `service` now, or None; raises `UnknownService`."""
        spec = self._registry.get(service)
        now = self._clock()
        windows = [(ALL_SERVICES, window) for window in self._registry.freezes]
        windows += [(service, window) for window in spec.freezes]
        adhoc = self._store.covering(service, now=now) if self._store is not None else []
        return active_freeze(now, windows=windows, adhoc=adhoc)

    def set(
        self, service: str | None, *, until: datetime, reason: str, actor: Actor
    ) -> Freeze | Refused:
        """Freeze `service` (None: every service) until `until`, replacing its last freeze."""
        if service is not None:
            self._registry.get(service)
        if self._store is None:
            return Refused("this bot keeps no ad-hoc freezes; use freezes: in services.yaml")
        now = self._clock()
        if until <= now:
            return Refused(f"{until:%Y-%m-%d %H:%M %Z} has passed; a freeze must end later")
        freeze = Freeze(scope=service or ALL_SERVICES, until=until, reason=reason, by=actor)
        self._store.set(freeze, now=now)
        return freeze

    def lift(self, service: str | None, actor: Actor, *, admin: bool) -> Freeze | Refused | None:
        """Lift the ad-hoc freeze of `service` (None: every service's); what was lifted.

        Admins and whoever set the freeze may lift it; services.yaml's windows stay.
        """
        if service is not None:
            self._registry.get(service)
        scope, now = service or ALL_SERVICES, self._clock()
        current = self._store.get(scope, now=now) if self._store is not None else None
        if current is None or self._store is None:
            return None
        if not admin and (current.by is None or current.by.id != actor.id):
            setter = current.by.mention if current.by is not None else "services.yaml"
            return Refused(f"only an admin or {setter}, who set this freeze, may lift it")
        return self._store.clear(scope, now=now)
