"""How many live releases one bot replica holds, and how late it wakes up for their windows.

One real ``python -m bot work`` (the replica, holding the scheduler's lease) judges the windows
of N canary-deployment releases (default 200), one service each, with 30 s windows. The bench
starts the releases itself, as the CLI would, with an engine of its own whose scheduler only
adds jobs, spread over the first window. Around the bot, all on loopback: the bot's Redis
(real, AOF on as in production); the Kubernetes API simulator, one endpoint with each service
in a namespace of its own and each namespace in a simulator shard of its own
(:mod:`sim.sharded`: one simulator holding hundreds of Deployments spends a whole CPU
reconciling); a recording Slack Web API; and Prometheus' query API answered with answers
recorded from a real Prometheus for the bot's own queries (:mod:`sim.recorded_prometheus`;
record them again with ``python -m bench.scale_answers``).

Every release stays live through the measured period (several windows per step, more steps
than the run lasts, no approval gate), which lasts WINDOWS windows after the last start.

Run from the repository root::

    python -m bench.scale [--releases 200] [--window 30] [--windows 3] [--threads N]

It prints the table and the checks, and last the line ``scale: releases=N wake_p99=…s
rss=…MB``; it exits 1, naming the failed checks on stderr, when any check fails.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import redis

from bench.report import Check, positive, report
from bench.scale_figures import (
    Spread,
    WindowWake,
    cpu_s,
    deployed_steps,
    judged_windows,
    overdue_windows,
    peak_rss_mb,
    problem_kinds,
    thread_count,
    verdict_counts,
)
from bench.scale_rig import Child, Releaser, load_cluster, namespace_of, services_yaml, steps_for
from bot import keys
from bot.leader import LeaderLease
from bot.store import ReleaseStore
from sim.sharded import ShardedSim
from tests.servers import RedisServer, free_port, unconfigured_environment, wait_until
from tests.slack.recording import RecordingSlackApi

OFFICIAL_RELEASES = 200
OFFICIAL_WINDOW_S = 30
OFFICIAL_WINDOWS = 3
MAX_WAKE_P99_S = 2.0
MAX_RSS_MB = 300.0
POD_READY_S = 0.05  # a new pod becomes Ready this long after it starts
ROOT = Path(__file__).resolve().parents[1]
# The bot gets a CPU of its own, as a pod with a one-CPU limit would; everything that stands in
# for servers elsewhere (the simulators, Slack, Prometheus, Redis) and the releaser run on the
# others. With one CPU nothing is pinned.
_CPUS = sorted(os.sched_getaffinity(0))
BOT_CPUS: set[int] = {_CPUS[-1]} if len(_CPUS) > 1 else set()
HARNESS_CPUS: set[int] = set(_CPUS[:-1]) or set(_CPUS)
ANSWERS = ROOT / "bench" / "data" / "scale_prometheus.json"


@dataclass(frozen=True)
class Setup:
    """What one run is asked to do."""

    releases: int = OFFICIAL_RELEASES
    window_s: int = OFFICIAL_WINDOW_S
    windows: int = OFFICIAL_WINDOWS  # measured windows after the last start
    threads: int | None = None  # CANARYBOT_SCHEDULER_THREADS; None: the bot's default
    answers: Path = ANSWERS


@dataclass
class Outcome:
    """What one run measured."""

    setup: Setup
    started: int = 0  # releases whose start was applied
    start_failures: list[str] = field(default_factory=list)
    live_max: int = 0  # live releases in Redis at once, sampled every second
    phases: Counter[str] = field(default_factory=Counter)  # of the live releases at the stop
    windows: list[WindowWake] = field(default_factory=list)
    unmatched: int = 0  # committed window verdicts whose lateness could not be read
    overdue: list[float] = field(default_factory=list)  # due and unjudged at the stop: ≥ late
    queries: dict[str, int] = field(default_factory=dict)  # answered by the Prometheus API
    k8s_calls: Counter[str] = field(default_factory=Counter)  # by verb, after the set-up
    steps: int = 0  # steps the cluster reached (applied DEPLOYED events)
    slack_calls: Counter[str] = field(default_factory=Counter)
    rss_mb: float = math.nan  # the bot's VmHWM
    bot_cpu_s: float = math.nan  # from the first start to the stop
    bot_threads: int = 0  # at the stop
    held_s: float = 0.0  # from the first start to the stop
    # Seconds each start took, its canary's rollout included.
    starts: Spread = field(default_factory=lambda: Spread.of([]))
    starts_span_s: float = 0.0  # from the first start to the last one applied
    cpu: dict[str, float] = field(default_factory=dict)  # CPU seconds while held, by process
    log_problems: list[str] = field(default_factory=list)  # the bot's WARNING/ERROR lines

    @property
    def wake(self) -> Spread:
        """Lateness of every due window: judged ones, and unjudged ones as lower bounds."""
        return Spread.of([w.late_s for w in self.windows] + self.overdue)

    @property
    def queries_per_window(self) -> float:
        """Queries the Prometheus API answered per judged window."""
        answered = self.queries.get("query", 0) + self.queries.get("query_range", 0)
        return answered / len(self.windows) if self.windows else math.nan

    @property
    def k8s_calls_per_step(self) -> float:
        """Kubernetes API requests per step the cluster reached."""
        return sum(self.k8s_calls.values()) / self.steps if self.steps else math.nan


def measure(setup: Setup) -> Outcome:
    """Start the servers, the bot and the releases; hold them; stop it all; read the figures."""
    outcome = Outcome(setup)
    with tempfile.TemporaryDirectory(prefix="scale-") as tmp, ExitStack() as stack:
        if BOT_CPUS:  # the servers started below inherit this; put back at the end
            stack.callback(os.sched_setaffinity, 0, os.sched_getaffinity(0))
            os.sched_setaffinity(0, HARNESS_CPUS)
        rig = _around_the_bot(setup, Path(tmp), stack)
        bot = Child("bot", rig.directory / "bot.log", cpus=BOT_CPUS)
        bot.start(["-m", "bot", "work"], env=_bot_env(setup, rig))
        stack.callback(bot.stop)
        wait_until(lambda: _leads(rig.client, bot), timeout_s=60, what="the bot to lead")
        releaser = Releaser(config=rig.config, kubeconfig=rig.kubeconfig, redis_url=rig.redis_url)
        stack.callback(releaser.close)
        sampler = LiveSampler(rig.client).start()
        stack.callback(sampler.stop)
        pids = {"bot": bot.pid, "bench": os.getpid(), **rig.pids}
        first, cpu_before = time.monotonic(), {name: cpu_s(pid) for name, pid in pids.items()}
        started = releaser.start_all(setup.releases, over_s=setup.window_s)
        outcome.started = sum(1 for s in started if s.release_id)
        outcome.start_failures = [f"{s.service}: {s.failure}" for s in started if s.failure]
        outcome.starts = Spread.of([s.took_s for s in started])
        outcome.starts_span_s = max(s.done_at for s in started) - first
        _hold(bot, until=time.monotonic() + setup.windows * setup.window_s)
        stop_at = datetime.now(UTC)
        outcome.held_s = time.monotonic() - first
        outcome.cpu = {name: cpu_s(pid) - cpu_before[name] for name, pid in pids.items()}
        outcome.rss_mb, outcome.bot_cpu_s = peak_rss_mb(bot.pid), outcome.cpu["bot"]
        outcome.bot_threads = thread_count(bot.pid)
        outcome.queries = rig.prometheus.get_json("/_recorded/counts")
        outcome.log_problems = bot.problems()  # before its shutdown says anything
        bot.stop()
        sampler.stop()
        outcome.live_max = sampler.most
        _read_redis(outcome, rig.client, [s.release_id for s in started if s.release_id], stop_at)
        outcome.k8s_calls = Counter(request.verb for request in rig.cluster.requests())
        outcome.slack_calls = Counter(call.method for call in rig.slack.calls())
        # The run is over. APScheduler looks for due jobs once more as it shuts down, and fails
        # on each with a traceback: let the releaser's scheduler find none.
        rig.client.delete(keys.scheduler_jobs(), keys.scheduler_run_times())
    return outcome


@dataclass(frozen=True)
class Rig:
    """The servers around the bot, started, with what the bot is configured with."""

    directory: Path
    redis_url: str
    client: redis.Redis
    cluster: ShardedSim
    kubeconfig: Path
    config: Path
    prometheus: Child
    slack: RecordingSlackApi
    pids: dict[str, int]  # the servers in processes of their own


def _around_the_bot(setup: Setup, directory: Path, stack: ExitStack) -> Rig:
    """Redis, the cluster with every service's stable Deployment, services.yaml, Prometheus'
    recorded answers and the Slack Web API, each stopped by `stack`."""
    redis_server = RedisServer(directory / "redis", appendonly=True).start()
    stack.callback(redis_server.stop)
    namespaces = [namespace_of(number) for number in range(setup.releases)]
    cluster = ShardedSim(namespaces, ready_after_s=POD_READY_S).start()
    stack.callback(cluster.stop)
    load_cluster(cluster, setup.releases)
    config = directory / "services.yaml"
    config.write_text(services_yaml(setup.releases, window_s=setup.window_s, windows=setup.windows))
    prometheus = Child("prometheus", directory / "prometheus.log", port=free_port())
    answers = ["-m", "sim.recorded_prometheus", "--answers", str(setup.answers)]
    prometheus.start(answers, env=dict(os.environ))
    stack.callback(prometheus.stop)
    slack = RecordingSlackApi().start()
    stack.callback(slack.stop)
    client = redis_server.client()
    stack.callback(client.close)
    wait_until(prometheus.listening, timeout_s=30, what="the recorded Prometheus")
    cluster.clear_requests()  # from here on, every request is the bot's or the releaser's
    pids = {"prometheus": prometheus.pid}
    if redis_server.process is not None:
        pids["redis"] = redis_server.process.pid
    return Rig(
        directory=directory,
        redis_url=redis_server.url,
        client=client,
        cluster=cluster,
        kubeconfig=cluster.write_kubeconfig(directory / "kubeconfig"),
        config=config,
        prometheus=prometheus,
        slack=slack,
        pids=pids,
    )


def _bot_env(setup: Setup, rig: Rig) -> dict[str, str]:
    """The bot's settings, as an operator sets them."""
    inherited = unconfigured_environment()
    env = inherited | {
        "PYTHONUNBUFFERED": "1",
        "SLACK_BOT_TOKEN": "xoxb-bench",
        "SLACK_API_URL": rig.slack.url,
        "REDIS_URL": rig.redis_url,
        "PROMETHEUS_URL": rig.prometheus.url,
        "KUBECONFIG": str(rig.kubeconfig),
        "CANARYBOT_CONFIG": str(rig.config),
        "CANARYBOT_ROLLOUT_TIMEOUT": "60s",
        "CANARYBOT_LOG_FORMAT": "text",  # the report picks warnings out of its lines
    }
    if setup.threads is not None:
        env["CANARYBOT_SCHEDULER_THREADS"] = str(setup.threads)
    return env


def _leads(client: redis.Redis, bot: Child) -> bool:
    bot.check()
    holder = LeaderLease(client, ttl_s=1).holder()
    return holder is not None and holder.split(":")[1] == str(bot.pid)


def _hold(bot: Child, *, until: float) -> None:
    """Let the bot work until `until` (monotonic); raise if it dies meanwhile."""
    while (left := until - time.monotonic()) > 0:
        bot.check()
        time.sleep(min(1.0, left))


def _read_redis(
    outcome: Outcome, client: redis.Redis, release_ids: list[str], at: datetime
) -> None:
    store = ReleaseStore(client)
    judged = judged_windows(client, store)
    outcome.windows, outcome.unmatched = judged.windows, len(judged.unmatched)
    live = store.live_releases()
    outcome.phases = Counter(release.phase.value for release in live)
    outcome.overdue = overdue_windows(live, at=at)
    outcome.steps = deployed_steps(store, release_ids)


class LiveSampler:
    """Counts the live releases in Redis every second, from a thread, keeping the most."""

    def __init__(self, client: redis.Redis, *, every_s: float = 1.0) -> None:
        """Sample `client`'s live-release index every `every_s`."""
        self._client = client
        self._every_s = every_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="scale-live-sampler", daemon=True)
        self.most = 0

    def start(self) -> LiveSampler:
        """Start sampling; returns self."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop sampling (again is harmless)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.wait(self._every_s):
            self.most = max(self.most, int(self._client.scard(keys.live_index())))


# --- the report -----------------------------------------------------------------------------


def checks(outcome: Outcome) -> list[Check]:
    """The conditions one replica is held to, on this run's figures."""
    setup, wake = outcome.setup, outcome.wake
    official = (
        setup.releases >= OFFICIAL_RELEASES
        and setup.window_s == OFFICIAL_WINDOW_S
        and setup.windows >= OFFICIAL_WINDOWS
    )
    return [
        Check(
            outcome.live_max >= OFFICIAL_RELEASES,
            f"live releases held at once: {outcome.live_max} ≥ {OFFICIAL_RELEASES}",
        ),
        Check(wake.p99 <= MAX_WAKE_P99_S, f"wake p99 {wake.p99:.2f} s ≤ {MAX_WAKE_P99_S:g} s"),
        Check(
            outcome.rss_mb <= MAX_RSS_MB,
            f"bot peak RSS {outcome.rss_mb:.0f} MB ≤ {MAX_RSS_MB:g} MB",
        ),
        Check(
            not outcome.start_failures and outcome.started == setup.releases,
            f"every release started: {outcome.started} of {setup.releases}",
        ),
        Check(
            outcome.unmatched == 0,
            f"every judged window's lateness was read: {outcome.unmatched} were not",
        ),
        Check(
            outcome.queries.get("unrecorded", 0) == 0,
            f"every query had a recorded answer: {outcome.queries.get('unrecorded', 0)} had not",
        ),
        Check(
            official,
            f"{setup.releases} releases, {setup.window_s:g} s windows, {setup.windows} windows ≥ "
            f"{OFFICIAL_RELEASES}, {OFFICIAL_WINDOW_S:g} s, {OFFICIAL_WINDOWS} (an official run)",
        ),
    ]


def header(setup: Setup) -> list[str]:
    """What was run, how, and on what."""
    steps = steps_for(setup.windows)
    threads = setup.threads if setup.threads is not None else "the default"
    return [
        f"scale: {setup.releases} live canary-deployment releases held by one `python -m bot "
        f"work` (scheduler threads: {threads}); {os.cpu_count()} CPUs, {_placement()}",
        f"each release: its own service and Slack channel, {setup.window_s:g} s windows, 2 per "
        f"step, canary replicas {list(steps)} beside 3 stable, gate none; started over the first "
        f"{setup.window_s:g} s, then held {setup.windows} windows",
        f"cluster: the simulator, a namespace a service, sharded by namespace behind one "
        f"endpoint, pods Ready {POD_READY_S:g} s after they start; Prometheus: answers recorded "
        f"from a real Prometheus ({setup.answers.name}); Slack: a recording Web API; Redis: "
        "real, AOF",
        "lateness: a window's committed verdict time minus its end (from Redis: the verdict's "
        "idempotency key names the window's end, its audit entry has the time); windows due "
        "and unjudged at the stop count as late by at least stop - end",
    ]


def _placement() -> str:
    if not BOT_CPUS:
        return "nothing pinned"
    others = ", ".join(map(str, sorted(HARNESS_CPUS)))
    return f"the bot pinned to CPU {min(BOT_CPUS)}, everything else to {others}"


def table(outcome: Outcome) -> list[str]:
    """The figures, one a line."""
    wake, verdicts = outcome.wake, verdict_counts(outcome.windows)
    queries = outcome.queries
    answered = queries.get("query", 0) + queries.get("query_range", 0)
    calls = ", ".join(
        f"{verb} {n / max(1, outcome.steps):.1f}" for verb, n in outcome.k8s_calls.most_common()
    )
    slack = sum(outcome.slack_calls.values())
    windows = len(outcome.windows)
    cpu_per_s = outcome.bot_cpu_s / outcome.held_s if outcome.held_s else math.nan
    phases = ", ".join(f"{phase} {n}" for phase, n in outcome.phases.most_common())
    rows = [
        ("live releases", f"{outcome.live_max} at most; at the stop: {phases or 'none'}"),
        (
            "windows judged",
            f"{windows} ({', '.join(f'{v} {n}' for v, n in verdicts.most_common()) or '-'}); "
            f"due and unjudged at the stop: {len(outcome.overdue)}",
        ),
        (
            "wake lateness",
            f"p50 {wake.p50:.2f} s  p99 {wake.p99:.2f} s  max {wake.max:.2f} s  (n={wake.n})",
        ),
        (
            "Prometheus",
            f"{outcome.queries_per_window:.1f} queries per window "
            f"({queries.get('query', 0)} instant, {queries.get('query_range', 0)} range, "
            f"{queries.get('unrecorded', 0)} unrecorded; {answered} in all)",
        ),
        (
            "Kubernetes",
            f"{outcome.k8s_calls_per_step:.1f} calls per step over {outcome.steps} steps ({calls})",
        ),
        (
            "Slack",
            f"{slack / windows if windows else math.nan:.1f} Web API calls per window; charts "
            f"posted for {outcome.slack_calls['files.completeUploadExternal']} of {windows} "
            "windows (a PASS chart is dropped when a newer one of its release comes, or after "
            "60 s in the queue)",
        ),
        ("bot peak RSS", f"{outcome.rss_mb:.0f} MB (VmHWM), {outcome.bot_threads} threads"),
        (
            "bot CPU",
            f"{outcome.bot_cpu_s:.1f} s over {outcome.held_s:.0f} s held ({cpu_per_s:.2f} CPU), "
            f"{outcome.bot_cpu_s / windows if windows else math.nan:.3f} s per window",
        ),
        ("bot log", f"{len(outcome.log_problems)} warnings or errors while held"),
        (
            "starts",
            f"all applied {outcome.starts_span_s:.0f} s after the first; each took p50 "
            f"{outcome.starts.p50:.1f} s, max {outcome.starts.max:.1f} s",
        ),
        ("CPU while held", ", ".join(f"{n} {c:.0f} s" for n, c in outcome.cpu.items())),
    ]
    return [f"  {name:<16}{value}" for name, value in rows]


def last_line(outcome: Outcome) -> str:
    """``scale: releases=200 wake_p99=0.84s rss=182MB``."""
    return (
        f"scale: releases={outcome.live_max} wake_p99={outcome.wake.p99:.2f}s "
        f"rss={outcome.rss_mb:.0f}MB"
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the bench, print the report, and return 1 when a check fails."""
    args = _arguments().parse_args(argv)
    setup = Setup(
        releases=args.releases,
        window_s=args.window,
        windows=args.windows,
        threads=args.threads,
        answers=args.answers,
    )
    outcome = measure(setup)
    found = checks(outcome)
    sections = [header(setup), table(outcome)]
    if outcome.start_failures or outcome.log_problems:
        kinds = problem_kinds(outcome.start_failures + outcome.log_problems)
        sections.append(["problems", *(f"  {n:>5}x {kind}" for kind, n in kinds.most_common(5))])
    return report("scale", sections, found, last_line(outcome))


def _arguments() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench.scale", description=__doc__)
    parser.add_argument(
        "--releases", type=positive, default=OFFICIAL_RELEASES, help="releases held at once"
    )
    parser.add_argument(
        "--window", type=positive, default=OFFICIAL_WINDOW_S, help="observation window, seconds"
    )
    parser.add_argument(
        "--windows",
        type=positive,
        default=OFFICIAL_WINDOWS,
        help="windows held after the last start",
    )
    parser.add_argument("--threads", type=positive, help="CANARYBOT_SCHEDULER_THREADS for the bot")
    parser.add_argument("--answers", type=Path, default=ANSWERS, help="recorded Prometheus answers")
    return parser


if __name__ == "__main__":
    sys.exit(main())
