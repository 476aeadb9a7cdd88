"""Candidates, planned releases and freezes through the Slack front door, and the pipelines' API
on the same port: signed requests to the real bot in HTTP mode, Web API calls recorded."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import redis
from slack_sdk import WebClient

from bot.registry import parse_registry
from handlers.notifier import SlackNotifier
from handlers.threads import ChannelPacer, ReleaseThreads
from tests.servers import RedisServer, free_port
from tests.slack.recording import ApiCall, RecordingSlackApi, SlackUser
from tests.slack.test_front_door import (
    ALICE,
    BOB,
    GROUPS,
    NEW,
    SERVICES,
    FrontDoor,
    ephemeral_to,
    running_cluster,
    serving,
)

ROOT = SlackUser("U0ROOT001", "root")  # an admin, who may break a freeze
TOKEN = "pipeline-token"
# fop-gate releases nightly at 02:00 in Berlin; fop-ramp has no nightly.
PLANS = (
    SERVICES.replace(
        "    strategy: {kind: canary-deployment, deployment: fop-gate, service: fop-gate, "
        "steps: [1]}\n",
        "    strategy: {kind: canary-deployment, deployment: fop-gate, service: fop-gate, "
        "steps: [1]}\n    nightly: {cron: '0 2 * * *', timezone: Europe/Berlin}\n",
    )
    + f"admins: [{ROOT.id}]\n"
)
assert "nightly" in PLANS


@pytest.fixture
def door(
    tmp_path: Path,
    redis_server: RedisServer,
    redis_client: object,  # an emptied Redis
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[FrontDoor]:
    """The bot in HTTP mode with fop-gate's nightly, an admin and an API token."""
    monkeypatch.setenv("CANARYBOT_API_TOKEN", TOKEN)
    with (
        RecordingSlackApi(group_members=GROUPS) as slack,
        running_cluster(tmp_path / "sim") as cluster,
        serving(
            tmp_path=tmp_path,
            cluster=cluster,
            slack=slack,
            redis_server=redis_server,
            prometheus_url=f"http://127.0.0.1:{free_port()}",  # no window ends in these tests
            monkeypatch=monkeypatch,
            services=PLANS,
        ) as running,
    ):
        yield running


def answer_to(door: FrontDoor, text: str, user: SlackUser = ALICE) -> ApiCall:
    """What the bot answers `user` for `/canary text`, once its worker has carried it out."""
    jobs = door.jobs
    reply = door.command(text, user)
    assert (reply.status, reply.body) == (200, b""), reply.body  # acked, queued
    door.settle(jobs + 1)
    calls = [c for c in door.slack.calls("chat.postEphemeral") if ephemeral_to(user)(c)]
    assert calls, f"no answer to {text!r}"
    return calls[-1]


# --- help -------------------------------------------------------------------------------------


def test_help_shows_the_new_commands(door: FrontDoor) -> None:
    text = door.command("help").json()["text"]
    for form in (
        "/canary SERVICE start image=IMG [strategy=KIND] [steps=10,50,100] [window=10m] [force]",
        "/canary SERVICE promote [force]",
        "/canary SERVICE candidate image=IMG",
        "/canary SERVICE schedule WHEN image=IMG",
        "/canary freeze [SERVICE] until WHEN [reason TEXT…]",
        "/canary unfreeze [SERVICE]",
    ):
        assert form in text


# --- candidates ---------------------------------------------------------------------------------


def test_a_candidate_is_recorded_and_the_answer_says_when_the_nightly_takes_it(
    door: FrontDoor,
) -> None:
    said = answer_to(door, f"fop-gate candidate image={NEW}")

    assert said.text.startswith(f":package: recorded candidate `{NEW}` for fop-gate; ")
    assert "the nightly release at 02:00 Europe/Berlin (" in said.text
    assert said.text.endswith(") will pick it up")
    assert door.logged_errors() == []


def test_a_candidate_for_a_service_without_a_nightly_says_how_to_start_it(
    door: FrontDoor,
) -> None:
    said = answer_to(door, "fop-ramp candidate image=reg/fop-ramp:7")

    assert said.text == (
        ":package: recorded candidate `reg/fop-ramp:7` for fop-ramp; fop-ramp has no nightly "
        "schedule; start it with `/canary fop-ramp start image=reg/fop-ramp:7`"
    )


@pytest.mark.parametrize(
    ("text", "explained"),
    [
        pytest.param(
            f"fop-gat candidate image={NEW}",
            "unknown service 'fop-gat': did you mean fop-gate?",
            id="unknown-service",
        ),
        pytest.param(
            "fop-gate candidate image=reg/fop-gate",
            "image 'reg/fop-gate' is not pinned",
            id="unpinned-image",
        ),
        pytest.param(
            "fop-gate schedule 02:00 image=Reg/App:1",
            "bad image reference 'Reg/App:1'",
            id="schedule-bad-image",
        ),
        pytest.param(
            f"fop-gate schedule someday image={NEW}",
            "'someday' is not a time",
            id="schedule-bad-time",
        ),
        pytest.param(
            "freeze fop-gate until someday reason incident",
            "until 'someday' is not a time",
            id="malformed-until",
        ),
        pytest.param(
            "freeze fop-gat until 2h", "unknown service 'fop-gat'", id="freeze-unknown-service"
        ),
    ],
)
def test_bad_input_is_explained_in_the_ack_and_nothing_is_queued(
    door: FrontDoor, redis_client: redis.Redis, text: str, explained: str
) -> None:
    reply = door.command(text)

    assert reply.status == 200
    assert explained in reply.json()["text"]
    assert door.jobs == 0
    assert redis_client.keys("canarybot:candidate*") == []
    assert redis_client.keys("canarybot:freeze*") == []
    assert door.logged_errors() == []


# --- planned releases ---------------------------------------------------------------------------


def test_a_release_scheduled_at_a_time_of_day_is_planned_in_the_services_zone(
    door: FrontDoor,
) -> None:
    said = answer_to(door, f"fop-gate schedule 02:00 image={NEW}")

    assert said.text.startswith(f":calendar: planned: fop-gate releases `{NEW}` at 02:00 ")
    assert "Europe/Berlin" in said.text
    assert said.text.endswith(f"as <@{ALICE.id}>")
    assert door.logged_errors() == []


def test_a_release_scheduled_in_the_past_is_refused(door: FrontDoor) -> None:
    said = answer_to(door, f"fop-gate schedule 2020-01-01T02:00Z image={NEW}")

    assert said.text == (
        ":no_entry_sign: 2020-01-01 02:00 UTC has passed; plan the release for later"
    )


# --- freezes ------------------------------------------------------------------------------------


def test_a_freeze_is_set_and_refuses_a_start_with_its_reason(door: FrontDoor) -> None:
    frozen = answer_to(door, "freeze fop-gate until 2h reason incident 4711")
    refused = answer_to(door, f"fop-gate start image={NEW}")

    assert frozen.text.startswith(":snowflake: froze fop-gate until ")
    assert "(incident 4711): start and promote are refused until then" in frozen.text
    assert refused.text.startswith(":no_entry_sign: fop-gate is frozen until ")
    assert refused.text.endswith("(incident 4711); an admin may add force")
    assert door.store.live_release("fop-gate") is None
    assert door.logged_errors() == []


def test_force_from_someone_who_is_no_admin_is_refused(door: FrontDoor) -> None:
    answer_to(door, "freeze fop-gate until 2h reason incident 4711")

    refused = answer_to(door, f"fop-gate start image={NEW} force")

    assert refused.text.startswith(":no_entry_sign: only admins may use force (fop-gate is frozen")
    assert door.store.live_release("fop-gate") is None


def test_an_admin_breaks_the_freeze_and_the_thread_says_so(door: FrontDoor) -> None:
    answer_to(door, "freeze until 2h reason release freeze")  # every service

    door.command(f"fop-gate start image={NEW} force", ROOT)

    said = door.slack.wait_for(
        "chat.postMessage", lambda call: "broke the freeze" in call.text, timeout=20
    )
    assert "@root broke the freeze (release freeze) to start it" in said.text
    assert "thread_ts" in said.params
    door.settle(door.jobs)
    assert door.live().requested_by.id == ROOT.id


def test_only_whoever_set_a_freeze_or_an_admin_lifts_it(door: FrontDoor) -> None:
    answer_to(door, "freeze fop-gate until 2h reason incident 4711")

    refused = answer_to(door, "unfreeze fop-gate", BOB)
    lifted = answer_to(door, "unfreeze fop-gate", ALICE)

    assert refused.text == (
        ":no_entry_sign: only an admin or @alice, who set this freeze, may lift it"
    )
    assert lifted.text == (
        f":sunny: lifted the freeze of fop-gate (incident 4711, set by <@{ALICE.id}>)"
    )


def test_unfreezing_a_service_says_when_every_services_freeze_still_holds_it(
    door: FrontDoor,
) -> None:
    answer_to(door, "freeze until 2h reason release freeze", ROOT)

    said = answer_to(door, "unfreeze fop-gate")

    assert said.text.startswith(":snowflake: fop-gate had no freeze of its own to lift; ")
    assert "fop-gate stays frozen until " in said.text
    assert f"(release freeze: the freeze of every service, set by <@{ROOT.id}>)" in said.text


# --- the channel ------------------------------------------------------------------------------


def test_an_announcement_is_posted_in_the_services_channel_outside_any_thread(
    redis_client: redis.Redis,
) -> None:
    with RecordingSlackApi() as slack:
        client = WebClient(token="xoxb-test", base_url=slack.url)
        threads = ReleaseThreads(client, redis_client, pacer=ChannelPacer(0))
        notifier = SlackNotifier(threads, parse_registry(PLANS))

        notifier.announce("fop-gate", "nightly release of fop-gate skipped: no new candidate")

        posted = slack.wait_for("chat.postMessage")
    assert posted.params["channel"] == "#fop-releases"
    assert "thread_ts" not in posted.params
    assert posted.text == ":crescent_moon: nightly release of fop-gate skipped: no new candidate"


# --- the pipelines' API on the bot's port -------------------------------------------------------


def test_the_candidates_api_is_served_beside_slack_on_the_bots_port(door: FrontDoor) -> None:
    parts = urlsplit(door.url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
    try:
        connection.request(
            "POST",
            "/api/candidates",
            body=json.dumps({"service": "fop-gate", "image": NEW}),
            headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
        )
        response = connection.getresponse()
        body = json.loads(response.read())
    finally:
        connection.close()

    assert response.status == 201
    assert (body["service"], body["image"]) == ("fop-gate", NEW)
    assert door.command("help").status == 200  # Slack's path is still Bolt's
