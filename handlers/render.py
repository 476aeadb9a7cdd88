"""Every message the bot posts to Slack, as small builders over slack_sdk's block models.

Purely computational, no I/O: domain values in (a Release, a ServiceSpec, audit entries), a
:class:`Message` out, ready for ``chat.postMessage`` / ``chat.update``. Whatever a person or a
config file can make long is escaped for mrkdwn and clipped with "…" to Block Kit's limits, so
slack_sdk's own checks (``SlackObjectFormationError`` at ``to_dict()``) never fire on user data.
What the thread gets when a window ends (its summary, the approval request) is in
:mod:`handlers.render_window`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from enum import StrEnum
from typing import Any, TypeGuard

from slack_sdk.models.blocks import (
    Block,
    ContextBlock,
    HeaderBlock,
    MarkdownTextObject,
    PlainTextObject,
    SectionBlock,
)

from bot.overrides import release_spec
from bot.release import Actor, AuditEntry, Door, Phase, Release
from bot.service_spec import ServiceSpec
from bot.strategy_specs import CanaryDeploymentSpec, IstioSpec, PausedRolloutSpec
from k8s.types import ReleaseStatus

# Block Kit's limits (docs.slack.dev/reference/block-kit); FALLBACK_TEXT is ours: Slack keeps
# 40,000 characters of `text`, but a notification shows a line or two.
MAX_BLOCKS, SECTION_TEXT, FIELD_TEXT, HEADER_TEXT, CONTEXT_TEXT = 50, 3000, 2000, 150, 2000
BUTTON_VALUE, FALLBACK_TEXT = 2000, 3000
REASON_TEXT = 1500  # a reason may be a whole Prometheus error: half a section is plenty
LIST_LINES = 40  # lines of a release list or history; the CLI shows the rest
_SLACK_USER = re.compile(r"[UW][A-Z0-9]{2,20}")  # real ids are 9-11 characters

PHASE_EMOJI = {
    Phase.PENDING: ":hourglass_flowing_sand:",
    Phase.DEPLOYING: ":rocket:",
    Phase.OBSERVING: ":eyes:",
    Phase.AWAITING_APPROVAL: ":raised_hand:",
    Phase.PAUSED: ":double_vertical_bar:",
    Phase.PROMOTING: ":arrow_double_up:",
    Phase.PROMOTED: ":white_check_mark:",
    Phase.UNDOING: ":rewind:",
    Phase.UNDONE: ":leftwards_arrow_with_hook:",
    Phase.FAILED: ":x:",
}


@dataclass(frozen=True)
class Message:
    """A message as the Web API takes it: fallback text and Block Kit blocks as plain dicts.

    ``text`` is what notifications and screen readers get; ``ephemeral`` says the message is
    for the asker only (``chat.postEphemeral`` or ``respond``), never the channel.
    """

    text: str
    blocks: list[dict[str, Any]]
    ephemeral: bool = False

    def payload(self) -> dict[str, Any]:
        """The ``text`` and ``blocks`` arguments of chat.postMessage / chat.update."""
        return {"text": self.text, "blocks": self.blocks}


class ApprovalAction(StrEnum):
    """The approval buttons, by ``action_id``: what the listeners register for."""

    PROMOTE = "canary_promote"
    EXTEND = "canary_extend"
    UNDO = "canary_undo"


@dataclass(frozen=True)
class ButtonValue:
    """What an approval button says it is about, so a click on an old message acts on nothing."""

    release_id: str
    step: int
    window: int | None = None


def escape(text: str) -> str:
    """Escape the characters mrkdwn gives meaning to (``&``, ``<``, ``>``) in text from outside."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def clip(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters ending in "…", never inside an ``&amp;`` entity."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    amp = cut.rfind("&", max(0, len(cut) - 4))  # "&amp" is the longest partial entity
    if amp != -1 and ";" not in cut[amp:]:
        cut = cut[:amp]
    return cut + "…"


def said(text: str, limit: int = REASON_TEXT) -> str:
    """Outside text (a reason, an error, a name) made safe for mrkdwn and short enough."""
    return clip(escape(text), limit)


def code(text: str, limit: int = 120) -> str:
    """Outside text as inline code; a backtick inside would end the code span early."""
    return "`" + said(text.replace("`", "'"), limit) + "`"


def mention(actor: Actor) -> str:
    """A Slack user as a real mention, anyone else (CLI, scheduler) as ``@name``."""
    if actor.door is Door.SLACK and _SLACK_USER.fullmatch(actor.id):
        return f"<@{actor.id}>"
    return "@" + said(actor.name, 80)


def short_image(ref: str, limit: int = 80) -> str:
    """An image reference a person can read: a digest cut to 12 hex digits, a long name cut
    from the front, since the tag at the end is what tells two releases apart."""
    name, at, digest = ref.partition("@")
    algorithm, colon, hexdigits = digest.partition(":")
    if colon and len(hexdigits) > 12:
        digest = f"{algorithm}:{hexdigits[:12]}"
    short = name + at + digest
    return short if len(short) <= limit else "…" + short[-(limit - 1) :]


def clock(at: datetime, tz: tzinfo, *, date: bool = False, seconds: bool = False) -> str:
    """``14:02 UTC`` (or with the date first, or ``14:02:30``) in ``tz``, 24-hour."""
    time_of_day = "%H:%M:%S" if seconds else "%H:%M"
    return at.astimezone(tz).strftime(f"%Y-%m-%d {time_of_day} %Z" if date else f"{time_of_day} %Z")


def step_words(release: Release) -> str:
    """``step 2/3``: counted from 1, as people count."""
    return f"step {release.step + 1}/{release.plan.steps}"


def window_words(release: Release) -> str:
    """``window 1/2``, or ``extra window 1`` past the plan's windows (after Extend)."""
    if release.window is None:
        return ""
    index, planned = release.window.index, release.plan.windows_per_step
    return (
        f"window {index + 1}/{planned}"
        if index < planned
        else f"extra window {index - planned + 1}"
    )


def section(text: str, *, fields: Sequence[str] = ()) -> SectionBlock:
    """A mrkdwn section, clipped to Block Kit's limits as a last guard."""
    return SectionBlock(
        text=MarkdownTextObject(text=clip(text, SECTION_TEXT)) if text else None,
        fields=[MarkdownTextObject(text=clip(field, FIELD_TEXT)) for field in fields[:10]] or None,
    )


def mrkdwn_section(text: str) -> dict[str, Any]:
    """`section(text).to_dict()` without slack_sdk's checks, for the ack's path: a section of
    one clipped mrkdwn text has nothing else to check, and the checks cost 0.1 ms a block."""
    return {"type": "section", "text": {"type": "mrkdwn", "text": clip(text, SECTION_TEXT)}}


def context(*texts: str) -> ContextBlock:
    """A line of small grey mrkdwn."""
    return ContextBlock(elements=[MarkdownTextObject(text=clip(t, CONTEXT_TEXT)) for t in texts])


def message(text: str, blocks: Sequence[Block], *, ephemeral: bool = False) -> Message:
    """Blocks to dicts (which runs slack_sdk's checks) behind a clipped fallback text."""
    dicts = [block.to_dict() for block in blocks[:MAX_BLOCKS]]
    return Message(text=clip(text, FALLBACK_TEXT), blocks=dicts, ephemeral=ephemeral)


def release_card(release: Release, spec: ServiceSpec, *, tz: tzinfo = UTC) -> Message:
    """The release's parent message in the service's channel, updated in place as it moves.

    Steps are shown as the release runs them: with the values it started with, which may be
    its own (`steps=` at start) or services.yaml's before an edit.
    """
    spec = release_spec(spec, release.plan)
    emoji, state = PHASE_EMOJI[release.phase], release.phase.value.replace("_", " ")
    title = clip(f"{emoji} {release.service}: {state}", HEADER_TEXT)
    images = _image_change(release)
    step = f"{release.step + 1}/{release.plan.steps}{_step_detail(spec, release.step)}"
    if release.phase is Phase.OBSERVING and release.window is not None:
        step += f", {window_words(release)}"
    since = f"since {clock(release.updated_at, tz)}"
    if release.phase_by != release.requested_by:
        since += f" by {mention(release.phase_by)}"
    if release.phase is Phase.AWAITING_APPROVAL and release.approval_deadline_at is not None:
        since += f", answer by {clock(release.approval_deadline_at, tz)}"
    fields = [
        f"*Strategy*\n{spec.strategy.kind.value}",
        f"*Step*\n{step}",
        f"*State*\n{state} {since}",
        f"*Started by*\n{mention(release.requested_by)} {clock(release.created_at, tz, date=True)}",
    ]
    blocks: list[Block] = [
        HeaderBlock(text=PlainTextObject(text=title, emoji=True)),
        section(images, fields=fields),
    ]
    failed = release.phase is Phase.FAILED
    if failed:
        blocks.append(section(f":x: *Failed:* {said(release.reason or 'no reason recorded')}"))
    elif release.reason:
        blocks.append(context(said(release.reason)))
    where = f"{spec.namespace}/{spec.strategy.deployment}"
    own = " ".join(f"{name}={value}" for name, value in release.overrides.audit_details().items())
    chosen = f" · started with {code(own)}" if own else ""
    blocks.append(context(f"release {code(release.id)} · {code(where)}{chosen}"))
    text = f"{said(release.service, 100)}: {state} — {images}, {step_words(release)}"
    text += f", started by {mention(release.requested_by)}"
    return message(text + (f": {said(release.reason)}" if failed else ""), blocks)


def _image_change(release: Release) -> str:
    new = code(short_image(release.image))
    return f"{code(short_image(release.previous_image))} → {new}" if release.previous_image else new


def _step_detail(spec: ServiceSpec, step: int) -> str:
    """What the step means in the cluster; nothing when services.yaml changed since the start."""
    strategy = spec.strategy
    if not isinstance(strategy, IstioSpec | CanaryDeploymentSpec | PausedRolloutSpec):
        return ""  # blue-green and rolling have a single step with nothing more to say
    if step >= len(strategy.steps):
        return ""
    amount = strategy.steps[step]
    if isinstance(strategy, IstioSpec):
        return f" ({amount}% of {'matching requests' if strategy.match else 'traffic'})"
    kind = "canary" if isinstance(strategy, CanaryDeploymentSpec) else "new"
    return f" ({amount} {kind} pod{'' if amount == 1 else 's'})"


def encode_button_value(value: ButtonValue) -> str:
    """Compact JSON for a button's ``value``; a clipped id matches no release, so it is refused."""
    data: dict[str, str | int] = {"r": value.release_id[:255], "s": value.step}
    if value.window is not None:
        data["w"] = value.window
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False)


def parse_button_value(raw: object) -> ButtonValue | None:
    """Read a button's value back; anything else (junk, old formats, a forged payload) is None."""
    if not isinstance(raw, str) or len(raw) > BUTTON_VALUE:
        return None
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):  # RecursionError: "[[[[…" nested deeper than json goes
        return None
    if not isinstance(data, dict):
        return None
    release_id, step, window = data.get("r"), data.get("s"), data.get("w")
    if not isinstance(release_id, str) or not release_id or not _index(step):
        return None
    if window is not None and not _index(window):
        return None
    return ButtonValue(release_id=release_id, step=step, window=window)


def _index(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def progress(
    release: Release, text: str, *, status: ReleaseStatus | None = None, mention: str = ""
) -> Message:
    """A progress line in the release's thread, with the cluster's numbers if given.

    `mention` (Slack markup such as ``<!subteam^S0ONCALL>``) goes first, unescaped.
    """
    lead = f"{mention} " if mention else ""
    blocks: list[Block] = [section(f"{PHASE_EMOJI[release.phase]} {lead}{said(text)}")]
    if status is not None:
        blocks.append(context(_status_line(status)))
    return message(f"{lead}{said(release.service, 100)}: {said(text)}", blocks)


def _status_line(status: ReleaseStatus) -> str:
    parts = [f"{status.health.value}: {said(status.message, 500)}"]
    for track, workload in (("canary", status.canary), ("stable", status.stable)):
        if workload is not None:
            parts.append(f"{track} {workload.ready}/{workload.replicas} ready")
    parts.append(f"{status.canary_share:.0%} on the new version")
    return " · ".join(parts)


def refusal(reason: str) -> Message:
    """Why the bot will not do what was asked, for the asker only."""
    text = f":no_entry_sign: {said(reason)}"
    return message(text, [section(text)], ephemeral=True)


def command_error(error: str, usage: str) -> Message:
    """A command the bot could not read, with how to write it, for the asker only."""
    # The usage is mrkdwn already (its forms are inline code): in a code block its backticks
    # would show as written.
    blocks = [
        mrkdwn_section(f":warning: {said(error)}"),
        mrkdwn_section(f"*Usage*\n{said(usage, 2800)}"),
    ]
    text = clip(f"{said(error)} — usage: {said(usage)}", FALLBACK_TEXT)
    return Message(text=text, blocks=blocks, ephemeral=True)


def help_message(text: str) -> Message:
    """The help text (mrkdwn, escaped so ``<service>`` shows as written), for the asker only."""
    lines = [said(line, SECTION_TEXT) for line in text.splitlines()]
    return message(said(text, FALLBACK_TEXT), _sections(lines), ephemeral=True)


def release_list(releases: Sequence[Release], *, tz: tzinfo = UTC) -> Message:
    """The releases in flight, one line each."""
    if not releases:
        return message("No releases in flight.", [section("No releases in flight.")])
    lines = [
        f"{PHASE_EMOJI[r.phase]} *{said(r.service, 100)}* {code(r.id, 100)} "
        f"{r.phase.value.replace('_', ' ')}, {step_words(r)} · {code(short_image(r.image))} · "
        f"{mention(r.requested_by)} {clock(r.created_at, tz, date=True)}"
        for r in releases[:LIST_LINES]
    ]
    return message(f"{len(releases)} releases in flight", _listing(lines, len(releases)))


def history(service: str, entries: Sequence[AuditEntry], *, tz: tzinfo = UTC) -> Message:
    """A service's audit trail, newest last as given: who did what, when, and why."""
    title = f"History of {said(service, 100)}"
    if not entries:
        return message(f"{title}: nothing yet", [section(f"*{title}*: nothing yet.")])
    lines = [_audit_line(entry, tz) for entry in entries[:LIST_LINES]]
    blocks = [section(f"*{title}*"), *_listing(lines, len(entries))]
    return message(f"{title}: {len(entries)} events", blocks)


def _audit_line(entry: AuditEntry, tz: tzinfo) -> str:
    moved = ""
    if entry.from_phase and entry.to_phase and entry.from_phase != entry.to_phase:
        moved = f" {entry.from_phase.value} → {entry.to_phase.value}"
    refused = "" if entry.applied else " (refused)"
    why = f" — {said(entry.reason, 300)}" if entry.reason else ""
    return (
        f"`{clock(entry.at, tz, date=True)}` {code(entry.release_id, 100)} "
        f"{mention(entry.actor)} {entry.event.value}{moved}{refused}{why}"
    )


def _listing(lines: Sequence[str], total: int) -> list[Block]:
    blocks: list[Block] = list(_sections(lines))
    if total > len(lines):
        blocks.append(context(f"… and {total - len(lines)} more; the CLI lists them all"))
    return blocks


def _sections(lines: Sequence[str]) -> list[SectionBlock]:
    """Lines (mrkdwn, already escaped) packed into as few sections as fit."""
    chunks: list[str] = []
    for line in lines:
        if chunks and len(chunks[-1]) + 1 + len(line) <= SECTION_TEXT:
            chunks[-1] += "\n" + line
        else:
            chunks.append(line or " ")
    return [section(chunk) for chunk in chunks[: MAX_BLOCKS - 2]]
