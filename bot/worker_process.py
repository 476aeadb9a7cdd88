"""The worker child that `canarybot serve` keeps running beside its front door.

It runs ``python -m bot work`` with the same environment, starts it again (after a pause that
grows to 30 s) whenever it exits by itself, and stops it with SIGTERM — SIGKILL if it has not
finished its running jobs within the grace period. The child watches its parent and stops if
the parent goes away, so a killed `serve` leaves no worker behind.
"""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

log = logging.getLogger(__name__)

PARENT_VARIABLE = "CANARYBOT_WORK_PARENT"  # the child stops when this pid is no longer its parent
MAX_BACKOFF_S = 30.0
EXIT_CONFIG = 2  # `canarybot work` found bad settings or services (bot.cli.EXIT_CONFIG)
HEALTHY_S = 60.0  # a child that ran this long before exiting starts again after 1 s


def yield_cpu(nice: int, pid: int = 0) -> None:
    """Lower a process's CPU priority (0: this one); at 19 it runs only on CPU time nothing
    else wants (Linux's SCHED_IDLE, below any nice level)."""
    os.setpriority(os.PRIO_PROCESS, pid, os.getpriority(os.PRIO_PROCESS, pid) + nice)
    if nice >= 19 and hasattr(os, "SCHED_IDLE"):
        with contextlib.suppress(OSError):
            os.sched_setscheduler(pid, os.SCHED_IDLE, os.sched_param(0))


class WorkerProcess:
    """One supervised ``python -m bot work`` child."""

    def __init__(self, *, registry_path: Path | None = None, grace_s: float = 30.0) -> None:
        """`registry_path` overrides CANARYBOT_CONFIG for the child, as `--config` did for us."""
        self._command = [sys.executable, "-m", "bot", "work"]
        if registry_path is not None:
            self._command += ["--config", str(registry_path)]
        self._grace_s = grace_s
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._child: subprocess.Popen[bytes] | None = None
        self._started = 0.0
        self._watcher: threading.Thread | None = None

    @property
    def pid(self) -> int | None:
        """The running child's pid."""
        with self._lock:
            return self._child.pid if self._child is not None else None

    def start(self, stopping: threading.Event | None = None) -> None:
        """Start the child and keep it running until :meth:`stop` (or `stopping` is set).

        `stopping` is the parent's own stop: a signal to the whole process group reaches the
        child too, and its exit then is no crash to recover from.
        """
        if stopping is not None:
            self._stopping = stopping
        self._spawn()
        self._watcher = threading.Thread(target=self._watch, name="canarybot-worker-watch")
        self._watcher.daemon = True
        self._watcher.start()

    def stop(self) -> None:
        """SIGTERM the child, wait for its running jobs, SIGKILL it after the grace period."""
        self._stopping.set()
        with self._lock:
            child = self._child
        if child is not None and child.poll() is None:
            child.terminate()
            try:
                child.wait(timeout=self._grace_s)
            except subprocess.TimeoutExpired:
                log.warning("the worker did not stop within %.0f s; killing it", self._grace_s)
                child.kill()
                child.wait()
        if self._watcher is not None:
            self._watcher.join(timeout=5)

    def _spawn(self) -> None:
        env = os.environ | {PARENT_VARIABLE: str(os.getpid())}
        child = subprocess.Popen(self._command, env=env)
        with self._lock:
            self._child = child
            self._started = time.monotonic()
        log.info("started worker process %d", child.pid)

    def _watch(self) -> None:
        backoff = 1.0
        while not self._stopping.is_set():
            with self._lock:
                child = self._child
            if child is None:
                return
            code = child.wait()
            # The parent's signal handler may run a moment after the child's: look again.
            if self._stopping.wait(0.5):
                return
            if code == EXIT_CONFIG:  # starting again would fail the same way
                log.error("the worker cannot start with this configuration; stopping")
                self._stopping.set()
                return
            if time.monotonic() - self._started > HEALTHY_S:
                backoff = 1.0
            level = logging.INFO if code == 0 else logging.ERROR
            log.log(level, "the worker exited with %s; starting it in %.0f s", code, backoff)
            if self._stopping.wait(backoff):
                return
            backoff = min(backoff * 2, MAX_BACKOFF_S)
            self._spawn()
