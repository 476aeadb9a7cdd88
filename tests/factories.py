"""Small builders for release values used across tests."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.machine import new_release
from bot.release import Actor, Door, Plan, Release

T0 = datetime(2026, 11, 22, 14, 0, tzinfo=UTC)
WINDOW = timedelta(minutes=10)
ALICE = Actor(id="U0ALICE", name="alice", door=Door.SLACK)  # starts releases
BOB = Actor(id="U0BOB", name="bob", door=Door.SLACK)  # on-call approver
CAROL = Actor(id="cli:carol", name="carol", door=Door.CLI)


def plan(**overrides: Any) -> Plan:
    """A plan with a 10-minute window, changed by `overrides`."""
    return replace(Plan(window=WINDOW), **overrides)


def release(**overrides: Any) -> Release:
    """A pending fop-gate release by alice, changed by `overrides`."""
    base = new_release(
        service="fop-gate",
        image="reg/fop-gate:2026-11-22",
        plan=plan(),
        actor=ALICE,
        now=T0,
        previous_image="reg/fop-gate:2026-11-21",
    )
    return replace(base, id="fop-gate#1", **overrides)
