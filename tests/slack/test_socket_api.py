"""In Socket Mode the bot needs no port for Slack; with an API token it serves `/api/…` only."""

from __future__ import annotations

import http.client
import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.request import urlopen

import pytest

from bot.app import build_bot, serve
from bot.settings import load_settings
from tests.servers import RedisServer, free_port, wait_until
from tests.slack.local_slack import LocalSlack

TOKEN = "pipeline-token"
SERVICES = """
defaults:
  channel: "#releases"
  approval: {approvers: [U0BOB0001]}
services:
  fop-gate:
    strategy: {kind: rolling, deployment: fop-gate}
"""


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@contextmanager
def socket_bot(
    *,
    local_slack: LocalSlack,
    redis_server: RedisServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    token: str | None,
) -> Iterator[int]:
    """The front door in Socket Mode (no worker); yields the HTTP port it was given."""
    config = tmp_path / "services.yaml"
    config.write_text(SERVICES)
    port = free_port()
    env = {
        "CANARYBOT_SLACK_MODE": "socket",
        "SLACK_BOT_TOKEN": local_slack.bot_token,
        "SLACK_APP_TOKEN": local_slack.app_token,
        "SLACK_API_URL": local_slack.api_url,
        "REDIS_URL": redis_server.url,
        "CANARYBOT_CONFIG": str(config),
        "CANARYBOT_HTTP_HOST": "127.0.0.1",
        "CANARYBOT_HTTP_PORT": str(port),
        "CANARYBOT_WORK_MODE": "none",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    if token is None:
        monkeypatch.delenv("CANARYBOT_API_TOKEN", raising=False)
    else:
        monkeypatch.setenv("CANARYBOT_API_TOKEN", token)
    bot = build_bot(load_settings())
    stop = threading.Event()
    thread = threading.Thread(target=serve, args=(bot,), kwargs={"stop": stop}, daemon=True)
    thread.start()
    try:
        wait_until(local_slack.has_connected, timeout_s=15, what="the Socket Mode connection")
        yield port
    finally:
        stop.set()
        thread.join(timeout=45)  # as the front door's fixture: Socket Mode closes slowly
    assert not thread.is_alive(), "the bot did not stop"


def post(port: int, path: str, body: dict[str, str]) -> tuple[int, dict[str, object]]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request(
            "POST",
            path,
            body=json.dumps(body),
            headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
        )
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


def test_with_a_token_socket_mode_serves_the_candidates_api_and_nothing_else(
    local_slack: LocalSlack,
    redis_server: RedisServer,
    redis_client: object,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with socket_bot(
        local_slack=local_slack,
        redis_server=redis_server,
        tmp_path=tmp_path,
        monkeypatch=monkeypatch,
        token=TOKEN,
    ) as port:
        wait_until(lambda: _listening(port), timeout_s=10, what="the API's port")
        recorded = post(port, "/api/candidates", {"service": "fop-gate", "image": "reg/a:1"})
        slack = post(port, "/slack/events", {})

    assert recorded[0] == 201
    assert recorded[1]["image"] == "reg/a:1"
    assert slack[0] == 404  # Slack's requests come over the socket, never this port


def test_without_a_token_socket_mode_serves_probes_but_refuses_the_api(
    local_slack: LocalSlack,
    redis_server: RedisServer,
    redis_client: object,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with socket_bot(
        local_slack=local_slack,
        redis_server=redis_server,
        tmp_path=tmp_path,
        monkeypatch=monkeypatch,
        token=None,
    ) as port:
        wait_until(lambda: _listening(port), timeout_s=10, what="the probes' port")
        refused = post(port, "/api/candidates", {"service": "fop-gate", "image": "reg/a:1"})
        with urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10) as health:
            alive = health.status
    assert refused[0] == 503
    assert alive == 200
