"""The bot's RBAC grants exactly what its strategies call, and everything it sends is valid."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from bot.engine import Engine
from bot.release import Actor, Door, EventKind, Phase
from bot.transitions import Applied
from k8s.cluster import Cluster
from tests.k8s.conftest import SimCluster
from tests.k8s.scenarios import ALL, NEW, Scenario

ROOT = Path(__file__).resolve().parents[2]
ALICE = Actor(id="U0ALICE", name="alice", door=Door.CLI)
BOB = Actor(id="U0BOB", name="bob", door=Door.CLI)
Grant = tuple[str, str, str]  # (apiGroup, resource, verb)


def granted() -> set[Grant]:
    """What deploy/rbac.yaml's ClusterRole allows."""
    docs = list(yaml.safe_load_all((ROOT / "deploy" / "rbac.yaml").read_text()))
    role = next(d for d in docs if d["kind"] == "ClusterRole")
    return {
        (group, resource, verb)
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }


def every_operation(engine: Engine) -> None:
    """Each service's whole life: start, look, pause, resume, promote; then start and undo."""
    life = [
        ("start", NEW), (EventKind.PAUSE, ""), (EventKind.RESUME, ""),
        (EventKind.PROMOTE, ""), ("start", "reg/app:3.0.0"), (EventKind.UNDO, ""),
    ]  # fmt: skip
    for scenario in ALL:
        name = scenario.service
        for what, image in life:
            if isinstance(what, EventKind):
                outcome = engine.act(name, what, BOB)
            else:
                outcome = engine.start(name, image, ALICE)
            assert isinstance(outcome, Applied), (name, outcome)
            assert outcome.release.phase is not Phase.FAILED, (name, outcome.release.reason)
            engine.status(name)
            engine.history(name)


@pytest.fixture
def everything_done(sim: SimCluster, engine_for: Callable[..., Engine]) -> SimCluster:
    """All five services released and undone on one cluster, requests recorded from the start."""
    for scenario in ALL:
        sim.load(scenario.manifests)
    for scenario in ALL:
        sim.wait_ready(_stable_deployment(scenario))
    sim.server.clear_requests()
    every_operation(engine_for(*ALL))
    return sim


def test_the_bot_uses_exactly_what_its_role_grants(everything_done: SimCluster) -> None:
    used = {
        (r.api_group, r.resource + (f"/{r.subresource}" if r.subresource else ""), r.verb)
        for r in everything_done.server.requests()
    }
    assert used - granted() == set(), "used but not granted"
    assert granted() - used == set(), "granted but never used"


def test_everything_the_bot_sends_passes_the_official_schema_check(
    sim: SimCluster, engine_for: Callable[..., Engine], monkeypatch: pytest.MonkeyPatch
) -> None:
    sent: list[dict[str, Any]] = []
    real_call = Cluster._call

    def recording(self: Cluster, method: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
        if kwargs.get("body") is not None:
            sent.append(kwargs["body"])
        return real_call(self, method, *args, **kwargs)

    monkeypatch.setattr(Cluster, "_call", recording)
    for scenario in ALL:
        sim.load(scenario.manifests)
    for scenario in ALL:
        sim.wait_ready(_stable_deployment(scenario))
    every_operation(engine_for(*ALL))
    built_in = [b for b in sent if b["kind"] in ("Deployment", "Service")]
    assert {b["kind"] for b in built_in} == {"Deployment", "Service"}
    version = kubernetes_validate.latest_version()
    for body in built_in:
        kubernetes_validate.validate(body, version, strict=True)
    # Istio's CRD schemas are not among the official ones; the simulator checks their shape.
    assert {b["kind"] for b in sent} - {"Deployment", "Service"} <= {
        "VirtualService",
        "DestinationRule",
    }


def _stable_deployment(scenario: Scenario) -> str:
    return scenario.manifests.split("metadata: {name: ")[1].split(",")[0]
