"""local-slack end to end with a minimal Bolt app written here (not the product).

The app answers `/canary <service>` with a message carrying an Approve button and a note in its
thread; a click on Approve rewrites the message (chat.update) and says who approved in the
thread. The other tests need no app: a chart upload, and what the emulator refuses.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.request import Request, urlopen

import pytest
from slack_bolt import Ack, App, Say
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from tests.servers import wait_until
from tests.slack.local_slack import ALICE, BOB, LocalSlack, LocalSlackError, SlackMessage

# The start of a PNG: the emulator types files by name, the bytes only have to come back intact.
CHART = b"\x89PNG\r\n\x1a\n" + bytes(range(256))


def approve_blocks(text: str) -> list[dict[str, Any]]:
    """A section with `text` and an Approve button."""
    button = {
        "type": "button",
        "action_id": "approve",
        "value": "web",
        "text": {"type": "plain_text", "text": "Approve"},
    }
    return [
        {"type": "section", "text": {"type": "mrkdwn", "text": text}},
        {"type": "actions", "block_id": "decision", "elements": [button]},
    ]


def release_app(slack: LocalSlack, executor: ThreadPoolExecutor) -> App:
    """The minimal Bolt app: `/canary` and the Approve button, its listeners on `executor`."""
    client = WebClient(token=slack.bot_token, base_url=slack.api_url)
    app = App(client=client, listener_executor=executor)

    @app.command("/canary")
    def request_release(ack: Ack, command: dict[str, Any], say: Say) -> None:
        ack()
        text = f"<@{command['user_id']}> asks to release {command['text']}"
        posted = say(text=text, blocks=approve_blocks(text))
        say(text="Waiting for an approver", thread_ts=posted["ts"])

    @app.action("approve")
    def approve(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        ack()
        channel, ts, user = body["channel"]["id"], body["message"]["ts"], body["user"]["id"]
        value = body["actions"][0]["value"]
        client.chat_update(channel=channel, ts=ts, text=f"{value} approved by <@{user}>", blocks=[])
        client.chat_postMessage(channel=channel, thread_ts=ts, text=f"<@{user}> approved {value}")

    return app


@pytest.fixture
def connected_app(local_slack: LocalSlack) -> Iterator[App]:
    """The release app connected in Socket Mode; closed, its threads joined, after the test."""
    executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="bolt-listener")
    app = release_app(local_slack, executor)
    handler = SocketModeHandler(app, local_slack.app_token)
    try:
        # The client's own connect() and close(): the handler's wrappers of them are untyped.
        handler.client.connect()
        wait_until(local_slack.has_connected, timeout_s=10, what="the app's Socket Mode hello")
        yield app
    finally:
        handler.client.close()  # up to ~3 s: slack_sdk's receive timeout
        executor.shutdown(wait=True)


def from_bot(slack: LocalSlack) -> Callable[[SlackMessage], bool]:
    """A matcher for top-level messages posted by the app."""
    return lambda m: m.get("user") == slack.bot_user_id and "thread_ts" not in m


def is_reply_to(parent: SlackMessage, text: str) -> Callable[[SlackMessage], bool]:
    """A matcher for the reply saying `text` in the thread of `parent`."""
    return lambda m: m.get("thread_ts") == parent["ts"] and m.get("text") == text


@pytest.mark.usefixtures("connected_app")
def test_command_and_button_click_reach_the_app_and_its_replies_land_in_the_thread(
    local_slack: LocalSlack,
) -> None:
    local_slack.command(user=ALICE.id, text="web")

    parent = local_slack.wait_for_message(from_bot(local_slack), what="the app's request message")
    assert parent["text"] == f"<@{ALICE.id}> asks to release web"
    assert [b["type"] for b in parent["blocks"]] == ["section", "actions"]
    waiting = is_reply_to(parent, "Waiting for an approver")
    local_slack.wait_for_message(waiting, what="the note in the thread")

    local_slack.interact(user=BOB.id, ts=parent["ts"], action_id="approve")

    approved = is_reply_to(parent, f"<@{BOB.id}> approved web")
    local_slack.wait_for_message(approved, what="the approval in the thread")
    updated = local_slack.message(parent["ts"])
    assert updated["text"] == f"web approved by <@{BOB.id}>"
    assert updated["blocks"] == []
    assert updated["edited"]["user"] == local_slack.bot_user_id
    assert [m["text"] for m in local_slack.replies(parent["ts"])] == [
        "Waiting for an approver",
        f"<@{BOB.id}> approved web",
    ]
    kinds = [(e["direction"], e["kind"]) for e in local_slack.log()]
    assert ("to_bot", "slash_commands") in kinds
    assert ("to_bot", "interactive") in kinds


def test_chart_upload_is_shared_in_the_thread_and_downloads_intact(local_slack: LocalSlack) -> None:
    client = WebClient(token=local_slack.bot_token, base_url=local_slack.api_url)
    parent = client.chat_postMessage(channel=local_slack.channel_id, text="Window 1 of 3")

    client.files_upload_v2(
        channel=local_slack.channel_id,
        thread_ts=parent["ts"],
        content=CHART,
        filename="window-1.png",
        title="Window 1",
    )

    [shared] = local_slack.replies(parent["ts"])
    assert shared["subtype"] == "file_share"
    [file] = shared["files"]
    assert (file["name"], file["title"], file["mimetype"]) == (
        "window-1.png",
        "Window 1",
        "image/png",
    )
    download = Request(
        file["url_private"], headers={"Authorization": f"Bearer {local_slack.bot_token}"}
    )
    with urlopen(download, timeout=5) as response:
        assert response.read() == CHART


def test_usergroups_are_not_emulated(local_slack: LocalSlack) -> None:
    client = WebClient(token=local_slack.bot_token, base_url=local_slack.api_url)

    with pytest.raises(SlackApiError) as raised:
        client.usergroups_users_list(usergroup="S0APPROVERS")

    assert raised.value.response["error"] == "unknown_method"


def test_command_with_no_app_connected_is_an_error(local_slack: LocalSlack) -> None:
    with pytest.raises(LocalSlackError, match="no socket connection"):
        local_slack.command(user=ALICE.id, text="web")


def test_click_on_a_button_the_message_lacks_is_refused(local_slack: LocalSlack) -> None:
    client = WebClient(token=local_slack.bot_token, base_url=local_slack.api_url)
    posted = client.chat_postMessage(
        channel=local_slack.channel_id, text="Release web?", blocks=approve_blocks("Release web?")
    )

    with pytest.raises(LookupError, match="reject"):
        local_slack.interact(user=BOB.id, ts=posted["ts"], action_id="reject")
