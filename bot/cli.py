"""The ``canarybot`` console script: one subcommand a function.

Each subcommand has an ``_add_<name>`` function that declares its arguments and a ``run_<name>``
function that does the work and returns the exit status. Problems are printed as lines, never
as a traceback: 0 means success, 2 a problem with the configuration or the command line.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterable
from typing import TextIO, TypeAlias, TypeVar

from bot.cli_measure import add_measure
from bot.cli_plans import add_plans
from bot.cli_release import add_release
from bot.log_format import configure_logging
from bot.registry import RegistryError, load_registry
from bot.settings import LogFormat, Settings, SettingsError, load_settings

T = TypeVar("T")

EXIT_OK = 0
EXIT_CONFIG = 2  # bad settings or services file; argparse uses 2 for usage errors as well

# What a subcommand's run_* function is; argparse stores it as the parsed `handler`.
Handler: TypeAlias = Callable[[argparse.Namespace], int]
Subcommands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def main(argv: list[str] | None = None) -> int:
    """Run the command line ``argv`` (default: ``sys.argv[1:]``) and return the exit status."""
    args = build_parser().parse_args(argv)
    handler: Handler = args.handler
    return handler(args)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand registered."""
    parser = argparse.ArgumentParser(
        prog="canarybot", description="Run canary releases on Kubernetes from Slack."
    )
    subcommands = parser.add_subparsers(metavar="COMMAND", required=True)
    _add_check_config(subcommands)
    add_release(subcommands)
    add_plans(subcommands)
    add_measure(subcommands)
    _add_serve(subcommands)
    _add_work(subcommands)
    _add_playground(subcommands)
    return parser


def _add_check_config(subcommands: Subcommands) -> None:
    parser = subcommands.add_parser(
        "check-config",
        help="validate a services file",
        description="Validate a services file: print 'ok: N services', or one line per problem.",
    )
    parser.add_argument(
        "file", nargs="?", help="the services file (default: $CANARYBOT_CONFIG, or services.yaml)"
    )
    parser.set_defaults(handler=run_check_config)


def run_check_config(args: argparse.Namespace) -> int:
    """``canarybot check-config [FILE]``: print ``ok: N services`` (exit 0) or each problem (2)."""
    try:
        settings = load_settings()
    except SettingsError as err:
        _print_lines(err.lines, file=sys.stderr)
        return EXIT_CONFIG
    path = args.file or settings.registry.path
    try:
        registry = load_registry(path, default_window=settings.timing.default_window)
    except RegistryError as err:
        _print_lines(map(str, err.problems), file=sys.stdout)
        return EXIT_CONFIG
    count = len(registry)
    print(f"ok: {count} service{'' if count == 1 else 's'}")
    return EXIT_OK


def _add_serve(subcommands: Subcommands) -> None:
    parser = subcommands.add_parser(
        "serve",
        help="run the bot (Socket Mode or HTTP, as CANARYBOT_SLACK_MODE says)",
        description="Run the bot until interrupted: Slack commands, buttons and windows.",
    )
    parser.add_argument("--config", help="services file (default: $CANARYBOT_CONFIG)")
    parser.set_defaults(handler=run_serve)


def run_serve(args: argparse.Namespace) -> int:
    """``canarybot serve``: run until SIGINT/SIGTERM; 2 for bad settings or services."""
    from bot.app import build_bot, serve  # the Slack SDK loads only for this command

    bot = _configured(lambda: build_bot(load_settings(), registry_path=args.config))
    if bot is None:
        return EXIT_CONFIG
    _log_to_stderr(bot.settings)
    serve(bot, stop=_stop_on_signals())
    return EXIT_OK


def _add_work(subcommands: Subcommands) -> None:
    parser = subcommands.add_parser(
        "work",
        help="run a worker: carry out acknowledged requests and judge windows",
        description="Run a worker until interrupted: it takes the requests the front door "
        "queued in Redis, and judges observation windows. `serve` starts one itself unless "
        "CANARYBOT_WORK_MODE says otherwise.",
    )
    parser.add_argument("--config", help="services file (default: $CANARYBOT_CONFIG)")
    parser.set_defaults(handler=run_work)


def run_work(args: argparse.Namespace) -> int:
    """``canarybot work``: run until SIGINT/SIGTERM (or its parent `serve` is gone)."""
    from bot.app import (  # the Slack SDK loads only here
        build_back,
        serve_worker_health,
        startup_frozen,
    )
    from bot.worker_process import PARENT_VARIABLE, yield_cpu

    back = _configured(lambda: build_back(load_settings(), registry_path=args.config))
    if back is None:
        return EXIT_CONFIG
    settings = back.settings
    _log_to_stderr(settings)
    stop = _stop_on_signals()
    parent = os.environ.get(PARENT_VARIABLE)
    port = settings.operations.health_port
    # The parent `serve` answers on its HTTP port itself: a child cannot listen there too.
    if port is not None and not (parent is not None and port == settings.slack.http_port):
        try:
            serve_worker_health(back, stop, port=port, registry_path=args.config)
        except OSError as err:
            print(f"CANARYBOT_HEALTH_PORT: cannot listen on port {port}: {err}", file=sys.stderr)
            return EXIT_CONFIG
    if parent is not None:
        # Started by `serve`: yield the CPU to its front door, and stop when it is gone.
        yield_cpu(settings.work.nice)
        threading.Thread(target=_stop_when_orphaned, args=(int(parent), stop), daemon=True).start()
    with startup_frozen():
        back.run(stop)
    return EXIT_OK


def _add_playground(subcommands: Subcommands) -> None:
    parser = subcommands.add_parser(
        "playground",
        help="try canarybot on this machine: a local Slack, cluster, Prometheus and the bot",
        description="Start local-slack (a Slack emulator with a web page), Redis, the cluster "
        "simulator with the example services, traffic with Prometheus, and the bot, all on "
        "127.0.0.1; print the Slack URL and what to try; stop everything on Ctrl-C.",
    )
    parser.add_argument(
        "--scripted",
        action="store_true",
        help="play a promoted and an undone release by itself, print them, and exit "
        "(0 only if everything happened)",
    )
    parser.add_argument(
        "--bad-canary",
        action="store_true",
        help="the next canary of fop-gate answers with errors, so its release undoes itself",
    )
    parser.add_argument("--window", default="20s", help="each observation window (default: 20s)")
    parser.add_argument(
        "--work-dir", help="keep logs and data here (default: a temporary directory, removed)"
    )
    parser.set_defaults(handler=run_playground)


def run_playground(args: argparse.Namespace) -> int:
    """``canarybot playground``: run the demo until SIGINT/SIGTERM, or play it (--scripted)."""
    from pathlib import Path

    from bot.durations import parse_duration
    from playground.parts import PlaygroundOptions  # the demo loads only for this command
    from playground.run import run_playground as start_playground

    try:
        window = parse_duration(args.window)
    except ValueError as err:
        print(f"--window: {err}", file=sys.stderr)
        return EXIT_CONFIG
    options = PlaygroundOptions(
        window=window,
        bad_canary=args.bad_canary,
        work_dir=Path(args.work_dir) if args.work_dir else None,
    )
    return start_playground(options, scripted=args.scripted)


def _configured(build: Callable[[], T]) -> T | None:
    """What `build` makes from the settings and services; None, each problem printed, if bad."""
    try:
        return build()
    except SettingsError as err:
        _print_lines(err.lines, file=sys.stderr)
    except RegistryError as err:
        _print_lines(map(str, err.problems), file=sys.stderr)
    return None


def _log_to_stderr(settings: Settings) -> None:
    """What a long-running command says: INFO and up, one line each, to stderr; JSON unless
    CANARYBOT_LOG_FORMAT says text. Every line logged while a release is worked on names it."""
    configure_logging(settings.operations.log_format or LogFormat.JSON)


def _stop_on_signals() -> threading.Event:
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda _signum, _frame: stop.set())
    return stop


def _stop_when_orphaned(parent: int, stop: threading.Event) -> None:
    while not stop.wait(1.0):
        if os.getppid() != parent:
            stop.set()


def _print_lines(lines: Iterable[str], *, file: TextIO) -> None:
    for line in lines:
        print(line, file=file)
