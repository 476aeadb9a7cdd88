"""Messages about what has not started yet: candidates, planned releases, freezes, and what the
bot says in a service's channel when a nightly or planned release is skipped.

Purely computational, no I/O, like :mod:`handlers.render`, whose small builders these use.
"""

from __future__ import annotations

from datetime import datetime, tzinfo

from bot.actions import PlannedRelease
from bot.candidates import Candidate
from bot.freezes import ALL_SERVICES, Freeze, describe_until
from handlers.render import Message, code, mention, message, said, section


def _zone_name(zone: tzinfo) -> str:
    return str(getattr(zone, "key", None) or zone.tzname(None) or "UTC")


def when(at: datetime, zone: tzinfo) -> str:
    """``02:00 Europe/Berlin (Mon 23 Nov)``: a time in the zone a service is released in."""
    local = at.astimezone(zone)
    return f"{local:%H:%M} {_zone_name(zone)} ({local:%a} {local.day} {local:%b})"


def _ephemeral(text: str, emoji: str) -> Message:
    line = f"{emoji} {text}"
    return message(line, [section(line)], ephemeral=True)


def candidate_recorded(candidate: Candidate, *, nightly: datetime | None, zone: tzinfo) -> Message:
    """What `/canary SERVICE candidate image=…` answers: when the nightly takes it, if ever."""
    service = said(candidate.service, 100)
    done = f"recorded candidate {code(candidate.image)} for {service}"
    if nightly is None:
        start = f"/canary {candidate.service} start image={candidate.image}"
        return _ephemeral(
            f"{done}; {service} has no nightly schedule; start it with {code(start, 300)}",
            ":package:",
        )
    return _ephemeral(
        f"{done}; the nightly release at {when(nightly, zone)} will pick it up", ":package:"
    )


def release_planned(planned: PlannedRelease, *, zone: tzinfo) -> Message:
    """What `/canary SERVICE schedule WHEN image=…` answers: when, in the service's zone."""
    return _ephemeral(
        f"planned: {said(planned.service, 100)} releases {code(planned.image)} at "
        f"{when(planned.at, zone)}, as {mention(planned.requested_by)}",
        ":calendar:",
    )


def _scope(freeze: Freeze) -> str:
    return "every service" if freeze.scope == ALL_SERVICES else said(freeze.scope, 100)


def freeze_set(freeze: Freeze, *, now: datetime) -> Message:
    """What `/canary freeze …` answers."""
    lift = "/canary unfreeze" + ("" if freeze.scope == ALL_SERVICES else f" {freeze.scope}")
    return _ephemeral(
        f"froze {_scope(freeze)} until {describe_until(freeze.until, now=now)} "
        f"({said(freeze.reason, 300)}): start and promote are refused until then, undo and "
        f"pause still work, an admin may add force; {code(lift)} lifts it",
        ":snowflake:",
    )


def freeze_lifted(
    lifted: Freeze | None, *, service: str | None, still: Freeze | None, now: datetime
) -> Message:
    """What `/canary unfreeze …` answers, and whether something else still holds the service."""
    scope = said(service, 100) if service else "every service"
    if lifted is None:
        text = f"{scope} had no freeze of its own to lift"
    else:
        setter = f", set by {mention(lifted.by)}" if lifted.by is not None else ""
        text = f"lifted the freeze of {scope} ({said(lifted.reason, 300)}{setter})"
    if service and still is not None:
        origin = (
            "a freeze window of services.yaml"
            if still.by is None
            else f"the freeze of {_scope(still)}, set by {mention(still.by)}"
        )
        text += (
            f"; {scope} stays frozen until {describe_until(still.until, now=now)} "
            f"({said(still.reason, 300)}: {origin})"
        )
    return _ephemeral(text, ":sunny:" if still is None else ":snowflake:")


def announcement(text: str) -> Message:
    """A line in a service's channel, outside any release's thread (a skipped nightly)."""
    line = f":crescent_moon: {said(text)}"
    return message(line, [section(line)])
