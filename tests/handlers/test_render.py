"""Slack messages: each builder says what a person needs, carries what a click needs, escapes
what outsiders wrote, and stays inside Block Kit's limits whatever it is given."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.analysis import Judgment, Verdict
from bot.measurements import Track, TrackCounts, TrackMeasurement, WindowMeasurement
from bot.release import SCHEDULER, Actor, AuditEntry, Door, EventKind, Phase, Release, Window
from bot.service_spec import ServiceSpec
from handlers.render import (
    ApprovalAction,
    ButtonValue,
    Message,
    clip,
    command_error,
    encode_button_value,
    help_message,
    history,
    mention,
    parse_button_value,
    progress,
    refusal,
    release_card,
    release_list,
    short_image,
)
from handlers.render_window import approval_request, approval_resolved, window_summary
from k8s.types import Health, ReleaseStatus, Workload
from tests.factories import ALICE, BOB, CAROL, T0, WINDOW, plan, release

BERLIN = ZoneInfo("Europe/Berlin")
DIGEST = "sha256:" + "0123456789abcdef" * 4
HUGE = "x<&>" * 2500  # 10 kB of what mrkdwn must escape
LONG_IMAGE = "registry.example.com/" + "team/" * 95 + "fop-gate:2026-11-22"  # ~500 characters


def spec(**overrides: Any) -> ServiceSpec:
    """fop-gate released as a 3-step canary Deployment, with on-call and two kinds of approver."""
    data: dict[str, Any] = {
        "name": "fop-gate",
        "namespace": "payments",
        "channel": "#releases",
        "strategy": {
            "kind": "canary-deployment",
            "deployment": "fop-gate",
            "service": "fop-gate",
            "steps": [1, 2, 4],
        },
        "metrics": {"dashboard_url": "https://grafana.example.com/d/fop?var-a=1&var-b=2"},
        "approval": {
            "approvers": ["U012ABCDEF"],
            "approver_groups": ["S0APPROVE"],
            "oncall_group": "S0ONCALL1",
        },
    }
    return ServiceSpec.model_validate(data | overrides)


def observing(**overrides: Any) -> Release:
    """fop-gate at step 1 of 3, in its first window."""
    window = Window(step=0, index=0, started_at=T0, ends_at=T0 + WINDOW)
    base = release(plan=plan(steps=3), phase=Phase.OBSERVING, window=window)
    return replace(base, **overrides)


def awaiting(**overrides: Any) -> Release:
    """fop-gate waiting for a decision on step 1 of 3, answer due at 14:40 UTC."""
    base = observing(phase=Phase.AWAITING_APPROVAL, approval_deadline_at=T0 + 4 * WINDOW)
    return replace(base, **overrides)


def track(
    which: Track, *, requests: float, ok: float, errors: float, **kw: Any
) -> TrackMeasurement:
    """One track measured over a 10-minute window."""
    counts = TrackCounts(requests=requests, ok=ok, errors=errors)
    return TrackMeasurement(track=which, counts=counts, window=WINDOW, **kw)


def measured(**overrides: Any) -> WindowMeasurement:
    """Stable 24,000 requests with 12 errors; canary 2,400 with 12 errors."""
    base = WindowMeasurement(
        start=T0,
        end=T0 + WINDOW,
        stable=track(Track.STABLE, requests=24_000, ok=23_988, errors=12, p99_ms=120.0),
        canary=track(Track.CANARY, requests=2_400, ok=2_388, errors=12, p99_ms=180.4),
    )
    return replace(base, **overrides)


PASSED = Judgment(Verdict.PASS, "canary 5xx 0.5% vs stable 0.05% over 2,400 requests: fine")


# --- what the checks look at -----------------------------------------------------------------


def texts(message: Message) -> Iterator[str]:
    """Every text a person can see in the blocks."""

    def walk(node: object) -> Iterator[str]:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "text" and isinstance(value, str):
                    yield value
                else:
                    yield from walk(value)
        elif isinstance(node, list):
            for item in node:
                yield from walk(item)

    return walk(message.blocks)


def shown(message: Message) -> str:
    """All visible block text, one string."""
    return "\n".join(texts(message))


def blocks_of(message: Message, kind: str) -> list[dict[str, Any]]:
    """The message's blocks of one type."""
    return [block for block in message.blocks if block["type"] == kind]


def buttons(message: Message) -> dict[str, dict[str, Any]]:
    """The message's buttons by action_id."""
    return {
        element["action_id"]: element
        for block in blocks_of(message, "actions")
        for element in block["elements"]
    }


# Our own markup: user and group mentions, links. Anything else in <…> is a broken escape.
_MARKUP = re.compile(r"<(@[UW][A-Z0-9]+|!subteam\^S[A-Z0-9]+|https?://[^<>|]+\|[^<>]+)>")
_ENTITY = re.compile(r"&(?!amp;|lt;|gt;)")


def assert_safe_mrkdwn(text: str) -> None:
    """No raw `<` or `>` outside our markup, and every `&` starts an entity (none cut in half)."""
    bare = _MARKUP.sub("", text)
    assert "<" not in bare
    assert ">" not in bare.replace("\n>", "\n")  # "\n>" is our own block quote
    assert not _ENTITY.search(text)


def _within(value: object, limit: int) -> None:
    assert isinstance(value, str)
    assert 0 < len(value) <= limit


def _check_section(block: dict[str, Any]) -> None:
    assert "text" in block or "fields" in block
    if "text" in block:
        _within(block["text"]["text"], 3000)
    assert len(block.get("fields", [])) <= 10
    for field in block.get("fields", []):
        _within(field["text"], 2000)


def _check_button(button: dict[str, Any]) -> None:
    _within(button["text"]["text"], 75)
    _within(button["action_id"], 255)
    _within(button["value"], 2000)
    if "confirm" in button:
        confirm = button["confirm"]
        _within(confirm["title"]["text"], 100)
        _within(confirm["text"]["text"], 300)
        _within(confirm["confirm"]["text"], 30)
        _within(confirm["deny"]["text"], 30)


def _check_block(block: dict[str, Any]) -> None:
    if "block_id" in block:
        _within(block["block_id"], 255)
    kind = block["type"]
    if kind == "header":
        _within(block["text"]["text"], 150)
    elif kind == "section":
        _check_section(block)
    elif kind == "context":
        assert 0 < len(block["elements"]) <= 10
        for element in block["elements"]:
            _within(element["text"], 3000)
    elif kind == "actions":
        assert 0 < len(block["elements"]) <= 25
        for button in block["elements"]:
            _check_button(button)
    elif kind == "image":
        _within(block["alt_text"], 2000)
        assert "slack_file" in block or 0 < len(block["image_url"]) <= 3000
    else:
        raise AssertionError(f"unexpected block type {kind}")


def _mrkdwn(node: object) -> Iterator[str]:
    """The mrkdwn texts under a node; plain_text (headers, buttons) has no markup to escape."""
    if isinstance(node, dict):
        if node.get("type") == "mrkdwn":
            yield node["text"]
        for value in node.values():
            yield from _mrkdwn(value)
    elif isinstance(node, list):
        for item in node:
            yield from _mrkdwn(item)


def assert_within_limits(message: Message) -> None:
    """Block Kit's limits on every block, button and text, and escaped mrkdwn throughout."""
    _within(message.text, 4000)
    assert 0 < len(message.blocks) <= 50
    for block in message.blocks:
        _check_block(block)
    for text in [message.text, *_mrkdwn(message.blocks)]:
        assert_safe_mrkdwn(text)
    json.dumps(message.payload())


# --- the release card --------------------------------------------------------------------


def test_card_names_service_images_strategy_step_state_and_who_started_it() -> None:
    card = release_card(observing(), spec())
    text = shown(card)
    assert "fop-gate: observing" in blocks_of(card, "header")[0]["text"]["text"]
    assert "`reg/fop-gate:2026-11-21` → `reg/fop-gate:2026-11-22`" in text
    assert "canary-deployment" in text
    assert "*Step*\n1/3 (1 canary pod), window 1/1" in text
    assert "<@U0ALICE> 2026-11-22 14:00 UTC" in text
    assert "`fop-gate#1`" in text
    assert card.text.startswith("fop-gate: observing — ")
    assert "<@U0ALICE>" in card.text
    assert not card.ephemeral


@pytest.mark.parametrize("phase", list(Phase))
def test_card_header_shows_every_phase_in_words(phase: Phase) -> None:
    card = release_card(observing(phase=phase, reason="because"), spec())
    header = blocks_of(card, "header")[0]["text"]["text"]
    assert phase.value.replace("_", " ") in header
    assert_within_limits(card)


def test_failed_card_says_why_it_failed() -> None:
    failed = observing(phase=Phase.FAILED, reason="image pull failed: no such tag")
    card = release_card(failed, spec())
    assert ":x: *Failed:* image pull failed: no such tag" in shown(card)
    assert card.text.endswith(": image pull failed: no such tag")


def test_card_names_who_moved_the_release_last_when_it_was_not_the_starter() -> None:
    promoting = observing(phase=Phase.PROMOTING, phase_by=BOB, updated_at=T0 + WINDOW)
    assert "promoting since 14:10 UTC by <@U0BOB>" in shown(release_card(promoting, spec()))


def test_card_shows_times_in_the_given_zone() -> None:
    card = release_card(awaiting(), spec(), tz=BERLIN)
    assert "2026-11-22 15:00 CET" in shown(card)
    assert "answer by 15:40 CET" in shown(card)


def test_card_shows_the_traffic_share_of_an_istio_step() -> None:
    istio = spec(
        strategy={
            "kind": "istio",
            "deployment": "fop-gate",
            "host": "fop-gate",
            "virtual_service": "fop-gate",
            "destination_rule": "fop-gate",
        }
    )
    assert "*Step*\n2/3 (50% of traffic)" in shown(release_card(observing(step=1), istio))


def test_first_release_without_a_previous_image_shows_only_the_new_one() -> None:
    card = release_card(observing(previous_image=""), spec())
    assert "→" not in shown(card)
    assert "`reg/fop-gate:2026-11-22`" in shown(card)


@pytest.mark.parametrize(
    ("image", "short"),
    [
        pytest.param("reg/fop-gate:1.2", "reg/fop-gate:1.2", id="short stays"),
        pytest.param(f"reg/fop-gate@{DIGEST}", "reg/fop-gate@sha256:0123456789ab", id="digest"),
        pytest.param(LONG_IMAGE, "…" + LONG_IMAGE[-79:], id="long keeps its tag"),
    ],
)
def test_long_image_references_are_shortened_keeping_what_tells_them_apart(
    image: str, short: str
) -> None:
    assert short_image(image) == short


# --- the window summary ------------------------------------------------------------------


def test_summary_tabulates_tps_requests_share_and_p99_for_both_tracks() -> None:
    table = shown(window_summary(observing(), spec(), measured(), PASSED))
    assert re.search(r"metric\s+stable\s+canary\n", table)
    assert re.search(r"TPS2XX\s+39\.98\s+3\.98\n", table)
    assert re.search(r"TPS5XX\s+0\.02\s+0\.02\n", table)
    assert re.search(r"requests\s+24,000\s+2,400\n", table)
    assert re.search(r"5xx share\s+0\.05%\s+0\.5%\n", table)
    assert re.search(r"p99 ms\s+120\s+180\b", table)


def test_summary_leaves_p99_out_when_nothing_measured_it() -> None:
    bare = measured(
        stable=track(Track.STABLE, requests=10, ok=10, errors=0),
        canary=track(Track.CANARY, requests=10, ok=10, errors=0),
    )
    assert "p99" not in shown(window_summary(observing(), spec(), bare, PASSED))


def test_summary_shows_the_verdict_its_reason_and_the_window() -> None:
    summary = window_summary(observing(), spec(), measured(), PASSED, tz=BERLIN)
    assert ":large_green_circle: *PASS* · *fop-gate*, window 1/1 of step 1/3" in shown(summary)
    assert PASSED.reason in shown(summary)
    assert "Window 15:00 CET to 15:10 CET" in shown(summary)
    assert summary.text == f"fop-gate window 1/1 of step 1/3: PASS — {PASSED.reason}"


def test_a_window_shorter_than_two_minutes_shows_its_seconds() -> None:
    short = measured(end=T0 + timedelta(seconds=20))
    summary = window_summary(observing(), spec(), short, PASSED, tz=BERLIN)
    assert "Window 15:00:00 CET to 15:00:20 CET" in shown(summary)


def test_failed_window_is_red_and_says_why() -> None:
    failed = Judgment(Verdict.FAIL, "canary 5xx 9% over 2,400 requests: above the 5% ceiling")
    summary = window_summary(observing(), spec(), measured(), failed)
    assert ":red_circle: *FAIL*" in shown(summary)
    assert "above the 5% ceiling" in summary.text


def test_summary_links_the_dashboard_when_the_service_has_one() -> None:
    linked = shown(window_summary(observing(), spec(), measured(), PASSED))
    assert "<https://grafana.example.com/d/fop?var-a=1&amp;var-b=2|Dashboard>" in linked
    plain = spec(metrics={})
    assert "Dashboard" not in shown(window_summary(observing(), plain, measured(), PASSED))


def test_summary_shows_the_chart_from_a_url_or_an_uploaded_file() -> None:
    url = "https://charts.example.com/fop-gate/1.png"
    by_url = window_summary(observing(), spec(), measured(), PASSED, chart_url=url)
    assert blocks_of(by_url, "image")[0]["image_url"] == url
    by_file = window_summary(observing(), spec(), measured(), PASSED, chart_file_id="F0CHART")
    assert blocks_of(by_file, "image")[0]["slack_file"] == {"id": "F0CHART"}
    assert not blocks_of(window_summary(observing(), spec(), measured(), PASSED), "image")


def test_an_unmeasured_track_shows_dashes_not_zeros() -> None:
    broken = measured(canary=TrackMeasurement(track=Track.CANARY, error="connection refused"))
    why = Judgment(Verdict.INCONCLUSIVE, "couldn't measure the canary track: connection refused")
    summary = window_summary(observing(), spec(), broken, why)
    assert re.search(r"requests\s+24,000\s+—\n", shown(summary))
    assert ":large_yellow_circle: *INCONCLUSIVE*" in shown(summary)


def test_nan_and_absurd_numbers_keep_the_table_narrow() -> None:
    wild = measured(
        stable=track(Track.STABLE, requests=float("nan"), ok=float("inf"), errors=1.0),
        canary=track(Track.CANARY, requests=1e300, ok=1e300, errors=1e299, p99_ms=1e200),
    )
    table = next(t for t in texts(window_summary(observing(), spec(), wild, PASSED)) if "```" in t)
    assert max(len(line) for line in table.strip("`").splitlines()) <= 34


# --- approval requests and their buttons ---------------------------------------------------


def test_approval_request_mentions_oncall_groups_and_approvers() -> None:
    asked = approval_request(awaiting(), spec(), reason="all windows of step 1 passed")
    who = "<!subteam^S0ONCALL1> <!subteam^S0APPROVE> <@U012ABCDEF>"
    assert asked.text.startswith(who)
    assert who in shown(asked)
    assert "all windows of step 1 passed" in asked.text


def test_approval_request_says_why_and_what_promote_will_do() -> None:
    asked = shown(approval_request(awaiting(), spec(), reason="all windows of step 1 passed"))
    assert ":raised_hand: *fop-gate*, step 1/3 needs a decision.\n" in asked
    assert ">all windows of step 1 passed\nPromote goes on to step 2/3." in asked


def test_approval_request_offers_promote_extend_and_undo() -> None:
    offered = buttons(approval_request(awaiting(), spec(), reason="passed"))
    assert list(offered) == ["canary_promote", "canary_extend", "canary_undo"]
    assert [b["text"]["text"] for b in offered.values()] == [
        "Promote",
        "Extend observation",
        "Undo",
    ]
    assert offered[ApprovalAction.PROMOTE]["style"] == "primary"
    assert offered[ApprovalAction.UNDO]["style"] == "danger"


def test_promote_and_undo_ask_for_confirmation_extend_does_not() -> None:
    offered = buttons(approval_request(awaiting(), spec(), reason="passed"))
    assert offered[ApprovalAction.PROMOTE]["confirm"]["text"]["text"] == (
        "Go on to step 2/3 of fop-gate?"
    )
    assert offered[ApprovalAction.UNDO]["confirm"]["text"]["text"] == (
        "Take fop-gate back to `reg/fop-gate:2026-11-21`?"
    )
    assert "confirm" not in offered[ApprovalAction.EXTEND]


def test_promote_at_the_last_step_rolls_the_image_out_everywhere() -> None:
    last = awaiting(step=2, window=Window(step=2, index=0, started_at=T0, ends_at=T0 + WINDOW))
    asked = approval_request(last, spec(), reason="passed")
    confirm = buttons(asked)[ApprovalAction.PROMOTE]["confirm"]["text"]["text"]
    assert confirm == "Roll `reg/fop-gate:2026-11-22` out to every pod of fop-gate?"
    assert "Promote rolls `reg/fop-gate:2026-11-22` out to every pod." in shown(asked)


def test_every_button_carries_the_release_id_step_and_window() -> None:
    at_step_2 = awaiting(step=1, window=Window(step=1, index=1, started_at=T0, ends_at=T0))
    for button in buttons(approval_request(at_step_2, spec(), reason="passed")).values():
        assert parse_button_value(button["value"]) == ButtonValue("fop-gate#1", step=1, window=1)


def test_approval_request_says_until_when_and_what_then() -> None:
    asked = approval_request(awaiting(), spec(), reason="passed", tz=BERLIN)
    assert "Answer by 15:40 CET; after that the release will hold" in shown(asked)


@given(
    release_id=st.text(min_size=1, max_size=300),
    step=st.integers(min_value=0, max_value=10**6),
    window=st.none() | st.integers(min_value=0, max_value=10**6),
)
@settings(max_examples=200, deadline=None)
def test_button_values_read_back_as_written(release_id: str, step: int, window: int | None) -> None:
    value = ButtonValue(release_id, step, window)
    encoded = encode_button_value(value)
    assert len(encoded) <= 2000
    assert parse_button_value(encoded) == replace(value, release_id=release_id[:255])


@pytest.mark.parametrize(
    "junk",
    [
        "",
        "fop-gate#1|0",
        "null",
        "[]",
        "42",
        '{"r": "fop-gate#1"}',
        '{"r": "", "s": 0}',
        '{"r": 7, "s": 0}',
        '{"r": "fop-gate#1", "s": -1}',
        '{"r": "fop-gate#1", "s": true}',
        '{"r": "fop-gate#1", "s": 1.5}',
        '{"r": "fop-gate#1", "s": "1"}',
        '{"r": "fop-gate#1", "s": 0, "w": "x"}',
        '{"r": "fop-gate#1", "s": ' + "9" * 5000 + "}",
        "[" * 1999,
        "[" * 100_000,
        None,
        b'{"r": "fop-gate#1", "s": 0}',
    ],
)
def test_junk_button_values_read_as_nothing(junk: object) -> None:
    assert parse_button_value(junk) is None


@given(st.text(max_size=3000))
@settings(max_examples=300, deadline=None)
def test_no_text_makes_reading_a_button_value_raise(junk: str) -> None:
    parse_button_value(junk)


def test_resolved_request_has_no_buttons_and_says_who_and_when_in_the_zone() -> None:
    at = datetime(2026, 11, 22, 13, 2, tzinfo=UTC)
    done = approval_resolved(
        awaiting(), actor=BOB, action=ApprovalAction.PROMOTE, at=at, tz=BERLIN, reason="passed"
    )
    assert not blocks_of(done, "actions")
    assert "Promoted by <@U0BOB> at 14:02 CET" in shown(done)
    assert "Promoted by <@U0BOB> at 14:02 CET" in done.text
    assert "passed" in shown(done)


@pytest.mark.parametrize(
    ("action", "said"),
    [
        (ApprovalAction.PROMOTE, "Promoted by"),
        (ApprovalAction.EXTEND, "Observation extended by"),
        (ApprovalAction.UNDO, "Undone by"),
    ],
)
def test_resolved_request_says_what_was_clicked(action: ApprovalAction, said: str) -> None:
    done = approval_resolved(awaiting(), actor=BOB, action=action, at=T0)
    assert f"{said} <@U0BOB> at 14:00 UTC" in shown(done)


def test_resolved_request_names_the_step_that_was_asked_not_the_next_one() -> None:
    moved_on = awaiting(step=1, phase=Phase.DEPLOYING)
    done = approval_resolved(moved_on, actor=BOB, action=ApprovalAction.PROMOTE, at=T0, step=0)
    assert "step 1/3" in done.text
    assert "Promote goes on to step" not in shown(done)


# --- mentions and escaping ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("actor", "named"),
    [
        pytest.param(ALICE, "<@U0ALICE>", id="slack user"),
        pytest.param(CAROL, "@carol", id="cli user"),
        pytest.param(SCHEDULER, "@canarybot", id="scheduler"),
        pytest.param(
            Actor("U0EVE", "<!channel>", Door.CLI), "@&lt;!channel&gt;", id="cli lookalike"
        ),
        pytest.param(Actor("not an id", "eve", Door.SLACK), "@eve", id="slack without an id"),
    ],
)
def test_slack_users_are_mentioned_by_id_everyone_else_by_name(actor: Actor, named: str) -> None:
    assert mention(actor) == named


def test_text_from_outside_cannot_inject_markup_or_mentions() -> None:
    evil = "<script>alert(1)</script> & <!channel> <@U0BOSS>"
    failed = observing(phase=Phase.FAILED, reason=evil)
    card = release_card(failed, spec())
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &lt;!channel&gt; &lt;@U0BOSS&gt;" in (
        shown(card)
    )
    assert_within_limits(card)
    assert_within_limits(refusal(evil))
    assert_within_limits(window_summary(failed, spec(), measured(), replace(PASSED, reason=evil)))


def test_clipping_never_cuts_an_entity_in_half() -> None:
    for limit in range(2, 12):
        clipped = clip("ab&amp;&lt;cd", limit)
        assert len(clipped) <= limit
        assert_safe_mrkdwn(clipped)


# --- the small ones ---------------------------------------------------------------------------


def test_progress_goes_in_the_thread_with_the_clusters_numbers() -> None:
    status = ReleaseStatus(
        health=Health.PROGRESSING,
        message="1 of 2 canary pods ready",
        stable=Workload("fop-gate", "reg/fop-gate:2026-11-21", 8, 8, 8, 8),
        canary=Workload("fop-gate-canary", "reg/fop-gate:2026-11-22", 2, 2, 1, 1),
        canary_share=0.2,
    )
    update = progress(observing(phase=Phase.DEPLOYING), "deploying step 1/3", status=status)
    assert update.text == "fop-gate: deploying step 1/3"
    assert ":rocket: deploying step 1/3" in shown(update)
    assert "canary 1/2 ready · stable 8/8 ready · 20% on the new version" in shown(update)


def test_refusals_and_command_errors_go_to_the_asker_only() -> None:
    refused = refusal("fop-gate is being promoted by @bob")
    assert refused.ephemeral
    assert refused.text == ":no_entry_sign: fop-gate is being promoted by @bob"
    wrong = command_error("unknown action 'launch'", "`/canary <service> start image=<ref>`")
    assert wrong.ephemeral
    assert "*Usage*\n`/canary &lt;service&gt; start image=&lt;ref&gt;`" in shown(wrong)
    assert "```" not in shown(wrong)  # the usage's inline code would show its backticks
    assert "unknown action 'launch'" in wrong.text


def test_help_shows_placeholders_as_written() -> None:
    helped = help_message("*Commands*\n`/canary <service> status`")
    assert helped.ephemeral
    assert "`/canary &lt;service&gt; status`" in shown(helped)


def test_release_list_has_a_line_per_release() -> None:
    other = observing(id="checkout#4", service="checkout", requested_by=CAROL)
    listed = release_list([observing(), other])
    assert listed.text == "2 releases in flight"
    lines = shown(listed).splitlines()
    assert lines[0].startswith(":eyes: *fop-gate* `fop-gate#1` observing, step 1/3")
    assert lines[1].startswith(":eyes: *checkout* `checkout#4` observing")
    assert "@carol" in lines[1]


def test_empty_release_list_says_so() -> None:
    assert release_list([]).text == "No releases in flight."


def test_history_says_who_did_what_when_and_what_was_refused() -> None:
    entries = [
        AuditEntry(T0, "fop-gate", "fop-gate#1", ALICE, EventKind.START, True, None, Phase.PENDING),
        AuditEntry(
            T0 + WINDOW,
            "fop-gate",
            "fop-gate#1",
            ALICE,
            EventKind.APPROVE,
            False,
            reason="you started this release; someone else must approve it",
        ),
    ]
    lines = shown(history("fop-gate", entries, tz=BERLIN)).splitlines()
    assert lines[0] == "*History of fop-gate*"
    assert lines[1] == "`2026-11-22 15:00 CET` `fop-gate#1` <@U0ALICE> start"
    assert lines[2].endswith(
        "<@U0ALICE> approve (refused) — you started this release; someone else must approve it"
    )


# --- limits, whatever the input ---------------------------------------------------------------


def _huge_release() -> Release:
    window = Window(step=0, index=0, started_at=T0, ends_at=T0 + timedelta(minutes=10))
    big = release(
        service="<svc>" * 1000,
        image=f"{LONG_IMAGE}@{DIGEST}",
        previous_image=LONG_IMAGE,
        plan=plan(steps=3),
        phase=Phase.FAILED,
        reason=HUGE,
        window=window,
        requested_by=Actor("cli:x", "y" * 5000, Door.CLI),
        phase_by=Actor("U0" + "A" * 3000, "z", Door.SLACK),
        approval_deadline_at=T0,
    )
    return replace(big, id="fop-gate#" + "9" * 3000)


def _huge_spec() -> ServiceSpec:
    many = [f"U{n:08d}" for n in range(500)]
    groups = [f"S{n:08d}" for n in range(500)]
    return spec(
        approval={"approvers": many, "approver_groups": groups, "oncall_group": "S0ONCALL1"},
        metrics={"dashboard_url": "https://grafana.example.com/" + "a&b|" * 2000},
    )


BUILDERS: dict[str, Callable[[], Message]] = {
    "card": lambda: release_card(_huge_release(), _huge_spec()),
    "summary": lambda: window_summary(
        _huge_release(),
        _huge_spec(),
        measured(),
        Judgment(Verdict.FAIL, HUGE),
        chart_url="https://charts.example.com/" + "c" * 5000,
    ),
    "approval request": lambda: approval_request(_huge_release(), _huge_spec(), reason=HUGE),
    "approval resolved": lambda: approval_resolved(
        _huge_release(), actor=_huge_release().requested_by, action=ApprovalAction.UNDO, at=T0
    ),
    "progress": lambda: progress(_huge_release(), HUGE),
    "refusal": lambda: refusal(HUGE),
    "command error": lambda: command_error(HUGE, HUGE),
    "help": lambda: help_message("\n".join([HUGE] * 60)),
    "release list": lambda: release_list([_huge_release()] * 500),
    "history": lambda: history(
        HUGE,
        [
            AuditEntry(
                T0,
                "s",
                "r" * 3000,
                _huge_release().requested_by,
                EventKind.UNDO,
                False,
                reason=HUGE,
            )
        ]
        * 500,
    ),
}


@pytest.mark.parametrize("build", BUILDERS.values(), ids=BUILDERS.keys())
def test_every_builder_stays_within_block_kit_limits_with_absurd_inputs(
    build: Callable[[], Message],
) -> None:
    assert_within_limits(build())


@pytest.mark.parametrize("build", BUILDERS.values(), ids=BUILDERS.keys())
def test_clipped_text_ends_in_an_ellipsis(build: Callable[[], Message]) -> None:
    assert "…" in shown(build()) + build().text


@pytest.mark.parametrize(
    "text", ["plain", ":warning: unknown service 'x' &amp; more", "*b* `c`\n" * 600, ""]
)
def test_the_acks_plain_section_is_what_slack_sdks_models_build(text: str) -> None:
    from handlers.render import mrkdwn_section, section

    if text:
        assert mrkdwn_section(text) == section(text).to_dict()
