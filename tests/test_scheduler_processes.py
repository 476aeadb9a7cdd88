"""Scheduled work across real bot processes: killed with SIGKILL, restarted, and two at once.

Each bot is the real `python -m bot work` in a process of its own, configured only through its
environment: the test Redis, the real Prometheus (scraping the traffic app, which answers both
tracks over loopback), the cluster simulator, and a recording Slack Web API. The test process
starts a release with an engine of its own whose scheduler only adds jobs (as the CLI does);
the bots hold the leader lease in turn and judge the windows. What each test checks, from the
audit trail and the Slack calls: every window judged once, none skipped, one summary each.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
import redis

from bot.engine import Engine, EngineHooks
from bot.leader import LeaderLease
from bot.registry import Registry, load_registry
from bot.release import Actor, Door, EventKind, Phase
from bot.rollout_strategies import ClusterPool, strategy_for
from bot.scheduler import ReleaseScheduler, job_writer
from bot.service_spec import ServiceSpec
from bot.store import ReleaseStore
from bot.transitions import Applied
from bot.wiring import utc_now
from k8s.strategy import ReleaseStrategy
from sim.traffic import TrackBehaviour, TrafficApp
from tests.k8s.conftest import SimCluster
from tests.k8s.scenarios import deployment, service
from tests.release_rig import healthy_series, rolled_out
from tests.servers import PrometheusServer, RedisServer, unconfigured_environment, wait_until
from tests.slack.recording import RecordingSlackApi
from tests.slack.test_end_to_end import healthy_traffic

REPO = Path(__file__).resolve().parents[1]
NAMESPACE, SERVICE = "shop", "fop-gate"
OLD, NEW = "reg/fop-gate:2026-11-15", "reg/fop-gate:2026-11-22"
CHANNEL = "C0RELEASES"
ALICE = Actor("U0ALICE01", "alice", Door.CLI)
WINDOW_S = 3
SUMMARY = re.compile(rf"{SERVICE} (window \d+/\d+ of step \d+/\d+): [A-Z]+ ")
LEASE_S = 2  # a dead leader's lease lapses this long after its last renewal
VERDICTS = {EventKind.WINDOW_PASSED, EventKind.WINDOW_FAILED, EventKind.WINDOW_INCONCLUSIVE}
MANIFESTS = "---".join(
    [
        deployment(SERVICE, {"app": SERVICE, "track": "stable"}, replicas=3, image=OLD),
        service(SERVICE, {"app": SERVICE}),
    ]
)


def services(*, steps: str, windows: int, approval: str, on_fail: str = "undo") -> str:
    """fop-gate's services.yaml for these tests."""
    return f"""
services:
  {SERVICE}:
    namespace: {NAMESPACE}
    channel: {CHANNEL}
    strategy: {{kind: canary-deployment, deployment: {SERVICE}, service: {SERVICE}, steps: {steps}}}
    observation: {{window: {WINDOW_S}s, windows_per_step: {windows}}}
    metrics: {{preset: generic, track_selector: label}}
    approval: {approval}
    on_fail: {on_fail}
"""


# --- the bots -------------------------------------------------------------------------------


@dataclass
class Bot:
    """`python -m bot work` in a session of its own."""

    name: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def tail(self, lines: int = 40) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        state = "running" if self.process.poll() is None else f"exited {self.process.poll()}"
        end = "\n".join(text.splitlines()[-lines:])
        return f"\n--- {self.name} ({state}):\n{end}\n---"

    def kill(self) -> None:
        """SIGKILL, as the OOM killer or a node failure would."""
        with suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        with suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.kill()


@dataclass
class Bots:
    """Starts bots with one environment; stops every one after the test."""

    env: dict[str, str]
    directory: Path
    started: list[Bot]

    def start(self, name: str) -> Bot:
        log_path = self.directory / f"{name}.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "bot", "work"],
                cwd=REPO,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        bot = Bot(name, process, log_path)
        self.started.append(bot)
        return bot

    def logs(self) -> str:
        return "".join(bot.tail() for bot in self.started)


# --- fixtures -------------------------------------------------------------------------------


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[SimCluster]:
    """The simulator with fop-gate's stable Deployment (3 pods of OLD) rolled out."""
    with rolled_out(
        tmp_path / "sim", MANIFESTS, namespace=NAMESPACE, name=SERVICE, replicas=3
    ) as sim:
        yield sim


@pytest.fixture
def traffic(traffic_app: TrafficApp, prometheus_server: PrometheusServer) -> TrafficApp:
    """fop-gate's tracks answer without errors; Prometheus has their series."""
    healthy_series(traffic_app, prometheus_server, namespace=NAMESPACE, service=SERVICE)
    return traffic_app


@pytest.fixture
def slack() -> Iterator[RecordingSlackApi]:
    with RecordingSlackApi() as api:
        yield api


@pytest.fixture
def bots(
    tmp_path: Path,
    redis_server: RedisServer,
    redis_client: redis.Redis,  # an emptied Redis
    prometheus_server: PrometheusServer,
    cluster: SimCluster,
    slack: RecordingSlackApi,
) -> Iterator[Bots]:
    inherited = unconfigured_environment()
    env = inherited | {
        "PYTHONUNBUFFERED": "1",
        "SLACK_BOT_TOKEN": "xoxb-test",
        "SLACK_API_URL": slack.url,
        "REDIS_URL": redis_server.url,
        "PROMETHEUS_URL": prometheus_server.url,
        "CANARYBOT_PROMETHEUS_TIMEOUT": "2",
        "KUBECONFIG": str(cluster.kubeconfig),
        "CANARYBOT_CONFIG": str(tmp_path / "services.yaml"),
        "CANARYBOT_ROLLOUT_TIMEOUT": "30s",
        "CANARYBOT_LEADER_LEASE_TTL": f"{LEASE_S}s",
        "CANARYBOT_SCHEDULER_INTERVAL": "1s",
    }
    made = Bots(env, tmp_path, [])
    try:
        yield made
    finally:
        for bot in made.started:
            bot.stop()


@dataclass
class Releaser:
    """The test's own engine, as the CLI has one: it starts releases and schedules their jobs,
    and never runs a job."""

    engine: Engine
    store: ReleaseStore
    scheduler: ReleaseScheduler

    def start(self) -> str:
        outcome = self.engine.start(SERVICE, NEW, ALICE)
        assert isinstance(outcome, Applied), outcome
        return outcome.release.id


@contextmanager
def releaser(
    config: str, *, tmp_path: Path, redis_server: RedisServer, cluster: SimCluster
) -> Iterator[Releaser]:
    path = tmp_path / "services.yaml"
    path.write_text(config)
    registry: Registry = load_registry(path)
    client = redis_server.client()
    store = ReleaseStore(client)
    pool = ClusterPool(kubeconfig=str(cluster.kubeconfig))

    def strategies(spec: ServiceSpec) -> ReleaseStrategy:
        return strategy_for(spec, pool.for_context(spec.context), timeout=timedelta(seconds=30))

    holder: list[ReleaseScheduler] = []
    hooks = EngineHooks(schedule=lambda release, action: holder[0].schedule(release, action))
    engine = Engine(
        store=store, registry=registry, strategies=strategies, clock=utc_now, hooks=hooks
    )
    scheduler = job_writer(redis_url=redis_server.url, registry=registry)
    holder.append(scheduler)
    try:
        yield Releaser(engine, store, scheduler)
    finally:
        scheduler.shutdown()
        client.close()


# --- what happened --------------------------------------------------------------------------


def verdicts(store: ReleaseStore, release_id: str) -> list[tuple[str, str]]:
    """Each applied window verdict of the release: (from phase, verdict), oldest first."""
    entries = store.audit_trail(service=SERVICE, limit=200)
    return [
        (str(entry.from_phase), entry.event.value)
        for entry in entries
        if entry.release_id == release_id and entry.applied and entry.event in VERDICTS
    ]


def summaries(slack: RecordingSlackApi) -> list[str]:
    """Which window each posted window summary is of ("window 1/2 of step 1/2"), in order."""
    found = (SUMMARY.match(call.text) for call in slack.calls("chat.postMessage"))
    return [match[1] for match in found if match]


def leader_pid(client: redis.Redis) -> int | None:
    """The pid in the lease's value (host:pid:token), if anyone leads."""
    value = LeaderLease(client, ttl_s=1).holder()
    return int(value.split(":")[1]) if value else None


def wait_for(check: Callable[[], bool], *, what: str, bots: Bots, timeout_s: float) -> None:
    try:
        wait_until(check, timeout_s=timeout_s, what=what)
    except TimeoutError as err:
        raise AssertionError(f"{err}{bots.logs()}") from err


def wait_to_lead(bots: Bots, client: redis.Redis, *candidates: Bot) -> int:
    """Wait until one of `candidates` holds the lease; its pid."""
    pids = {bot.process.pid for bot in candidates}
    wait_for(lambda: leader_pid(client) in pids, what="a bot to lead", bots=bots, timeout_s=30)
    leader = leader_pid(client)
    assert leader is not None
    return leader


def wait_for_phase(
    rel: Releaser, release_id: str, phase: Phase, *, bots: Bots, timeout_s: float
) -> None:
    """Wait until the stored release is in `phase`."""

    def reached() -> bool:
        release = rel.store.get(release_id)
        return release is not None and release.phase is phase

    wait_for(reached, what=f"{release_id} {phase.value}", bots=bots, timeout_s=timeout_s)


# --- the tests ------------------------------------------------------------------------------


def test_a_bot_killed_in_the_middle_of_a_window_is_restarted_and_judges_it_once(
    tmp_path: Path,
    redis_server: RedisServer,
    redis_client: redis.Redis,
    cluster: SimCluster,
    traffic: TrafficApp,
    slack: RecordingSlackApi,
    bots: Bots,
) -> None:
    config = services(steps="[1]", windows=1, approval="{approvers: [U0BOB0001], gate: none}")
    with (
        releaser(config, tmp_path=tmp_path, redis_server=redis_server, cluster=cluster) as rel,
        healthy_traffic(traffic),
    ):
        first = bots.start("first")
        wait_to_lead(bots, redis_client, first)
        release_id = rel.start()
        observing = rel.store.get(release_id)
        assert observing is not None
        assert observing.phase is Phase.OBSERVING
        first.kill()  # in the middle of the window
        bots.start("second")
        wait_for_phase(rel, release_id, Phase.PROMOTED, bots=bots, timeout_s=45)
        threading.Event().wait(WINDOW_S)  # room for a second judgment, which must not come

    assert verdicts(rel.store, release_id) == [("observing", "window_passed")], bots.logs()
    assert summaries(slack) == ["window 1/1 of step 1/1"]
    image = cluster.jsonpath("deployment/fop-gate", "{.spec.template.spec.containers[0].image}")
    assert image == NEW


def test_two_bots_judge_each_window_once_and_the_survivor_takes_over_from_a_killed_leader(
    tmp_path: Path,
    redis_server: RedisServer,
    redis_client: redis.Redis,
    cluster: SimCluster,
    traffic: TrafficApp,
    slack: RecordingSlackApi,
    bots: Bots,
) -> None:
    config = services(steps="[1, 2]", windows=2, approval="{approvers: [U0BOB0001], gate: none}")
    with (
        releaser(config, tmp_path=tmp_path, redis_server=redis_server, cluster=cluster) as rel,
        healthy_traffic(traffic),
    ):
        pair = {bot.process.pid: bot for bot in (bots.start("one"), bots.start("two"))}
        wait_to_lead(bots, redis_client, *pair.values())
        release_id = rel.start()
        wait_for(
            lambda: len(verdicts(rel.store, release_id)) >= 1,
            what="the first verdict",
            bots=bots,
            timeout_s=30,
        )
        leader = leader_pid(redis_client)
        assert leader is not None
        pair[leader].kill()
        wait_for_phase(rel, release_id, Phase.PROMOTED, bots=bots, timeout_s=60)
        threading.Event().wait(WINDOW_S)
        survivor = leader_pid(redis_client)

    assert survivor in pair, bots.logs()
    assert survivor != leader
    assert verdicts(rel.store, release_id) == [("observing", "window_passed")] * 4, bots.logs()
    posted = "\n".join(f"  {call.method} {call.text[:90]}" for call in slack.calls())
    assert summaries(slack) == [
        "window 1/2 of step 1/2",
        "window 2/2 of step 1/2",
        "window 1/2 of step 2/2",
        "window 2/2 of step 2/2",
    ], f"Slack got:\n{posted}{bots.logs()}"


def test_a_failed_window_nobody_answers_is_undone_at_the_deadline_and_the_thread_says_why(
    tmp_path: Path,
    redis_server: RedisServer,
    redis_client: redis.Redis,
    cluster: SimCluster,
    traffic: TrafficApp,
    slack: RecordingSlackApi,
    bots: Bots,
) -> None:
    # The night shift: the canary fails, the policy asks on-call, and on-call sleeps through
    # the reminder and the deadline, after which the service's policy undoes the release.
    approval = (
        "{approvers: [U0BOB0001], oncall_group: S0ONCALL1, gate: final, deadline: 8s, "
        "on_deadline: undo}"
    )
    config = services(steps="[1]", windows=1, approval=approval, on_fail="ask")
    traffic.set_behaviour(NAMESPACE, SERVICE, "canary", TrackBehaviour(error_share=0.5))
    try:
        with (
            releaser(config, tmp_path=tmp_path, redis_server=redis_server, cluster=cluster) as rel,
            healthy_traffic(traffic),
        ):
            wait_to_lead(bots, redis_client, bots.start("night"))
            release_id = rel.start()
            wait_for_phase(rel, release_id, Phase.UNDONE, bots=bots, timeout_s=60)
    finally:
        traffic.set_behaviour(NAMESPACE, SERVICE, "canary", TrackBehaviour())

    assert verdicts(rel.store, release_id) == [("observing", "window_failed")]
    oncall = "<!subteam^S0ONCALL1>"
    reminded = slack.wait_for(
        "chat.postMessage", lambda call: "nobody has answered" in call.text, timeout=10
    )
    told = slack.wait_for(
        "chat.postMessage", lambda call: "nobody answered within 8s; undoing" in call.text
    )
    assert oncall in reminded.text
    assert oncall in told.text
    image = cluster.jsonpath("deployment/fop-gate", "{.spec.template.spec.containers[0].image}")
    assert image == OLD
    assert cluster.jsonpath("deployment/fop-gate-canary", "{.spec.replicas}") == "0"
