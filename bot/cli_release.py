"""`canarybot release …`: the command-line front door to the engine.

    canarybot release list
    canarybot release SERVICE start --image IMG [--steps 10,50,100] [--window 10m] [--force]
    canarybot release SERVICE status | pause | resume | history
    canarybot release SERVICE promote [--force]
    canarybot release SERVICE undo [--to-revision N]

During a freeze, start and promote are refused unless --force is given: whoever runs the CLI
holds the bot's own credentials, so counts as an admin. A forced step is audited with the
freeze and announced in the release's thread.

Exit status: 0 done; 1 the release or the cluster failed; 2 bad input (unknown service, bad
image, bad command line, bad configuration); 3 refused (no live release, not permitted, the
release is in a state that does not allow it, steps or a window the service cannot use).
Every problem is one line, never a traceback.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from typing import TypeAlias

import redis

from bot.engine import Engine, EngineHooks
from bot.images import BadImageError
from bot.overrides import parse_steps, parse_window
from bot.registry import RegistryError, UnknownService
from bot.release import Actor, Door, EventKind, Phase, PlanOverrides, Release
from bot.settings import SettingsError, load_settings
from bot.transitions import Applied, Outcome
from bot.wiring import build_engine, scheduling
from k8s.errors import ClusterError
from k8s.types import ReleaseStatus

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_REFUSED = 0, 1, 2, 3
ACTIONS = ("start", "status", "pause", "resume", "promote", "undo", "history")
_EVENTS = {
    "pause": EventKind.PAUSE,
    "resume": EventKind.RESUME,
    "promote": EventKind.PROMOTE,
    "undo": EventKind.UNDO,
}
Subcommands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def add_release(subcommands: Subcommands) -> None:
    """Declare `canarybot release`."""
    parser = subcommands.add_parser(
        "release",
        help="start, watch, promote or undo a release",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("service", help="the service (or 'list' for every live release)")
    parser.add_argument("action", nargs="?", choices=ACTIONS, help="what to do")
    parser.add_argument("--image", help="the image to release (start)")
    parser.add_argument(
        "--steps", help="this release's steps in place of services.yaml's, e.g. 10,50,100 (start)"
    )
    parser.add_argument(
        "--window", help="this release's observation window in place of services.yaml's (start)"
    )
    parser.add_argument("--to-revision", type=int, help="undo to this revision")
    parser.add_argument(
        "--force", action="store_true", help="break a freeze (start, promote); audited"
    )
    parser.add_argument("--reason", default="", help="why, for the audit trail")
    parser.add_argument("--as", dest="actor", help="who is asking (default: $USER)")
    parser.add_argument("--config", help="services file (default: $CANARYBOT_CONFIG)")
    parser.set_defaults(handler=run_release)


def run_release(args: argparse.Namespace) -> int:
    """Run one `release` command and return its exit status."""
    if args.service != "list" and args.action is None:
        return _fail(EXIT_USAGE, f"say what to do with {args.service}: {', '.join(ACTIONS)}")
    if args.action == "start" and not args.image:
        return _fail(EXIT_USAGE, "start needs --image IMG (e.g. --image reg/app:2026-11-22)")
    if args.force and args.action not in ("start", "promote"):
        return _fail(EXIT_USAGE, "--force goes with start or promote")
    try:
        overrides = _overrides(args)
    except ValueError as err:
        return _fail(EXIT_USAGE, str(err))
    try:
        settings = load_settings()
        with scheduling(settings, registry_path=args.config) as jobs:
            engine = build_engine(
                settings,
                registry_path=args.config,
                hooks=EngineHooks(
                    progress=[_print_progress], schedule=jobs.schedule, plan_release=jobs.plan
                ),
            )
            return _dispatch(engine, args, overrides)
    except (SettingsError, RegistryError) as err:
        return _fail(EXIT_USAGE, str(err))
    except (UnknownService, BadImageError) as err:
        return _fail(EXIT_USAGE, str(err))
    except ClusterError as err:
        return _fail(EXIT_FAILED, str(err))
    except redis.RedisError as err:
        return _fail(EXIT_FAILED, f"Redis is unreachable ({err}); check REDIS_URL")


def _dispatch(engine: Engine, args: argparse.Namespace, overrides: PlanOverrides) -> int:
    actor = actor_from(args.actor)
    if args.service == "list":
        for live in engine.live():
            print(_line(live))
        return EXIT_OK
    service, action = args.service, args.action
    if action == "status":
        release, running = engine.status(service)
        if release is not None:
            print(_line(release))
        print(_cluster_line(running))
        return EXIT_OK
    if action == "history":
        releases, revisions = engine.history(service)
        print("REVISION  IMAGE  CHANGE-CAUSE")
        for rev in revisions:
            mark = "  (current)" if rev.current else ""
            print(f"{rev.number}  {rev.image}  {rev.change_cause or '<none>'}{mark}")
        for past in releases:
            print(_line(past))
        return EXIT_OK
    if action == "start":
        outcome = engine.start(
            service,
            args.image,
            actor,
            steps=overrides.steps,
            window=overrides.window,
            force=args.force,
        )
    else:
        outcome = engine.act(
            service,
            _EVENTS[action],
            actor,
            reason=args.reason,
            to_revision=args.to_revision,
            force=args.force,
        )
    return _report(outcome)


def _overrides(args: argparse.Namespace) -> PlanOverrides:
    """`--steps` and `--window`, read as the chat's `steps=` and `window=` are."""
    if args.action != "start" and (args.steps is not None or args.window is not None):
        raise ValueError("--steps and --window go with start")
    return PlanOverrides(
        steps=None if args.steps is None else parse_steps(args.steps, option="--steps "),
        window=None if args.window is None else parse_window(args.window, option="--window "),
    )


def _report(outcome: Outcome) -> int:
    if not isinstance(outcome, Applied):
        return _fail(EXIT_REFUSED, outcome.reason)
    print(_line(outcome.release))
    return EXIT_FAILED if outcome.release.phase is Phase.FAILED else EXIT_OK


def _print_progress(release: Release) -> None:
    print(f"  … {release.id}: {release.phase.value}", file=sys.stderr)


def _line(release: Release) -> str:
    why = f" — {release.reason}" if release.reason else ""
    step = f" step {release.step + 1}/{release.plan.steps}" if release.is_live else ""
    return (
        f"{release.id}: {release.phase.value}{step}, {release.image} "
        f"(started by {release.requested_by.mention}){why}"
    )


def _cluster_line(status: ReleaseStatus) -> str:
    return f"cluster: {status.health.value} — {status.message}"


def actor_from(name: str | None) -> Actor:
    """Who runs the CLI: `--as NAME`, else $USER; a CLI actor counts as an admin."""
    who = name or os.environ.get("USER") or _login() or "cli"
    return Actor(id=f"cli:{who}", name=who, door=Door.CLI)


def _login() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return ""


def _fail(code: int, message: str) -> int:
    print(f"canarybot: {message}", file=sys.stderr)
    return code
