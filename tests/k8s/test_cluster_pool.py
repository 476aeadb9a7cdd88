"""Connections per kube context: made once, and a failed one tried again only after a while."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.rollout_strategies import ClusterPool
from k8s.errors import ClusterError
from tests.k8s.conftest import SimCluster


class Clock:
    """Seconds that pass only when the test says so."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_connection_is_made_once_and_shared(sim: SimCluster) -> None:
    pool = ClusterPool(kubeconfig=str(sim.kubeconfig))

    assert pool.for_context(None) is pool.for_context(None)


def test_a_bad_kubeconfig_is_read_again_only_after_the_retry_interval(
    sim: SimCluster, tmp_path: Path
) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text("")
    clock = Clock()
    pool = ClusterPool(kubeconfig=str(kubeconfig), retry_s=5, clock=clock)

    with pytest.raises(ClusterError, match="is empty") as first:
        pool.for_context(None)
    kubeconfig.write_text(sim.kubeconfig.read_text())  # fixed by the operator
    clock.now += 4
    with pytest.raises(ClusterError) as again:
        pool.for_context(None)
    assert again.value.__cause__ is first.value  # not read again yet

    clock.now += 2
    cluster = pool.for_context(None)

    assert pool.for_context(None) is cluster
