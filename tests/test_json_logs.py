"""Log lines: one JSON object each, naming the release the bot was working on when it logged.

A real release runs through the engine on the cluster simulator and the test Redis, with a
hook that logs as the Slack notifier would; then a real `canarybot work` process logs to
stderr in each format, and answers /healthz and /metrics on its own CANARYBOT_HEALTH_PORT.
"""

from __future__ import annotations

import http.client
import io
import json
import logging
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.engine import Engine, EngineHooks
from bot.log_format import configure_logging, current_release, working_on
from bot.registry import parse_registry
from bot.release import Actor, Door, EventKind, Phase, Release
from bot.rollout_strategies import ClusterPool, strategy_for
from bot.service_spec import ServiceSpec
from bot.settings import LogFormat
from bot.store import ReleaseStore
from bot.transitions import Applied
from bot.wiring import utc_now
from k8s.strategy import ReleaseStrategy
from tests.k8s.conftest import SimCluster
from tests.k8s.scenarios import CANARY_DEPLOYMENT, NEW, services_yaml
from tests.release_rig import rolled_out
from tests.servers import RedisServer, free_port, unconfigured_environment, wait_until

REPO = Path(__file__).resolve().parents[1]
ALICE = Actor(id="U0ALICE01", name="alice", door=Door.SLACK)
log = logging.getLogger("tests.notifier")  # stands in for the Slack notifier's logger


@contextmanager
def logged_json() -> Iterator[io.StringIO]:
    """What the root logger writes meanwhile, through the bot's JSON handler."""
    stream = io.StringIO()
    root = logging.getLogger()
    level = root.level
    handler = configure_logging(LogFormat.JSON, stream=stream)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def parsed(stream: io.StringIO) -> list[dict[str, Any]]:
    """Each line as JSON: fails on any line that is not one object."""
    lines = stream.getvalue().splitlines()
    assert lines, "nothing was logged"
    objects = [json.loads(line) for line in lines]
    assert all(isinstance(obj, dict) for obj in objects)
    return objects


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[SimCluster]:
    """The simulator with fop-gate's 9 stable pods rolled out."""
    with rolled_out(
        tmp_path / "sim", CANARY_DEPLOYMENT.manifests, namespace="shop", name="fop-gate", replicas=9
    ) as sim:
        yield sim


def engine(cluster: SimCluster, store: ReleaseStore) -> Engine:
    """The engine on the simulator, whose hooks log what they do as the notifier does."""
    pool = ClusterPool(kubeconfig=str(cluster.kubeconfig))

    def strategies(spec: ServiceSpec) -> ReleaseStrategy:
        return strategy_for(spec, pool.for_context(spec.context), timeout=timedelta(seconds=30))

    def card(release: Release) -> None:
        log.info("card updated: %s", release.phase.value)

    def note(release: Release, text: str, _alert: bool) -> None:
        log.warning("said in the thread: %s", text)

    return Engine(
        store=store,
        registry=parse_registry(services_yaml(CANARY_DEPLOYMENT)),
        strategies=strategies,
        clock=utc_now,
        hooks=EngineHooks(progress=[card], notify=note),
    )


def test_every_line_logged_while_a_release_is_worked_on_names_it(
    cluster: SimCluster, store: ReleaseStore
) -> None:
    bot = engine(cluster, store)
    with logged_json() as stream:
        log.info("before any release")
        started = bot.start("fop-gate", NEW, ALICE)
        assert isinstance(started, Applied)
        release_id = started.release.id
        undone = bot.act("fop-gate", EventKind.UNDO, ALICE, reason="aborted")
        assert isinstance(undone, Applied)
        assert undone.release.phase is Phase.UNDONE
        log.info("after the release")

    lines = parsed(stream)
    assert lines[0]["message"] == "before any release"
    assert "release" not in lines[0]
    assert lines[-1]["message"] == "after the release"
    assert "release" not in lines[-1]
    during = lines[1:-1]
    assert [line["message"] for line in during if line["message"].startswith("card")] == [
        "card updated: deploying",
        "card updated: observing",
        "card updated: undoing",
        "card updated: undone",
    ]
    assert {line["release"] for line in during} == {release_id}
    assert current_release() is None  # nothing leaks into what this thread does next


def test_each_line_has_time_level_logger_and_message() -> None:
    with logged_json() as stream, working_on("fop-gate-20261122-1"):
        log.warning("kept %d of %d", 1, 2)
        try:
            raise RuntimeError("boom")
        except RuntimeError:
            log.exception("it failed")

    first, second = parsed(stream)
    assert datetime.fromisoformat(first.pop("time")).utcoffset() == timedelta(0)
    assert first == {
        "level": "WARNING",
        "logger": "tests.notifier",
        "message": "kept 1 of 2",
        "release": "fop-gate-20261122-1",
    }
    assert second["level"] == "ERROR"
    assert "RuntimeError: boom" in second["exc_info"]


# --- a real worker process ----------------------------------------------------------------------


def _get(port: int, path: str) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def _answers(port: int) -> bool:
    try:
        return _get(port, "/healthz")[0] == 200
    except OSError:
        return False


def run_worker(
    tmp_path: Path, redis_server: RedisServer, *, log_format: str | None
) -> tuple[list[str], bytes]:
    """`canarybot work` with a health port: its stderr lines, and its /metrics, once it
    answers /healthz and is stopped with SIGTERM."""
    config = tmp_path / "services.yaml"
    config.write_text(services_yaml(CANARY_DEPLOYMENT))
    port = free_port()
    env = unconfigured_environment() | {
        "SLACK_BOT_TOKEN": "xoxb-json-logs",
        "SLACK_API_URL": "http://127.0.0.1:9/",  # never called: no job comes
        "REDIS_URL": redis_server.url,
        "CANARYBOT_CONFIG": str(config),
        "KUBECONFIG": str(tmp_path / "no-kubeconfig"),
        "CANARYBOT_HEALTH_PORT": str(port),
    }
    if log_format is not None:
        env["CANARYBOT_LOG_FORMAT"] = log_format
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "work"],
        cwd=REPO,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        wait_until(lambda: _answers(port) or process.poll() is not None, timeout_s=20, what="work")
        status, metrics = _get(port, "/metrics")
        assert status == 200
    finally:
        process.terminate()
        _, err = process.communicate(timeout=30)
    assert process.returncode == 0, err.decode(errors="replace")
    return err.decode().splitlines(), metrics


def test_a_worker_logs_json_by_default_and_serves_health_on_its_own_port(
    tmp_path: Path, redis_server: RedisServer, redis_client: object
) -> None:
    lines, metrics = run_worker(tmp_path, redis_server, log_format=None)

    objects = [json.loads(line) for line in lines]
    assert {"time", "level", "logger", "message"} <= set(objects[0])
    messages = [obj["message"] for obj in objects]
    assert any(
        m.startswith("listening for health and metrics on http://127.0.0.1:") for m in messages
    )
    assert b"canarybot_releases_finished_total" in metrics
    assert [obj for obj in objects if obj["level"] not in ("INFO", "WARNING")] == []


def test_a_worker_logs_readable_lines_when_told_text(
    tmp_path: Path, redis_server: RedisServer, redis_client: object
) -> None:
    lines, _ = run_worker(tmp_path, redis_server, log_format="text")

    record = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (INFO|WARNING|ERROR) [\w.]+: (.*)")
    matches = [record.match(line) for line in lines]
    messages = [match.group(2) for match in matches if match is not None]
    assert matches[0] is not None, lines
    assert any(m.startswith("listening for health and metrics on http://") for m in messages)
    assert not any(line.startswith("{") for line in lines)
    assert "Traceback" not in "\n".join(lines)  # nor anything else went wrong
