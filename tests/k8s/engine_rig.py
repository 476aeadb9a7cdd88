"""An engine with freezes and candidates on the simulator and the test Redis, and what it said.

Shared by the tests of freezes and of the scheduler's entry points; each test module makes
its own `rig` fixture with :func:`build_rig`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import redis

from bot.actions import OpenWindow, PlannedRelease, RequestApproval
from bot.candidates import CandidateStore
from bot.engine import Engine, EngineHooks
from bot.freeze_store import FreezeStore
from bot.registry import parse_registry
from bot.release import Actor, Door, Release
from bot.rollout_strategies import ClusterPool, strategy_for
from bot.service_spec import ServiceSpec
from bot.store import ReleaseStore
from bot.transitions import Applied, Outcome, Refused
from k8s.strategy import ReleaseStrategy
from tests.k8s.conftest import SimCluster
from tests.k8s.scenarios import CANARY_DEPLOYMENT, NEW, services_yaml

ALICE = Actor(id="U0ALICE01", name="alice", door=Door.SLACK)  # starts releases
BOB = Actor(id="U0BOB0001", name="bob", door=Door.SLACK)  # approves, but is no admin
ROOT = Actor(id="U0ADMIN01", name="root", door=Door.SLACK)  # an admin
WRITES = frozenset({"create", "update", "patch", "delete", "deletecollection"})
SERVICES = services_yaml(CANARY_DEPLOYMENT) + "admins: [U0ADMIN01]\n"


@dataclass
class Clock:
    """The engine's clock, moved on by the test instead of by waiting."""

    now: datetime

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Said:
    """What the engine told the threads, the channels and the scheduler."""

    notes: list[tuple[str, str, bool]] = field(default_factory=list)  # (release, text, alert)
    scheduled: list[OpenWindow | RequestApproval] = field(default_factory=list)
    announced: list[tuple[str, str]] = field(default_factory=list)  # (service, text)
    planned: list[PlannedRelease] = field(default_factory=list)

    def hooks(self) -> EngineHooks:
        return EngineHooks(
            notify=lambda release, text, alert: self.notes.append((release.id, text, alert)),
            schedule=lambda _release, action: self.scheduled.append(action),
            announce=lambda service, text: self.announced.append((service, text)),
            plan_release=self.planned.append,
        )


@dataclass
class Rig:
    """The engine, its clock, what it said, and the servers behind it."""

    engine: Engine
    clock: Clock
    said: Said
    cluster: SimCluster
    store: ReleaseStore
    redis: redis.Redis
    candidates: CandidateStore

    def freeze(self, reason: str = "incident 4711", hours: int = 2) -> None:
        until = self.clock.now + timedelta(hours=hours)
        frozen = self.engine.freeze("fop-gate", until=until, reason=reason, actor=ALICE)
        assert not isinstance(frozen, Refused), frozen

    def start(self, image: str = NEW) -> Release:
        return released(self.engine.start("fop-gate", image, ALICE))

    def cluster_writes(self) -> list[str]:
        requests = self.cluster.server.requests()
        return [f"{r.verb} {r.resource}/{r.name}" for r in requests if r.verb in WRITES]

    def canary_replicas(self) -> str:
        return self.cluster.jsonpath("deployment/fop-gate-canary", "{.spec.replicas}")

    def stable_image(self) -> str:
        return self.cluster.jsonpath(
            "deployment/fop-gate", "{.spec.template.spec.containers[0].image}"
        )


def released(outcome: Outcome) -> Release:
    """The release an applied outcome left; fails on a refusal."""
    assert isinstance(outcome, Applied), outcome
    return outcome.release


def build_rig(
    cluster: SimCluster, store: ReleaseStore, client: redis.Redis, *, config: str = SERVICES
) -> Rig:
    """An engine on `cluster` and the test Redis for the services of `config`."""
    pool = ClusterPool(kubeconfig=str(cluster.kubeconfig))

    def strategies(spec: ServiceSpec) -> ReleaseStrategy:
        return strategy_for(spec, pool.for_context(spec.context), timeout=timedelta(seconds=30))

    clock = Clock(datetime.now(UTC))
    said = Said()
    registry = parse_registry(config)
    candidates = CandidateStore(client, registry)
    engine = Engine(
        store=store,
        registry=registry,
        strategies=strategies,
        clock=clock,
        hooks=said.hooks(),
        freezes=FreezeStore(client),
        candidates=candidates,
    )
    return Rig(engine, clock, said, cluster, store, client, candidates)
