"""The release record and the vocabulary the state machine speaks.

Frozen dataclasses and `str` enums only: a release is a value, and every change to it is a new
value produced by `bot.machine.decide` and written by `bot.store.ReleaseStore` with a
compare-and-set on `version`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from bot.durations import format_duration


class Phase(StrEnum):
    """Where a release is in its lifecycle (DESIGN.md, "Release lifecycle")."""

    PENDING = "pending"
    DEPLOYING = "deploying"
    OBSERVING = "observing"
    AWAITING_APPROVAL = "awaiting_approval"
    PAUSED = "paused"
    PROMOTING = "promoting"
    PROMOTED = "promoted"
    UNDOING = "undoing"
    UNDONE = "undone"
    FAILED = "failed"

    @property
    def is_terminal(self) -> bool:
        """True for the two phases a release never leaves."""
        return self in TERMINAL_PHASES


TERMINAL_PHASES = frozenset({Phase.PROMOTED, Phase.UNDONE})
# A failed release stays live: it holds the service's lock until someone undoes it, so nobody
# starts a new release on top of a cluster in an unknown state.
LIVE_PHASES = frozenset(Phase) - TERMINAL_PHASES


class EventKind(StrEnum):
    """Everything that can happen to a release, from a person, the scheduler or the cluster."""

    START = "start"
    DEPLOYED = "deployed"  # the cluster reached the current step (canary pods ready, weight set)
    WINDOW_PASSED = "window_passed"
    WINDOW_FAILED = "window_failed"
    WINDOW_INCONCLUSIVE = "window_inconclusive"
    APPROVE = "approve"
    REJECT = "reject"
    EXTEND = "extend"
    PAUSE = "pause"
    RESUME = "resume"
    PROMOTE = "promote"  # promote now, skipping any remaining steps
    UNDO = "undo"
    DEADLINE = "deadline"  # the approval deadline passed with nobody answering
    STEP_DONE = "step_done"  # the cluster finished the in-flight promotion or undo
    ERROR = "error"


class Door(StrEnum):
    """The front door an actor came through, recorded in the audit stream."""

    SLACK = "slack"
    CLI = "cli"
    SCHEDULER = "scheduler"
    API = "api"


class Gate(StrEnum):
    """Which steps wait for a person's approval after their windows pass."""

    FINAL = "final"  # only the promotion after the last step
    EVERY_STEP = "every-step"
    NONE = "none"  # fully automatic: promote when every window passed


class FailPolicy(StrEnum):
    """What a FAIL verdict does."""

    UNDO = "undo"
    ASK = "ask"


class DeadlineAction(StrEnum):
    """What happens when an approval request goes unanswered past its deadline."""

    HOLD = "hold"
    UNDO = "undo"


@dataclass(frozen=True)
class Actor:
    """Who asked for something: a Slack user, a CLI user, the scheduler."""

    id: str
    name: str
    door: Door

    @property
    def mention(self) -> str:
        """How a message names this actor."""
        return f"@{self.name}"


SCHEDULER = Actor(id="scheduler", name="canarybot", door=Door.SCHEDULER)


@dataclass(frozen=True)
class Plan:
    """The service's release policy, copied into the release when it starts.

    A snapshot, so that editing `services.yaml` mid-release never changes a running release.
    """

    steps: int = 1
    windows_per_step: int = 1
    window: timedelta = timedelta(minutes=10)
    gate: Gate = Gate.FINAL
    on_fail: FailPolicy = FailPolicy.UNDO
    approval_deadline: timedelta = timedelta(minutes=30)
    on_deadline: DeadlineAction = DeadlineAction.HOLD
    allow_self_approval: bool = False
    # What each step puts in place (canary replicas, new pods, Istio weights), copied like the
    # rest; () for strategies that switch once, and for releases stored before it was copied.
    step_values: tuple[int, ...] = ()


@dataclass(frozen=True)
class PlanOverrides:
    """What whoever started the release chose in place of the service's configuration.

    Kept with the release so that a card or an audit line can say "steps 10,50,100
    (override)"; the values in force are in the release's `Plan`, overrides included.
    """

    steps: tuple[int, ...] | None = None  # the strategy's step values for this release
    window: timedelta | None = None  # one observation window for this release

    def audit_details(self) -> dict[str, str]:
        """The overrides as audit details: ``{"steps": "10,50,100", "window": "10m"}``."""
        details: dict[str, str] = {}
        if self.steps is not None:
            details["steps"] = ",".join(map(str, self.steps))
        if self.window is not None:
            details["window"] = format_duration(self.window)
        return details


@dataclass(frozen=True)
class Window:
    """One observation window of one step."""

    step: int
    index: int
    started_at: datetime
    ends_at: datetime
    extended: bool = False  # an INCONCLUSIVE window is extended once, then a person is asked


@dataclass(frozen=True)
class Release:
    """One release of one service. `version` is the store's compare-and-set counter."""

    id: str
    service: str
    image: str
    plan: Plan
    requested_by: Actor
    created_at: datetime
    phase: Phase
    phase_by: Actor  # who caused the current phase: named in refusals ("… by @alice")
    updated_at: datetime
    previous_image: str = ""
    step: int = 0
    window: Window | None = None
    approval_deadline_at: datetime | None = None
    paused_from: Phase | None = None
    reason: str = ""  # why the release is in its phase, in words a person reads
    version: int = 0
    overrides: PlanOverrides = field(default_factory=PlanOverrides)  # none in older records

    @property
    def is_live(self) -> bool:
        """True while the release holds its service's lock."""
        return self.phase in LIVE_PHASES

    @property
    def is_last_step(self) -> bool:
        """True when the current step is the plan's last."""
        return self.step >= self.plan.steps - 1


@dataclass(frozen=True)
class Event:
    """Something that happened, addressed to one release.

    `step` and `window` carry what the sender saw (a button's value, a scheduled job's id), so a
    click on an old message or a late job cannot act on a newer step.
    """

    kind: EventKind
    actor: Actor
    step: int | None = None
    window: int | None = None
    reason: str = ""
    to_revision: int | None = None
    forced: str = ""  # the freeze an admin broke to do this; the audit entry says so


@dataclass(frozen=True)
class AuditEntry:
    """One line of the append-only audit trail: who, what, when, from which door, and why."""

    at: datetime
    service: str
    release_id: str
    actor: Actor
    event: EventKind
    applied: bool
    from_phase: Phase | None = None
    to_phase: Phase | None = None
    reason: str = ""
    details: dict[str, str] = field(default_factory=dict)
