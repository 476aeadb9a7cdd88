"""The worker child that `serve` keeps beside its front door: started, restarted after a
crash, stopped with its parent, and gone when its parent is killed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from bot import keys
from bot.worker_process import WorkerProcess
from tests.servers import RedisServer, stop_process, wait_until

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def worker_env(
    redis_server: RedisServer, redis_client: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> redis.Redis:
    """What `canarybot work` needs in its environment: a token, Redis, the services."""
    for name in list(os.environ):
        if name.startswith(("SLACK_", "CANARYBOT_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-worker-test")
    monkeypatch.setenv("SLACK_API_URL", "http://127.0.0.1:9/api/")  # never called here
    monkeypatch.setenv("REDIS_URL", redis_server.url)
    monkeypatch.setenv("CANARYBOT_CONFIG", str(ROOT / "deploy" / "services.example.yaml"))
    monkeypatch.chdir(ROOT)  # `python -m bot` imports the package from here
    return redis_client


def heartbeats(client: redis.Redis) -> list[str]:
    """Names of the workers beating now."""
    return [str(name) for name in client.scan_iter(match=keys.work_alive("*"))]


def alive(pid: int) -> bool:
    """True while `pid` runs (a zombie counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.fixture
def worker(worker_env: redis.Redis) -> Iterator[WorkerProcess]:
    """A supervised worker child; stopped after the test."""
    child = WorkerProcess(grace_s=10)
    child.start()
    try:
        yield child
    finally:
        child.stop()


def test_the_worker_child_beats_and_is_started_again_after_a_crash(
    worker: WorkerProcess, worker_env: redis.Redis
) -> None:
    wait_until(lambda: len(heartbeats(worker_env)) == 1, timeout_s=30, what="a heartbeat")
    first = worker.pid
    assert first is not None

    os.kill(first, signal.SIGKILL)

    wait_until(lambda: worker.pid not in (None, first), timeout_s=15, what="a new worker")
    wait_until(lambda: len(heartbeats(worker_env)) == 2, timeout_s=30, what="its heartbeat")
    assert not alive(first)


def test_stopping_the_supervisor_stops_the_worker_and_it_leaves(
    worker: WorkerProcess, worker_env: redis.Redis
) -> None:
    wait_until(lambda: len(heartbeats(worker_env)) == 1, timeout_s=30, what="a heartbeat")
    pid = worker.pid
    assert pid is not None

    worker.stop()

    assert not alive(pid)
    assert heartbeats(worker_env) == []  # it said goodbye: its jobs would be requeued at once


_PARENT = textwrap.dedent(
    """
    import sys, threading
    from bot.worker_process import WorkerProcess
    child = WorkerProcess()
    child.start()
    print(child.pid, flush=True)
    threading.Event().wait()
    """
)


def test_a_worker_whose_serve_is_killed_stops_by_itself(worker_env: redis.Redis) -> None:
    parent = subprocess.Popen([sys.executable, "-c", _PARENT], cwd=ROOT, stdout=subprocess.PIPE)
    try:
        assert parent.stdout is not None
        child = int(parent.stdout.readline())
        wait_until(lambda: len(heartbeats(worker_env)) == 1, timeout_s=30, what="a heartbeat")

        parent.send_signal(signal.SIGKILL)
        parent.wait(timeout=10)

        wait_until(lambda: not alive(child), timeout_s=15, what="the orphaned worker to stop")
    finally:
        stop_process(parent)
        if parent.stdout is not None:
            parent.stdout.close()


def test_a_worker_that_cannot_start_stops_serve_instead_of_flapping(
    worker_env: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SLACK_BOT_TOKEN")
    stop = threading.Event()  # serve's own stop
    child = WorkerProcess(grace_s=10)
    child.start(stop)
    try:
        assert stop.wait(30), "serve was not told to stop"
        pid = child.pid
        assert pid is not None
        wait_until(lambda: not alive(pid), timeout_s=10, what="the worker to exit")
        time.sleep(1.5)  # no second attempt after the first backoff
        assert child.pid == pid
    finally:
        child.stop()
