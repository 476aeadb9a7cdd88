"""The parts of the playground, started together and stopped together.

Started in this order and stopped in the reverse one: the simulated cluster, the traffic app
and its users, Prometheus (or, without it, recorded metrics, said on screen), Redis,
local-slack, and the bot. local-slack, Redis, Prometheus and the bot are child processes in
sessions of their own: a Ctrl-C at the terminal reaches only the playground, which stops them;
and the kernel stops them should the playground itself die (PR_SET_PDEATHSIG).
"""

from __future__ import annotations

import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from bot.registry import Registry
from playground.bot_process import BotProcess, BotSettings, bot_environment
from playground.cluster import start_cluster
from playground.local_slack import LocalSlack
from playground.servers import PrometheusServer, RedisServer, free_port, wait_until
from playground.services import EXAMPLE, PEOPLE, RELEASES, write_playground_services
from playground.traffic import ServiceUsers
from sim.recorded_prometheus import Answers, RecordedPrometheus
from sim.server import SimServer
from sim.traffic import TrafficApp

Say = Callable[[str], None]
Server = RedisServer | PrometheusServer | LocalSlack  # child processes with a stop()
RECORDED_ANSWERS = Path(__file__).resolve().parents[1] / "bench" / "data" / "scale_prometheus.json"
DEMO_SERVICE = "fop-gate"


@dataclass(frozen=True)
class PlaygroundOptions:
    """What `canarybot playground` was asked for."""

    window: timedelta = timedelta(seconds=20)  # each observation window
    min_requests: int = 20  # canary requests a window needs to be judged
    bad_canary: bool = False  # the next canary of fop-gate answers with errors
    work_dir: Path | None = None  # where logs and data go (None: a temporary directory)


@dataclass(frozen=True)
class Playground:
    """Everything that runs, for the screen and the scripted release."""

    registry: Registry
    cluster: SimServer
    traffic: TrafficApp
    users: ServiceUsers
    prometheus_url: str
    prometheus: PrometheusServer | None  # None: not installed, recorded answers stand in
    redis: RedisServer
    slack: LocalSlack
    bot: BotProcess
    work_dir: Path

    def child_pids(self) -> dict[str, int]:
        """The playground's child processes by name (the bot's worker is in the bot's group)."""
        children = {
            "local-slack": self.slack.process,
            "redis-server": self.redis.process,
            "prometheus": self.prometheus.process if self.prometheus else None,
            "bot": self.bot.process,
        }
        return {name: process.pid for name, process in children.items() if process is not None}

    def ports(self) -> dict[str, int]:
        """Where each part listens on 127.0.0.1."""
        return {
            "local-slack": self.slack.port,
            "redis": self.redis.port,
            "prometheus": int(self.prometheus_url.rsplit(":", 1)[1]),
            "cluster": int(self.cluster.url.rsplit(":", 1)[1]),
            "traffic": self.traffic.port,
        }


@contextmanager
def running_playground(options: PlaygroundOptions, *, say: Say) -> Iterator[Playground]:
    """Start every part (see the module docstring); stop them all when the block ends."""
    with ExitStack() as stack:
        work_dir = options.work_dir or Path(
            stack.enter_context(tempfile.TemporaryDirectory(prefix="canarybot-playground-"))
        )
        work_dir.mkdir(parents=True, exist_ok=True)
        services = work_dir / "services.yaml"
        registry = write_playground_services(
            services, window=options.window, min_requests=options.min_requests
        )
        kubeconfig = work_dir / "kubeconfig"
        bot_log = work_dir / "bot.log"
        cluster = start_cluster(registry, kubeconfig)
        stack.callback(cluster.stop)
        say(f"  cluster simulator: {len(registry)} services of {EXAMPLE.name}, stable pods running")
        traffic = stack.enter_context(TrafficApp())
        users = stack.enter_context(ServiceUsers(traffic, cluster, registry))
        if options.bad_canary:
            users.bad_next_canary(DEMO_SERVICE)
        servers: list[Server] = []  # stopped together, after the bot
        stack.callback(_stop_together, servers)
        prometheus_url, prometheus = _start_metrics(stack, work_dir, traffic, servers, say=say)
        redis = RedisServer(data_dir=work_dir / "redis", detached=True)
        servers.append(redis)
        redis.start()
        slack = LocalSlack(
            work_dir=work_dir / "local-slack",
            users=PEOPLE,
            channel=RELEASES,
            workspace="canarybot playground",
            detached=True,
        )
        servers.append(slack)
        slack.start()
        say(f"  local-slack, Redis and Prometheus: up; the bot: starting (log: {bot_log})")
        bot = BotProcess(bot_log)
        stack.callback(bot.stop)
        settings = BotSettings(redis.url, prometheus_url, kubeconfig, services, free_port())
        bot.start(bot_environment(slack, settings))
        if prometheus is not None:
            wait_until(lambda: _scraped(prometheus), timeout_s=30, what="Prometheus' first scrape")

        def connected() -> bool:
            bot.check_alive()
            return slack.has_connected()

        try:  # generous: on a busy 2-CPU machine the bot's imports alone may take 30 s
            wait_until(connected, timeout_s=120, what="the bot's Socket Mode connection")
        except TimeoutError as err:
            raise RuntimeError(f"{err}{bot.tail()}") from err
        yield Playground(
            registry=registry,
            cluster=cluster,
            traffic=traffic,
            users=users,
            prometheus_url=prometheus_url,
            prometheus=prometheus,
            redis=redis,
            slack=slack,
            bot=bot,
            work_dir=work_dir,
        )
        say("stopping: the bot, local-slack, Redis, Prometheus, the traffic, the cluster")


def _start_metrics(
    stack: ExitStack, work_dir: Path, traffic: TrafficApp, servers: list[Server], *, say: Say
) -> tuple[str, PrometheusServer | None]:
    """The real Prometheus scraping `traffic` (not waiting for its first scrape) or, when it is
    not installed, recorded answers: the URL, and the server when it is a real one."""
    if shutil.which("prometheus") is None:
        say(
            "prometheus is not installed (scripts/bootstrap installs it): windows are judged on "
            f"RECORDED metrics from {RECORDED_ANSWERS.name}, not on the traffic of this "
            "playground, so --bad-canary changes nothing"
        )
        recorded = stack.enter_context(RecordedPrometheus(Answers.load(RECORDED_ANSWERS)))
        return recorded.url, None
    prometheus = PrometheusServer(
        data_dir=work_dir / "prometheus", targets=(f"127.0.0.1:{traffic.port}",), detached=True
    )
    servers.append(prometheus)
    prometheus.start(wait_for_scrape=False)
    return prometheus.url, prometheus


def _stop_together(servers: list[Server]) -> None:
    """Stop every server at once: none needs another to stop, and each may take seconds."""
    threads = [
        threading.Thread(target=server.stop, name=f"stop-{i}") for i, server in enumerate(servers)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def _scraped(prometheus: PrometheusServer) -> bool:
    return bool(prometheus.query(f'up{{job="{prometheus.job}"}} == 1'))
