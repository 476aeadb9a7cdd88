"""The release CLI answers every bad input with one clear line and the right exit status."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.k8s.conftest import ReleaseCli, SimCluster
from tests.k8s.scenarios import CANARY_DEPLOYMENT, NEW, Scenario

USAGE, REFUSED = 2, 3


@pytest.fixture
def run(
    scenario_cluster: Callable[[Scenario], SimCluster], cli: Callable[[Scenario], ReleaseCli]
) -> ReleaseCli:
    """The CLI on a cluster running fop-gate (9 stable pods)."""
    scenario_cluster(CANARY_DEPLOYMENT)
    return cli(CANARY_DEPLOYMENT)


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        pytest.param(
            ("fop-gat", "start", "--image", NEW),
            USAGE,
            "unknown service 'fop-gat' (did you mean: fop-gate?)",
            id="unknown_service",
        ),
        pytest.param(
            ("fop-gate", "start", "--image", "reg/app"),
            USAGE,
            "image 'reg/app' is not pinned",
            id="unpinned_image",
        ),
        pytest.param(
            ("fop-gate", "start", "--image", "Reg App:1"),
            USAGE,
            "bad image reference 'Reg App:1'",
            id="malformed_image",
        ),
        pytest.param(("fop-gate", "start"), USAGE, "start needs --image IMG", id="no_image"),
        pytest.param(("fop-gate",), USAGE, "say what to do with fop-gate", id="no_action"),
        pytest.param(
            ("fop-gate", "promote"),
            REFUSED,
            "fop-gate has no live release",
            id="nothing_to_promote",
        ),
    ],
)
def test_bad_input_gets_one_line_and_its_exit_status(
    run: ReleaseCli, args: tuple[str, ...], code: int, message: str
) -> None:
    done = run(*args)
    assert done.returncode == code
    assert done.stderr.count("\n") == 1, done.stderr
    assert message in done.stderr
    assert done.stdout == ""


def test_the_requester_cannot_promote_their_own_release(run: ReleaseCli) -> None:
    assert run("fop-gate", "start", "--image", NEW, who="alice").returncode == 0
    done = run("fop-gate", "promote", who="alice")
    assert done.returncode == REFUSED
    assert "you started fop-gate#1; another approver must promote it" in done.stderr


def test_a_second_start_is_refused_naming_the_live_release(run: ReleaseCli) -> None:
    assert run("fop-gate", "start", "--image", NEW, who="alice").returncode == 0
    done = run("fop-gate", "start", "--image", "reg/app:3.0.0", who="bob")
    assert done.returncode == REFUSED
    assert "fop-gate already has a live release fop-gate#1 (observing), started by @alice" in (
        done.stderr
    )


def test_list_history_pause_and_resume_tell_where_things_stand(run: ReleaseCli) -> None:
    assert run("fop-gate", "start", "--image", NEW).returncode == 0
    listed = run("list")
    assert listed.stdout.startswith("fop-gate#1: observing step 1/1, reg/app:2.0.0")
    paused = run("fop-gate", "pause", who="bob")
    assert paused.stdout.startswith("fop-gate#1: paused"), paused.stderr
    resumed = run("fop-gate", "resume", who="bob")
    assert resumed.stdout.startswith("fop-gate#1: observing"), resumed.stderr
    history = run("fop-gate", "history").stdout.splitlines()
    assert history[0] == "REVISION  IMAGE  CHANGE-CAUSE"
    assert history[1] == "1  reg/app:1.0.0  <none>  (current)"
    assert history[2].startswith("fop-gate#1: observing")


def test_a_service_is_released_in_its_own_kube_context(
    scenario_cluster: Callable[[Scenario], SimCluster], cli: Callable[[Scenario], ReleaseCli]
) -> None:
    cluster = scenario_cluster(CANARY_DEPLOYMENT)
    cluster.server.write_kubeconfig(cluster.kubeconfig, contexts=("sim", "prod-east"))
    run = cli(CANARY_DEPLOYMENT)
    run.config.write_text(
        run.config.read_text().replace("namespace: shop", "namespace: shop\n    context: prod-east")
    )
    assert run("fop-gate", "start", "--image", NEW).returncode == 0
    run.config.write_text(run.config.read_text().replace("prod-east", "prod-west"))
    done = run("fop-gate", "status")
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1, done.stderr
    assert "context prod-west" in done.stderr
