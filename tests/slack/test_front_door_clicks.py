"""Approval clicks through the Slack front door, on releases that got there the real way.

Each release is started with a signed `/canary … start`; its observation window is judged from
the real Prometheus, which scrapes a traffic app where both tracks answer without errors, so the
window passes and the approval request with its buttons is posted into the release's thread.
Clicks are then signed `block_actions` payloads carrying the buttons' own values.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.release import EventKind, Phase, Release
from handlers.render import ApprovalAction, parse_button_value
from sim.store import DEPLOYMENTS
from sim.traffic import TrafficApp
from tests.k8s.scenarios import OLD
from tests.release_rig import healthy_series, steady_traffic
from tests.servers import PrometheusServer, RedisServer, wait_until
from tests.slack.recording import (
    ApiCall,
    Reply,
    SlackUser,
    block_actions_body,
    post_signed,
)
from tests.slack.test_front_door import (
    ALICE,
    BOB,
    CAROL,
    DAVE,
    NEW,
    ONCALL,
    SECRET,
    SERVICE_NAMES,
    WINDOW_S,
    FrontDoor,
    ephemeral_to,
    judging_door,
)

RETRY = {"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}


@pytest.fixture(scope="module")
def traffic(traffic_app: TrafficApp, prometheus_server: PrometheusServer) -> Iterator[None]:
    """Both tracks of both services answer ~300 requests a second, none failing."""
    for name in SERVICE_NAMES:
        healthy_series(traffic_app, prometheus_server, namespace="shop", service=name)
    with steady_traffic(traffic_app, namespace="shop", services=SERVICE_NAMES):
        yield


@pytest.fixture
def door(
    tmp_path: Path,
    redis_server: RedisServer,
    redis_client: object,  # an emptied Redis
    prometheus_server: PrometheusServer,
    traffic: None,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[FrontDoor]:
    """The bot in HTTP mode, judging windows from the real Prometheus."""
    with judging_door(
        tmp_path=tmp_path,
        redis_server=redis_server,
        prometheus_url=prometheus_server.url,
        monkeypatch=monkeypatch,
    ) as running:
        yield running


@dataclass(frozen=True)
class ApprovalRequest:
    """The approval request the bot posted in a release's thread, and clicks on its buttons."""

    door: FrontDoor
    release_id: str
    message: ApiCall

    @property
    def ts(self) -> str:
        """The approval message's own ts: what chat.update must name."""
        return str(self.message.reply["ts"])

    def value(self, action: ApprovalAction) -> str:
        """The value the bot put on the button."""
        buttons = _buttons(self.message)
        assert action.value in buttons, f"no {action.value} button in {self.message.blocks}"
        return buttons[action.value]

    def click_body(self, user: SlackUser, action: ApprovalAction) -> str:
        """What Slack posts when `user` clicks the button (each click its own trigger id)."""
        return block_actions_body(
            user=user,
            action_id=action.value,
            value=self.value(action),
            channel_id=str(self.message.reply["channel"]),
            message_ts=self.ts,
            thread_ts=str(self.message.params["thread_ts"]),
        )

    def click(self, user: SlackUser, action: ApprovalAction = ApprovalAction.PROMOTE) -> Reply:
        """`user` clicks the button."""
        return post(self.door, self.click_body(user, action))

    def updates(self) -> list[ApiCall]:
        """The chat.update calls that replaced this message."""
        return [
            call for call in self.door.slack.calls("chat.update") if call.params["ts"] == self.ts
        ]


def post(door: FrontDoor, body: str, *, headers: dict[str, str] | None = None) -> Reply:
    """POST a signed body to the bot, as Slack does."""
    return post_signed(door.url, body, SECRET, headers=headers)


def awaiting_approval(door: FrontDoor, service: str = "fop-gate") -> ApprovalRequest:
    """Start a release of `service` as alice and wait for its first approval request."""
    reply = door.command(f"{service} start image={NEW}", ALICE)
    assert (reply.status, reply.body) == (200, b"")
    wait_until(lambda: door.store.live_release(service) is not None, timeout_s=10, what="start")
    release_id = door.live(service).id

    def asks(call: ApiCall) -> bool:
        values = [parse_button_value(value) for value in _buttons(call).values()]
        return any(v is not None and (v.release_id, v.step) == (release_id, 0) for v in values)

    message = door.slack.wait_for("chat.postMessage", asks, timeout=WINDOW_S + 20)
    assert release(door, release_id).phase is Phase.AWAITING_APPROVAL
    return ApprovalRequest(door, release_id, message)


def _buttons(call: ApiCall) -> dict[str, str]:
    """The value of each button of a message, by action id."""
    return {
        str(element.get("action_id")): str(element.get("value"))
        for block in call.blocks
        for element in block.get("elements") or ()
        if element.get("type") == "button"
    }


def audit(door: FrontDoor, release_id: str, kind: EventKind) -> list[tuple[str, bool, str]]:
    """(actor id, applied, reason) of each audit entry of `kind` for the release."""
    entries = door.store.audit_trail(release_id=release_id)
    return [(e.actor.id, e.applied, e.reason) for e in entries if e.event is kind]


def release(door: FrontDoor, release_id: str) -> Release:
    """The release as stored now."""
    found = door.store.get(release_id)
    assert found is not None
    return found


def stable_writes(door: FrontDoor, name: str = "fop-gate") -> int:
    """Writes to the stable Deployment's spec through the API since the last clear."""
    return sum(
        1
        for request in door.cluster.server.requests()
        if request.verb in ("update", "patch")
        and request.resource == "deployments"
        and request.name == name
        and request.subresource == ""
    )


def replicas(door: FrontDoor, name: str) -> int:
    """The replicas a Deployment asks for."""
    return int(door.cluster.server.store.get(DEPLOYMENTS, "shop", name)["spec"]["replicas"])


# --- the way there ----------------------------------------------------------------------------


def test_a_passed_window_is_summarised_in_the_thread_then_approval_is_asked(
    door: FrontDoor,
) -> None:
    request = awaiting_approval(door)

    slack = door.slack
    card = slack.wait_for("chat.postMessage", lambda call: "thread_ts" not in call.params)
    thread = card.reply["ts"]
    summary = slack.wait_for("chat.postMessage", lambda call: ": PASS — " in call.text)
    assert summary.params["thread_ts"] == thread
    assert summary.shows("TPS2XX")
    # Drawn by a thread of low priority: on a busy machine it comes a while after the summary.
    chart = slack.wait_for("files.completeUploadExternal", timeout=60)
    assert chart.params["thread_ts"] == thread
    (uploaded,) = json.loads(chart.params["files"])
    assert slack.uploads()[uploaded["id"]].startswith(b"\x89PNG")
    assert request.message.params["thread_ts"] == thread
    assert request.message.at > summary.at
    assert request.message.shows(f"<!subteam^{ONCALL}>")
    values = {request.value(action) for action in ApprovalAction}
    assert values == {f'{{"r":"{request.release_id}","s":0,"w":0}}'}
    assert door.logged_errors() == []


# --- who may promote --------------------------------------------------------------------------


REFUSED = {
    ALICE: "you started fop-gate#1; another approver must promote it",
    CAROL: "only fop-gate's approvers may promote it, and you are not one of them",
}


def test_promote_clicks_by_the_requester_or_a_non_approver_are_refused_audited_and_change_nothing(
    door: FrontDoor,
) -> None:
    request = awaiting_approval(door)
    before = release(door, request.release_id)
    door.cluster.server.clear_requests()
    jobs = door.jobs

    replies = [request.click(user) for user in REFUSED]

    assert [(reply.status, reply.body) for reply in replies] == [(200, b"")] * 2
    door.settle(jobs + 2)
    for user, reason in REFUSED.items():
        refusal = door.slack.wait_for("chat.postEphemeral", ephemeral_to(user))
        assert reason in refusal.text
        assert refusal.params["thread_ts"] == request.message.params["thread_ts"]
    assert sorted(audit(door, request.release_id, EventKind.APPROVE)) == sorted(
        (user.id, False, reason) for user, reason in REFUSED.items()
    )
    assert release(door, request.release_id) == before
    assert request.updates() == []
    assert stable_writes(door) == 0
    assert door.stable_image() == OLD
    assert door.logged_errors() == []


def test_a_member_of_the_approver_group_promotes_and_the_request_says_so(door: FrontDoor) -> None:
    request = awaiting_approval(door)

    reply = request.click(DAVE)

    assert (reply.status, reply.body) == (200, b"")
    resolved = door.slack.wait_for("chat.update", lambda call: call.params["ts"] == request.ts)
    assert f"Promoted by <@{DAVE.id}>" in resolved.text
    assert "actions" not in resolved.block_types
    lookups = door.slack.calls("usergroups.users.list")
    assert [call.params["usergroup"] for call in lookups] == [ONCALL]
    assert release(door, request.release_id).phase is Phase.PROMOTED
    assert door.stable_image() == NEW
    assert replicas(door, "fop-gate-canary") == 0
    assert audit(door, request.release_id, EventKind.APPROVE) == [(DAVE.id, True, "")]
    assert door.logged_errors() == []


def test_when_the_group_cannot_be_read_its_members_are_refused_with_why(door: FrontDoor) -> None:
    request = awaiting_approval(door)
    door.slack.fail_group_lookups("missing_scope")

    request.click(DAVE)

    refusal = door.slack.wait_for("chat.postEphemeral", ephemeral_to(DAVE))
    assert "couldn't read the members of" in refusal.text
    assert "missing_scope" in refusal.text
    assert release(door, request.release_id).phase is Phase.AWAITING_APPROVAL
    request.click(BOB)  # named in services.yaml: no lookup needed
    door.slack.wait_for("chat.update", lambda call: call.params["ts"] == request.ts)
    assert release(door, request.release_id).phase is Phase.PROMOTED
    assert door.logged_errors() == []


# --- once only --------------------------------------------------------------------------------


def _promoted_once(door: FrontDoor, request: ApprovalRequest) -> None:
    assert release(door, request.release_id).phase is Phase.PROMOTED
    applied = [entry for entry in audit(door, request.release_id, EventKind.APPROVE) if entry[1]]
    assert applied == [(DAVE.id, True, "")]
    steps_done = [
        e
        for e in door.store.audit_trail(release_id=request.release_id)
        if e.event is EventKind.STEP_DONE and e.applied
    ]
    assert len(steps_done) == 1
    assert stable_writes(door) == 1
    assert door.stable_image() == NEW
    assert door.logged_errors() == []


def test_a_double_click_promotes_once(door: FrontDoor) -> None:
    request = awaiting_approval(door)
    door.cluster.server.clear_requests()
    jobs = door.jobs
    bodies = [request.click_body(DAVE, ApprovalAction.PROMOTE) for _ in range(2)]
    replies: list[Reply] = []
    clicks = [threading.Thread(target=lambda b=b: replies.append(post(door, b))) for b in bodies]

    for click in clicks:
        click.start()
    for click in clicks:
        click.join(timeout=10)

    assert [r.status for r in replies] == [200, 200]
    door.settle(jobs + 2)
    _promoted_once(door, request)
    assert len(request.updates()) == 1
    (second,) = door.slack.calls("chat.postEphemeral")  # the other click is told why not
    assert second.params["user"] == DAVE.id
    assert "already" in second.text


def test_a_click_delivered_twice_promotes_once(door: FrontDoor) -> None:
    request = awaiting_approval(door)
    door.cluster.server.clear_requests()
    jobs = door.jobs
    body = request.click_body(DAVE, ApprovalAction.PROMOTE)

    first = post(door, body)
    retry = post(door, body, headers=RETRY)

    assert (first.status, retry.status) == (200, 200)
    door.settle(jobs + 2)
    _promoted_once(door, request)
    assert len(request.updates()) == 1
    assert door.slack.calls("chat.postEphemeral") == []  # a retry is not a second question


# --- old messages -----------------------------------------------------------------------------


def test_a_click_on_an_old_steps_request_cannot_act_on_the_newer_step(door: FrontDoor) -> None:
    first = awaiting_approval(door, "fop-ramp")
    first.click(DAVE)
    wait_until(
        lambda: (
            release(door, first.release_id).phase is Phase.OBSERVING
            and release(door, first.release_id).step == 1
        ),
        timeout_s=15,
        what="step 2 of fop-ramp",
    )
    moved_on = release(door, first.release_id)
    jobs = door.jobs

    first.click(BOB, ApprovalAction.PROMOTE)  # an approver, on the step-1 message
    first.click(ALICE, ApprovalAction.UNDO)  # the requester may undo, but not from here

    door.settle(jobs + 2)
    for user in (BOB, ALICE):
        refusal = door.slack.wait_for("chat.postEphemeral", ephemeral_to(user))
        assert f"that was for step 1; {first.release_id} is now at step 2 of 2" in refusal.text
    assert release(door, first.release_id) == moved_on
    assert replicas(door, "fop-ramp-canary") == 2
    assert len(first.updates()) == 1  # only dave's promotion replaced the request
    assert f"<@{DAVE.id}>" in first.updates()[0].text


def test_a_click_on_a_finished_releases_request_cannot_act_on_the_next_release(
    door: FrontDoor,
) -> None:
    first = awaiting_approval(door)
    first.click(ALICE, ApprovalAction.UNDO)
    wait_until(
        lambda: release(door, first.release_id).phase is Phase.UNDONE,
        timeout_s=15,
        what=f"{first.release_id} undone",
    )
    second = awaiting_approval(door)
    waiting = release(door, second.release_id)
    door.cluster.server.clear_requests()
    jobs = door.jobs

    first.click(DAVE)  # Promote on the first release's request, same step as the second's

    door.settle(jobs + 1)
    refusal = door.slack.wait_for("chat.postEphemeral", ephemeral_to(DAVE))
    assert f"{first.release_id} was already undone" in refusal.text
    assert release(door, second.release_id) == waiting
    assert stable_writes(door) == 0
    assert door.stable_image() == OLD
    assert [call.params["ts"] for call in door.slack.calls("chat.update")].count(second.ts) == 0
