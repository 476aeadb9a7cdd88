"""The small shared types the rest of the bot may import from k8s/: what a strategy reports."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Health(StrEnum):
    """How the release's new pods are doing."""

    PROGRESSING = "progressing"
    READY = "ready"  # the current step is fully in place and its pods are Ready
    PAUSED = "paused"
    FAILED = "failed"  # pull errors, crash loops, progress deadline: see the status message


@dataclass(frozen=True)
class Workload:
    """One Deployment as a release sees it."""

    name: str
    image: str
    replicas: int  # desired
    updated: int
    ready: int
    available: int
    paused: bool = False


@dataclass(frozen=True)
class ReleaseStatus:
    """Where a release stands in the cluster, in numbers and one line a person reads."""

    health: Health
    message: str
    stable: Workload | None = None
    canary: Workload | None = None
    canary_share: float = 0.0  # share of traffic (or of pods) on the new version, 0..1


@dataclass(frozen=True)
class Revision:
    """One entry of a Deployment's rollout history, as `kubectl rollout history` lists it."""

    number: int
    image: str
    change_cause: str
    current: bool
