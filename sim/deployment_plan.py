"""A Deployment controller pass's intentions: working copies of the objects it may change.

Decision functions (sim.rollout, sim.revisions, sim.deployment_status) change the copies;
the controller then writes what differs from the originals, once, guarded by each object's
resourceVersion. Nothing here touches the store.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sim.deployment_spec import creation_order, max_surge, spec_replicas
from sim.store import copied

Obj = dict[str, Any]

REVISION = "deployment.kubernetes.io/revision"
REVISION_HISTORY = "deployment.kubernetes.io/revision-history"
DESIRED_REPLICAS = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS = "deployment.kubernetes.io/max-replicas"
HASH_LABEL = "pod-template-hash"


@dataclass
class DeploymentPlan:
    """A Deployment and the ReplicaSets it controls, as this pass wants them to be."""

    deployment: Obj
    original: Obj
    replica_sets: dict[str, Obj]
    originals: dict[str, Obj]
    new_name: str | None = None
    created: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)

    @classmethod
    def start(cls, deployment: Obj, owned: list[Obj]) -> DeploymentPlan:
        """A plan that changes nothing yet; the inputs are copied, never mutated."""
        by_name = {rs["metadata"]["name"]: rs for rs in owned}
        return cls(
            deployment=copied(deployment),
            original=copied(deployment),
            replica_sets=copied(by_name),
            originals=copied(by_name),
        )

    @property
    def name(self) -> str:
        """The Deployment's name."""
        return str(self.deployment["metadata"]["name"])

    @property
    def status(self) -> Obj:
        """The Deployment's working status (mutable)."""
        status: Obj = self.deployment.setdefault("status", {})
        return status

    @property
    def annotations(self) -> dict[str, str]:
        """The Deployment's working annotations (mutable)."""
        annotations: dict[str, str] = self.deployment["metadata"].setdefault("annotations", {})
        return annotations

    def new_rs(self) -> Obj | None:
        """The ReplicaSet running the current template, if there is one yet."""
        return None if self.new_name is None else self.replica_sets[self.new_name]

    def old_rss(self) -> list[Obj]:
        """Every other live ReplicaSet, oldest first."""
        return sorted(
            (
                rs
                for name, rs in self.replica_sets.items()
                if name != self.new_name and name not in self.deleted
            ),
            key=creation_order,
        )

    def all_rss(self) -> list[Obj]:
        """Old ReplicaSets then the new one."""
        new = self.new_rs()
        return self.old_rss() + ([new] if new is not None else [])

    def add(self, rs: Obj) -> None:
        """Create `rs` as the new ReplicaSet."""
        name = rs["metadata"]["name"]
        self.replica_sets[name] = rs
        self.created.append(name)
        self.new_name = name

    def delete(self, rs: Obj) -> None:
        """Delete an old ReplicaSet."""
        self.deleted.append(rs["metadata"]["name"])

    def scale(self, rs: Obj, replicas: int) -> bool:
        """Set spec.replicas and the replica annotations, as scaleReplicaSet; True if resized."""
        resized = spec_replicas(rs) != replicas
        rs["spec"]["replicas"] = replicas
        desired = spec_replicas(self.deployment)
        set_replicas_annotations(rs, desired=desired, maximum=desired + max_surge(self.deployment))
        return resized

    def scale_if_resized(self, rs: Obj, replicas: int) -> bool:
        """Scale only if the size changes, as scaleReplicaSetAndRecordEvent."""
        return spec_replicas(rs) != replicas and self.scale(rs, replicas)

    def replica_set_writes(self) -> list[tuple[Obj, Obj | None]]:
        """(wanted, original) for every ReplicaSet to create (original None) or update."""
        writes: list[tuple[Obj, Obj | None]] = [(self.replica_sets[n], None) for n in self.created]
        writes += [
            (rs, self.originals[name])
            for name, rs in self.replica_sets.items()
            if name in self.originals and name not in self.deleted and rs != self.originals[name]
        ]
        return writes

    def metadata_changed(self) -> bool:
        """Whether the Deployment's metadata (its revision annotation) must be written."""
        return bool(self.deployment["metadata"] != self.original["metadata"])

    def status_changed(self) -> bool:
        """Whether the Deployment's status must be written."""
        return bool(self.deployment.get("status", {}) != self.original.get("status", {}))


def set_replicas_annotations(rs: Obj, *, desired: int, maximum: int) -> bool:
    """Record desired and max replicas on a ReplicaSet; True if either changed."""
    annotations = rs["metadata"].setdefault("annotations", {})
    wanted = {DESIRED_REPLICAS: str(desired), MAX_REPLICAS: str(maximum)}
    changed = any(annotations.get(key) != value for key, value in wanted.items())
    annotations.update(wanted)
    return changed
