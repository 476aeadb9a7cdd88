"""What one service in ``services.yaml`` says: frozen, validated models.

:mod:`bot.registry` reads the file and validates each service against :class:`ServiceSpec`;
the release strategies themselves are in :mod:`bot.strategy_specs`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import timedelta
from enum import StrEnum
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    model_validator,
)

from bot.cron import CronSchedule
from bot.durations import Duration
from bot.freezes import FreezeWindow
from bot.release import DeadlineAction, FailPolicy, Gate, Plan
from bot.strategy_specs import DnsLabel, SteppedSpec, StrategySpec

_CHANNEL = re.compile(r"[CG][A-Z0-9]{8,}|#[a-z0-9][a-z0-9._-]{0,79}")
_USER = re.compile(r"[UW][A-Z0-9]{6,}")
_USER_GROUP = re.compile(r"S[A-Z0-9]{6,}")
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
# What a query template may mention; bot.metrics fills them in with fill_query.
QUERY_PLACEHOLDERS = ("namespace", "service", "track", "window")
_FROZEN = ConfigDict(frozen=True, extra="forbid")


def _matching(pattern: re.Pattern[str], *, what: str, expected: str) -> AfterValidator:
    def check(value: str) -> str:
        if not pattern.fullmatch(value):
            raise ValueError(f"bad {what} {value!r}: expected {expected}")
        return value

    return AfterValidator(check)


def _channel_given(value: object) -> object:
    if value is None:  # `channel: #releases` unquoted is a YAML comment, so the value is null
        raise ValueError("empty: quote it, since an unquoted '#name' is a YAML comment")
    return value


def _known_placeholders(template: str) -> str:
    for name in _PLACEHOLDER.findall(template):
        if name not in QUERY_PLACEHOLDERS:
            known = ", ".join(f"{{{known}}}" for known in QUERY_PLACEHOLDERS)
            raise ValueError(f"unknown placeholder {{{name}}} (use {known})")
    return template


def _web_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"bad URL {value!r}: expected http://… or https://…")
    return value


ChannelRef = Annotated[
    str,
    BeforeValidator(_channel_given),
    _matching(_CHANNEL, what="channel", expected="a channel id (C…) or #name"),
]
SlackUserId = Annotated[str, _matching(_USER, what="Slack user id", expected="U… or W…")]
SlackUserGroupId = Annotated[str, _matching(_USER_GROUP, what="Slack user group id", expected="S…")]
QueryTemplate = Annotated[str, Field(min_length=1), AfterValidator(_known_placeholders)]
WebUrl = Annotated[str, AfterValidator(_web_url)]


def fill_query(template: str, values: Mapping[str, str]) -> str:
    """Fill ``{service}``-style placeholders of a PromQL template; other braces stay as written.

    Only ``{identifier}`` counts as a placeholder, so label matchers such as
    ``{code=~"5.."}`` need no escaping. Purely computational.
    """
    return _PLACEHOLDER.sub(lambda match: values[match[1]], template)


class MetricsPreset(StrEnum):
    """Which exporter's metric names the built-in queries use."""

    GENERIC = "generic"
    ISTIO = "istio"
    NGINX = "nginx"


class TrackSelector(StrEnum):
    """How queries tell canary pods from stable ones."""

    LABEL = "label"
    POD_TEMPLATE_HASH = "pod-template-hash"


class Observation(BaseModel):
    """How long the canary is watched at each step."""

    model_config = _FROZEN

    window: Duration = Field(default=timedelta(minutes=10), description="one observation window")
    windows_per_step: int = Field(default=1, ge=1, description="windows that must pass per step")


class Analysis(BaseModel):
    """The thresholds the judge holds a window's measurements to."""

    model_config = _FROZEN

    min_requests: int = Field(
        default=50, ge=0, description="below this many canary requests a window is INCONCLUSIVE"
    )
    max_error_ratio: float = Field(
        default=0.05, gt=0, le=1, description="absolute ceiling on the canary's 5xx share"
    )
    relative_margin: float = Field(
        default=0.25, ge=0, description="how much worse than stable (relative) is still a pass"
    )
    confidence: float = Field(
        default=0.99, gt=0.5, lt=1, description="confidence the canary really is worse"
    )
    max_p99_latency_ms: float | None = Field(
        default=None, gt=0, description="optional ceiling on the canary's p99 latency"
    )


class QueryOverrides(BaseModel):
    """PromQL templates replacing the preset's, with {service} {namespace} {track} {window}."""

    model_config = _FROZEN

    requests: QueryTemplate | None = Field(default=None, description="requests per window")
    success: QueryTemplate | None = Field(default=None, description="2xx responses per window")
    client_errors: QueryTemplate | None = Field(
        default=None, description="4xx responses per window"
    )
    errors: QueryTemplate | None = Field(default=None, description="5xx responses per window")
    latency_p50: QueryTemplate | None = Field(default=None, description="median latency, ms")
    latency_p99: QueryTemplate | None = Field(default=None, description="p99 latency, ms")


class Metrics(BaseModel):
    """Where the canary's measurements come from."""

    model_config = _FROZEN

    preset: MetricsPreset = Field(default=MetricsPreset.GENERIC, description="query family")
    track_selector: TrackSelector = Field(
        default=TrackSelector.LABEL, description="how canary pods are told from stable ones"
    )
    queries: QueryOverrides = Field(default_factory=QueryOverrides, description="overrides")
    dashboard_url: WebUrl | None = Field(default=None, description="linked from the thread")

    @model_validator(mode="after")
    def _istio_tells_tracks_by_version(self) -> Metrics:
        # istio_requests_total carries the pods' version label, never their pod-template-hash.
        hashed = self.track_selector is TrackSelector.POD_TEMPLATE_HASH
        if self.preset is MetricsPreset.ISTIO and hashed:
            raise ValueError(
                "the istio preset tells tracks apart by destination_version: "
                "use track_selector: label"
            )
        return self


class Approval(BaseModel):
    """Who may promote, and when they are asked."""

    model_config = _FROZEN

    approvers: tuple[SlackUserId, ...] = Field(default=(), description="Slack user ids")
    approver_groups: tuple[SlackUserGroupId, ...] = Field(
        default=(), description="Slack user group ids whose members may approve"
    )
    allow_self_approval: bool = Field(
        default=False, description="whether whoever started the release may approve it"
    )
    gate: Gate = Field(
        default=Gate.FINAL, description="when to ask: final, every-step or none (automatic)"
    )
    deadline: Duration = Field(default=timedelta(minutes=30), description="how long to wait")
    on_deadline: DeadlineAction = Field(default=DeadlineAction.HOLD, description="then what")
    oncall_group: SlackUserGroupId | None = Field(
        default=None, description="user group mentioned on failures"
    )

    @model_validator(mode="after")
    def _someone_can_approve(self) -> Approval:
        if not self.approvers and not self.approver_groups:
            raise ValueError("name at least one of approvers or approver_groups")
        return self


class Nightly(CronSchedule):
    """A scheduled release that runs the same flow unattended."""


class ServiceSpec(BaseModel):
    """One service the bot can release, as configured in ``services.yaml``."""

    model_config = _FROZEN

    name: DnsLabel = Field(description="the service's key in services.yaml")
    namespace: DnsLabel = Field(default="default", description="its Kubernetes namespace")
    context: str | None = Field(
        default=None, min_length=1, description="kubeconfig context; None: the current one"
    )
    channel: ChannelRef = Field(description="Slack channel for its releases (id or #name)")
    strategy: StrategySpec = Field(description="how a release reaches the cluster")
    observation: Observation = Field(default_factory=Observation, description="watch timing")
    analysis: Analysis = Field(default_factory=Analysis, description="judge thresholds")
    metrics: Metrics = Field(default_factory=Metrics, description="Prometheus queries")
    approval: Approval = Field(description="who may promote, and when")
    on_fail: FailPolicy = Field(default=FailPolicy.UNDO, description="after a failed window")

    def plan(self) -> Plan:
        """The release policy a new release of this service copies (and keeps) at its start."""
        return Plan(
            steps=self.strategy.step_count,
            windows_per_step=self.observation.windows_per_step,
            window=self.observation.window,
            gate=self.approval.gate,
            on_fail=self.on_fail,
            approval_deadline=self.approval.deadline,
            on_deadline=self.approval.on_deadline,
            allow_self_approval=self.approval.allow_self_approval,
            step_values=self.strategy.steps if isinstance(self.strategy, SteppedSpec) else (),
        )

    nightly: Nightly | None = Field(default=None, description="optional scheduled release")
    freezes: tuple[FreezeWindow, ...] = Field(
        default=(), description="freeze windows of this service, beside every service's"
    )
