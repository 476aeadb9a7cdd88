"""The work queue and the worker on a real Redis: order, failures, stops and a worker killed
with SIGKILL in the middle of a job."""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import redis

from bot import keys
from bot.work_queue import Job, WorkQueue
from bot.worker import Worker
from tests.servers import RedisServer, stop_process, wait_until

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def queue(redis_client: redis.Redis) -> WorkQueue:
    """The queue on an emptied Redis."""
    return WorkQueue(redis_client)


@contextmanager
def working(worker: Worker) -> Iterator[threading.Event]:
    """`worker` taking jobs in a thread until the block ends; then stopped and joined."""
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop,))
    thread.start()
    try:
        yield stop
    finally:
        stop.set()
        thread.join(timeout=15)
        assert not thread.is_alive(), "the worker did not stop"


def recorder() -> tuple[list[str], Callable[[Job], None]]:
    """A handler that notes each job's `n`, and that list."""
    seen: list[str] = []
    return seen, lambda job: seen.append(str(job.payload["n"]))


def test_jobs_are_taken_oldest_first_and_dropped_once_finished(queue: WorkQueue) -> None:
    for n in range(3):
        queue.push(Job("echo", {"n": n}))

    taken = [queue.take("w1", timeout_s=1) for _ in range(3)]

    assert [t.job.payload["n"] for t in taken if t and t.job] == [0, 1, 2]
    assert (queue.waiting(), queue.held()) == (0, 3)
    for t in taken:
        assert t is not None
        queue.finish("w1", t)
    assert (queue.waiting(), queue.held(), queue.done()) == (0, 0, 3)


def test_a_worker_runs_every_job_once_in_the_order_they_came(queue: WorkQueue) -> None:
    seen, handler = recorder()
    for n in range(20):
        queue.push(Job("echo", {"n": n}))

    with working(Worker(queue, {"echo": handler}, threads=1)):
        wait_until(lambda: queue.done() == 20, timeout_s=10, what="20 jobs")

    assert seen == [str(n) for n in range(20)]
    assert (queue.waiting(), queue.held()) == (0, 0)


def test_a_failing_job_is_logged_and_dropped_and_the_worker_goes_on(
    queue: WorkQueue, caplog: pytest.LogCaptureFixture
) -> None:
    seen, handler = recorder()

    def fails(job: Job) -> None:
        raise RuntimeError("the cluster said no")

    queue.push(Job("fails", {}))
    queue.push(Job("echo", {"n": 1}))
    queue.push(Job("no-such-kind", {}))
    queue.push(Job("echo", {"n": 2}))
    with working(Worker(queue, {"echo": handler, "fails": fails}, threads=1)):
        wait_until(lambda: queue.done() == 4, timeout_s=10, what="4 jobs")

    assert seen == ["1", "2"]
    assert (queue.waiting(), queue.held()) == (0, 0)  # neither is retried in a loop
    messages = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert any("(fails) failed" in m for m in messages)
    assert any("unknown kind 'no-such-kind'" in m for m in messages)


def test_an_entry_that_is_not_a_job_is_dropped(
    queue: WorkQueue, redis_client: redis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    seen, handler = recorder()
    redis_client.lpush(keys.work_queue(), "{not json")
    queue.push(Job("echo", {"n": 1}))

    with working(Worker(queue, {"echo": handler}, threads=1)):
        wait_until(lambda: queue.done() == 2, timeout_s=10, what="2 entries")

    assert seen == ["1"]
    assert any("not a job" in r.getMessage() for r in caplog.records)


def test_a_request_that_waited_too_long_is_reported_instead_of_carried_out(
    queue: WorkQueue,
) -> None:
    seen, handler = recorder()
    expired: list[Job] = []
    queue.push(Job("echo", {"n": "stale"}, queued_at=time.time() - 3600))
    queue.push(Job("echo", {"n": "fresh"}))

    worker = Worker(queue, {"echo": handler}, threads=1, max_age_s=60, expired=expired.append)
    with working(worker):
        wait_until(lambda: queue.done() == 2, timeout_s=10, what="2 jobs")

    assert seen == ["fresh"]
    assert [job.payload["n"] for job in expired] == ["stale"]


def test_a_worker_takes_no_more_jobs_than_it_can_run(queue: WorkQueue) -> None:
    release = threading.Event()
    started: list[int] = []

    def blocks(job: Job) -> None:
        started.append(int(job.payload["n"]))
        release.wait(10)

    for n in range(5):
        queue.push(Job("blocks", {"n": n}))
    with working(Worker(queue, {"blocks": blocks}, threads=2)):
        wait_until(lambda: len(started) == 2, timeout_s=10, what="2 running jobs")
        time.sleep(1.5)  # a greedy worker would take more within its 1 s poll
        # Left in the queue, the other three are there for another worker to take.
        assert (queue.held(), queue.waiting()) == (2, 3)
        release.set()
        wait_until(lambda: queue.done() == 5, timeout_s=10, what="5 jobs")


def test_a_stopping_worker_finishes_its_running_jobs_and_holds_nothing(
    queue: WorkQueue,
) -> None:
    finished: list[int] = []

    def slow(job: Job) -> None:
        time.sleep(1)
        finished.append(int(job.payload["n"]))

    for n in range(2):
        queue.push(Job("slow", {"n": n}))
    with working(Worker(queue, {"slow": slow}, threads=2)) as stop:
        wait_until(lambda: queue.held() == 2, timeout_s=10, what="2 running jobs")
        stop.set()  # the block's end joins the worker: it must let both finish first

    assert sorted(finished) == [0, 1]
    assert (queue.held(), queue.waiting(), queue.done()) == (0, 0, 2)


# A worker process whose one job never ends: it notes that it started, then blocks.
_STUCK_WORKER = textwrap.dedent(
    """
    import sys, threading, redis
    from bot.work_queue import WorkQueue
    from bot.worker import Worker
    client = redis.Redis.from_url(sys.argv[1], decode_responses=True)
    def stuck(job):
        client.rpush("test:started", job.payload["n"])
        threading.Event().wait()
    Worker(WorkQueue(client), {"stuck": stuck}, heartbeat_ttl_s=2, name="doomed").run(
        threading.Event()
    )
    """
)


def test_a_job_of_a_worker_killed_with_sigkill_is_carried_out_by_another(
    queue: WorkQueue, redis_server: RedisServer, redis_client: redis.Redis
) -> None:
    queue.push(Job("stuck", {"n": 7}))
    doomed = subprocess.Popen([sys.executable, "-c", _STUCK_WORKER, redis_server.url], cwd=ROOT)
    try:
        wait_until(
            lambda: redis_client.lrange("test:started", 0, -1) == ["7"],
            timeout_s=20,
            what="the doomed worker to start its job",
        )
        doomed.send_signal(signal.SIGKILL)
        doomed.wait(timeout=10)
    finally:
        stop_process(doomed)
    assert (queue.held(), queue.waiting()) == (1, 0)  # the job is still the dead worker's

    seen, handler = recorder()
    with working(Worker(queue, {"stuck": handler}, heartbeat_ttl_s=2, name="heir")):
        # Once the dead worker's 2 s heartbeat lapses, the heir puts its job back and runs it.
        wait_until(lambda: seen == ["7"], timeout_s=20, what="the heir to run the job")
        wait_until(lambda: queue.held() == 0, timeout_s=5, what="the job to be dropped")

    assert seen == ["7"]
    assert queue.waiting() == 0


def test_jobs_of_a_worker_still_beating_are_left_alone(queue: WorkQueue) -> None:
    queue.push(Job("echo", {"n": 1}))
    queue.beat("alive", ttl_s=30)
    assert queue.take("alive", timeout_s=1) is not None

    assert queue.recover() == 0
    assert (queue.held(), queue.waiting()) == (1, 0)

    assert queue.leave("alive") == 1  # leaving hands the job back at once
    assert (queue.held(), queue.waiting()) == (0, 1)
