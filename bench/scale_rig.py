"""The pieces bench/scale.py sets up: the services and their cluster, child processes, and the
releaser that starts the releases.

Each service is in a namespace of its own, so in a simulator shard of its own
(:class:`sim.sharded.ShardedSim`), all behind one API endpoint. The releaser is an engine of
the bench's own, as the CLI has one: it starts releases and adds their window jobs to the
scheduler's Redis store, and never runs a job; the bot replica (a child process) holds the
scheduler's lease and runs them.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.error import HTTPError
from urllib.request import urlopen

import redis

from bot.engine import Engine, EngineHooks
from bot.registry import load_registry
from bot.release import Actor, Door
from bot.rollout_strategies import ClusterPool, strategy_for
from bot.scheduler import ReleaseScheduler
from bot.service_spec import ServiceSpec
from bot.store import ReleaseStore
from bot.transitions import Applied
from bot.wiring import utc_now
from k8s.strategy import ReleaseStrategy
from sim.sharded import ShardedSim
from sim.store import DEPLOYMENTS
from tests.servers import wait_until

ROOT = Path(__file__).resolve().parents[1]
STABLE_REPLICAS = 3
WINDOWS_PER_STEP = 2
APPROVER = "U0BOB0001"
RELEASER = Actor("U0ALICE01", "alice", Door.CLI)
START_THREADS = 32  # releases starting at once at most (each waits for its canary's pods)
ROLLOUT_TIMEOUT = timedelta(seconds=60)


def service_name(number: int) -> str:
    """The name of service number `number`: ``svc-007``."""
    return f"svc-{number:03d}"


def namespace_of(number: int) -> str:
    """Its namespace, one a service (so one simulator shard a service): ``shop-007``."""
    return f"shop-{number:03d}"


def old_image(number: int) -> str:
    """What service number `number` runs before its release."""
    return f"reg/{service_name(number)}:2026-11-15"


def new_image(number: int) -> str:
    """What its release rolls out."""
    return f"reg/{service_name(number)}:2026-11-22"


def steps_for(windows: int) -> tuple[int, ...]:
    """Canary replicas per step: enough steps that no release ends before the run does.

    The first release starts a window before the last and is then held `windows` more, so it
    sees `windows` + 1 windows at most; one more keeps it live to the end.
    """
    return tuple(range(1, math.ceil((windows + 2) / WINDOWS_PER_STEP) + 1))


def services_yaml(count: int, *, window_s: int, windows: int) -> str:
    """services.yaml for `count` services, each in its namespace and its Slack channel."""
    steps = ", ".join(map(str, steps_for(windows)))
    entries = [
        f"""
  {name}:
    namespace: {namespace_of(number)}
    channel: C0SCALE{number:03d}
    strategy: {{kind: canary-deployment, deployment: {name}, service: {name}, steps: [{steps}]}}
    observation: {{window: {window_s}s, windows_per_step: {WINDOWS_PER_STEP}}}
    metrics: {{preset: generic, track_selector: label}}
    approval: {{approvers: [{APPROVER}], gate: none}}"""
        for number, name in enumerate(map(service_name, range(count)))
    ]
    return "services:" + "".join(entries) + "\n"


def manifests(number: int) -> str:
    """Service number `number`'s stable Deployment (track=stable) and its Service."""
    name, namespace = service_name(number), namespace_of(number)
    return f"""
apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}, namespace: {namespace}, labels: {{app: {name}, track: stable}}}}
spec:
  replicas: {STABLE_REPLICAS}
  selector: {{matchLabels: {{app: {name}, track: stable}}}}
  template:
    metadata: {{labels: {{app: {name}, track: stable}}}}
    spec:
      containers:
      - {{name: app, image: "{old_image(number)}", ports: [{{containerPort: 8080}}]}}
---
apiVersion: v1
kind: Service
metadata: {{name: {name}, namespace: {namespace}}}
spec:
  selector: {{app: {name}}}
  ports: [{{name: http, port: 80, targetPort: 8080}}]
"""


def load_cluster(cluster: ShardedSim, count: int, *, timeout_s: float = 120.0) -> None:
    """Each service's stable Deployment and its Service; wait until every one is ready."""
    for number in range(count):
        cluster.load(manifests(number))

    def ready() -> bool:
        for number in range(count):
            namespace = namespace_of(number)
            found = cluster.store(namespace).get(DEPLOYMENTS, namespace, service_name(number))
            if (found.get("status") or {}).get("readyReplicas") != STABLE_REPLICAS:
                return False
        return True

    wait_until(ready, timeout_s=timeout_s, what=f"{count} stable Deployments")


# --- child processes ------------------------------------------------------------------------


@dataclass
class Child:
    """``python ARGS`` in a child process, its output in `log`, optionally on `port`."""

    name: str
    log: Path
    port: int | None = None
    cpus: set[int] | None = None  # the CPUs it may run on (None: any)
    process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        """The child's pid (it must have been started)."""
        assert self.process is not None, f"the {self.name} child was not started"
        return self.process.pid

    @property
    def url(self) -> str:
        """Where its server listens."""
        return f"http://127.0.0.1:{self.port}"

    def start(self, args: list[str], *, env: dict[str, str]) -> Child:
        """Start ``python ARGS`` (``--port PORT`` added when it has one) in the repository."""
        command = [sys.executable, *args]
        if self.port is not None:
            command += ["--port", str(self.port)]
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                command,
                cwd=ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=out,
                preexec_fn=self._placed,
            )
        return self

    def _placed(self) -> None:
        """In the child before it runs: on its CPUs."""
        if self.cpus:
            os.sched_setaffinity(0, self.cpus)

    def check(self) -> None:
        """Raise, with the end of its log, if the child has exited."""
        if self.process is None or self.process.poll() is not None:
            tail = self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""
            raise RuntimeError(f"the {self.name} child exited early; its log ends:\n{tail}")

    def listening(self) -> bool:
        """Whether its port answers HTTP; raises if the child died."""
        self.check()
        try:
            self.get_json("/")
        except OSError:
            return False
        return True

    def get_json(self, path: str) -> dict[str, Any]:
        """GET `path` on its port; the JSON answer (an HTTP error's body too)."""
        try:
            with urlopen(f"{self.url}{path}", timeout=10) as response:
                answer: dict[str, Any] = json.load(response)
        except HTTPError as err:
            answer = json.loads(err.read() or b"{}")
        return answer

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 20 s; again is harmless."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)

    def problems(self) -> list[str]:
        """The WARNING, ERROR and CRITICAL lines of its log."""
        if not self.log.exists():
            return []
        words = (" WARNING ", " ERROR ", " CRITICAL ")
        lines = self.log.read_text(errors="replace").splitlines()
        return [line for line in lines if any(word in line for word in words)]


# --- the releaser ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Started:
    """How one release's start went."""

    service: str
    release_id: str = ""
    failure: str = ""
    took_s: float = 0.0
    done_at: float = 0.0  # time.monotonic() when it was applied or refused


class Releaser:
    """The bench's engine: starts releases; its scheduler only adds their jobs."""

    def __init__(self, *, config: Path, kubeconfig: Path, redis_url: str) -> None:
        """An engine on the services of `config`, the cluster and the Redis at `redis_url`."""
        registry = load_registry(config)
        self._redis = redis.Redis.from_url(redis_url, decode_responses=True)
        pool = ClusterPool(kubeconfig=str(kubeconfig))

        def strategies(spec: ServiceSpec) -> ReleaseStrategy:
            return strategy_for(spec, pool.for_context(spec.context), timeout=ROLLOUT_TIMEOUT)

        self._scheduler = ReleaseScheduler(
            redis_url=redis_url, work=_NoWork(), registry=registry, lease=None
        )
        self._scheduler.start(compete=False)
        self.engine = Engine(
            store=ReleaseStore(self._redis),
            registry=registry,
            strategies=strategies,
            clock=utc_now,
            hooks=EngineHooks(schedule=self._scheduler.schedule),
        )

    def start_all(self, count: int, *, over_s: float) -> list[Started]:
        """Start services 0 … count-1, one every `over_s` / `count` seconds; how each went."""
        began = time.monotonic()

        def start(number: int) -> Started:
            due = began + number * over_s / count
            time.sleep(max(0.0, due - time.monotonic()))
            return self.start(number)

        with ThreadPoolExecutor(min(count, START_THREADS), thread_name_prefix="start") as pool:
            return list(pool.map(start, range(count)))

    def start(self, number: int) -> Started:
        """Start service `number`'s release through the engine."""
        name, began = service_name(number), time.monotonic()
        try:
            outcome = self.engine.start(name, new_image(number), RELEASER)
        except Exception as err:  # reported, not lost in a pool thread
            return Started(name, failure=f"{type(err).__name__}: {err}")
        done = time.monotonic()
        if isinstance(outcome, Applied):
            return Started(name, release_id=outcome.release.id, took_s=done - began, done_at=done)
        return Started(name, failure=outcome.reason, took_s=done - began, done_at=done)

    def close(self) -> None:
        """Stop its scheduler (the jobs stay in Redis) and drop the connections."""
        self._scheduler.shutdown()
        with suppress(Exception):
            self._redis.close()


class _NoWork:
    """The releaser's scheduler never runs a job: it does not compete for the lease."""

    def _never(self, *_args: object, **_kwargs: object) -> object:
        raise AssertionError("the releaser's scheduler ran a job")

    close_window = approval_deadline = remind_approval = run_nightly = run_planned = _never
    post_held_reports = _never
