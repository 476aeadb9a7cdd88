"""The worker: takes acknowledged requests off the work queue and carries them out.

It runs in its own process (``canarybot work``, which ``canarybot serve`` starts beside the
front door) so that rollouts, Prometheus queries and chart rendering never hold the front
door's interpreter while Slack waits for an ack. Up to `threads` jobs run at once; a job that
fails is logged and dropped, never retried in a loop: its handler already told the person.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor

from bot.work_queue import HEARTBEAT_TTL_S, Job, Taken, WorkQueue

log = logging.getLogger(__name__)

JobHandler = Callable[[Job], None]


def worker_name() -> str:
    """A name no other worker has: host, pid and a random suffix (pids repeat in containers)."""
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"


class Worker:
    """Runs jobs by kind with the handlers given; one instance per worker process (or thread)."""

    def __init__(
        self,
        queue: WorkQueue,
        handlers: Mapping[str, JobHandler],
        *,
        threads: int = 8,
        max_age_s: float = 900.0,
        expired: JobHandler | None = None,
        poll_s: int = 1,
        heartbeat_ttl_s: int = HEARTBEAT_TTL_S,
        name: str | None = None,
    ) -> None:
        """`expired` hears of jobs older than `max_age_s`, which are not carried out."""
        self.name = name or worker_name()
        self._queue = queue
        self._handlers = dict(handlers)
        self._threads = threads
        self._max_age_s = max_age_s
        self._expired = expired
        self._poll_s = poll_s
        self._ttl_s = heartbeat_ttl_s

    def run(self, stop: threading.Event) -> None:
        """Take and run jobs until `stop` is set; then let running jobs finish, and leave."""
        self._beat_once()
        beating = threading.Thread(target=self._beat, args=(stop,), daemon=True)
        beating.start()
        slots = threading.BoundedSemaphore(self._threads)
        pool = ThreadPoolExecutor(self._threads, thread_name_prefix="canarybot-job")
        log.info("worker %s takes jobs, %d at a time", self.name, self._threads)
        try:
            while not stop.is_set():
                # Take no more than can run: what waits in the queue, another worker may take.
                if not slots.acquire(timeout=self._poll_s):
                    continue
                taken = self._take()
                if taken is None:
                    slots.release()
                    continue
                pool.submit(self._run, taken, slots)
        finally:
            pool.shutdown(wait=True)
            self._queue.leave(self.name)
            log.info("worker %s stopped", self.name)

    def _take(self) -> Taken | None:
        try:
            return self._queue.take(self.name, timeout_s=self._poll_s)
        except Exception as err:  # Redis away: say so once a poll, and keep trying
            log.error("cannot take work from Redis: %s", err)
            time.sleep(self._poll_s)
            return None

    def _run(self, taken: Taken, slots: threading.BoundedSemaphore) -> None:
        try:
            self._carry_out(taken)
        finally:
            try:
                self._queue.finish(self.name, taken)
            except Exception:
                log.exception("could not drop finished job %s", taken.raw[:200])
            slots.release()

    def _carry_out(self, taken: Taken) -> None:
        job = taken.job
        if job is None:
            log.error("dropped a queue entry that is not a job: %s", taken.raw[:200])
            return
        handler = self._handlers.get(job.kind)
        try:
            if handler is None:
                log.error("dropped job %s of unknown kind %r", job.id, job.kind)
            elif time.time() - job.queued_at > self._max_age_s:
                log.warning("job %s waited over %.0f s; not carried out", job.id, self._max_age_s)
                if self._expired is not None:
                    self._expired(job)
            else:
                handler(job)
        except Exception:
            log.exception("job %s (%s) failed", job.id, job.kind)

    def _beat(self, stop: threading.Event) -> None:
        while not stop.wait(self._ttl_s / 3):
            try:
                self._beat_once()
            except Exception as err:
                log.error("worker heartbeat failed: %s", err)

    def _beat_once(self) -> None:
        """Say this worker is alive, and take back the jobs of workers that are not."""
        self._queue.beat(self.name, ttl_s=self._ttl_s)
        if moved := self._queue.recover():
            log.warning("put %d jobs of stopped workers back on the queue", moved)
