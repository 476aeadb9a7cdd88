"""Start-up settings, read from the environment once by :func:`load_settings`.

Each concern is its own pydantic-settings group reading the variable names operators already
know (``SLACK_BOT_TOKEN``, ``REDIS_URL``, ``KUBECONFIG`` …); :class:`Settings` composes them.
Nothing is read at import time. Problems come back as one line per variable, never a traceback.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, SecretStr, ValidationError
from pydantic_core import ErrorDetails
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.durations import Duration

# Each group reads only its own variables (by alias). Empty variables count as unset, the way
# shells and Kubernetes manifests leave them. No populate-by-name: it would also read variables
# named after the fields (BOT_TOKEN, URL …).
_GROUP = SettingsConfigDict(frozen=True, extra="forbid", env_ignore_empty=True)

_NEEDED_FOR = {
    "SLACK_BOT_TOKEN": "the bot token (xoxb-…) from the Slack app's OAuth & Permissions page",
    "SLACK_APP_TOKEN": "the app-level token (xapp-…, scope connections:write) that Socket Mode"
    " needs, from the Slack app's Basic Information page",
    "SLACK_SIGNING_SECRET": "the signing secret that HTTP mode checks requests with, from the"
    " Slack app's Basic Information page",
}


class SettingsError(ValueError):
    """Settings the bot cannot start with: one line per problem, each naming its variable."""

    def __init__(self, lines: Sequence[str]) -> None:
        self.lines = tuple(lines)
        super().__init__("\n".join(self.lines))


class MissingSetting(SettingsError):  # noqa: N818 -- says what is wrong, like KeyError
    """Secrets the chosen Slack mode needs are not set."""

    def __init__(self, variables: Sequence[str]) -> None:
        self.variables = tuple(variables)
        super().__init__([f"{name} is not set: {_NEEDED_FOR[name]}" for name in self.variables])


# URL problems never quote the value: URLs may carry a password (redis://:secret@host).
def _base_url(value: str) -> str:
    if not re.fullmatch(r"https?://[^/\s]+(/\S*)?", value):
        raise ValueError("bad URL: expected http://… or https://…")
    return value


def _redis_url(value: str) -> str:
    if not re.fullmatch(r"(rediss?|unix)://\S*", value):
        raise ValueError("bad URL: expected redis://…, rediss://… or unix://…")
    return value


def _with_slash(value: str) -> str:
    # slack_sdk joins method names onto base_url; without the slash the last segment is lost.
    return value if value.endswith("/") else value + "/"


class SlackMode(StrEnum):
    """How Slack reaches the bot."""

    SOCKET = "socket"  # the bot opens a WebSocket to Slack; no inbound port needed
    HTTP = "http"  # Slack posts events to the bot's HTTP endpoint


@dataclass(frozen=True)
class SlackCredentials:
    """The Slack secrets one mode needs, checked present (see :meth:`Settings.require_slack`)."""

    mode: SlackMode
    # Kept out of repr so that logging the credentials cannot leak them.
    bot_token: str = field(repr=False)
    app_token: str | None = field(repr=False)  # set in socket mode
    signing_secret: str | None = field(repr=False)  # set in http mode


class SlackSettings(BaseSettings):
    """Slack connection: tokens, mode, and where the Web API and the HTTP listener are."""

    model_config = _GROUP

    bot_token: SecretStr | None = Field(
        default=None, validation_alias="SLACK_BOT_TOKEN", description="bot token, xoxb-…"
    )
    app_token: SecretStr | None = Field(
        default=None, validation_alias="SLACK_APP_TOKEN", description="app-level token, xapp-…"
    )
    signing_secret: SecretStr | None = Field(
        default=None, validation_alias="SLACK_SIGNING_SECRET", description="request signing key"
    )
    api_url: Annotated[str, AfterValidator(_base_url), AfterValidator(_with_slash)] = Field(
        default="https://slack.com/api/",
        validation_alias="SLACK_API_URL",
        description="Web API base URL; tests point it at a local server",
    )
    mode: SlackMode = Field(
        default=SlackMode.SOCKET,
        validation_alias="CANARYBOT_SLACK_MODE",
        description="socket: the bot connects out to Slack; http: Slack posts to the bot",
    )
    http_host: str = Field(
        default="127.0.0.1",
        validation_alias="CANARYBOT_HTTP_HOST",
        description="address the HTTP listener binds in http mode",
    )
    http_port: int = Field(
        default=3000,
        ge=1,
        le=65535,
        validation_alias="CANARYBOT_HTTP_PORT",
        description="port of the HTTP listener in http mode",
    )


class RedisSettings(BaseSettings):
    """Where releases, locks and audit events are stored."""

    model_config = _GROUP

    url: Annotated[str, AfterValidator(_redis_url)] = Field(
        default="redis://127.0.0.1:6379/0", validation_alias="REDIS_URL", description="Redis URL"
    )


class PrometheusSettings(BaseSettings):
    """Where canary and stable measurements are queried."""

    model_config = _GROUP

    url: Annotated[str, AfterValidator(_base_url)] = Field(
        default="http://127.0.0.1:9090", validation_alias="PROMETHEUS_URL", description="base URL"
    )
    timeout_seconds: float = Field(
        default=10.0,
        gt=0,
        validation_alias="CANARYBOT_PROMETHEUS_TIMEOUT",
        description="per query; a timeout makes the measurement an error, not a crash",
    )


class KubernetesSettings(BaseSettings):
    """How the Kubernetes client finds its cluster."""

    model_config = _GROUP

    # The client's own convention: unset means the in-cluster service account when running in
    # a pod, else ~/.kube/config. Like kubectl, several files may be joined with ':'.
    kubeconfig: str | None = Field(
        default=None, validation_alias="KUBECONFIG", description="kubeconfig path(s), or None"
    )


class TimingSettings(BaseSettings):
    """Clocks of the scheduler, the leader lease and idempotency; durations like 5s, 10m, 1d."""

    model_config = _GROUP

    scheduler_interval: Duration = Field(
        default=timedelta(seconds=1),
        validation_alias="CANARYBOT_SCHEDULER_INTERVAL",
        description="how often the leader looks for jobs other replicas scheduled (windows, "
        "deadlines): the most a window's judgment waits past its end for that",
    )
    scheduler_threads: int = Field(
        default=20,
        ge=1,
        validation_alias="CANARYBOT_SCHEDULER_THREADS",
        description="scheduled jobs (windows, deadlines, nightlies) the leader runs at once",
    )
    leader_lease_ttl: Duration = Field(
        default=timedelta(seconds=15),
        validation_alias="CANARYBOT_LEADER_LEASE_TTL",
        description="how long a replica stays leader without renewing its lease",
    )
    idempotency_ttl: Duration = Field(
        default=timedelta(days=1),
        validation_alias="CANARYBOT_IDEMPOTENCY_TTL",
        description="how long a handled request or click id is remembered, to ignore repeats",
    )
    default_window: Duration = Field(
        default=timedelta(minutes=10),
        validation_alias="CANARYBOT_DEFAULT_WINDOW",
        description="observation window of services whose services.yaml names none",
    )
    rollout_timeout: Duration = Field(
        default=timedelta(minutes=10),
        validation_alias="CANARYBOT_ROLLOUT_TIMEOUT",
        description="how long the bot waits for a step's pods before reporting the step failed",
    )


class WorkMode(StrEnum):
    """Where the work after an ack (rollouts, windows, answers) runs."""

    PROCESS = "process"  # `serve` starts a `canarybot work` child beside the front door
    THREAD = "thread"  # in the front door's own process: small installs and tests
    NONE = "none"  # elsewhere: `canarybot work` runs as its own process or Deployment


class WorkSettings(BaseSettings):
    """The workers that carry out what the front door acknowledged."""

    model_config = _GROUP

    mode: WorkMode = Field(
        default=WorkMode.PROCESS,
        validation_alias="CANARYBOT_WORK_MODE",
        description="process: serve starts a worker process; thread: in serve's process; "
        "none: run `canarybot work` yourself",
    )
    threads: int = Field(
        default=8,
        ge=1,
        le=64,
        validation_alias="CANARYBOT_WORK_THREADS",
        description="jobs one worker runs at once",
    )
    nice: int = Field(
        default=19,
        ge=0,
        le=19,
        validation_alias="CANARYBOT_WORK_NICE",
        description="how much a worker started by serve yields the CPU to the front door "
        "(nice(2)); 19 also makes it SCHED_IDLE on Linux: it runs when a CPU would idle",
    )
    max_age: Duration = Field(
        default=timedelta(minutes=15),
        validation_alias="CANARYBOT_WORK_MAX_AGE",
        description="a request that waited longer for a worker is not carried out",
    )


class RegistrySettings(BaseSettings):
    """Where the service registry is."""

    model_config = _GROUP

    path: Path = Field(
        default=Path("services.yaml"), validation_alias="CANARYBOT_CONFIG", description="file"
    )


class ApiSettings(BaseSettings):
    """The small HTTP API for pipelines (`POST /api/candidates`)."""

    model_config = _GROUP

    token: SecretStr | None = Field(
        default=None,
        validation_alias="CANARYBOT_API_TOKEN",
        description="bearer token pipelines send; unset: the API answers 503",
    )


class LogFormat(StrEnum):
    """How `canarybot serve` and `work` log to stderr."""

    JSON = "json"  # one object a line: time, level, logger, message, and the release, if any
    TEXT = "text"  # one readable line: time, level, logger, message


class OperationsSettings(BaseSettings):
    """How the bot itself is watched: its health and metrics endpoints, its log lines."""

    model_config = _GROUP

    health_port: int | None = Field(
        default=None,
        ge=1,
        le=65535,
        validation_alias="CANARYBOT_HEALTH_PORT",
        description="port where `canarybot work` (also the one serve starts) answers /healthz, "
        "/readyz and /metrics; unset: a worker opens none. serve answers them on "
        "CANARYBOT_HTTP_PORT",
    )
    log_format: LogFormat | None = Field(
        default=None,
        validation_alias="CANARYBOT_LOG_FORMAT",
        description="json or text; unset: json for serve and work",
    )


class Settings(BaseModel):
    """Everything the bot reads from its environment, one group per concern.

    A plain model over settings groups: a BaseSettings root would also read variables named
    after its groups (SLACK, REDIS …) and fail on them. Build it with :func:`load_settings`.
    """

    model_config = ConfigDict(frozen=True)

    # Each group documents its own variables; see the group classes above.
    slack: SlackSettings = Field(default_factory=SlackSettings)
    redis: RedisSettings = Field(default_factory=RedisSettings)
    prometheus: PrometheusSettings = Field(default_factory=PrometheusSettings)
    kubernetes: KubernetesSettings = Field(default_factory=KubernetesSettings)
    timing: TimingSettings = Field(default_factory=TimingSettings)
    registry: RegistrySettings = Field(default_factory=RegistrySettings)
    work: WorkSettings = Field(default_factory=WorkSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)
    operations: OperationsSettings = Field(default_factory=OperationsSettings)

    def require_bot_token(self) -> str:
        """The bot token, all a worker needs of Slack; raises `MissingSetting` without it."""
        if self.slack.bot_token is None:
            raise MissingSetting(["SLACK_BOT_TOKEN"])
        return self.slack.bot_token.get_secret_value()

    def require_slack(self, mode: SlackMode | None = None) -> SlackCredentials:
        """Check that the secrets ``mode`` (default: the configured mode) needs are set.

        Socket mode needs SLACK_BOT_TOKEN and SLACK_APP_TOKEN; http mode needs SLACK_BOT_TOKEN
        and SLACK_SIGNING_SECRET.

        Raises:
            MissingSetting: one line per missing variable, saying where to find the value.
        """
        slack = self.slack
        chosen = mode or slack.mode
        token = slack.bot_token
        if chosen is SlackMode.SOCKET:
            second, needed = "SLACK_APP_TOKEN", slack.app_token
        else:
            second, needed = "SLACK_SIGNING_SECRET", slack.signing_secret
        if token is None or needed is None:
            pairs = (("SLACK_BOT_TOKEN", token), (second, needed))
            raise MissingSetting([name for name, value in pairs if value is None])
        return SlackCredentials(
            mode=chosen,
            bot_token=token.get_secret_value(),
            app_token=needed.get_secret_value() if chosen is SlackMode.SOCKET else None,
            signing_secret=needed.get_secret_value() if chosen is SlackMode.HTTP else None,
        )


def load_settings() -> Settings:
    """Read every settings group from the environment, reporting all bad values at once.

    Raises:
        SettingsError: one line per bad variable, e.g. ``CANARYBOT_HTTP_PORT: expected a whole
            number (got 'abc')``.
    """
    groups: dict[str, BaseSettings] = {}
    lines: list[str] = []
    for name, declared in Settings.model_fields.items():
        group = declared.annotation
        assert isinstance(group, type)  # every field of Settings is a settings group
        assert issubclass(group, BaseSettings)
        try:
            groups[name] = group()
        except ValidationError as err:
            lines.extend(problem_lines(err))
    if lines:
        raise SettingsError(lines)
    return Settings.model_validate(groups)


def problem_lines(error: ValidationError) -> list[str]:
    """One line per problem of a settings group, led by the variable's name."""
    return [
        f"{'.'.join(map(str, detail['loc']))}: {describe_error(detail)}".removeprefix(": ")
        for detail in error.errors()
    ]


# Pydantic's wording rewritten short, for settings lines and services.yaml problems alike.
_PLAIN = {
    "missing": "required",
    "extra_forbidden": "unknown field",
    "model_type": "expected a mapping",
    "model_attributes_type": "expected a mapping",
    "dict_type": "expected a mapping",
    "list_type": "expected a list",
    "tuple_type": "expected a list",
    "string_type": "expected a string",
    "int_type": "expected a whole number",
    "int_parsing": "expected a whole number",
    "int_from_float": "expected a whole number",
    "float_type": "expected a number",
    "float_parsing": "expected a number",
    "bool_type": "expected true or false",
    "bool_parsing": "expected true or false",
    "greater_than": "must be greater than {gt}",
    "greater_than_equal": "must be at least {ge}",
    "less_than": "must be less than {lt}",
    "less_than_equal": "must be at most {le}",
    "too_short": "needs at least {min_length} items",
    "too_long": "takes at most {max_length} items",
    "string_too_short": "needs at least {min_length} characters",
    "string_too_long": "takes at most {max_length} characters",
}
# Errors where what was given says nothing new: the field is absent, or the message quotes it.
_NO_INPUT_SHOWN = {
    "missing",
    "extra_forbidden",
    "value_error",
    "assertion_error",
    "too_short",
    "string_too_short",
}


def describe_error(detail: ErrorDetails) -> str:
    """A short, lower-case message for one pydantic error, without its location.

    ``Field required`` becomes ``required``, ``Extra inputs are not permitted`` becomes
    ``unknown field``, a validator's ValueError keeps its own text, and type or range errors
    show what was given: ``expected a whole number (got 'abc')``.
    """
    kind, ctx = detail["type"], detail.get("ctx", {})
    if kind in ("value_error", "assertion_error"):
        return str(ctx.get("error", detail["msg"]))
    if kind in ("enum", "literal_error"):
        choices = re.findall(r"'([^']*)'", str(ctx.get("expected", "")))
        message = f"expected one of: {', '.join(choices)}"
    elif kind in ("too_short", "string_too_short") and ctx.get("min_length") == 1:
        message = "must not be empty"
    elif kind in _PLAIN:
        # Bounds of float fields arrive as floats: say "at most 1", not "at most 1.0".
        bounds = {
            k: int(v) if isinstance(v, float) and v.is_integer() else v for k, v in ctx.items()
        }
        message = _PLAIN[kind].format(**bounds)
    else:
        message = detail["msg"][:1].lower() + detail["msg"][1:]
    given = detail["input"]
    if kind in _NO_INPUT_SHOWN or isinstance(given, dict | list | tuple):
        return message
    return f"{message} (got {'nothing' if given is None else repr(given)})"
