"""A request acknowledged but never queued (Redis gone) is not lost in silence."""

from __future__ import annotations

from slack_sdk import WebClient

from handlers.listeners import tell_lost
from handlers.work import click_job, command_job
from tests.slack.recording import RecordingSlackApi


def test_the_asker_of_a_lost_command_is_told_in_the_channel_for_their_eyes_only() -> None:
    job = command_job(
        {"text": "fop-gate promote", "channel_id": "C0RELEASE1", "user_id": "U0ALICE01"}
    )
    with RecordingSlackApi() as api:
        tell_lost(WebClient(token="xoxb-test", base_url=api.url))(job, "Redis unreachable: x")

        [call] = api.calls("chat.postEphemeral")
    assert (call.params["channel"], call.params["user"]) == ("C0RELEASE1", "U0ALICE01")
    assert call.shows("`fop-gate promote` was not carried out: Redis unreachable: x")


def test_whoever_clicked_a_lost_button_is_told_in_the_releases_thread() -> None:
    body = {
        "user": {"id": "U0BOB0001"},
        "channel": {"id": "C0RELEASE1"},
        "container": {"message_ts": "1700000000.000200"},
        "message": {"thread_ts": "1700000000.000100"},
    }
    job = click_job(body, {"action_id": "canary_promote", "value": "fop-gate#1:0"})
    with RecordingSlackApi() as api:
        tell_lost(WebClient(token="xoxb-test", base_url=api.url))(job, "Redis unreachable")

        [call] = api.calls("chat.postEphemeral")
    assert call.params["thread_ts"] == "1700000000.000100"
    assert call.params["user"] == "U0BOB0001"
    assert call.shows("`canary_promote` was not carried out")
