"""/healthz, /readyz and /metrics: the app alone with checks injected, then the real bot.

The real bot runs in HTTP mode on a Redis of its own, which a test stops and starts again on
the same port: readiness fails naming Redis, liveness stays 200, and readiness comes back by
itself. A Kubernetes API server that never answers fails readiness within the probe's bound.
In Socket Mode the bot answers the three paths on its HTTP port even without an API token.
"""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from wsgiref.util import setup_testing_defaults

import pytest

from bot.app import build_bot, health_app, serve
from bot.health import Check, HealthApp
from bot.registry import parse_registry
from bot.settings import load_settings
from tests.servers import RedisServer, free_port, wait_until
from tests.slack.local_slack import LocalSlack
from tests.slack.recording import RecordingSlackApi
from tests.slack.test_front_door import FrontDoor, running_cluster, serving

PROBE_BOUND_S = 2.0  # what a readiness answer may take, whatever is down
PROMETHEUS_URL = "http://127.0.0.1:9"  # never asked: no window is judged here


# --- the app alone, its checks injected -------------------------------------------------------


def _passes() -> str:
    return "fine"


def _fails() -> str:
    raise ConnectionError("Connection refused\nsecond line")


def call(app: HealthApp, path: str, method: str = "GET") -> tuple[int, dict[str, str], bytes]:
    """One request to the WSGI app, as a server would make it."""
    environ: dict[str, Any] = {"PATH_INFO": path, "REQUEST_METHOD": method}
    setup_testing_defaults(environ)
    answer: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]], *_: object) -> Any:
        answer.update(status=int(status.split()[0]), headers=dict(headers))

    body = b"".join(app(environ, start_response))
    return answer["status"], answer["headers"], body


def app_with(checks: dict[str, Check] | None = None, *, leading: bool | None = None) -> HealthApp:
    return HealthApp(
        checks=checks or {},
        leading=lambda: leading,
        metrics=lambda: (b"canarybot_up 1\n", "text/plain; version=0.0.4"),
        timeout_s=0.5,
    )


def test_healthz_answers_200_whatever_the_checks_say() -> None:
    status, headers, body = call(app_with({"redis": _fails}), "/healthz")
    assert (status, json.loads(body)) == (200, {"status": "ok"})
    assert headers["Content-Type"].startswith("application/json")


def test_readyz_is_200_when_every_check_passes() -> None:
    status, _, body = call(app_with({"redis": _passes, "kubernetes:prod": _passes}), "/readyz")
    shown = json.loads(body)
    assert status == 200
    assert shown["ready"] is True
    assert {name: check["ok"] for name, check in shown["checks"].items()} == {
        "redis": True,
        "kubernetes:prod": True,
    }
    assert shown["checks"]["redis"]["detail"] == "fine"


def test_readyz_is_503_and_names_the_failing_check_in_one_line() -> None:
    status, _, body = call(app_with({"redis": _fails, "kubernetes:prod": _passes}), "/readyz")
    shown = json.loads(body)
    assert status == 503
    assert shown["ready"] is False
    assert shown["checks"]["redis"] == {
        "ok": False,
        "detail": "ConnectionError: Connection refused",
        "ms": shown["checks"]["redis"]["ms"],
    }
    assert shown["checks"]["kubernetes:prod"]["ok"] is True


def test_a_check_that_hangs_fails_as_unanswered_within_the_bound() -> None:
    release = threading.Event()

    def hangs() -> str:
        release.wait(30)
        return "too late"

    started = time.monotonic()
    try:
        status, _, body = call(app_with({"redis": _passes, "kubernetes": hangs}), "/readyz")
    finally:
        release.set()
    assert time.monotonic() - started < 0.5 + 0.5
    assert status == 503
    assert json.loads(body)["checks"]["kubernetes"]["detail"] == "no answer within 0.5 s"


@pytest.mark.parametrize(
    ("leading", "status"),
    [
        pytest.param(True, 200, id="leader"),
        pytest.param(False, 200, id="follower"),
        pytest.param(None, 200, id="unknown"),
    ],
)
def test_the_leader_flag_is_reported_and_is_no_condition_of_readiness(
    leading: bool | None, status: int
) -> None:
    answered, _, body = call(app_with({"redis": _passes}, leading=leading), "/readyz")
    assert (answered, json.loads(body)["leader"]) == (status, leading)


def test_metrics_answers_the_exposition_with_its_content_type() -> None:
    status, headers, body = call(app_with(), "/metrics")
    assert (status, body) == (200, b"canarybot_up 1\n")
    assert headers["Content-Type"] == "text/plain; version=0.0.4"


@pytest.mark.parametrize(
    ("path", "method", "status"),
    [
        pytest.param("/slack/events", "GET", 404, id="other-path"),
        pytest.param("/healthz/", "GET", 404, id="trailing-slash"),
        pytest.param("/readyz", "POST", 405, id="post"),
    ],
)
def test_other_paths_are_404_and_other_methods_405(path: str, method: str, status: int) -> None:
    assert call(app_with(), path, method)[0] == status


# --- over HTTP, the real bot and the real servers ---------------------------------------------


def get(port: int, path: str) -> tuple[int, dict[str, Any]]:
    """GET `path` from the bot on `port`; the status and the decoded JSON body."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


def port_of(door: FrontDoor) -> int:
    return int(door.url.split(":")[2].split("/")[0])


@pytest.fixture
def own_redis(fresh_redis_dir: Path) -> Iterator[RedisServer]:
    """A Redis for this test only: it stops and starts it."""
    server = RedisServer(data_dir=fresh_redis_dir).start()
    yield server
    server.stop()


@pytest.fixture
def bot_on_own_redis(
    tmp_path: Path, own_redis: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[FrontDoor]:
    """The bot in HTTP mode, its worker and scheduler in its process, on `own_redis`."""
    with (
        RecordingSlackApi() as slack,
        running_cluster(tmp_path / "sim") as cluster,
        serving(
            tmp_path=tmp_path,
            cluster=cluster,
            slack=slack,
            redis_server=own_redis,
            prometheus_url=PROMETHEUS_URL,
            monkeypatch=monkeypatch,
        ) as running,
    ):
        yield running


def test_readyz_fails_naming_redis_while_it_is_down_and_recovers_when_it_is_back(
    bot_on_own_redis: FrontDoor, own_redis: RedisServer
) -> None:
    port = port_of(bot_on_own_redis)
    status, shown = get(port, "/readyz")
    assert (status, shown["ready"]) == (200, True), shown
    assert shown["checks"]["redis"]["ok"] is True
    assert shown["checks"]["kubernetes:current"] == {
        "ok": True,
        "detail": shown["checks"]["kubernetes:current"]["detail"],
        "ms": shown["checks"]["kubernetes:current"]["ms"],
    }
    assert shown["checks"]["kubernetes:current"]["detail"].startswith("v1.")

    own_redis.stop()
    started = time.monotonic()
    status, shown = get(port, "/readyz")
    assert time.monotonic() - started < PROBE_BOUND_S + 0.5
    assert status == 503
    assert shown["checks"]["redis"]["ok"] is False
    assert "Connection" in shown["checks"]["redis"]["detail"]
    assert shown["checks"]["kubernetes:current"]["ok"] is True  # only Redis is named
    assert get(port, "/healthz") == (200, {"status": "ok"})

    own_redis.start()  # the same port
    wait_until(lambda: get(port, "/readyz")[0] == 200, timeout_s=10, what="readiness again")
    assert get(port, "/readyz")[1]["checks"]["redis"]["ok"] is True


def test_readyz_says_this_replica_leads_once_its_scheduler_holds_the_lease(
    bot_on_own_redis: FrontDoor,
) -> None:
    port = port_of(bot_on_own_redis)
    wait_until(lambda: get(port, "/readyz")[1]["leader"] is True, timeout_s=10, what="leading")
    assert bot_on_own_redis.bot.back is not None
    assert bot_on_own_redis.bot.back.scheduler.leading


def test_readyz_says_this_replica_leads_when_its_worker_process_holds_the_lease(
    tmp_path: Path, redis_server: RedisServer, redis_client: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "services.yaml"
    config.write_text(_SERVICES_IN_PROD)
    port = free_port()
    with RecordingSlackApi() as slack:
        env = {
            "CANARYBOT_SLACK_MODE": "http",
            "SLACK_BOT_TOKEN": "xoxb-health",
            "SLACK_SIGNING_SECRET": "health-signing-secret",
            "SLACK_API_URL": slack.url,
            "REDIS_URL": redis_server.url,
            "CANARYBOT_CONFIG": str(config),
            "KUBECONFIG": str(tmp_path / "no-kubeconfig"),
            "CANARYBOT_HTTP_HOST": "127.0.0.1",
            "CANARYBOT_HTTP_PORT": str(port),
            "CANARYBOT_WORK_MODE": "process",  # the scheduler runs in `serve`'s child
        }
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        bot = build_bot(load_settings())
        stop = threading.Event()
        thread = threading.Thread(target=serve, args=(bot,), kwargs={"stop": stop}, daemon=True)
        thread.start()
        try:
            wait_until(lambda: _leader(port) is True, timeout_s=30, what="the worker's lease")
            status, shown = get(port, "/readyz")
            assert status == 503  # no cluster here: leading is no condition of readiness
            assert shown["checks"]["kubernetes:prod"]["ok"] is False
        finally:
            stop.set()
            thread.join(timeout=45)
    assert not thread.is_alive(), "the bot did not stop"


def _leader(port: int) -> bool | None:
    try:
        leader: bool | None = get(port, "/readyz")[1]["leader"]
    except OSError:
        return None
    return leader


@contextmanager
def silent_api_server() -> Iterator[int]:
    """A port that accepts connections and never answers: a hung API server."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield int(listener.getsockname()[1])


def test_readyz_fails_naming_the_kube_context_whose_api_server_does_not_answer(
    tmp_path: Path, redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    with silent_api_server() as port:
        kubeconfig = tmp_path / "kubeconfig"
        kubeconfig.write_text(_kubeconfig(f"http://127.0.0.1:{port}", context="prod"))
        monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
        monkeypatch.setenv("REDIS_URL", redis_server.url)
        registry = parse_registry(_SERVICES_IN_PROD)
        app = health_app(load_settings(), registry, leading=lambda: False)
        try:
            started = time.monotonic()
            status, _, body = call(app, "/readyz")
            took = time.monotonic() - started
        finally:
            app.close()
    shown = json.loads(body)
    assert took < PROBE_BOUND_S + 0.5
    assert status == 503
    assert shown["checks"]["redis"]["ok"] is True
    assert shown["checks"]["kubernetes:prod"]["ok"] is False
    assert shown["leader"] is False


_SERVICES_IN_PROD = """
services:
  fop-gate:
    namespace: shop
    channel: "#releases"
    context: prod
    strategy: {kind: rolling, deployment: fop-gate}
    approval: {approvers: [U0BOB0001]}
"""


def _kubeconfig(server: str, *, context: str) -> str:
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": context, "cluster": {"server": server}}],
            "users": [{"name": context, "user": {"token": "t"}}],
            "contexts": [{"name": context, "context": {"cluster": context, "user": context}}],
            "current-context": context,
        }
    )


def test_in_socket_mode_without_an_api_token_the_bot_answers_health_on_its_http_port(
    tmp_path: Path, redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    slack = LocalSlack(work_dir=tmp_path / "local-slack").start()
    port = free_port()
    config = tmp_path / "services.yaml"
    config.write_text("services: {}\n")
    env = {
        "CANARYBOT_SLACK_MODE": "socket",
        "SLACK_BOT_TOKEN": slack.bot_token,
        "SLACK_APP_TOKEN": slack.app_token,
        "SLACK_API_URL": slack.api_url,
        "REDIS_URL": redis_server.url,
        "CANARYBOT_CONFIG": str(config),
        "CANARYBOT_HTTP_HOST": "127.0.0.1",
        "CANARYBOT_HTTP_PORT": str(port),
        "CANARYBOT_WORK_MODE": "none",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("CANARYBOT_API_TOKEN", raising=False)
    bot = build_bot(load_settings())
    stop = threading.Event()
    thread = threading.Thread(target=serve, args=(bot,), kwargs={"stop": stop}, daemon=True)
    thread.start()
    try:
        wait_until(slack.has_connected, timeout_s=15, what="the Socket Mode connection")
        assert get(port, "/healthz") == (200, {"status": "ok"})
        status, shown = get(port, "/readyz")
        assert (status, shown["checks"]["redis"]["ok"], shown["leader"]) == (200, True, None)
        assert get(port, "/api/candidates")[0] == 405  # the API is there, still without a token
    finally:
        stop.set()
        thread.join(timeout=45)
        slack.stop()
    assert not thread.is_alive(), "the bot did not stop"
