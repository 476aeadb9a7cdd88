"""The Slack front door over HTTP, tested the way Bolt tests itself.

The real bot runs in HTTP mode (waitress and Bolt's WSGI adapter) on a free port, its engine on
the cluster simulator and the test Redis. Requests are signed with the app's signing secret as
Slack signs them; the bot's Web API calls go to a local recording server (`SLACK_API_URL`), and
the tests assert on what that server received. Approval clicks are in test_front_door_clicks.py.
"""

from __future__ import annotations

import gc
import json
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from bot.app import Bot, build_bot, serve
from bot.release import Phase, Release
from bot.settings import load_settings
from bot.store import ReleaseStore
from bot.work_queue import WorkQueue
from sim.store import DEPLOYMENTS, NotFoundError
from tests.k8s.conftest import SimCluster, start_sim
from tests.k8s.scenarios import OLD, deployment, service
from tests.servers import RedisServer, free_port, wait_until
from tests.slack.recording import (
    ApiCall,
    RecordingSlackApi,
    Reply,
    SlackUser,
    command_body,
    post_signed,
)

SECRET = "front-door-signing-secret"
ALICE = SlackUser("U0ALICE01", "alice")  # starts releases; also on call, but not for her own
BOB = SlackUser("U0BOB0001", "bob")  # an approver by name in services.yaml
CAROL = SlackUser("U0CAROL01", "carol")  # in the channel, approves nothing
DAVE = SlackUser("U0DAVE001", "dave")  # on call: an approver through the user group
ONCALL = "S0ONCALL1"
GROUPS = {ONCALL: [ALICE.id, DAVE.id]}  # what usergroups.users.list answers
CHANNEL = "C0RELEASE1"  # where commands are typed
NEW = "reg/fop-gate:2026-11-22"
WINDOW_S = 3  # observation windows: long enough for Prometheus to scrape each 2-3 times

SERVICES = f"""
defaults:
  namespace: shop
  channel: "#fop-releases"
  observation: {{window: {WINDOW_S}s}}
  metrics: {{preset: generic, track_selector: label}}
  approval: {{approvers: [{BOB.id}], approver_groups: [{ONCALL}]}}
services:
  fop-gate:
    strategy: {{kind: canary-deployment, deployment: fop-gate, service: fop-gate, steps: [1]}}
  fop-ramp:
    strategy: {{kind: canary-deployment, deployment: fop-ramp, service: fop-ramp, steps: [1, 2]}}
    approval: {{approvers: [{BOB.id}], approver_groups: [{ONCALL}], gate: every-step}}
"""
SERVICE_NAMES = ("fop-gate", "fop-ramp")
MANIFESTS = "---".join(
    doc
    for name in SERVICE_NAMES
    for doc in (
        deployment(name, {"app": name, "track": "stable"}, replicas=3),
        service(name, {"app": name}),
    )
)


class _Errors(logging.Handler):
    """Keeps every record logged at ERROR or with a traceback, from any thread."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.ERROR or record.exc_info:
            self.records.append(record)

    def lines(self) -> list[str]:
        return [f"{r.name}: {r.getMessage()} {r.exc_info or ''}" for r in self.records]


@dataclass
class FrontDoor:
    """The running bot, the servers around it, and requests to it as Slack sends them."""

    bot: Bot
    url: str
    slack: RecordingSlackApi
    cluster: SimCluster
    store: ReleaseStore
    errors: _Errors
    queue: WorkQueue  # the work the front door queued for the bot's worker

    @property
    def jobs(self) -> int:
        """How many requests the front door has queued for the worker since the test began."""
        return self.queue.done() + self.queue.waiting() + self.queue.held()

    def command(self, text: str, user: SlackUser = ALICE, **sent: Any) -> Reply:
        """`/canary text` typed by `user`, signed; `sent` goes to post_signed."""
        return post_signed(
            self.url, command_body(text, user=user, channel_id=CHANNEL), SECRET, **sent
        )

    def settle(self, jobs: int, *, timeout_s: float = 20) -> None:
        """Wait until `jobs` requests have been queued for the worker and all are done."""
        wait_until(
            lambda: self.queue.done() >= jobs and self.queue.waiting() + self.queue.held() == 0,
            timeout_s=timeout_s,
            what=f"{jobs} jobs of the bot's workers",
        )

    def live(self, service: str = "fop-gate") -> Release:
        """The service's live release; fails if there is none."""
        release = self.store.live_release(service)
        assert release is not None, f"{service} has no live release"
        return release

    def stable_image(self, name: str = "fop-gate") -> str:
        """The image the stable Deployment's pods are asked to run."""
        return _image(self.cluster, name)

    def logged_errors(self) -> list[str]:
        """Everything logged at ERROR or with a traceback since the bot started."""
        return self.errors.lines()


def _image(cluster: SimCluster, name: str) -> str:
    obj = cluster.server.store.get(DEPLOYMENTS, "shop", name)
    return str(obj["spec"]["template"]["spec"]["containers"][0]["image"])


@contextmanager
def running_cluster(directory: Path) -> Iterator[SimCluster]:
    """The simulator with fop-gate and fop-ramp (3 stable pods each) rolled out; then stopped."""
    sim = start_sim(directory)
    try:
        sim.load(MANIFESTS)

        def ready() -> bool:
            for name in SERVICE_NAMES:
                status = sim.server.store.get(DEPLOYMENTS, "shop", name).get("status") or {}
                if status.get("readyReplicas") != 3:
                    return False
            return True

        wait_until(ready, timeout_s=10, what="stable Deployments")
        yield sim
    finally:
        sim.server.stop()


@contextmanager
def serving(
    *,
    tmp_path: Path,
    cluster: SimCluster,
    slack: RecordingSlackApi,
    redis_server: RedisServer,
    prometheus_url: str,
    monkeypatch: pytest.MonkeyPatch,
    services: str = SERVICES,
) -> Iterator[FrontDoor]:
    """The product in HTTP mode, configured through its environment; stopped when done.

    The worker runs in the bot's process, and the queue's counts let a test wait until the
    bot has finished what it acknowledged. `services` is the services file it reads.
    """
    config = tmp_path / "services.yaml"
    config.write_text(services)
    port = free_port()
    env = {
        "SLACK_BOT_TOKEN": "xoxb-front-door",
        "SLACK_SIGNING_SECRET": SECRET,
        "SLACK_API_URL": slack.url,
        "CANARYBOT_SLACK_MODE": "http",
        "CANARYBOT_HTTP_HOST": "127.0.0.1",
        "CANARYBOT_HTTP_PORT": str(port),
        "REDIS_URL": redis_server.url,
        "PROMETHEUS_URL": prometheus_url,
        "CANARYBOT_PROMETHEUS_TIMEOUT": "2",
        "KUBECONFIG": str(cluster.kubeconfig),
        "CANARYBOT_CONFIG": str(config),
        "CANARYBOT_ROLLOUT_TIMEOUT": "30s",
        "CANARYBOT_WORK_MODE": "thread",  # the worker in this process, where its log is seen
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    errors = _Errors()
    logging.getLogger().addHandler(errors)
    bot = build_bot(load_settings(), pacing_s=0)
    queue = bot.front.queue
    stop = threading.Event()
    failed: list[BaseException] = []

    def run() -> None:
        try:
            serve(bot, stop=stop)
        except BaseException as err:  # reported by the fixture, not lost in the thread
            failed.append(err)

    thread = threading.Thread(target=run, name="canarybot-serve")
    thread.start()
    client = redis_server.client()
    url = f"http://127.0.0.1:{port}/slack/events"
    try:
        wait_until(lambda: bool(failed) or _listening(port), timeout_s=10, what="the bot")
        assert not failed, f"the bot did not start: {failed[0]!r}"
        yield FrontDoor(bot, url, slack, cluster, ReleaseStore(client), errors, queue)
    finally:
        # What was acknowledged finishes before the bot and the servers around it stop.
        wait_until(lambda: queue.waiting() + queue.held() == 0, timeout_s=30, what="the worker")
        stop.set()
        thread.join(timeout=45)
        client.close()
        logging.getLogger().removeHandler(errors)
    assert not thread.is_alive(), "the bot did not stop"
    assert not failed, f"the bot failed: {failed[0]!r}"


@contextmanager
def judging_door(
    *,
    tmp_path: Path,
    redis_server: RedisServer,
    prometheus_url: str,
    monkeypatch: pytest.MonkeyPatch,
    services: str = SERVICES,
) -> Iterator[FrontDoor]:
    """:func:`serving` on a simulator of its own, with a recording Slack API that knows the
    on-call group, judging windows from the Prometheus at `prometheus_url`."""
    with (
        RecordingSlackApi(group_members=GROUPS) as slack,
        running_cluster(tmp_path / "sim") as cluster,
        serving(
            tmp_path=tmp_path,
            cluster=cluster,
            slack=slack,
            redis_server=redis_server,
            prometheus_url=prometheus_url,
            monkeypatch=monkeypatch,
            services=services,
        ) as running,
    ):
        yield running


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


# --- fixtures ---------------------------------------------------------------------------------


@pytest.fixture
def slack() -> Iterator[RecordingSlackApi]:
    """The recording Web API; alice and dave are on call."""
    with RecordingSlackApi(group_members=GROUPS) as api:
        yield api


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[SimCluster]:
    """The simulator with the services' stable Deployments rolled out."""
    with running_cluster(tmp_path / "sim") as sim:
        yield sim


@pytest.fixture
def front_door(
    tmp_path: Path,
    cluster: SimCluster,
    slack: RecordingSlackApi,
    redis_server: RedisServer,
    redis_client: object,  # an emptied Redis
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[FrontDoor]:
    """The bot in HTTP mode. No Prometheus answers: these tests end before any window does."""
    with serving(
        tmp_path=tmp_path,
        cluster=cluster,
        slack=slack,
        redis_server=redis_server,
        prometheus_url=f"http://127.0.0.1:{free_port()}",
        monkeypatch=monkeypatch,
    ) as door:
        yield door


def ephemeral_to(user: SlackUser) -> Callable[[ApiCall], bool]:
    """Matches a chat.postEphemeral for `user`."""
    return lambda call: call.params.get("user") == user.id


# --- signatures -------------------------------------------------------------------------------


def test_a_signed_help_command_is_answered_in_the_ack(front_door: FrontDoor) -> None:
    reply = front_door.command("help")

    assert reply.status == 200
    answer = reply.json()
    assert "`/canary` runs canary releases:" in answer["text"]
    assert "/canary SERVICE start image=IMG" in answer["text"]
    assert answer.get("response_type", "ephemeral") == "ephemeral"
    assert front_door.slack.calls("chat.postEphemeral") == []  # the ack said it all


def test_the_bot_serves_with_what_start_up_built_left_out_of_garbage_collection(
    front_door: FrontDoor,
) -> None:
    # A full collection over start-up's objects would hold every request thread for 60 ms or
    # more (bot.app.startup_frozen); the test's own objects are frozen with them here.
    assert gc.get_freeze_count() > 10_000
    assert front_door.command("help").status == 200


def test_a_forged_signature_is_rejected_with_401(front_door: FrontDoor) -> None:
    reply = front_door.command("help", headers={"X-Slack-Signature": "v0=" + "0" * 64})

    assert reply.status == 401
    assert "runs canary releases" not in reply.body.decode()


def test_a_request_signed_with_another_secret_is_rejected_with_401(
    front_door: FrontDoor,
) -> None:
    body = command_body("list", user=ALICE, channel_id=CHANNEL)

    reply = post_signed(front_door.url, body, "someone-elses-secret")

    assert reply.status == 401
    assert front_door.jobs == 0


def test_a_timestamp_six_minutes_old_is_rejected_with_401(front_door: FrontDoor) -> None:
    reply = front_door.command("list", timestamp=int(time.time()) - 6 * 60)

    assert reply.status == 401
    assert front_door.jobs == 0  # nothing was run for it


# --- commands ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "explained"),
    [
        pytest.param(
            f"fop-gat start image={NEW}",
            "unknown service 'fop-gat': did you mean fop-gate?",
            id="unknown-service",
        ),
        pytest.param("fop-gate start", "start needs image=IMG", id="missing-image"),
        pytest.param(
            f"fop-gate start image={NEW} window=soon",
            "window=soon is not a duration",
            id="bad-window",
        ),
        pytest.param(
            "fop-gate launch", "unknown action 'launch': use start, status", id="unknown-action"
        ),
        pytest.param(f"start fop-gate image={NEW}", "put the service first", id="wrong-order"),
    ],
)
def test_a_malformed_command_is_explained_in_the_ack_for_the_asker_only(
    front_door: FrontDoor, text: str, explained: str
) -> None:
    reply = front_door.command(text)

    assert reply.status == 200
    answer = reply.json()
    assert explained in answer["text"]
    assert "Usage" in json.dumps(answer["blocks"])
    assert answer.get("response_type", "ephemeral") == "ephemeral"
    assert front_door.jobs == 0  # nothing was started
    assert front_door.store.live_release("fop-gate") is None
    assert front_door.logged_errors() == []


_GRAMMAR = st.sampled_from(
    [
        *SERVICE_NAMES,
        "start", "status", "pause", "resume", "promote", "undo", "abort", "history", "list",
        "help",
        "image=", "image=reg/fop-gate", "image=latest", "window=", "window=10m", "window=0s",
        "steps=1,2", "steps=2,1", "strategy=istio", "2", "<http://reg/x|reg/x>", "&lt;", "`",
    ]
)  # fmt: skip
_WORD = st.one_of(_GRAMMAR, st.text(max_size=12))
_COMMAND_TEXT = st.one_of(
    st.text(max_size=300),
    st.lists(_WORD, max_size=6).map(" ".join),
    # A known first word, so that more texts get past it into the rest of the grammar.
    st.builds(
        lambda first, rest: " ".join([first, *rest]),
        st.sampled_from([*SERVICE_NAMES, "FOP-GATE", "list", "help"]),
        st.lists(_WORD, max_size=3),
    ),
)


@settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(text=_COMMAND_TEXT)
@example(text="x" * 1001)
@example(text="fop-gate status")
@example(text="fop-gate promote")
@example(text="list")
def test_any_command_text_gets_a_reply_and_raises_nothing(front_door: FrontDoor, text: str) -> None:
    user = SlackUser(f"U0FUZZ{front_door.jobs}{time.monotonic_ns() % 10**6}", "fuzz")
    jobs = front_door.jobs

    reply = front_door.command(text, user)

    assert reply.status == 200
    answer = reply.json()
    if answer:
        event("answered in the ack")
        assert answer["text"]  # an error or the help, right in the ack
    else:
        event("answered by a worker")
        # Acknowledged with nothing to say yet: the worker answers the asker alone.
        said = front_door.slack.wait_for("chat.postEphemeral", ephemeral_to(user), timeout=10)
        assert said.text
        front_door.settle(jobs + 1)
    assert front_door.store.live_release("fop-gate") is None
    assert front_door.logged_errors() == []
    assert front_door.command("help").status == 200  # still healthy


def test_start_is_acked_at_once_then_the_card_and_its_thread_follow_the_release(
    front_door: FrontDoor,
) -> None:
    slack = front_door.slack

    reply = front_door.command(f"fop-gate start image={NEW}")

    assert (reply.status, reply.body) == (200, b"")  # acked before any rollout work
    card = slack.wait_for("chat.postMessage", lambda call: "thread_ts" not in call.params)
    assert card.params["channel"] == "#fop-releases"
    assert card.shows(NEW)
    assert card.shows(f"<@{ALICE.id}>")
    channel, ts = card.reply["channel"], card.reply["ts"]
    slack.wait_for("chat.postMessage", lambda call: call.text == "fop-gate: observing")
    front_door.settle(1)
    replies = [call for call in slack.calls("chat.postMessage") if call is not card]
    assert [call.text for call in replies] == ["fop-gate: deploying", "fop-gate: observing"]
    assert {(call.params["channel"], call.params["thread_ts"]) for call in replies} == {
        (channel, ts)
    }
    updates = slack.calls("chat.update")
    assert {(call.params["channel"], call.params["ts"]) for call in updates} == {(channel, ts)}
    assert updates[-1].text.startswith("fop-gate: observing — ")
    assert front_door.live().phase is Phase.OBSERVING
    assert _image(front_door.cluster, "fop-gate-canary") == NEW
    assert front_door.stable_image() == OLD
    assert front_door.logged_errors() == []


def test_start_with_its_own_steps_and_window_runs_the_release_by_them(
    front_door: FrontDoor,
) -> None:
    slack = front_door.slack

    reply = front_door.command(f"fop-gate start image={NEW} steps=2 window=1h")

    assert (reply.status, reply.body) == (200, b"")
    slack.wait_for("chat.postMessage", lambda call: call.text == "fop-gate: observing")
    front_door.settle(1)
    release = front_door.live()
    assert release.plan.step_values == (2,)  # services.yaml says [1]
    assert release.plan.window == timedelta(hours=1)
    assert _replicas(front_door.cluster, "fop-gate-canary") == 2
    card = slack.calls("chat.update")[-1]
    assert card.shows("started with `steps=2 window=1h`")
    assert card.shows("(2 canary pods)")
    assert front_door.logged_errors() == []


def _replicas(cluster: SimCluster, name: str) -> int | None:
    """The Deployment's desired replicas; None if it does not exist."""
    try:
        obj = cluster.server.store.get(DEPLOYMENTS, "shop", name)
    except NotFoundError:
        return None
    return int(obj["spec"]["replicas"])
