"""Every strategy through the CLI front door, checked with the real kubectl."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from tests.k8s.conftest import ReleaseCli, SimCluster
from tests.k8s.scenarios import (
    ALL,
    BLUE_GREEN,
    CANARY_DEPLOYMENT,
    ISTIO,
    NEW,
    OLD,
    PAUSED_ROLLOUT,
    ROLLING,
    Scenario,
)

Check = Callable[[SimCluster], None]


def image(cluster: SimCluster, deployment: str) -> str:
    return cluster.jsonpath(f"deployment/{deployment}", "{.spec.template.spec.containers[0].image}")


def ready_pods_with(cluster: SimCluster, selector: str, wanted_image: str) -> int:
    pods = json.loads(
        cluster.kubectl("get", "pods", "-n", "shop", "-l", selector, "-o", "json").stdout
    )["items"]
    return sum(
        1
        for p in pods
        if p["spec"]["containers"][0]["image"] == wanted_image
        and any(
            c["type"] == "Ready" and c["status"] == "True"
            for c in p.get("status", {}).get("conditions", [])
        )
    )


def absent(cluster: SimCluster, *resource: str) -> bool:
    done = cluster.kubectl("get", *resource, "-n", "shop", check=False)
    return done.returncode != 0 and "NotFound" in done.stderr


def istio_subsets(cluster: SimCluster) -> tuple[list[str], list[str]]:
    vs = json.loads(
        cluster.kubectl("get", "virtualservice", "myapp-vs", "-n", "shop", "-o", "json").stdout
    )
    dr = json.loads(
        cluster.kubectl("get", "destinationrule", "myapp-dr", "-n", "shop", "-o", "json").stdout
    )
    routed = [d["destination"]["subset"] for r in vs["spec"]["http"] for d in r["route"]]
    return routed, [s["name"] for s in dr["spec"]["subsets"]]


def promoted_canary_deployment(c: SimCluster) -> None:
    assert image(c, "fop-gate") == NEW
    assert c.jsonpath("deployment/fop-gate-canary", "{.spec.replicas}") == "0"
    assert ready_pods_with(c, "app=fop-gate", NEW) == 9


def promoted_paused_rollout(c: SimCluster) -> None:
    assert image(c, "img-thumbnail") == NEW
    assert c.jsonpath("deployment/img-thumbnail", "{.spec.paused}") in ("", "false")
    assert ready_pods_with(c, "app=img-thumbnail", NEW) == 4
    assert absent(c, "service", "img-thumbnail-preview")


def promoted_blue_green(c: SimCluster) -> None:
    assert c.jsonpath("service/hexo-service", "{.spec.selector.version}") == "2.0.0"
    assert ready_pods_with(c, "app=hexo,version=2.0.0", NEW) == 3
    # The old version stays for the grace period, marked with when it may go.
    assert (
        "canarybot.io/retire-after"
        in c.kubectl("get", "deployment", "hexo-server", "-n", "shop", "-o", "json").stdout
    )
    assert absent(c, "service", "hexo-preview")


def promoted_istio(c: SimCluster) -> None:
    assert istio_subsets(c) == (["2.0.0"], ["2.0.0"])
    assert ready_pods_with(c, "app=myapp,version=2.0.0", NEW) == 2
    assert absent(c, "deployment", "myapp")


def promoted_rolling(c: SimCluster) -> None:
    assert image(c, "testpage") == NEW
    assert ready_pods_with(c, "app=testpage", NEW) == 3


def undone_canary_deployment(c: SimCluster) -> None:
    assert image(c, "fop-gate") == OLD
    assert c.jsonpath("deployment/fop-gate-canary", "{.spec.replicas}") == "0"
    assert ready_pods_with(c, "app=fop-gate", OLD) == 9


def undone_paused_rollout(c: SimCluster) -> None:
    assert image(c, "img-thumbnail") == OLD
    assert ready_pods_with(c, "app=img-thumbnail", OLD) == 4
    assert absent(c, "service", "img-thumbnail-preview")
    # kubectl's numbering: revision 1 came back as revision 3.
    history = c.kubectl("rollout", "history", "deployment/img-thumbnail", "-n", "shop").stdout
    assert [line.split()[0] for line in history.splitlines()[2:] if line.strip()] == ["2", "3"]


def undone_blue_green(c: SimCluster) -> None:
    assert c.jsonpath("service/hexo-service", "{.spec.selector.version}") == "v1"
    assert absent(c, "deployment", "hexo-server-2.0.0")
    assert absent(c, "service", "hexo-preview")


def undone_istio(c: SimCluster) -> None:
    assert istio_subsets(c) == (["v1"], ["v1"])
    assert absent(c, "deployment", "myapp-2.0.0")


def undone_rolling(c: SimCluster) -> None:
    assert image(c, "testpage") == OLD
    assert ready_pods_with(c, "app=testpage", OLD) == 3


PROMOTED: dict[str, Check] = {
    CANARY_DEPLOYMENT.service: promoted_canary_deployment,
    PAUSED_ROLLOUT.service: promoted_paused_rollout,
    BLUE_GREEN.service: promoted_blue_green,
    ISTIO.service: promoted_istio,
    ROLLING.service: promoted_rolling,
}
UNDONE: dict[str, Check] = {
    CANARY_DEPLOYMENT.service: undone_canary_deployment,
    PAUSED_ROLLOUT.service: undone_paused_rollout,
    BLUE_GREEN.service: undone_blue_green,
    ISTIO.service: undone_istio,
    ROLLING.service: undone_rolling,
}
BY_NAME = pytest.mark.parametrize("scenario", ALL, ids=[s.service for s in ALL])


def started(scenario: Scenario, run: ReleaseCli) -> None:
    done = run(scenario.service, "start", "--image", NEW)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"{scenario.service}#1: observing step 1/"), done.stdout
    status = run(scenario.service, "status")
    assert status.returncode == 0, status.stderr
    assert "cluster: ready" in status.stdout, status.stdout


@BY_NAME
def test_start_then_promote_puts_the_new_version_everywhere(
    scenario: Scenario,
    scenario_cluster: Callable[[Scenario], SimCluster],
    cli: Callable[[Scenario], ReleaseCli],
) -> None:
    cluster, run = scenario_cluster(scenario), cli(scenario)
    started(scenario, run)
    done = run(scenario.service, "promote", who="bob")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"{scenario.service}#1: promoted"), done.stdout
    PROMOTED[scenario.service](cluster)


@BY_NAME
def test_start_then_undo_puts_the_old_version_back(
    scenario: Scenario,
    scenario_cluster: Callable[[Scenario], SimCluster],
    cli: Callable[[Scenario], ReleaseCli],
) -> None:
    cluster, run = scenario_cluster(scenario), cli(scenario)
    started(scenario, run)
    done = run(scenario.service, "undo", who="bob")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"{scenario.service}#1: undone"), done.stdout
    UNDONE[scenario.service](cluster)
