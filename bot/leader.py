"""The scheduler's leader lease in Redis, with a fencing token, and the fence its writes carry.

Several bot replicas may run; only the one holding the lease runs scheduled jobs. The lease is
one key set with ``SET NX PX``: its value names the holder and a fencing token, a number from a
counter that grows with every new lease. The holder renews it well before it expires; when a
holder dies, the key expires and another replica takes it within a lease's time.

A holder that stalls (a long pause, a partition) may not know it lost the lease. So every
release write a scheduled job makes carries the fence (:func:`fenced`): the store checks, in
the same ``WATCH``/``MULTI`` as the write, that the lease still holds this holder's token, and
a stale leader's write fails with :class:`FencedOut` instead of landing.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import cast

import redis

from bot import keys

log = logging.getLogger(__name__)

# Renew the lease (or try to take it) this often, as a share of its time to live.
RENEW_SHARE = 3

# Only the holder may renew or give up its lease: compare the value, then act, atomically.
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


@dataclass(frozen=True)
class Fence:
    """A leader's claim: the lease key must still hold `value` for its writes to land."""

    key: str
    value: str
    token: int


class FencedOut(RuntimeError):  # noqa: N818 -- says what happened, like TimeoutError
    """A write by a replica that no longer holds the scheduler lease; nothing was written."""


_current: ContextVar[Fence | None] = ContextVar("canarybot_fence", default=None)


def current_fence() -> Fence | None:
    """The fence of the scheduled job running in this context; None outside one."""
    return _current.get()


@contextlib.contextmanager
def fenced(fence: Fence) -> Iterator[None]:
    """Within the block, every release write checks that `fence` still holds."""
    reset = _current.set(fence)
    try:
        yield
    finally:
        _current.reset(reset)


def replica_name() -> str:
    """This process, as the lease names its holder: host and pid."""
    return f"{socket.gethostname()}:{os.getpid()}"


class LeaderLease:
    """One replica's side of the lease: take it, keep it, give it up."""

    def __init__(
        self, client: redis.Redis, *, ttl_s: float, name: str | None = None, key: str = ""
    ) -> None:
        """Compete for the lease on `client` (decode_responses=True), held for `ttl_s` a time."""
        self._redis = client
        self._ttl_ms = max(1, int(ttl_s * 1000))
        self._name = name or replica_name()
        self._key = key or keys.leader_lease()
        self._fence: Fence | None = None
        self._renew = client.register_script(_RENEW)
        self._release = client.register_script(_RELEASE)

    @property
    def fence(self) -> Fence | None:
        """This replica's fence while it believes it leads; None otherwise."""
        return self._fence

    @property
    def ttl_s(self) -> float:
        """How long the lease lasts unrenewed."""
        return self._ttl_ms / 1000

    def keep(self) -> Fence | None:
        """Renew the lease if held, else try to take it; the fence if this replica leads.

        Raises `redis.RedisError` when Redis cannot be reached; the caller must then stop
        leading, since the lease may lapse meanwhile.
        """
        if self._fence is not None:
            if self._renew(keys=[self._key], args=[self._fence.value, self._ttl_ms]):
                return self._fence
            log.warning("lost the scheduler lease (token %d)", self._fence.token)
            self._fence = None
        token = int(self._redis.incr(keys.leader_fence()))
        value = f"{self._name}:{token}"
        if self._redis.set(self._key, value, nx=True, px=self._ttl_ms):
            self._fence = Fence(self._key, value, token)
            log.info("leading the scheduler (token %d)", token)
        return self._fence

    def drop(self) -> None:
        """Stop leading: give the lease up now, so another replica need not wait it out."""
        fence, self._fence = self._fence, None
        if fence is not None:
            with contextlib.suppress(redis.RedisError):
                self._release(keys=[self._key], args=[fence.value])

    def holder(self) -> str | None:
        """Who holds the lease now (its value), if anyone."""
        return cast(str | None, self._redis.get(self._key))


class Leadership:
    """Keeps a lease in a thread and says when this replica starts and stops leading."""

    def __init__(
        self,
        lease: LeaderLease,
        *,
        on_lead: Callable[[Fence], None],
        on_follow: Callable[[], None],
    ) -> None:
        """Call `on_lead` when the lease is taken and `on_follow` when it is lost or dropped."""
        self._lease = lease
        self._on_lead = on_lead
        self._on_follow = on_follow
        self._leading: Fence | None = None
        self._thread: threading.Thread | None = None

    @property
    def fence(self) -> Fence | None:
        """The fence while leading."""
        return self._leading

    def run(self, stop: threading.Event) -> None:
        """Keep the lease until `stop`; then give it up."""
        interval = self._lease.ttl_s / RENEW_SHARE
        try:
            while not stop.is_set():
                self.tick()
                stop.wait(interval)
        finally:
            self._follow()
            self._lease.drop()

    def start(self, stop: threading.Event) -> None:
        """Run in a daemon thread."""
        self._thread = threading.Thread(
            target=self.run, args=(stop,), name="canarybot-leader", daemon=True
        )
        self._thread.start()

    def join(self, timeout_s: float = 5.0) -> None:
        """Wait for the thread after `stop` was set."""
        if self._thread is not None:
            self._thread.join(timeout_s)

    def tick(self) -> None:
        """One renewal: lead, keep leading, or stop leading."""
        try:
            fence = self._lease.keep()
        except redis.RedisError as err:
            log.warning("cannot reach Redis for the scheduler lease: %s", err)
            fence = None
        if fence is None:
            self._follow()
        elif self._leading is None or self._leading.token != fence.token:
            self._leading = fence
            try:
                self._on_lead(fence)
            except Exception:
                # Leading without scheduling would hold up every window: let another lead.
                log.exception("could not start leading the scheduler")
                self._leading = None
                self._lease.drop()

    def _follow(self) -> None:
        if self._leading is not None:
            self._leading = None
            try:
                self._on_follow()
            except Exception:
                log.exception("could not stop leading the scheduler")
