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

import logging
import threading
from dataclasses import dataclass
from pathlib import Path

import redis
from slack_bolt import App
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_bolt.logger.messages import warning_client_prioritized_and_token_skipped
from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler

from bot.actions import OpenWindow, RequestApproval
from bot.engine import Engine, EngineHooks
from bot.metrics import PrometheusMetrics
from bot.registry import Registry, load_registry
from bot.release import Release
from bot.scheduler import WindowScheduler
from bot.settings import Settings, SlackMode, WorkMode
from bot.windows import WindowJudge
from bot.wiring import build_engine
from bot.work_queue import Outbox, WorkQueue
from bot.worker import Worker
from bot.worker_process import WorkerProcess
from handlers.approvals import GroupDirectory
from handlers.listeners import SlackFrontDoor, tell_lost
from handlers.notifier import SlackNotifier
from handlers.threads import ChannelPacer, ReleaseThreads
from handlers.work import SlackWork

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
    scheduler: WindowScheduler
    worker: Worker
    metrics: PrometheusMetrics
    redis: redis.Redis

    def run(self, stop: threading.Event) -> None:
        """Judge windows (those open since before a restart too) and take jobs until `stop`."""
        self.scheduler.start(self.engine.live())
        try:
            self.worker.run(stop)
        finally:
            self.scheduler.shutdown()
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
    """The Web API client: the bot token, the configured base URL, retries on rate limits."""
    return WebClient(
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
    notifier = SlackNotifier(
        ReleaseThreads(client, redis_client, pacer=ChannelPacer(pacing_s)), registry
    )
    metrics = PrometheusMetrics(
        settings.prometheus.url, timeout_seconds=settings.prometheus.timeout_seconds
    )
    engine_box: list[Engine] = []  # the scheduler wakes the engine built just below

    def wake(release_id: str, step: int, index: int) -> None:
        engine_box[0].close_window(release_id, step=step, index=index)

    scheduler = WindowScheduler(wake)

    def schedule(release: Release, action: OpenWindow | RequestApproval) -> None:
        if isinstance(action, OpenWindow):
            scheduler.schedule(release, action)
        else:
            notifier.schedule(release, action)

    hooks = EngineHooks(
        schedule=schedule,
        notify=notifier.notify,
        progress=[notifier.progress],
        window_report=notifier.window_report,
    )
    engine = build_engine(
        settings, registry_path=registry_path, hooks=hooks, windows=WindowJudge(metrics)
    )
    engine_box.append(engine)
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
    return Back(settings, engine, scheduler, worker, metrics, redis_client)


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


def serve(bot: Bot, *, stop: threading.Event | None = None) -> None:
    """Run `bot` in its configured modes until `stop` is set (or forever)."""
    stop = stop or threading.Event()
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
    try:
        if bot.settings.slack.mode is SlackMode.SOCKET:
            _serve_socket(bot, stop)
        else:
            _serve_http(bot, stop)
    finally:
        stop.set()
        if child is not None:
            child.stop()
        if back_thread is not None:
            back_thread.join()
        bot.front.close()


def _serve_socket(bot: Bot, stop: threading.Event) -> None:
    app_token = bot.settings.require_slack().app_token
    handler = SocketModeHandler(bot.app, app_token, web_client=bot.app.client)
    # slack_bolt leaves connect() and close() unannotated.
    handler.connect()  # type: ignore[no-untyped-call]
    log.info("connected to Slack in Socket Mode")
    try:
        stop.wait()
    finally:
        handler.close()  # type: ignore[no-untyped-call]


def _serve_http(bot: Bot, stop: threading.Event) -> None:
    from waitress.server import create_server  # only HTTP mode needs it

    slack = bot.settings.slack
    server = create_server(
        SlackRequestHandler(bot.app),
        host=slack.http_host,
        port=slack.http_port,
        threads=16,
    )
    log.info("listening for Slack on http://%s:%s", slack.http_host, slack.http_port)
    watcher = threading.Thread(target=lambda: (stop.wait(), server.close()), daemon=True)
    watcher.start()
    try:
        server.run()
    except OSError:  # closing the server from the watcher ends run() this way
        if not stop.is_set():
            raise
