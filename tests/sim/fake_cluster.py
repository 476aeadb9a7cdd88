"""The simulator's controllers on a real ObjectStore, driven pass by pass on a fake clock.

No server and no sleeping: `step()` runs one reconcile pass of every controller (in the order
the server runs them) and then moves the clock on.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sim.behaviour import PodBehaviour, PodFate, PodRule
from sim.controller import Controller, build_controllers
from sim.defaults import defaulted, initial_status
from sim.deployment_spec import controller_uid
from sim.store import DEPLOYMENTS, EVENTS, PODS, REPLICASETS, ObjectStore

Obj = dict[str, Any]
NS = "default"


@dataclass
class FakeClock:
    """Monotonic seconds that move only when told to."""

    now: float = 1000.0

    def __call__(self) -> float:
        return self.now


def deployment_manifest(
    name: str = "web",
    *,
    replicas: int = 3,
    image: str = "web:1",
    labels: dict[str, str] | None = None,
    **spec: Any,
) -> Obj:
    """A Deployment as `kubectl create` would send it, `spec` fields added on top.

    Its selector and pod labels are `labels`, by default ``app: NAME``.
    """
    labels = labels or {"app": name}
    return {
        "metadata": {"name": name, "namespace": NS},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": dict(labels)},
            "template": {
                "metadata": {"labels": dict(labels)},
                "spec": {"containers": [{"name": "app", "image": image}]},
            },
            **spec,
        },
    }


@dataclass
class FakeCluster:
    """A store, the controllers and their clock."""

    clock: FakeClock = field(default_factory=FakeClock)
    store: ObjectStore = field(default_factory=ObjectStore)
    behaviour: PodBehaviour = field(default_factory=lambda: PodBehaviour(default_ready_after_s=1))
    controllers: list[Controller] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.controllers = build_controllers(
            self.store, self.behaviour, clock=self.clock, rng=random.Random(7)
        )

    def fate(self, image: str, fate: PodFate, ready_after_s: float | None = None) -> None:
        """Pods running `image` meet `fate`."""
        self.behaviour.set_rules([*self.behaviour.rules, PodRule(image, fate, ready_after_s)])

    # --- time -------------------------------------------------------------------------------

    def step(self, seconds: float = 0.5) -> None:
        """One reconcile pass of every controller, then `seconds` pass."""
        for controller in self.controllers:
            controller.reconcile()
        self.clock.now += seconds

    def run_until(
        self,
        done: Callable[[], bool],
        *,
        seconds: float = 0.5,
        max_steps: int = 200,
        check: Callable[[], None] | None = None,
    ) -> int:
        """Step until `done()`, calling `check()` after every pass; the number of passes."""
        for count in range(1, max_steps + 1):
            self.step(seconds)
            if check is not None:
                check()
            if done():
                return count
        raise AssertionError(f"not done after {max_steps} passes")

    def settle(self, *, seconds: float = 0.5, max_steps: int = 200) -> None:
        """Step until a whole pass writes nothing."""
        for _ in range(max_steps):
            before = self.store.resource_version
            self.step(seconds)
            if self.store.resource_version == before:
                return
        raise AssertionError(f"still changing after {max_steps} passes")

    # --- writes as a user makes them ----------------------------------------------------------

    def create_deployment(self, name: str = "web", **kwargs: Any) -> Obj:
        """Create a Deployment as the API server would (defaulted, empty status)."""
        obj = defaulted(DEPLOYMENTS, deployment_manifest(name, **kwargs))
        initial_status(DEPLOYMENTS, obj)
        return self.store.create(DEPLOYMENTS, obj)

    def edit(self, name: str, change: Callable[[Obj], None]) -> Obj:
        """Read the Deployment, change it, and write it back (defaulted) with its version."""
        obj = self.deployment(name)
        change(obj)
        return self.store.update(DEPLOYMENTS, defaulted(DEPLOYMENTS, obj))

    def set_image(self, name: str, image: str) -> Obj:
        """`kubectl set image deployment/NAME app=IMAGE`."""

        def change(obj: Obj) -> None:
            obj["spec"]["template"]["spec"]["containers"][0]["image"] = image

        return self.edit(name, change)

    def scale(self, name: str, replicas: int) -> Obj:
        """`kubectl scale deployment/NAME --replicas=N`."""
        return self.edit(name, lambda obj: obj["spec"].__setitem__("replicas", replicas))

    def set_paused(self, name: str, paused: bool) -> Obj:
        """`kubectl rollout pause` / `resume`."""
        return self.edit(name, lambda obj: obj["spec"].__setitem__("paused", paused))

    # --- reads ------------------------------------------------------------------------------

    def deployment(self, name: str = "web") -> Obj:
        """The Deployment as stored."""
        return self.store.get(DEPLOYMENTS, NS, name)

    def replica_sets(self, name: str = "web") -> list[Obj]:
        """The ReplicaSets the Deployment controls, oldest revision first."""
        uid = self.deployment(name)["metadata"]["uid"]
        owned = [rs for rs in self.store.select(REPLICASETS, NS) if controller_uid(rs) == uid]
        return sorted(
            owned,
            key=lambda rs: int(rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"]),
        )

    def pods(self, rs: Obj | None = None) -> list[Obj]:
        """Every pod, or those `rs` controls."""
        pods = self.store.select(PODS, NS)
        if rs is None:
            return pods
        return [p for p in pods if controller_uid(p) == rs["metadata"]["uid"]]

    def events(self, reason: str | None = None) -> list[Obj]:
        """Events, optionally of one reason."""
        return [e for e in self.store.select(EVENTS, NS) if reason in (None, e["reason"])]

    def condition(self, type_: str, name: str = "web") -> Obj:
        """A Deployment condition (fails if missing)."""
        conditions = self.deployment(name)["status"].get("conditions", [])
        return copy.deepcopy(next(c for c in conditions if c["type"] == type_))

    def rolled_out(self, name: str = "web") -> bool:
        """What `kubectl rollout status` calls successfully rolled out."""
        d = self.deployment(name)
        status, desired = d["status"], d["spec"]["replicas"]
        return bool(
            status.get("observedGeneration", 0) >= d["metadata"]["generation"]
            and status.get("updatedReplicas", 0) == desired
            and status.get("replicas", 0) == desired
            and status.get("availableReplicas", 0) == desired
        )


def is_ready(pod: Obj) -> bool:
    """Whether a pod's Ready condition is True."""
    return any(
        c["type"] == "Ready" and c["status"] == "True" for c in pod["status"].get("conditions", [])
    )


def image_of(obj: Obj) -> str:
    """The first container image of a pod, ReplicaSet or Deployment."""
    spec = obj["spec"]["template"]["spec"] if "template" in obj["spec"] else obj["spec"]
    return str(spec["containers"][0]["image"])
