"""The app factory: the composition root that joins the engine to the Slack front door.

A replica has two halves. The *front* is the Bolt app: it parses, acks within Slack's 3 s and
queues the request in Redis (:mod:`handlers.listeners`). The *back* is a worker: the engine
with its window judge, the thread notifier and the window scheduler, carrying out the queued
requests (:mod:`handlers.work`). :func:`serve` runs the front in Socket Mode or behind a
production WSGI server (waitress) in HTTP mode, and the back as a child process (the default:
slow work then never holds the interpreter that acks), in its own threads, or not at all (run
``canarybot work`` elsewhere). Only this module and the CLI import `handlers/`.
"""

from __future__ import annotations

import gc
import logging
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import redis
from slack_bolt import App
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_bolt.logger.messages import warning_client_prioritized_and_token_skipped
from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler

from bot import keys, telemetry
from bot.actions import OpenWindow, PlannedRelease, RequestApproval
from bot.candidates import CandidateStore
from bot.engine import Engine, EngineHooks
from bot.health import HealthApp, kubernetes_check, kubernetes_check_name, redis_check
from bot.http_api import CandidatesApi, not_found, with_api, with_health
from bot.leader import LeaderLease
from bot.metrics import PrometheusMetrics
from bot.registry import Registry, load_registry
from bot.release import Release
from bot.scheduler import EngineWork, ReleaseScheduler
from bot.settings import Settings, SlackMode, WorkMode
from bot.windows import WindowJudge
from bot.wiring import build_engine, utc_now
from bot.work_queue import Outbox, WorkQueue
from bot.worker import Worker
from bot.worker_process import WorkerProcess
from handlers.approvals import GroupDirectory
from handlers.chart_poster import ChartPoster
from handlers.listeners import SlackFrontDoor, tell_lost
from handlers.notifier import SlackNotifier
from handlers.threads import ChannelPacer, CountingWebClient, ReleaseThreads
from handlers.work import SlackWork
from k8s.api_probe import ApiProbe

if TYPE_CHECKING:
    from wsgiref.types import WSGIApplication

    from waitress.server import BaseWSGIServer

log = logging.getLogger(__name__)


@dataclass
class Front:
    """The Bolt app and the queue it hands work to; no engine, cluster or Prometheus."""

    settings: Settings
    app: App
    queue: WorkQueue
    outbox: Outbox
    redis: redis.Redis

    def close(self) -> None:
        """Queue what was acknowledged and not yet queued, then drop the Redis connections."""
        self.outbox.close()
        self.redis.close()


@dataclass
class Back:
    """One worker: the engine and everything around it that runs after an ack."""

    settings: Settings
    engine: Engine
    scheduler: ReleaseScheduler
    worker: Worker
    metrics: PrometheusMetrics
    redis: redis.Redis
    charts: ChartPoster

    def run(self, stop: threading.Event) -> None:
        """Take jobs until `stop`; meanwhile compete for the scheduler's lease, and while this
        replica holds it, judge windows and act on deadlines (those due before a restart too)."""
        self.charts.start()
        self.scheduler.start(stop)
        try:
            self.worker.run(stop)
        finally:
            self.scheduler.shutdown()
            self.charts.stop()
            self.metrics.close()
            self.redis.close()


@dataclass
class Bot:
    """What `canarybot serve` runs: the front, and the back when it runs in the same process."""

    settings: Settings
    front: Front
    back: Back | None
    registry_path: Path | None = None

    @property
    def app(self) -> App:
        """The Bolt app."""
        return self.front.app


class _TokenFromClient(logging.Filter):
    """Bolt warns that SLACK_BOT_TOKEN is unused when a client is given: it is the client's."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != warning_client_prioritized_and_token_skipped()


def slack_client(settings: Settings) -> WebClient:
    """The Web API client: the bot token, the configured base URL, retries on rate limits;
    its failed calls are counted (`canarybot_slack_api_errors_total`)."""
    return CountingWebClient(
        token=settings.require_bot_token(),
        base_url=settings.slack.api_url,
        retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=3)],
    )


def _registry(settings: Settings, registry_path: str | Path | None) -> Registry:
    return load_registry(
        registry_path or settings.registry.path, default_window=settings.timing.default_window
    )


def build_front(settings: Settings, *, registry_path: str | Path | None = None) -> Front:
    """The Bolt app with the listeners; raises `MissingSetting` or `RegistryError`."""
    credentials = settings.require_slack()
    logging.getLogger("slack_bolt.App").addFilter(_TokenFromClient())
    app = App(
        client=slack_client(settings),
        signing_secret=credentials.signing_secret or "",
        # Socket Mode needs no signature: the connection itself is authenticated.
        request_verification_enabled=credentials.mode is SlackMode.HTTP,
        # The listeners only parse and queue: run them in the request's thread and answer
        # when they return, instead of Bolt's default of a pool thread polled every 10 ms.
        process_before_response=True,
    )
    client = redis.Redis.from_url(settings.redis.url, decode_responses=True)
    queue = WorkQueue(client)
    outbox = Outbox(queue, lost=tell_lost(app.client))
    SlackFrontDoor(registry=_registry(settings, registry_path), outbox=outbox).register(app)
    return Front(settings, app, queue, outbox, client)


def build_back(
    settings: Settings, *, registry_path: str | Path | None = None, pacing_s: float = 1.0
) -> Back:
    """One worker wired from `settings`; nothing runs until `Back.run`.

    Raises `MissingSetting` without the bot token, and `RegistryError` for a bad services file.
    """
    client = slack_client(settings)
    registry = _registry(settings, registry_path)
    redis_client = redis.Redis.from_url(settings.redis.url, decode_responses=True)
    threads = ReleaseThreads(client, redis_client, pacer=ChannelPacer(pacing_s))
    charts = ChartPoster(threads)
    notifier = SlackNotifier(threads, registry, charts=charts)
    metrics = PrometheusMetrics(
        settings.prometheus.url, timeout_seconds=settings.prometheus.timeout_seconds
    )
    scheduler_box: list[ReleaseScheduler] = []  # wakes the engine built just below

    def schedule(release: Release, action: OpenWindow | RequestApproval) -> None:
        scheduler_box[0].schedule(release, action)
        notifier.schedule(release, action)

    def plan_release(planned: PlannedRelease) -> None:
        scheduler_box[0].plan(planned)

    hooks = EngineHooks(
        schedule=schedule,
        plan_release=plan_release,
        announce=notifier.announce,
        notify=notifier.notify,
        progress=[notifier.progress],
        window_report=notifier.window_report,
    )
    engine = build_engine(
        settings, registry_path=registry_path, hooks=hooks, windows=WindowJudge(metrics)
    )
    timing = settings.timing
    scheduler_box.append(
        ReleaseScheduler(
            redis_url=settings.redis.url,
            work=EngineWork(engine),
            registry=registry,
            lease=LeaderLease(redis_client, ttl_s=timing.leader_lease_ttl.total_seconds()),
            interval_s=timing.scheduler_interval.total_seconds(),
            threads=timing.scheduler_threads,
            live=engine.live,
        )
    )
    scheduler = scheduler_box[0]
    work = SlackWork(
        engine=engine, registry=registry, client=client, directory=GroupDirectory(client)
    )
    worker = Worker(
        WorkQueue(redis_client),
        work.handlers(),
        threads=settings.work.threads,
        max_age_s=settings.work.max_age.total_seconds(),
        expired=work.expired,
    )
    return Back(settings, engine, scheduler, worker, metrics, redis_client, charts)


def build_bot(
    settings: Settings, *, registry_path: str | Path | None = None, pacing_s: float = 1.0
) -> Bot:
    """The front, and the back too when it runs in this process (``CANARYBOT_WORK_MODE=thread``).

    Raises `MissingSetting` without the Slack secrets the mode needs, and `RegistryError` for
    a bad services file.
    """
    front = build_front(settings, registry_path=registry_path)
    back = None
    if settings.work.mode is WorkMode.THREAD:
        back = build_back(settings, registry_path=registry_path, pacing_s=pacing_s)
    path = Path(registry_path) if registry_path is not None else None
    return Bot(settings, front, back, path)


@contextmanager
def startup_frozen() -> Iterator[None]:
    """Keep what start-up built out of the cyclic collector's full passes until the block ends.

    Start-up leaves some 150,000 long-lived objects (modules, Bolt, pydantic, the Kubernetes
    client). A full pass over them took 60-100 ms on the bench machine, with every thread
    held, so each one landed in the acks' p99; a pass over only what came after takes
    milliseconds. Python's own advice for long-running servers (`gc.freeze`).
    """
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def serve(bot: Bot, *, stop: threading.Event | None = None) -> None:
    """Run `bot` in its configured modes until `stop` is set (or forever)."""
    with startup_frozen():
        _serve(bot, stop or threading.Event())


def _serve(bot: Bot, stop: threading.Event) -> None:
    back_thread = None
    child = None
    if bot.back is not None:
        back_thread = threading.Thread(
            target=bot.back.run, args=(stop,), name="canarybot-worker", daemon=True
        )
        back_thread.start()
    elif bot.settings.work.mode is WorkMode.PROCESS:
        child = WorkerProcess(registry_path=bot.registry_path)
        child.start(stop)
    health = _serve_health(bot, child)
    try:
        if bot.settings.slack.mode is SlackMode.SOCKET:
            _serve_socket(bot, stop, health)
        else:
            _serve_http(bot, stop, health)
    finally:
        stop.set()
        health.close()
        if child is not None:
            child.stop()
        if back_thread is not None:
            back_thread.join()
        bot.front.close()


def _serve_socket(bot: Bot, stop: threading.Event, health: HealthApp) -> None:
    app_token = bot.settings.require_slack().app_token
    # Slack needs no inbound port here; probes and Prometheus do, and pipelines for the API.
    app = with_health(health, with_api(_candidates_api(bot), not_found))
    api = _http_server(app, bot.settings, "health, metrics and the API")
    handler = SocketModeHandler(bot.app, app_token, web_client=bot.app.client)
    # slack_bolt leaves connect() and close() unannotated.
    handler.connect()  # type: ignore[no-untyped-call]
    log.info("connected to Slack in Socket Mode")
    api_thread = threading.Thread(
        target=_run_http, args=(api, stop), name="canarybot-api", daemon=True
    )
    api_thread.start()
    try:
        stop.wait()
    finally:
        handler.close()  # type: ignore[no-untyped-call]
        api_thread.join(timeout=10)


def _serve_http(bot: Bot, stop: threading.Event, health: HealthApp) -> None:
    # /slack/events stays Bolt's; /api/… is the pipelines' API; /healthz … the operators'.
    app = with_health(health, with_api(_candidates_api(bot), SlackRequestHandler(bot.app)))
    _run_http(_http_server(app, bot.settings, "Slack, health, metrics and the API"), stop)


def health_app(
    settings: Settings, registry: Registry, *, leading: Callable[[], bool | None]
) -> HealthApp:
    """/healthz, /readyz and /metrics: ready when Redis answers PING and the API server of
    every kube context the services use answers ``GET /version``, each within 2 s."""
    # Its own connections, with timeouts: the bot's own wait as long as a command needs.
    client = redis.Redis.from_url(
        settings.redis.url, socket_timeout=1.0, socket_connect_timeout=1.0
    )
    probe = ApiProbe(kubeconfig=settings.kubernetes.kubeconfig, timeout_s=1.5)
    contexts = sorted({spec.context for spec in registry.services.values()}, key=str)
    checks = {"redis": redis_check(client)}
    checks |= {kubernetes_check_name(c): kubernetes_check(probe, c) for c in contexts}
    return HealthApp(
        checks=checks,
        leading=leading,
        metrics=telemetry.exposition,
        closers=[client.close, probe.close],
    )


def _serve_health(bot: Bot, child: WorkerProcess | None) -> HealthApp:
    """The front's health app; it leads when its back, in this process or its child, does."""
    leading: Callable[[], bool | None] = lambda: None  # noqa: E731 -- the worker is elsewhere
    if bot.back is not None:
        scheduler = bot.back.scheduler
        leading = lambda: scheduler.leading  # noqa: E731
    elif child is not None:
        leading = _child_leads(bot.front.redis, child)
    return health_app(bot.settings, _registry(bot.settings, bot.registry_path), leading=leading)


def _child_leads(client: redis.Redis, child: WorkerProcess) -> Callable[[], bool | None]:
    """Whether the worker child holds the scheduler's lease: its value names the holder as
    ``HOST:PID:TOKEN`` (:func:`bot.leader.replica_name` and the token)."""

    def leading() -> bool | None:
        pid = child.pid
        if pid is None:
            return None
        holder = client.get(keys.leader_lease())
        name = holder.rsplit(":", 1)[0] if isinstance(holder, str) else None
        return name == f"{socket.gethostname()}:{pid}"

    return leading


def serve_worker_health(
    back: Back, stop: threading.Event, *, port: int, registry_path: str | Path | None = None
) -> threading.Thread:
    """A worker's /healthz, /readyz and /metrics on `port`, served in a thread until `stop`."""
    scheduler = back.scheduler
    settings = back.settings
    health = health_app(
        settings, _registry(settings, registry_path), leading=lambda: scheduler.leading
    )
    server = _http_server(health, settings, "health and metrics", port=port)

    def run() -> None:
        try:
            _run_http(server, stop)
        finally:
            health.close()

    thread = threading.Thread(target=run, name="canarybot-health", daemon=True)
    thread.start()
    return thread


def _candidates_api(bot: Bot) -> CandidatesApi:
    """`POST /api/candidates` on the front's Redis; it answers 503 without a token."""
    registry = _registry(bot.settings, bot.registry_path)
    token = bot.settings.api.token
    return CandidatesApi(
        CandidateStore(bot.front.redis, registry),
        registry,
        token=token.get_secret_value() if token is not None else None,
        clock=utc_now,
    )


def _http_server(
    app: WSGIApplication, settings: Settings, what: str, *, port: int | None = None
) -> BaseWSGIServer:
    """A waitress server for `app` on CANARYBOT_HTTP_HOST and `port` (CANARYBOT_HTTP_PORT),
    bound now (so a port in use fails at start-up)."""
    from waitress.server import create_server  # only a bot with an HTTP listener needs it

    host, port = settings.slack.http_host, port or settings.slack.http_port
    server: BaseWSGIServer = create_server(app, host=host, port=port, threads=16)
    log.info("listening for %s on http://%s:%s", what, host, port)
    return server


def _run_http(server: BaseWSGIServer, stop: threading.Event) -> None:
    """Serve until `stop` is set; requests being answered then finish first (up to 5 s)."""

    def close_when_stopped() -> None:
        stop.wait()
        # Closing first would pull the rug from a request being answered: waitress's thread
        # then fails writing to the closed trigger.
        server.task_dispatcher.shutdown()
        server.close()

    watcher = threading.Thread(target=close_when_stopped, daemon=True)
    watcher.start()
    try:
        server.run()
    except OSError:  # closing the server from the watcher ends run() this way
        if not stop.is_set():
            raise
