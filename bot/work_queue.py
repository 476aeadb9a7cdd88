"""Requests a front door acknowledged and a worker has yet to carry out, kept in Redis.

Slack wants an answer within 3 seconds; a rollout takes minutes. So a listener only parses,
acks and pushes a :class:`Job` here, and a worker process takes it and does the work. Taking a
job moves it, in one Redis command, onto the taker's own list, and finishing drops it there:
a worker killed mid-job loses nothing, because once its heartbeat lapses another worker puts
its jobs back on the queue. A job may so run twice; the engine's idempotency keys (the Slack
trigger id) make the second run apply nothing.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

import redis

from bot import keys

log = logging.getLogger(__name__)

GATHER_S = 0.01  # how long the outbox lets requests gather before one LPUSH sends them all
# Taken jobs of a worker whose heartbeat is older than this go back on the queue.
HEARTBEAT_TTL_S = 30


@dataclass(frozen=True)
class Job:
    """One acknowledged request: what kind of work, and what the front door knew of it."""

    kind: str
    payload: dict[str, Any]
    # Not `secrets`: os.urandom lets go of the interpreter's lock, and under load a listener
    # then waits for it again behind every other request thread. Unique is all an id must be.
    id: str = field(default_factory=lambda: f"{random.getrandbits(64):016x}")
    queued_at: float = field(default_factory=time.time)

    def encode(self) -> str:
        """The job as the JSON text the queue holds."""
        fields = {"kind": self.kind, "payload": self.payload, "id": self.id}
        return json.dumps(fields | {"queued_at": self.queued_at}, separators=(",", ":"))

    @classmethod
    def decode(cls, raw: str) -> Job:
        """The job of `raw`; raises ValueError for text that is not one."""
        try:
            data = json.loads(raw)
            return cls(
                kind=str(data["kind"]),
                payload=dict(data["payload"]),
                id=str(data["id"]),
                queued_at=float(data["queued_at"]),
            )
        except (TypeError, KeyError, ValueError) as err:
            raise ValueError(f"not a job: {raw[:200]!r}") from err


@dataclass(frozen=True)
class Taken:
    """A job a worker holds, with its text exactly as queued (to drop that entry when done)."""

    job: Job | None  # None: the entry was not a job (it is dropped, and logged by the caller)
    raw: str


class WorkQueue:
    """The shared queue and each worker's taken list, on one Redis."""

    def __init__(self, client: redis.Redis) -> None:
        """Use `client` (decode_responses=True)."""
        self._redis = client

    def push(self, *jobs: Job) -> None:
        """Queue `jobs`, in order, behind those already waiting: one command for all."""
        self._redis.lpush(keys.work_queue(), *(job.encode() for job in jobs))

    def take(self, worker_id: str, *, timeout_s: int) -> Taken | None:
        """The oldest waiting job, now held by `worker_id`; None if none came within `timeout_s`."""
        raw = self._redis.blmove(
            keys.work_queue(), keys.work_taken(worker_id), timeout_s, "RIGHT", "LEFT"
        )
        if raw is None:
            return None
        text = cast(str, raw)
        try:
            return Taken(Job.decode(text), text)
        except ValueError:
            return Taken(None, text)

    def finish(self, worker_id: str, taken: Taken) -> None:
        """Drop a held job: it is done (or could never be done)."""
        with self._redis.pipeline(transaction=True) as pipe:
            pipe.lrem(keys.work_taken(worker_id), 1, taken.raw)
            pipe.incr(keys.work_done())
            pipe.execute()

    def beat(self, worker_id: str, *, ttl_s: int = HEARTBEAT_TTL_S) -> None:
        """Say `worker_id` is alive for the next `ttl_s` seconds."""
        self._redis.set(keys.work_alive(worker_id), str(time.time()), ex=ttl_s)

    def leave(self, worker_id: str) -> int:
        """A worker stops: put what it still holds back on the queue, now; the count moved."""
        self._redis.delete(keys.work_alive(worker_id))
        return self._requeue(worker_id)

    def recover(self) -> int:
        """Put back the jobs of every worker whose heartbeat has lapsed; the count moved."""
        prefix = keys.work_taken("")
        moved = 0
        for name in self._redis.scan_iter(match=f"{prefix}*", count=100):
            worker_id = cast(str, name)[len(prefix) :]
            if not self._redis.exists(keys.work_alive(worker_id)):
                moved += self._requeue(worker_id)
        return moved

    def waiting(self) -> int:
        """How many jobs wait for a worker."""
        return int(self._redis.llen(keys.work_queue()))

    def held(self) -> int:
        """How many jobs workers hold (taken, not finished)."""
        prefix = keys.work_taken("")
        names = list(self._redis.scan_iter(match=f"{prefix}*", count=100))
        return sum(int(self._redis.llen(name)) for name in names)

    def done(self) -> int:
        """How many jobs workers have finished, ever."""
        return int(cast(str | None, self._redis.get(keys.work_done())) or 0)

    def _requeue(self, worker_id: str) -> int:
        moved = 0
        # Oldest held first, onto the end that is taken next: they were acknowledged earlier.
        while self._redis.lmove(keys.work_taken(worker_id), keys.work_queue(), "RIGHT", "RIGHT"):
            moved += 1
        return moved


class Outbox:
    """Carries the front door's jobs to the queue from one thread, so no listener waits on Redis.

    Under load a listener that called Redis itself would wait, in Slack's 3 s, for the socket
    and then for the interpreter's lock, behind every other request thread. Here a listener
    only appends to a list; the outbox thread sends whatever has gathered in one LPUSH, within
    a millisecond or so. If Redis cannot be reached the outbox keeps trying for `give_up_s`
    seconds, then hands each job to `lost` (the front door tells the asker), and meanwhile
    :attr:`healthy` is false so that new requests are refused in their ack instead.
    """

    def __init__(
        self, queue: WorkQueue, *, lost: Callable[[Job, str], None], give_up_s: float = 10.0
    ) -> None:
        """Deliver to `queue`; `lost(job, why)` hears of jobs that could not be delivered."""
        self._queue = queue
        self._lost = lost
        self._give_up_s = give_up_s
        self._pending: deque[Job] = deque()
        self._wake = threading.Condition()
        self._closing = False
        self._idle = False
        self._problem: str | None = None
        self._thread = threading.Thread(target=self._run, name="canarybot-outbox", daemon=True)
        self._thread.start()

    @property
    def problem(self) -> str | None:
        """Why the last delivery failed, until one succeeds again; None while all is well."""
        return self._problem

    def put(self, job: Job) -> None:
        """Send `job` within a few milliseconds; never blocks on Redis."""
        with self._wake:
            self._pending.append(job)
            if self._idle:  # only the first job of a batch wakes the outbox thread
                self._idle = False
                self._wake.notify()

    def close(self, timeout_s: float = 5.0) -> None:
        """Deliver what is pending (for up to `timeout_s`), then stop."""
        with self._wake:
            self._closing = True
            self._wake.notify()
        self._thread.join(timeout_s)

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._pending and not self._closing:
                    self._idle = True
                    self._wake.wait()
                if not self._pending:
                    return
            if not self._closing:
                # Under load more requests come within the moment: one LPUSH carries them all,
                # and the listeners' threads are woken for none of it.
                time.sleep(GATHER_S)
            with self._wake:
                batch = list(self._pending)
                self._pending.clear()
            self._deliver(batch)

    def _deliver(self, batch: list[Job]) -> None:
        deadline = time.monotonic() + self._give_up_s
        pause = 0.05
        while True:
            try:
                self._queue.push(*batch)
            except redis.RedisError as err:
                self._problem = f"Redis unreachable: {err}"
                if time.monotonic() + pause > deadline or self._closing:
                    log.error("could not queue %d requests: %s", len(batch), err)
                    for job in batch:
                        self._tell_lost(job)
                    return
                time.sleep(pause)
                pause = min(pause * 2, 1.0)
            else:
                self._problem = None
                return

    def _tell_lost(self, job: Job) -> None:
        try:
            self._lost(job, self._problem or "Redis unreachable")
        except Exception:
            log.exception("could not tell the asker that job %s was lost", job.id)
