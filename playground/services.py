"""The playground's services.yaml: ``deploy/services.example.yaml`` made to run in a minute.

The example names real Slack channels, people and on-call groups, windows of ten minutes and
freezes that hold Fridays to Mondays. The playground's copy keeps every service and strategy as
the example has them and changes only what a demo on local-slack needs: the services release
in local-slack's #releases, alice and bob approve (carol may not), no user groups (the emulator
has none), short windows, one window a step, few requests, and no freeze or nightly release.
The example file itself is never written.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml

from bot.registry import Registry, parse_registry
from playground.local_slack import SlackChannel, SlackUser

EXAMPLE = Path(__file__).resolve().parents[1] / "deploy" / "services.example.yaml"

# services.yaml wants Slack-length user ids (U and 6 or more), so each has one of those.
ALICE = SlackUser("U0ALICE01", "alice", "Alice Anders")  # starts releases, approves bob's
BOB = SlackUser("U0BOB0001", "bob", "Bob Berg")  # on call: approves alice's releases
CAROL = SlackUser("U0CAROL01", "carol", "Carol Chen")  # may start, never approve
PEOPLE = (ALICE, BOB, CAROL)
APPROVERS = (ALICE, BOB)
RELEASES = SlackChannel("C0RELEASES", "releases")


def playground_services(
    *, window: timedelta, min_requests: int, example: Path = EXAMPLE
) -> dict[str, Any]:
    """The example services file as a mapping, changed as the module docstring says."""
    data: dict[str, Any] = yaml.safe_load(example.read_text())
    data["admins"] = [ALICE.id]
    data.pop("freezes", None)
    defaults = data.setdefault("defaults", {})
    defaults.setdefault("analysis", {})["min_requests"] = min_requests
    for section in (defaults, *data["services"].values()):
        _for_the_playground(section, window=window)
    return data


def _for_the_playground(section: dict[str, Any], *, window: timedelta) -> None:
    """One service's entry (or the defaults) for local-slack and short windows, in place."""
    section["channel"] = RELEASES.id
    for key in ("nightly", "freezes"):
        section.pop(key, None)
    section["observation"] = {
        **section.get("observation", {}),
        "window": f"{round(window.total_seconds())}s",
        "windows_per_step": 1,
    }
    approval = section.get("approval")
    if approval is not None or "strategy" not in section:  # the defaults always get one
        approval = section.setdefault("approval", {})
        approval["approvers"] = [person.id for person in APPROVERS]
        approval.pop("approver_groups", None)
        approval.pop("oncall_group", None)


def write_playground_services(path: Path, *, window: timedelta, min_requests: int) -> Registry:
    """Write the playground's services file to `path`; the registry it makes, checked."""
    data = playground_services(window=window, min_requests=min_requests)
    text = (
        "# The playground's copy of deploy/services.example.yaml (see playground/services.py).\n"
        + yaml.safe_dump(data, sort_keys=False)
    )
    registry = parse_registry(text, str(path))
    path.write_text(text)
    return registry
