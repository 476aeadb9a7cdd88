"""How each service is released: one model per strategy in ``services.yaml``.

A service's ``strategy`` block is a union told apart by ``kind``; the Kubernetes side has one
module per kind under ``k8s/``. These models only describe and validate the configuration.
"""

from __future__ import annotations

import re
from datetime import timedelta
from enum import StrEnum
from itertools import pairwise
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from bot.durations import Duration

_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_LABEL_NAME = re.compile(r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?")
_HEADER_NAME = re.compile(r"[a-z0-9]+(-[a-z0-9]+)*")
_COOKIE_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # an RFC 6265 token
_PERCENT = re.compile(r"[0-9]{1,3}%")


def _is_dns_subdomain(value: str) -> bool:
    return len(value) <= 253 and all(_DNS_LABEL.fullmatch(part) for part in value.split("."))


def check_dns_label(value: str) -> str:
    """Accept a DNS-1123 label (namespaces, containers, service names); else ValueError."""
    if len(value) > 63 or not _DNS_LABEL.fullmatch(value):
        raise ValueError(
            f"bad name {value!r}: use lowercase letters, digits and '-',"
            " starting and ending with a letter or digit, at most 63 characters"
        )
    return value


def check_dns_subdomain(value: str) -> str:
    """Accept a DNS-1123 subdomain (names of Deployments, Services, Istio objects, hosts)."""
    if not _is_dns_subdomain(value):
        raise ValueError(
            f"bad name {value!r}: use lowercase letters, digits, '-' and '.',"
            " each part starting and ending with a letter or digit"
        )
    return value


def check_label_key(value: str) -> str:
    """Accept a Kubernetes label key such as ``track`` or ``example.com/track``."""
    prefix, slash, name = value.rpartition("/")
    prefix_ok = not slash or _is_dns_subdomain(prefix)
    if not prefix_ok or len(name) > 63 or not _LABEL_NAME.fullmatch(name):
        raise ValueError(f"bad label key {value!r}: use a Kubernetes label key such as 'track'")
    return value


def _surge(value: object) -> int | str:
    """A rolling-update amount: pods (``1``) or a share of replicas (``"25%"``)."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if isinstance(value, str) and _PERCENT.fullmatch(value) and int(value[:-1]) <= 100:
        return value
    raise ValueError(f"expected a whole number of pods or a percentage like '25%' (got {value!r})")


def _is_zero(amount: int | str) -> bool:
    return int(str(amount).removesuffix("%")) == 0


def _increasing_steps(steps: tuple[int, ...]) -> tuple[int, ...]:
    # Checked here rather than with min_length, which pydantic also reports when an item is bad.
    if not steps:
        raise ValueError("must not be empty")
    if any(later <= earlier for earlier, later in pairwise(steps)):
        raise ValueError(f"must be strictly increasing (got {list(steps)})")
    return steps


DnsLabel = Annotated[str, AfterValidator(check_dns_label)]
DnsSubdomain = Annotated[str, AfterValidator(check_dns_subdomain)]
LabelKey = Annotated[str, AfterValidator(check_label_key)]
# Pods (or a percentage of replicas) for maxSurge / maxUnavailable, as Kubernetes takes them.
SurgeAmount = Annotated[int | str, BeforeValidator(_surge)]
# Positive counts, one per step, each larger than the one before.
Steps = Annotated[tuple[Annotated[int, Field(gt=0)], ...], AfterValidator(_increasing_steps)]
# Istio traffic weights in percent, one per step.
WeightSteps = Annotated[
    tuple[Annotated[int, Field(ge=1, le=100)], ...], AfterValidator(_increasing_steps)
]


class StrategyKind(StrEnum):
    """The release strategies a service can use (DESIGN.md, "Release strategies")."""

    BLUE_GREEN = "blue-green"
    CANARY_DEPLOYMENT = "canary-deployment"
    ISTIO = "istio"
    PAUSED_ROLLOUT = "paused-rollout"
    ROLLING = "rolling"


class _StrategySpec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    deployment: DnsSubdomain = Field(description="the stable Deployment being released")
    container: DnsLabel | None = Field(
        default=None, description="container whose image changes; None: the first container"
    )


class CanaryDeploymentSpec(_StrategySpec):
    """Seed 000: a second Deployment ``<deployment>-canary`` behind the same Service."""

    kind: Literal[StrategyKind.CANARY_DEPLOYMENT] = StrategyKind.CANARY_DEPLOYMENT
    service: DnsSubdomain = Field(description="the Service that selects stable and canary pods")
    steps: Steps = Field(default=(1,), description="canary replicas at each step")
    track_label: LabelKey = Field(
        default="track", description="label telling canary pods (track=canary) from stable ones"
    )

    @property
    def step_count(self) -> int:
        """How many observed steps a release takes."""
        return len(self.steps)


class PausedRolloutSpec(_StrategySpec):
    """Seeds 001/003/004: ``set image`` on the Deployment, then pause after N new pods."""

    kind: Literal[StrategyKind.PAUSED_ROLLOUT] = StrategyKind.PAUSED_ROLLOUT
    steps: Steps = Field(default=(1,), description="new pods ready before pausing, per step")
    preview_service: DnsSubdomain | None = Field(
        default=None, description="Service selecting the new pod-template-hash only (seed 003)"
    )

    @property
    def step_count(self) -> int:
        """How many observed steps a release takes."""
        return len(self.steps)


class BlueGreenSpec(_StrategySpec):
    """Seeds 001/002: a new Deployment beside the old; the Service's selector switches over."""

    kind: Literal[StrategyKind.BLUE_GREEN] = StrategyKind.BLUE_GREEN
    service: DnsSubdomain = Field(description="the Service whose version selector is switched")
    version_label: LabelKey = Field(default="version", description="the label switched")
    preview_service: DnsSubdomain | None = Field(
        default=None, description="Service that reaches the new version before the switch"
    )
    grace_period: Duration = Field(
        default=timedelta(minutes=10), description="how long the old Deployment is kept"
    )

    @property
    def step_count(self) -> int:
        """How many observed steps a release takes: blue-green switches once."""
        return 1


class TrafficMatchSpec(BaseModel):
    """A/B routing: requests matching a header or a cookie go to the new version."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # header and cookie come before value: value's check reads which of them was given.
    header: str | None = Field(default=None, description="HTTP header name, lowercase")
    cookie: str | None = Field(default=None, description="cookie name")
    value: str = Field(
        min_length=1, description="header: exact value; cookie: regular expression of its value"
    )

    @model_validator(mode="after")
    def _one_kind_of_match(self) -> TrafficMatchSpec:
        if (self.header is None) == (self.cookie is None):
            raise ValueError("give exactly one of header or cookie")
        if self.header is not None and not _HEADER_NAME.fullmatch(self.header):
            raise ValueError(f"bad header {self.header!r}: Istio wants lowercase, '-' separated")
        if self.cookie is not None and not _COOKIE_NAME.fullmatch(self.cookie):
            raise ValueError(f"bad cookie name {self.cookie!r}")
        if self.cookie is not None:
            try:
                re.compile(self.value)
            except re.error as err:
                raise ValueError(f"bad regular expression {self.value!r}: {err}") from err
        return self


class IstioSpec(_StrategySpec):
    """Seeds 002/004: DestinationRule subsets by version, VirtualService weights per step."""

    kind: Literal[StrategyKind.ISTIO] = StrategyKind.ISTIO
    host: DnsSubdomain = Field(description="destination host the VirtualService routes")
    virtual_service: DnsSubdomain = Field(description="the VirtualService whose weights change")
    destination_rule: DnsSubdomain = Field(description="the DestinationRule holding the subsets")
    version_label: LabelKey = Field(default="version", description="label the subsets select")
    steps: WeightSteps = Field(
        default=(10, 50, 100), description="percent of traffic on the new version, per step"
    )
    match: TrafficMatchSpec | None = Field(
        default=None, description="A/B: the weights apply to matching requests only"
    )

    @property
    def step_count(self) -> int:
        """How many observed steps a release takes."""
        return len(self.steps)


class RollingSpec(_StrategySpec):
    """Seed 002: a plain rolling update watched to completion; undo is ``rollout undo``."""

    kind: Literal[StrategyKind.ROLLING] = StrategyKind.ROLLING
    max_surge: SurgeAmount = Field(default="25%", description="pods above the desired count")
    max_unavailable: SurgeAmount = Field(default=0, description="pods below the desired count")
    progress_deadline: Duration = Field(
        default=timedelta(minutes=10), description="how long the rollout may make no progress"
    )

    @model_validator(mode="after")
    def _can_progress(self) -> RollingSpec:
        # Kubernetes refuses both at zero: the rollout could neither add nor remove a pod.
        if _is_zero(self.max_surge) and _is_zero(self.max_unavailable):
            raise ValueError("max_surge and max_unavailable cannot both be 0")
        return self

    @property
    def step_count(self) -> int:
        """How many observed steps a release takes: a rolling update is watched once."""
        return 1


# The strategies that move through steps, each step's value in their `steps`.
SteppedSpec = CanaryDeploymentSpec | PausedRolloutSpec | IstioSpec

StrategySpec = Annotated[
    CanaryDeploymentSpec | PausedRolloutSpec | BlueGreenSpec | IstioSpec | RollingSpec,
    Field(discriminator="kind"),
]
