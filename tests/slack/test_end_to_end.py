"""One whole release played in chat, against local-slack, by the bot as it is run in production.

The bot is the real `python -m bot serve` in a child process of its own, configured only through
its environment: Socket Mode to local-slack, the test Redis, the real Prometheus (which scrapes
the traffic app) and the cluster simulator. The test does what people do in Slack — alice types
`/canary`, clicks Promote, bob clicks Promote — while healthy traffic reaches both tracks of the
traffic app over loopback, and checks what the channel shows and what the cluster runs.
"""

from __future__ import annotations

import http.client
import json
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from playground.servers import stop_group
from sim.store import DEPLOYMENTS
from sim.traffic import TRACKS, TrafficApp
from tests.k8s.conftest import SimCluster
from tests.k8s.scenarios import deployment, service
from tests.release_rig import healthy_series, rolled_out
from tests.servers import (
    PrometheusServer,
    RedisServer,
    free_port,
    unconfigured_environment,
    wait_until,
)
from tests.slack.local_slack import ALICE, CAROL, RELEASES, LocalSlack, SlackMessage, SlackUser

REPO = Path(__file__).resolve().parents[2]
# services.yaml takes only user ids of Slack's length (U + 6 or more): local_slack.BOB's U0BOB
# is too short for it, so this module's emulator has a bob with a real-looking id instead.
BOB = SlackUser("U0BOB0001", "bob", "Bob Berg")
NAMESPACE, SERVICE = "shop", "fop-gate"
OLD, NEW = "reg/fop-gate:2026-11-15", "reg/fop-gate:2026-11-22"
WINDOW_S = 3  # long enough for Prometheus (scraping every second) to see it 2-3 times
# Alice is an approver too, so her refusal can only be for having started the release herself.
SERVICES = f"""
services:
  {SERVICE}:
    namespace: {NAMESPACE}
    channel: {RELEASES.id}
    strategy: {{kind: canary-deployment, deployment: {SERVICE}, service: {SERVICE}, steps: [1]}}
    observation: {{window: {WINDOW_S}s}}
    metrics: {{preset: generic, track_selector: label}}
    approval: {{approvers: [{ALICE.id}, {BOB.id}], gate: final}}
"""
MANIFESTS = "---".join(
    [
        deployment(SERVICE, {"app": SERVICE, "track": "stable"}, replicas=3, image=OLD),
        service(SERVICE, {"app": SERVICE}),
    ]
)
# Bounds of the background traffic, whatever happens to the test.
TRAFFIC_S, TRAFFIC_REQUESTS_PER_TRACK, TRAFFIC_GAP_S = 45.0, 15_000, 0.005
STOP_TIMEOUT_S = 10.0
BUTTONS = {"canary_promote", "canary_extend", "canary_undo"}


# --- the bot as a child process ---------------------------------------------------------------


@dataclass
class BotProcess:
    """`python -m bot serve` in a session of its own, so that anything it starts stops with it."""

    process: subprocess.Popen[bytes]
    log_path: Path

    def tail(self, lines: int = 60) -> str:
        """The end of what the bot printed, to explain a failure."""
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        end = "\n".join(text.splitlines()[-lines:])
        status = self.process.poll()
        state = "still running" if status is None else f"exited with {status}"
        return f"\n--- the bot ({state}); its output ends:\n{end or '(nothing)'}\n---"

    def check_alive(self) -> None:
        """Fail at once, with its output, if the bot has exited."""
        if self.process.poll() is not None:
            raise AssertionError(f"the bot exited early{self.tail()}")

    def stop(self) -> None:
        """SIGTERM to the bot's process group (its worker too), SIGKILL to what is left."""
        stop_group(self.process, grace_s=STOP_TIMEOUT_S)


def bot_environment(
    *,
    slack: LocalSlack,
    redis_url: str,
    prometheus_url: str,
    kubeconfig: Path,
    config: Path,
) -> dict[str, str]:
    """The inherited environment without Slack or canarybot settings, plus the test's own."""
    inherited = unconfigured_environment()
    return {
        **inherited,
        "PYTHONUNBUFFERED": "1",  # its output reaches the log as it happens
        "CANARYBOT_SLACK_MODE": "socket",
        "SLACK_BOT_TOKEN": slack.bot_token,
        "SLACK_APP_TOKEN": slack.app_token,
        "SLACK_API_URL": slack.api_url,
        "REDIS_URL": redis_url,
        "PROMETHEUS_URL": prometheus_url,
        "CANARYBOT_PROMETHEUS_TIMEOUT": "2",
        "KUBECONFIG": str(kubeconfig),
        "CANARYBOT_CONFIG": str(config),
        "CANARYBOT_ROLLOUT_TIMEOUT": "30s",
        # Socket Mode still listens, for probes and /metrics: a free port, not 3000.
        "CANARYBOT_HTTP_HOST": "127.0.0.1",
        "CANARYBOT_HTTP_PORT": str(free_port()),
    }


@contextmanager
def running_bot(env: Mapping[str, str], log_path: Path) -> Iterator[BotProcess]:
    """Start `python -m bot serve` from the repository root; stop it (and its group) after."""
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "bot", "serve"],
            cwd=REPO,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    bot = BotProcess(process, log_path)
    try:
        yield bot
    finally:
        bot.stop()


# --- traffic ----------------------------------------------------------------------------------


@dataclass
class HealthyTraffic:
    """Requests to both tracks over loopback, one thread a track, bounded in time and count."""

    app: TrafficApp
    codes: dict[str, Counter[int]] = field(default_factory=lambda: {t: Counter() for t in TRACKS})
    stop: threading.Event = field(default_factory=threading.Event)
    failures: list[BaseException] = field(default_factory=list)

    def drive(self, track: str) -> None:
        """Send requests to one track on one kept-alive connection until told to stop."""
        connection = http.client.HTTPConnection("127.0.0.1", self.app.port, timeout=10)
        deadline = time.monotonic() + TRAFFIC_S
        try:
            for _ in range(TRAFFIC_REQUESTS_PER_TRACK):
                if self.stop.wait(TRAFFIC_GAP_S) or time.monotonic() > deadline:
                    return
                connection.request("GET", f"/{NAMESPACE}/{SERVICE}/{track}")
                response = connection.getresponse()
                response.read()
                self.codes[track][response.status] += 1
        except Exception as err:  # reported by the test, not lost in the thread
            self.failures.append(err)
        finally:
            connection.close()


@contextmanager
def healthy_traffic(app: TrafficApp) -> Iterator[HealthyTraffic]:
    """Drive healthy traffic to stable and canary while the block runs."""
    traffic = HealthyTraffic(app)
    threads = [
        threading.Thread(target=traffic.drive, args=(track,), name=f"e2e-traffic-{track}")
        for track in TRACKS
    ]
    for thread in threads:
        thread.start()
    try:
        yield traffic
    finally:
        traffic.stop.set()
        for thread in threads:
            thread.join(timeout=15)


# --- fixtures ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def local_slack_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalSlack]:
    """The emulator of tests/slack/conftest.py, with this module's bob."""
    server = LocalSlack(work_dir=tmp_path_factory.mktemp("local-slack"), users=(ALICE, BOB, CAROL))
    try:
        yield server.start()
    finally:
        server.stop()


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[SimCluster]:
    """The simulator with fop-gate's stable Deployment (3 pods of OLD) rolled out."""
    with rolled_out(
        tmp_path / "sim", MANIFESTS, namespace=NAMESPACE, name=SERVICE, replicas=3
    ) as sim:
        yield sim


@pytest.fixture
def service_series(traffic_app: TrafficApp, prometheus_server: PrometheusServer) -> None:
    """fop-gate's tracks answer without errors, and Prometheus has their series."""
    healthy_series(traffic_app, prometheus_server, namespace=NAMESPACE, service=SERVICE)


@pytest.fixture
def bot(
    tmp_path: Path,
    local_slack: LocalSlack,
    redis_server: RedisServer,
    redis_client: object,  # an emptied Redis
    prometheus_server: PrometheusServer,
    service_series: None,
    cluster: SimCluster,
) -> Iterator[BotProcess]:
    """The bot, connected to local-slack in Socket Mode."""
    config = tmp_path / "services.yaml"
    config.write_text(SERVICES)
    env = bot_environment(
        slack=local_slack,
        redis_url=redis_server.url,
        prometheus_url=prometheus_server.url,
        kubeconfig=cluster.kubeconfig,
        config=config,
    )
    with running_bot(env, tmp_path / "bot.log") as running:

        def connected() -> bool:
            running.check_alive()
            return local_slack.has_connected()

        try:
            wait_until(connected, timeout_s=20, what="the bot's Socket Mode connection")
        except TimeoutError as err:
            raise AssertionError(f"{err}{running.tail()}") from err
        yield running


# --- reading the channel ----------------------------------------------------------------------


@dataclass(frozen=True)
class Channel:
    """#releases as people see it, with the bot's output at hand to explain a failure."""

    slack: LocalSlack
    bot: BotProcess

    def wait_for(
        self, matches: Callable[[SlackMessage], bool], *, what: str, timeout_s: float = 20
    ) -> SlackMessage:
        """The first message that `matches`; fails with the bot's output if none comes."""
        found: list[SlackMessage] = []

        def arrived() -> bool:
            self.bot.check_alive()
            found[:] = [m for m in self.slack.messages() if matches(m)]
            return bool(found)

        try:
            wait_until(arrived, timeout_s=timeout_s, what=what)
        except TimeoutError as err:
            raise AssertionError(f"{err}\n{self.listing()}{self.bot.tail()}") from err
        return found[0]

    def wait_until(self, ready: Callable[[], bool], *, what: str, timeout_s: float = 20) -> None:
        """Wait for `ready`; fails with the channel and the bot's output if it never is."""

        def checked() -> bool:
            self.bot.check_alive()
            return ready()

        try:
            wait_until(checked, timeout_s=timeout_s, what=what)
        except TimeoutError as err:
            raise AssertionError(f"{err}\n{self.listing()}{self.bot.tail()}") from err

    def listing(self) -> str:
        """One line per message: where it is, its subtype and text, to explain a failure."""
        lines = [
            f"{m.get('ts')} thread={m.get('thread_ts', '-')} {m.get('subtype', '')} "
            f"{m.get('text', '')[:160]!r}"
            for m in self.slack.messages()
        ]
        return "--- #releases:\n" + "\n".join(lines)

    def explain(self) -> str:
        """What to show when an assertion fails."""
        return f"\n{self.listing()}{self.bot.tail()}"


def shows(message: SlackMessage, text: str) -> bool:
    """Whether `text` is in the message's fallback text or its blocks."""
    return text in message.get("text", "") or text in json.dumps(message.get("blocks", []))


def buttons(message: SlackMessage) -> set[str]:
    """The action ids of the message's buttons."""
    return {
        str(element.get("action_id"))
        for block in message.get("blocks", [])
        for element in block.get("elements", [])
        if isinstance(element, dict) and element.get("type") == "button"
    }


def in_thread(card: SlackMessage) -> Callable[[SlackMessage], bool]:
    """Matches the replies in the card's thread."""
    return lambda m: m.get("thread_ts") == card["ts"]


def image(cluster: SimCluster, name: str) -> str:
    """The image a Deployment's pods are asked to run."""
    obj = cluster.server.store.get(DEPLOYMENTS, NAMESPACE, name)
    return str(obj["spec"]["template"]["spec"]["containers"][0]["image"])


def replicas(cluster: SimCluster, name: str) -> int:
    """The replicas a Deployment asks for."""
    return int(cluster.server.store.get(DEPLOYMENTS, NAMESPACE, name)["spec"]["replicas"])


# --- the release ------------------------------------------------------------------------------


def test_a_release_started_in_chat_is_judged_refused_to_its_requester_and_promoted_by_an_approver(
    local_slack: LocalSlack, bot: BotProcess, cluster: SimCluster, traffic_app: TrafficApp
) -> None:
    channel = Channel(local_slack, bot)
    bot_user = local_slack.bot_user_id

    with healthy_traffic(traffic_app) as traffic:
        local_slack.command(user=ALICE.id, text=f"{SERVICE} start image={NEW}")

        card = channel.wait_for(
            lambda m: m.get("user") == bot_user and "thread_ts" not in m, what="the release card"
        )
        assert shows(card, SERVICE), channel.explain()
        assert shows(card, NEW), channel.explain()
        assert shows(card, f"<@{ALICE.id}>"), channel.explain()

        summary = channel.wait_for(
            lambda m: in_thread(card)(m) and "TPS2XX" in json.dumps(m.get("blocks", [])),
            what="the window's summary in the thread",
            timeout_s=WINDOW_S + 25,
        )
        assert ": PASS — " in summary["text"], channel.explain()
        assert shows(summary, "TPS5XX"), channel.explain()

        request = channel.wait_for(
            lambda m: in_thread(card)(m) and bool(buttons(m)),
            what="the approval request in the thread",
        )
    assert traffic.failures == [], traffic.failures
    for track in TRACKS:  # both tracks were really served, and healthily
        assert set(traffic.codes[track]) == {200}, (track, traffic.codes[track])

    assert buttons(request) == BUTTONS, channel.explain()
    assert shows(request, f"<@{BOB.id}>"), channel.explain()
    assert float(request["ts"]) > float(summary["ts"]), channel.explain()
    channel.wait_until(
        lambda: local_slack.message(card["ts"])["text"].startswith(f"{SERVICE}: awaiting approval"),
        what="the card to say the release awaits approval",
    )
    waiting = local_slack.message(card["ts"])
    assert image(cluster, f"{SERVICE}-canary") == NEW
    assert replicas(cluster, f"{SERVICE}-canary") == 1

    # Alice started the release: her Promote is refused, to her alone, and changes nothing.
    local_slack.interact(user=ALICE.id, ts=request["ts"], action_id="canary_promote")

    refusal = channel.wait_for(
        lambda m: m.get("subtype") == "ephemeral" and m.get("ephemeral_to") == ALICE.id,
        what="the refusal for alice",
    )
    assert "another approver must promote it" in refusal["text"], channel.explain()
    assert refusal.get("thread_ts") == card["ts"], channel.explain()
    assert local_slack.message(request["ts"]) == request, channel.explain()
    assert local_slack.message(card["ts"]) == waiting, channel.explain()
    assert image(cluster, SERVICE) == OLD
    assert replicas(cluster, f"{SERVICE}-canary") == 1

    # Bob, an approver, promotes.
    local_slack.interact(user=BOB.id, ts=request["ts"], action_id="canary_promote")

    channel.wait_until(
        lambda: "edited" in local_slack.message(request["ts"]),
        what="the approval request to be replaced",
    )
    resolved = local_slack.message(request["ts"])
    assert f"Promoted by <@{BOB.id}>" in resolved["text"], channel.explain()
    assert buttons(resolved) == set(), channel.explain()
    assert resolved.get("thread_ts") == card["ts"], channel.explain()
    channel.wait_until(
        lambda: local_slack.message(card["ts"])["text"].startswith(f"{SERVICE}: promoted"),
        what="the card to say the release is promoted",
    )
    promoted = local_slack.message(card["ts"])
    assert shows(promoted, NEW), channel.explain()
    assert image(cluster, SERVICE) == NEW
    assert replicas(cluster, f"{SERVICE}-canary") == 0

    # The window's chart is in the thread, and the channel itself holds only the card.
    chart = channel.wait_for(
        lambda m: in_thread(card)(m) and m.get("subtype") == "file_share",
        what="the window's chart in the thread",
    )
    assert [f["mimetype"] for f in chart["files"]] == ["image/png"], channel.explain()
    notes = [
        m["text"].split(":", 2)[1].strip()
        for m in local_slack.replies(card["ts"])
        if m.get("user") == bot_user and m.get("text", "").startswith(f"{SERVICE}: ")
    ]
    assert notes == ["deploying", "observing", "awaiting approval", "promoting", "promoted"], (
        channel.explain()
    )
    top_level = [m["ts"] for m in local_slack.messages() if "thread_ts" not in m]
    assert top_level == [card["ts"]], channel.explain()
    ephemerals = [m for m in local_slack.messages() if m.get("subtype") == "ephemeral"]
    assert [m.get("ephemeral_to") for m in ephemerals] == [ALICE.id], channel.explain()
    bot.check_alive()
    assert "Traceback" not in bot.log_path.read_text(errors="replace"), bot.tail()
