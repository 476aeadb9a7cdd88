"""Real servers on a free loopback port: what the playground runs and the tests start.

Debian's ``redis-server`` and ``prometheus``, each in a child process with its data in a
directory of its own, plus the small helpers every launcher needs (a free port, polling until
ready, stopping a child). ``tests/servers.py`` re-exports these for the test suite.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlencode
from urllib.request import urlopen

import redis
import yaml

_PR_SET_PDEATHSIG = 1  # prctl(2): the signal a child gets when the thread that forked it dies


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def unconfigured_environment() -> dict[str, str]:
    """This process's environment without any Slack or canarybot setting: a child bot started
    with it plus its own settings sees only those."""
    return {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("SLACK_", "CANARYBOT_"))
    }


def stop_process(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL if it has not exited within 10 s; waits for it either way."""
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


def stop_group(process: subprocess.Popen[bytes], *, grace_s: float) -> None:
    """SIGTERM to the process group `process` leads, SIGKILL to whatever of it is left after
    `grace_s`; waits for `process` either way. The group, not the process: a bot's `serve` runs
    worker processes of its own, which must not outlive it."""
    group = process.pid  # started in a session of its own: it leads its group
    _signal_group(group, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=grace_s)
    deadline = time.monotonic() + grace_s
    while _group_alive(group) and time.monotonic() < deadline:
        time.sleep(0.05)
    _signal_group(group, signal.SIGKILL)
    process.wait(timeout=grace_s)


def _signal_group(group: int, signum: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):  # the whole group has exited already
        os.killpg(group, signum)


def _group_alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    return True


def wait_until(ready: Callable[[], bool], *, timeout_s: float, what: str) -> None:
    """Poll `ready` until it is true, or fail naming `what` after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if ready():
            return
        time.sleep(0.05)
    raise TimeoutError(f"{what} not ready after {timeout_s} s")


def start_child(
    args: Sequence[str],
    *,
    stdout: IO[bytes] | int,
    detached: bool,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> subprocess.Popen[bytes]:
    """``Popen(args)`` with stdin closed and stderr with stdout.

    `detached`: in a session of its own, so a Ctrl-C at the terminal reaches only this process
    (which then stops its children in order), and sent SIGTERM by the kernel if this process
    dies without stopping it (PR_SET_PDEATHSIG), so not even a SIGKILL leaves it behind.
    """
    return subprocess.Popen(
        list(args),
        stdin=subprocess.DEVNULL,
        stdout=stdout,
        stderr=subprocess.STDOUT,
        env=env,
        cwd=cwd,
        start_new_session=detached,
        preexec_fn=_die_with_parent if detached else None,
    )


# Looked up before any fork: the child between fork and exec only calls it.
_prctl = ctypes.CDLL(None, use_errno=True).prctl


def _die_with_parent() -> None:
    _prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


@dataclass
class RedisServer:
    """Debian's redis-server on loopback, with its data in `data_dir`."""

    data_dir: Path
    port: int = field(default_factory=free_port)
    appendonly: bool = False
    detached: bool = False  # see start_child
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The REDIS_URL of this server."""
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        """A client that decodes replies to str, as the bot's store expects."""
        return redis.Redis.from_url(self.url, decode_responses=True)

    def start(self) -> RedisServer:
        """Start the server and wait until it answers PING."""
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed: run scripts/bootstrap or apt-get it")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        args = [
            binary,
            "--bind", "127.0.0.1",
            "--port", str(self.port),
            "--dir", str(self.data_dir),
            "--save", "",
            "--daemonize", "no",
            "--logfile", str(self.data_dir / "redis.log"),
            "--appendonly", "yes" if self.appendonly else "no",
            # Every write reaches the disk before the reply: what a client saw committed survives.
            "--appendfsync", "always",
        ]  # fmt: skip
        # Redis logs to its logfile; no pipes, so nothing is left open when it stops.
        self.process = start_child(args, stdout=subprocess.DEVNULL, detached=self.detached)
        wait_until(self._answers, timeout_s=10, what=f"redis-server on port {self.port}")
        return self

    def kill(self) -> None:
        """SIGKILL: no shutdown, no final save; only what is on disk already survives."""
        if self.process is not None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
            self.process = None

    def stop(self) -> None:
        """Terminate the server politely and wait for it."""
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()
            self.process = None

    def _answers(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            log = (self.data_dir / "redis.log").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"redis-server exited early; its log ends:\n{log}")
        try:
            return bool(self.client().ping())
        except redis.ConnectionError:
            return False


@dataclass
class PrometheusServer:
    """Debian's prometheus on loopback, scraping `targets` every second, its data in `data_dir`.

    The scrape keeps the targets' own labels (honor_labels), as a kubernetes_sd labelmap would
    keep the pods' namespace, service and track labels.
    """

    data_dir: Path
    targets: tuple[str, ...]  # host:port of each app to scrape
    port: int = field(default_factory=free_port)
    job: str = "traffic"
    detached: bool = False  # see start_child
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The base URL of the HTTP API."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        """Where the server's own log goes."""
        return self.data_dir / "prometheus.log"

    def start(self, *, wait_for_scrape: bool = True) -> PrometheusServer:
        """Start the server and wait until it is ready and, unless told not to, has scraped
        every target once (so a test's first query already sees the series)."""
        binary = shutil.which("prometheus")
        if binary is None:
            raise RuntimeError("prometheus is not installed: run scripts/bootstrap or apt-get it")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        config = self.data_dir / "prometheus.yml"
        config.write_text(yaml.safe_dump(self._config(), sort_keys=False))
        args = [
            binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={self.data_dir / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
        ]
        with self.log_path.open("wb") as log:
            self.process = start_child(args, stdout=log, detached=self.detached)
        try:
            wait_until(self._ready, timeout_s=30, what=f"prometheus on port {self.port}")
            if wait_for_scrape:
                wait_until(self._scraped, timeout_s=30, what=f"a first scrape of {self.targets}")
        except BaseException:
            self.stop()  # a server that never got ready must not outlive the test run
            raise
        return self

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it has not exited within 10 s."""
        if self.process is not None:
            stop_process(self.process)
            self.process = None

    def query(self, expr: str) -> list[dict[str, Any]]:
        """The result of an instant query at the server's now."""
        url = f"{self.url}/api/v1/query?{urlencode({'query': expr})}"
        with urlopen(url, timeout=5) as response:
            body = json.load(response)
        result: list[dict[str, Any]] = body["data"]["result"]
        return result

    def _config(self) -> dict[str, Any]:
        return {
            "global": {
                "scrape_interval": "1s",
                "scrape_timeout": "1s",  # the default 10 s would exceed the interval
                "evaluation_interval": "1s",
            },
            "scrape_configs": [
                {
                    "job_name": self.job,
                    "honor_labels": True,
                    "static_configs": [{"targets": list(self.targets)}],
                }
            ],
        }

    def _ready(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            log = self.log_path.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"prometheus exited early; its log ends:\n{log}")
        try:
            with urlopen(f"{self.url}/-/ready", timeout=1) as response:
                return bool(response.status == 200)
        except OSError:  # refused while starting, or 503 until the TSDB is open
            return False

    def _scraped(self) -> bool:
        up = self.query(f'up{{job="{self.job}"}} == 1')
        return len(up) == len(self.targets)
