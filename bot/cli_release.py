"""`canarybot release …`: the command-line front door to the engine.

    canarybot release list
    canarybot release SERVICE start --image IMG
    canarybot release SERVICE status | pause | resume | promote | history
    canarybot release SERVICE undo [--to-revision N]

Exit status: 0 done; 1 the release or the cluster failed; 2 bad input (unknown service, bad
image, bad command line, bad configuration); 3 refused (no live release, not permitted, the
release is in a state that does not allow it). Every problem is one line, never a traceback.
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
from bot.registry import RegistryError, UnknownService
from bot.release import Actor, Door, EventKind, Phase, Release
from bot.settings import SettingsError, load_settings
from bot.transitions import Applied, Outcome
from bot.wiring import build_engine
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
    parser.add_argument("--to-revision", type=int, help="undo to this revision")
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
    try:
        engine = build_engine(
            load_settings(),
            registry_path=args.config,
            hooks=EngineHooks(progress=[_print_progress]),
        )
        return _dispatch(engine, args)
    except (SettingsError, RegistryError) as err:
        return _fail(EXIT_USAGE, str(err))
    except (UnknownService, BadImageError) as err:
        return _fail(EXIT_USAGE, str(err))
    except ClusterError as err:
        return _fail(EXIT_FAILED, str(err))
    except redis.RedisError as err:
        return _fail(EXIT_FAILED, f"Redis is unreachable ({err}); check REDIS_URL")


def _dispatch(engine: Engine, args: argparse.Namespace) -> int:
    actor = _actor(args.actor)
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
        outcome = engine.start(service, args.image, actor)
    else:
        outcome = engine.act(
            service, _EVENTS[action], actor, reason=args.reason, to_revision=args.to_revision
        )
    return _report(outcome)


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


def _actor(name: str | None) -> Actor:
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
