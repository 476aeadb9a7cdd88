"""What the engine must do after a transition is committed.

The state machine names these; it never performs them. Each is a frozen value, so a decision
can be compared, logged and tested as data.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.release import Actor


@dataclass(frozen=True)
class DeployStep:
    """Bring the cluster to step `step` of the plan (start the canary, set a weight, …)."""

    step: int


@dataclass(frozen=True)
class OpenWindow:
    """Wake the engine at `ends_at` to judge window `index` of step `step`."""

    step: int
    index: int
    ends_at: datetime


@dataclass(frozen=True)
class RequestApproval:
    """Ask the approvers to promote, extend or undo, answering by `deadline_at`."""

    step: int
    deadline_at: datetime
    reason: str


@dataclass(frozen=True)
class PauseRollout:
    """Hold the cluster where it is."""


@dataclass(frozen=True)
class ResumeRollout:
    """Let a paused rollout continue."""


@dataclass(frozen=True)
class Promote:
    """Give the new version all traffic and retire the old one."""


@dataclass(frozen=True)
class Undo:
    """Return the cluster to the version that ran before the release (or to `to_revision`)."""

    to_revision: int | None = None


@dataclass(frozen=True)
class Notify:
    """Say something in the release's thread; `alert` also mentions on-call."""

    text: str
    alert: bool = False


@dataclass(frozen=True)
class PlannedRelease:
    """A release someone scheduled (`/canary SERVICE schedule 02:00 image=…`): started at `at`.

    `id` is fixed for the service and time (f"{service}:{int(at.timestamp())}"), so asking
    twice for the same moment plans one release.
    """

    service: str
    image: str
    at: datetime
    requested_by: Actor
    id: str


Action = (
    DeployStep
    | OpenWindow
    | RequestApproval
    | PauseRollout
    | ResumeRollout
    | Promote
    | Undo
    | Notify
)
