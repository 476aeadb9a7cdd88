"""What a release's thread gets when a window ends: its summary and, when a person has to
decide, the approval request with its buttons (and what replaces them after the click).

Purely computational, no I/O; built on the primitives of :mod:`handlers.render`.
"""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import UTC, datetime, tzinfo

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ConfirmObject,
    ImageBlock,
    PlainTextObject,
)

from bot.analysis import Judgment, Verdict
from bot.measurements import TrackMeasurement, WindowMeasurement
from bot.release import Actor, Release
from bot.service_spec import ServiceSpec
from handlers.render import (
    ApprovalAction,
    ButtonValue,
    Message,
    clip,
    clock,
    code,
    context,
    encode_button_value,
    escape,
    mention,
    message,
    said,
    section,
    short_image,
    step_words,
    window_words,
)

VERDICT_EMOJI = {
    Verdict.PASS: ":large_green_circle:",
    Verdict.FAIL: ":red_circle:",
    Verdict.INCONCLUSIVE: ":large_yellow_circle:",
}
_URL = 2000  # a longer dashboard link is left out rather than cut into a broken one
_MENTIONS = 20  # people and groups named in one approval request


def window_summary(
    release: Release,
    spec: ServiceSpec,
    measured: WindowMeasurement,
    judgment: Judgment,
    *,
    chart_url: str | None = None,
    chart_file_id: str | None = None,
    tz: tzinfo = UTC,
) -> Message:
    """One window's TPS2XX / TPS5XX, canary against stable, and the verdict with its reason.

    The chart is shown from ``chart_url`` (a public URL) or ``chart_file_id`` (a PNG already
    uploaded with files_upload_v2); with neither, upload the PNG into the thread on its own.
    """
    verdict = judgment.verdict.value.upper()
    where = f"{window_words(release) or 'window'} of {step_words(release)}"
    head = (
        f"{VERDICT_EMOJI[judgment.verdict]} *{verdict}* · *{said(release.service, 100)}*, {where}"
    )
    # A window that starts and ends within one minute on the clock needs its seconds.
    short = (measured.end - measured.start).total_seconds() < 120
    start, end = (clock(m, tz, seconds=short) for m in (measured.start, measured.end))
    notes = [f"Window {start} to {end}"]
    dashboard = spec.metrics.dashboard_url
    link = escape(dashboard).replace("|", "%7C") if dashboard else ""
    if link and len(link) <= _URL:
        notes.append(f"<{link}|Dashboard>")
    blocks: list[Block] = [
        section(f"{head}\n{said(judgment.reason)}"),
        section(f"```{_table(measured)}```"),
        context(" · ".join(notes)),
    ]
    alt = clip(f"TPS2XX and TPS5XX, canary against stable: {release.service}, {where}", 2000)
    if chart_file_id:
        blocks.append(ImageBlock(alt_text=alt, slack_file={"id": chart_file_id}))
    elif chart_url and len(chart_url) <= 3000:
        blocks.append(ImageBlock(alt_text=alt, image_url=chart_url))
    text = f"{said(release.service, 100)} {where}: {verdict} — {said(judgment.reason)}"
    return message(text, blocks)


def _table(measured: WindowMeasurement) -> str:
    """A monospace table: Slack's section fields have two columns, this needs three."""
    stable, canary = measured.stable, measured.canary
    rows = [
        ("metric", "stable", "canary"),  # a blank corner could lose its spaces
        ("TPS2XX", _number(stable.tps_2xx, 2), _number(canary.tps_2xx, 2)),
        ("TPS5XX", _number(stable.tps_5xx, 2), _number(canary.tps_5xx, 2)),
        ("requests", _requests(stable), _requests(canary)),
        ("5xx share", _share(stable), _share(canary)),
    ]
    if stable.p99_ms is not None or canary.p99_ms is not None:
        rows.append(("p99 ms", _number(stable.p99_ms, 0), _number(canary.p99_ms, 0)))
    return "\n".join(f"{name:<10}{left:>12}{right:>12}" for name, left, right in rows)


def _number(value: float | None, decimals: int) -> str:
    # Prometheus can hand back NaN or a huge extrapolation; neither may widen the table.
    if value is None or not math.isfinite(value):
        return "—"
    return f"{value:.3g}" if abs(value) >= 1e9 else f"{value:,.{decimals}f}"


def _requests(measured: TrackMeasurement) -> str:
    return _number(measured.counts.requests if measured.counts else None, 0)


def _share(measured: TrackMeasurement) -> str:
    """2.4%, 0.3%, 0.05%, 0%: as the judge words it in its reasons."""
    share = measured.counts.error_ratio if measured.counts else None
    if share is None or not math.isfinite(share):
        return "—"
    if share == 0:
        return "0%"
    if share >= 0.001:
        return f"{share * 100:.1f}".removesuffix(".0") + "%"
    return f"{share * 100:.2g}%"


def approval_request(
    release: Release, spec: ServiceSpec, *, reason: str, tz: tzinfo = UTC
) -> Message:
    """Ask on-call and the approvers, in the thread: Promote, Extend observation or Undo.

    Every button's value carries the release id, step and window, so a click on this message
    after the release moved on is refused by the state machine instead of acting on a newer step.
    """
    who = _approvers(spec)
    window = release.window.index if release.window is not None else None
    value = encode_button_value(ButtonValue(release.id, release.step, window))
    buttons = [
        _button("Promote", ApprovalAction.PROMOTE, value, "primary", _confirm_promote(release)),
        _button("Extend observation", ApprovalAction.EXTEND, value),
        _button("Undo", ApprovalAction.UNDO, value, "danger", _confirm_undo(release)),
    ]
    blocks: list[Block] = [
        section(f"{who}\n{_approval_body(release, reason, asking=True)}"),
        ActionsBlock(elements=buttons),
    ]
    if release.approval_deadline_at is not None:
        due, then = clock(release.approval_deadline_at, tz), release.plan.on_deadline.value
        blocks.append(context(f"Answer by {due}; after that the release will {then}"))
    text = (
        f"{who} {said(release.service, 100)} {step_words(release)} needs a decision: {said(reason)}"
    )
    return message(text, blocks)


def approval_resolved(
    release: Release,
    *,
    actor: Actor,
    action: ApprovalAction,
    at: datetime,
    tz: tzinfo = UTC,
    reason: str = "",
    step: int | None = None,
) -> Message:
    """The approval request after a click: no buttons, "Promoted by @bob at 14:02 UTC" instead.

    ``step`` is the one that was asked about (the button's); it defaults to ``release.step``,
    which has already moved on when ``release`` is the one after the click.
    """
    asked = release if step is None else replace(release, step=step)
    verb = {
        ApprovalAction.PROMOTE: ":white_check_mark: Promoted",
        ApprovalAction.EXTEND: ":hourglass_flowing_sand: Observation extended",
        ApprovalAction.UNDO: ":leftwards_arrow_with_hook: Undone",
    }[action]
    done = f"{verb} by {mention(actor)} at {clock(at, tz)}"
    blocks = [section(_approval_body(asked, reason, asking=False)), context(done)]
    return message(f"{said(release.service, 100)} {step_words(asked)}: {done}", blocks)


def _approval_body(release: Release, reason: str, *, asking: bool) -> str:
    head = f"*{said(release.service, 100)}*, {step_words(release)}"
    why = f"\n>{said(reason)}" if reason else ""
    if not asking:
        return f":ballot_box_with_check: {head}{why}"
    if release.is_last_step:
        promote = f"Promote rolls {code(short_image(release.image))} out to every pod."
    else:
        promote = f"Promote goes on to step {release.step + 2}/{release.plan.steps}."
    return f":raised_hand: {head} needs a decision.{why}\n{promote}"


def _approvers(spec: ServiceSpec) -> str:
    """On-call first, then approver groups and approvers: mentions, at most _MENTIONS."""
    approval = spec.approval
    groups = (approval.oncall_group, *approval.approver_groups)
    named = [f"<!subteam^{group}>" for group in dict.fromkeys(groups) if group]
    named += [f"<@{user}>" for user in dict.fromkeys(approval.approvers)]
    more = len(named) - _MENTIONS
    return " ".join(named[:_MENTIONS]) + (f" and {more} more" if more > 0 else "")


def _button(
    label: str,
    action: ApprovalAction,
    value: str,
    style: str | None = None,
    confirm: ConfirmObject | None = None,
) -> ButtonElement:
    return ButtonElement(
        text=PlainTextObject(text=label),
        action_id=action.value,
        value=value,
        style=style,
        confirm=confirm,
    )


def _confirm_promote(release: Release) -> ConfirmObject:
    service = said(release.service, 63)
    if release.is_last_step:
        what = f"Roll {code(short_image(release.image))} out to every pod of {service}?"
    else:
        what = f"Go on to step {release.step + 2}/{release.plan.steps} of {service}?"
    return ConfirmObject(
        title="Promote?", text=clip(what, 300), confirm="Promote", deny="Cancel", style="primary"
    )


def _confirm_undo(release: Release) -> ConfirmObject:
    old = release.previous_image
    back = code(short_image(old)) if old else "the version that ran before"
    what = f"Take {said(release.service, 63)} back to {back}?"
    return ConfirmObject(
        title="Undo?", text=clip(what, 300), confirm="Undo", deny="Cancel", style="danger"
    )
