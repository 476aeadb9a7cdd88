"""`canarybot candidate` and `canarybot schedule`: what CI and operators plan for later.

    canarybot candidate SERVICE --image IMG [--by NAME]
    canarybot schedule SERVICE --at WHEN --image IMG

`candidate` records a release candidate for the service's nightly release. `schedule` plans a
one-off release: WHEN is 02:00 (the next such time in the service's nightly time zone, else
UTC), tomorrow 02:00, mon 02:00, 2h, or an ISO date-time. Exit status as `canarybot release`:
0 done, 1 Redis unreachable, 2 bad input, 3 refused.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime, tzinfo
from typing import TypeAlias
from zoneinfo import ZoneInfo

import redis

from bot.actions import PlannedRelease
from bot.candidates import next_nightly
from bot.cli_release import EXIT_FAILED, EXIT_OK, EXIT_REFUSED, EXIT_USAGE, actor_from
from bot.engine import EngineHooks
from bot.images import BadImageError
from bot.moments import parse_moment
from bot.registry import Registry, RegistryError, UnknownService, load_registry
from bot.service_spec import ServiceSpec
from bot.settings import Settings, SettingsError, load_settings
from bot.transitions import Refused
from bot.wiring import build_engine, scheduling, utc_now

Subcommands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def add_plans(subcommands: Subcommands) -> None:
    """Declare `canarybot candidate` and `canarybot schedule`."""
    candidate = subcommands.add_parser(
        "candidate",
        help="record a release candidate for a service's nightly release",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    candidate.add_argument("service", help="the service")
    candidate.add_argument("--image", required=True, help="the image CI built, pinned")
    candidate.add_argument("--by", help="who records it, e.g. the pipeline (default: $USER)")
    candidate.add_argument("--config", help="services file (default: $CANARYBOT_CONFIG)")
    candidate.set_defaults(handler=run_candidate)
    schedule = subcommands.add_parser(
        "schedule",
        help="plan a one-off release for later",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    schedule.add_argument("service", help="the service")
    schedule.add_argument("--at", required=True, help="when: 02:00, mon 02:00, 2h, ISO date-time")
    schedule.add_argument("--image", required=True, help="the image to release, pinned")
    schedule.add_argument("--as", dest="actor", help="who is asking (default: $USER)")
    schedule.add_argument("--config", help="services file (default: $CANARYBOT_CONFIG)")
    schedule.set_defaults(handler=run_schedule)


def zone_of(spec: ServiceSpec) -> tzinfo:
    """The time zone a service is released in: its nightly's, else UTC."""
    return ZoneInfo(spec.nightly.timezone) if spec.nightly is not None else UTC


def run_candidate(args: argparse.Namespace) -> int:
    """`canarybot candidate SERVICE --image IMG`: record it, say when the nightly takes it."""
    try:
        settings = load_settings()
        engine = build_engine(settings, registry_path=args.config)
        by = args.by or actor_from(None).name
        candidate = engine.record_candidate(args.service, args.image, by=by)
        spec = _registry(settings, args.config).get(args.service)
    except (SettingsError, RegistryError, UnknownService, BadImageError) as err:
        return _fail(EXIT_USAGE, str(err))
    except redis.RedisError as err:
        return _fail(EXIT_FAILED, f"Redis is unreachable ({err}); check REDIS_URL")
    done = f"recorded candidate {candidate.image} for {spec.name}"
    nightly = next_nightly(spec, now=utc_now())
    if nightly is None:
        start = f"canarybot release {spec.name} start --image {candidate.image}"
        print(f"{done}; {spec.name} has no nightly schedule; start it with `{start}`")
    else:
        at = f"{nightly:%H:%M} {zone_of(spec)} ({nightly:%a} {nightly.day} {nightly:%b})"
        print(f"{done}; the nightly release at {at} will pick it up")
    return EXIT_OK


def run_schedule(args: argparse.Namespace) -> int:
    """`canarybot schedule SERVICE --at WHEN --image IMG`: hand the plan to the scheduler."""
    try:
        moment = parse_moment(args.at)
        settings = load_settings()
        registry = _registry(settings, args.config)
        zone = zone_of(registry.get(args.service))
        planned = _plan(settings, args, moment.resolve(utc_now(), zone))
    except (ValueError, SettingsError, RegistryError, UnknownService) as err:
        return _fail(EXIT_USAGE, str(err))
    except redis.RedisError as err:
        return _fail(EXIT_FAILED, f"Redis is unreachable ({err}); check REDIS_URL")
    if isinstance(planned, Refused):
        return _fail(EXIT_REFUSED, planned.reason)
    local = planned.at.astimezone(zone)
    print(
        f"planned: {planned.service} releases {planned.image} at {local:%H:%M} {zone} "
        f"({local:%a} {local.day} {local:%b}), as {planned.requested_by.mention} "
        f"(id {planned.id})"
    )
    return EXIT_OK


def _plan(settings: Settings, args: argparse.Namespace, at: datetime) -> PlannedRelease | Refused:
    """Plan through the engine; the scheduler keeps the job in Redis for its leader to run."""
    with scheduling(settings, registry_path=args.config) as jobs:
        hooks = EngineHooks(plan_release=jobs.plan)
        engine = build_engine(settings, registry_path=args.config, hooks=hooks)
        return engine.plan_release(args.service, args.image, at, actor_from(args.actor))


def _registry(settings: Settings, path: str | None) -> Registry:
    return load_registry(
        path or settings.registry.path, default_window=settings.timing.default_window
    )


def _fail(code: int, message: str) -> int:
    print(f"canarybot: {message}", file=sys.stderr)
    return code
