"""Settings from the environment: defaults, the variables people know, one-line problems."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from pydantic_settings import BaseSettings

from bot.settings import (
    MissingSetting,
    Settings,
    SettingsError,
    SlackCredentials,
    SlackMode,
    load_settings,
)


def _variables() -> list[str]:
    """Every environment variable the settings read, from the groups' aliases."""
    names: list[str] = []
    for field in Settings.model_fields.values():
        group = field.annotation
        assert isinstance(group, type)
        assert issubclass(group, BaseSettings)
        names += [str(f.validation_alias) for f in group.model_fields.values()]
    return names


VARIABLES = _variables()


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No settings variable from the machine running the tests leaks into them."""
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_defaults_apply_when_nothing_is_set() -> None:
    settings = load_settings()
    assert settings.slack.mode is SlackMode.SOCKET
    assert settings.slack.api_url == "https://slack.com/api/"
    assert (settings.slack.http_host, settings.slack.http_port) == ("127.0.0.1", 3000)
    assert settings.slack.bot_token is None
    assert settings.redis.url == "redis://127.0.0.1:6379/0"
    assert settings.prometheus.url == "http://127.0.0.1:9090"
    assert settings.prometheus.timeout_seconds == 10
    assert settings.kubernetes.kubeconfig is None
    assert settings.timing.scheduler_interval == timedelta(seconds=1)
    assert settings.timing.leader_lease_ttl == timedelta(seconds=15)
    assert settings.timing.idempotency_ttl == timedelta(days=1)
    assert settings.timing.default_window == timedelta(minutes=10)
    assert settings.registry.path == Path("services.yaml")


@pytest.mark.parametrize(
    ("variable", "value", "group", "field", "expected"),
    [
        pytest.param("SLACK_API_URL", "http://127.0.0.1:8765/api/", "slack", "api_url",
                     "http://127.0.0.1:8765/api/", id="slack-api-url"),
        pytest.param("CANARYBOT_SLACK_MODE", "http", "slack", "mode", SlackMode.HTTP,
                     id="slack-mode"),
        pytest.param("CANARYBOT_HTTP_HOST", "0.0.0.0", "slack", "http_host", "0.0.0.0",
                     id="http-host"),
        pytest.param("CANARYBOT_HTTP_PORT", "8080", "slack", "http_port", 8080, id="http-port"),
        pytest.param("REDIS_URL", "redis://redis:6379/3", "redis", "url",
                     "redis://redis:6379/3", id="redis-url"),
        pytest.param("PROMETHEUS_URL", "https://prom.example.com", "prometheus", "url",
                     "https://prom.example.com", id="prometheus-url"),
        pytest.param("CANARYBOT_PROMETHEUS_TIMEOUT", "2.5", "prometheus", "timeout_seconds", 2.5,
                     id="prometheus-timeout"),
        pytest.param("KUBECONFIG", "/etc/kube/a:/etc/kube/b", "kubernetes", "kubeconfig",
                     "/etc/kube/a:/etc/kube/b", id="kubeconfig-list"),
        pytest.param("CANARYBOT_SCHEDULER_INTERVAL", "2", "timing", "scheduler_interval",
                     timedelta(seconds=2), id="scheduler-interval-bare-seconds"),
        pytest.param("CANARYBOT_LEADER_LEASE_TTL", "30s", "timing", "leader_lease_ttl",
                     timedelta(seconds=30), id="leader-lease-ttl"),
        pytest.param("CANARYBOT_IDEMPOTENCY_TTL", "2d", "timing", "idempotency_ttl",
                     timedelta(days=2), id="idempotency-ttl"),
        pytest.param("CANARYBOT_DEFAULT_WINDOW", "1h30m", "timing", "default_window",
                     timedelta(minutes=90), id="default-window"),
        pytest.param("CANARYBOT_CONFIG", "/etc/canarybot/services.yaml", "registry", "path",
                     Path("/etc/canarybot/services.yaml"), id="services-file"),
    ],
)  # fmt: skip
def test_each_variable_sets_its_field(
    clean_env: pytest.MonkeyPatch,
    variable: str,
    value: str,
    group: str,
    field: str,
    expected: object,
) -> None:
    clean_env.setenv(variable, value)
    assert getattr(getattr(load_settings(), group), field) == expected


def test_slack_api_url_gains_the_trailing_slash_the_sdk_joins_on(
    clean_env: pytest.MonkeyPatch,
) -> None:
    clean_env.setenv("SLACK_API_URL", "http://127.0.0.1:8765/api")
    assert load_settings().slack.api_url == "http://127.0.0.1:8765/api/"


def test_an_empty_variable_counts_as_unset(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("CANARYBOT_HTTP_PORT", "")
    clean_env.setenv("SLACK_BOT_TOKEN", "")
    settings = load_settings()
    assert settings.slack.http_port == 3000
    assert settings.slack.bot_token is None


def test_variables_named_after_the_groups_are_ignored(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("SLACK", "not json")
    clean_env.setenv("REDIS", "not json")
    assert load_settings().redis.url == "redis://127.0.0.1:6379/0"


def test_secrets_do_not_show_in_reprs(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("SLACK_BOT_TOKEN", "xoxb-very-secret")
    clean_env.setenv("SLACK_APP_TOKEN", "xapp-very-secret")
    settings = load_settings()
    assert "very-secret" not in repr(settings)
    assert "very-secret" not in repr(settings.require_slack())


def test_a_bad_url_is_reported_without_its_password(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("REDIS_URL", "redis//:hunter2@redis:6379")
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert "hunter2" not in str(caught.value)


def test_importing_settings_reads_nothing() -> None:
    env = {"CANARYBOT_HTTP_PORT": "abc", "PATH": ""}
    code = "import bot.settings, bot.cli"
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=root, env=env, capture_output=True, check=False
    )
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize(
    ("variable", "value", "line"),
    [
        pytest.param("CANARYBOT_HTTP_PORT", "abc",
                     "CANARYBOT_HTTP_PORT: expected a whole number (got 'abc')", id="port-not-int"),
        pytest.param("CANARYBOT_HTTP_PORT", "70000",
                     "CANARYBOT_HTTP_PORT: must be at most 65535 (got '70000')", id="port-range"),
        pytest.param("CANARYBOT_SLACK_MODE", "websocket",
                     "CANARYBOT_SLACK_MODE: expected one of: socket, http (got 'websocket')",
                     id="mode"),
        pytest.param("REDIS_URL", "localhost:6379",
                     "REDIS_URL: bad URL: expected redis://…, rediss://… or unix://…",
                     id="redis-url"),
        pytest.param("PROMETHEUS_URL", "prometheus:9090",
                     "PROMETHEUS_URL: bad URL: expected http://… or https://…",
                     id="prometheus-url"),
        pytest.param("CANARYBOT_PROMETHEUS_TIMEOUT", "0",
                     "CANARYBOT_PROMETHEUS_TIMEOUT: must be greater than 0 (got '0')",
                     id="timeout-zero"),
        pytest.param("CANARYBOT_DEFAULT_WINDOW", "10 minutes",
                     "CANARYBOT_DEFAULT_WINDOW: bad duration '10 minutes':"
                     " use forms like 30s, 10m, 1h30m", id="window"),
        pytest.param("CANARYBOT_LEADER_LEASE_TTL", "0s",
                     "CANARYBOT_LEADER_LEASE_TTL: bad duration '0s': must be positive",
                     id="lease-zero"),
    ],
)  # fmt: skip
def test_a_bad_value_is_one_line_naming_the_variable(
    clean_env: pytest.MonkeyPatch, variable: str, value: str, line: str
) -> None:
    clean_env.setenv(variable, value)
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert caught.value.lines == (line,)
    assert str(caught.value) == line


def test_every_bad_value_is_reported_at_once(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("CANARYBOT_HTTP_PORT", "abc")
    clean_env.setenv("REDIS_URL", "nope")
    clean_env.setenv("CANARYBOT_DEFAULT_WINDOW", "soon")
    with pytest.raises(SettingsError) as caught:
        load_settings()
    named = [line.split(":")[0] for line in caught.value.lines]
    assert named == ["CANARYBOT_HTTP_PORT", "REDIS_URL", "CANARYBOT_DEFAULT_WINDOW"]


BOT = (
    "SLACK_BOT_TOKEN is not set:"
    " the bot token (xoxb-…) from the Slack app's OAuth & Permissions page"
)


@pytest.mark.parametrize(
    ("mode", "given", "missing"),
    [
        pytest.param(SlackMode.SOCKET, {}, ["SLACK_BOT_TOKEN", "SLACK_APP_TOKEN"],
                     id="socket-nothing-set"),
        pytest.param(SlackMode.SOCKET, {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s"},
                     ["SLACK_APP_TOKEN"], id="socket-signing-secret-is-no-substitute"),
        pytest.param(SlackMode.HTTP, {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_APP_TOKEN": "xapp-1"},
                     ["SLACK_SIGNING_SECRET"], id="http-needs-signing-secret"),
        pytest.param(SlackMode.HTTP, {"SLACK_SIGNING_SECRET": "s"}, ["SLACK_BOT_TOKEN"],
                     id="http-needs-bot-token"),
    ],
)  # fmt: skip
def test_a_missing_secret_is_one_line_per_variable(
    clean_env: pytest.MonkeyPatch, mode: SlackMode, given: dict[str, str], missing: list[str]
) -> None:
    for name, value in given.items():
        clean_env.setenv(name, value)
    with pytest.raises(MissingSetting) as caught:
        load_settings().require_slack(mode)
    assert list(caught.value.variables) == missing
    assert [line.split(" is not set: ")[0] for line in caught.value.lines] == missing
    assert isinstance(caught.value, ValueError)


def test_the_missing_bot_token_line_says_where_to_find_it() -> None:
    with pytest.raises(MissingSetting) as caught:
        load_settings().require_slack(SlackMode.SOCKET)
    assert caught.value.lines[0] == BOT


def test_require_slack_uses_the_configured_mode_by_default(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("CANARYBOT_SLACK_MODE", "http")
    clean_env.setenv("SLACK_BOT_TOKEN", "xoxb-1")
    clean_env.setenv("SLACK_SIGNING_SECRET", "shh")
    clean_env.setenv("SLACK_APP_TOKEN", "xapp-1")
    assert load_settings().require_slack() == SlackCredentials(
        mode=SlackMode.HTTP, bot_token="xoxb-1", app_token=None, signing_secret="shh"
    )


def test_require_slack_returns_the_socket_mode_secrets(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("SLACK_BOT_TOKEN", "xoxb-1")
    clean_env.setenv("SLACK_APP_TOKEN", "xapp-1")
    assert load_settings().require_slack() == SlackCredentials(
        mode=SlackMode.SOCKET, bot_token="xoxb-1", app_token="xapp-1", signing_secret=None
    )
