"""The app factory: the composition root that joins the engine to the Slack front door.

:func:`build_bot` wires settings into one running whole — the Bolt app, the engine with its
window judge, the thread notifier, the window scheduler and the worker pool — and
:func:`serve` runs it in Socket Mode or behind a production WSGI server (waitress) in HTTP
mode. Only this module and the CLI import `handlers/`.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import redis
from slack_bolt import App
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler

from bot.actions import OpenWindow, RequestApproval
from bot.engine import Engine, EngineHooks
from bot.metrics import PrometheusMetrics
from bot.registry import load_registry
from bot.release import Release
from bot.scheduler import WindowScheduler
from bot.settings import Settings, SlackMode
from bot.windows import WindowJudge
from bot.wiring import build_engine
from handlers.approvals import GroupDirectory
from handlers.listeners import SlackFrontDoor
from handlers.notifier import SlackNotifier
from handlers.threads import ChannelPacer, ReleaseThreads

log = logging.getLogger(__name__)

# Engine work (rollouts) runs here, after the ack; Bolt's own threads only parse and ack.
WORKERS = 8


@dataclass
class Bot:
    """The running parts of one bot replica."""

    settings: Settings
    app: App
    engine: Engine
    scheduler: WindowScheduler
    workers: ThreadPoolExecutor
    metrics: PrometheusMetrics

    def start(self) -> None:
        """Start judging windows, including those that were open when the bot last stopped."""
        self.scheduler.start(self.engine.live())

    def close(self) -> None:
        """Stop the scheduler and the workers."""
        self.scheduler.shutdown()
        self.workers.shutdown(wait=False, cancel_futures=True)
        self.metrics.close()


def build_bot(
    settings: Settings, *, registry_path: str | Path | None = None, pacing_s: float = 1.0
) -> Bot:
    """Everything one replica runs, wired from `settings`; nothing starts until `Bot.start`.

    Raises `MissingSetting` without the Slack secrets the mode needs, and `RegistryError` for
    a bad services file.
    """
    credentials = settings.require_slack()
    client = WebClient(
        token=credentials.bot_token,
        base_url=settings.slack.api_url,
        retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=3)],
    )
    app = App(
        client=client,
        signing_secret=credentials.signing_secret or "",
        # Socket Mode needs no signature: the connection itself is authenticated.
        request_verification_enabled=credentials.mode is SlackMode.HTTP,
    )
    registry = load_registry(
        registry_path or settings.registry.path, default_window=settings.timing.default_window
    )
    redis_client = redis.Redis.from_url(settings.redis.url, decode_responses=True)
    threads = ReleaseThreads(client, redis_client, pacer=ChannelPacer(pacing_s))
    notifier = SlackNotifier(threads, registry)
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
    workers = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="canarybot-work")
    SlackFrontDoor(
        engine=engine,
        registry=registry,
        notifier=notifier,
        directory=GroupDirectory(client),
        workers=workers,
    ).register(app)
    return Bot(settings, app, engine, scheduler, workers, metrics)


def serve(bot: Bot, *, stop: threading.Event | None = None) -> None:
    """Run `bot` in its configured mode until `stop` is set (or forever)."""
    stop = stop or threading.Event()
    bot.start()
    try:
        if bot.settings.slack.mode is SlackMode.SOCKET:
            _serve_socket(bot, stop)
        else:
            _serve_http(bot, stop)
    finally:
        bot.close()


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
        SlackRequestHandler(bot.app), host=slack.http_host, port=slack.http_port, threads=16
    )
    log.info("listening for Slack on http://%s:%s", slack.http_host, slack.http_port)
    watcher = threading.Thread(target=lambda: (stop.wait(), server.close()), daemon=True)
    watcher.start()
    try:
        server.run()
    except OSError:  # closing the server from the watcher ends run() this way
        if not stop.is_set():
            raise
