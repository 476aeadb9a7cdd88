"""local-slack (npm `local-slack-linux-x64` 0.1.8), a Slack emulator: the playground's Slack, and a
real server for tests (``tests/slack/local_slack.py`` re-exports this module).

Facts from its `--help`, the server code bundled in the binary, and probes (the package ships
no README; the source is github.com/parvalabs/local-slack):

- One Bun binary: `local-slack --config FILE --port N [--base-host H] [--files-dir D]`. Ready
  in ~0.15 s; SIGTERM exits 143. It listens on every interface: there is no flag to bind
  loopback only. `--base-host` (default `localhost`) only sets the host of the URLs it hands
  out (Socket Mode `ws://`, `response_url`, file URLs). Uploads go to `--files-dir` (kept) or a
  temp dir removed on exit. The web UI is at `/`, live over a `/ui` websocket.
- Config (YAML or JSON): `workspace {name, domain, teamId}`, `app` (or a list `apps`) `{appId,
  botUserId, botName, botToken, appToken, signingSecret, mode: socket|events, requestUrl}`,
  `users [{id, name, real_name, email, tz}]`, `channels [{id, name, is_private, members}]`.
  Slash commands are declared nowhere: any command is delivered. Unknown keys are dropped.
- Tokens are not checked: any token, or none, acts as the first app; a wrong one goes unseen.
- Web API at `/api/<method>`, GET or POST, form, JSON or multipart, `Authorization: Bearer`:
  auth.test, apps.connections.open, team.info, bots.info, chat.postMessage / update / delete /
  postEphemeral / getPermalink / meMessage, conversations.list / info / history / replies /
  members / open / create, users.list / info / lookupByEmail / conversations, views.open / push /
  update / publish, reactions.add / remove, files.getUploadURLExternal / completeUploadExternal /
  info / list / delete, emoji.list. `channel` may be an id, a name or a user id (a DM). Any
  other method (usergroups.*, chat.scheduleMessage, …) answers HTTP 200 `{"ok": false, "error":
  "unknown_method"}`; files.upload answers `method_deprecated`.
- Socket Mode: apps.connections.open → `ws://HOST:PORT/socket/<id>`, which greets with
  `{"type": "hello"}`, then sends envelopes `{envelope_id, type: events_api | slash_commands |
  interactive, payload, accepts_response_payload}` and waits up to 5 s for the ack
  `{envelope_id, payload?}`. A slash command's ack payload with `text`/`blocks` is posted as the
  bot's reply. Every envelope goes to every open connection of the app (real Slack picks one),
  and `/_control/reset` closes none. Pings are answered. slack_sdk's built-in client (Bolt's
  default SocketModeHandler) works with it: no extra dependency.
- Events API instead (`mode: events`): signed POSTs (`X-Slack-Signature` over the signing
  secret) to `requestUrl`: events as JSON, commands as a form, interactions as `payload=<json>`;
  the JSON body of the reply is the ack payload.
- Payloads: a slash command has token, team_id, team_domain, channel_id, channel_name, user_id,
  user_name, command, text, api_app_id, response_url, trigger_id. `block_actions` has user {id,
  username, name, team_id}, container, channel {id, name}, the stored `message`, `actions`,
  trigger_id, response_url, and always empty `state.values`. `response_url`
  (`/_hooks/response/<id>`) takes text/blocks, replace_original, delete_original,
  `response_type: ephemeral`.
- Control API at `/_control`, JSON in and out, 400 `{"ok": false, "error"}` when a field is
  missing; channels and users by id only (only `/message` and `/upload` resolve names):
  `POST /command {channel, user, command, text}` → a `slash_commands` envelope; answers after
  the ack. `POST /interact {channel, messageTs, user, action: {type, action_id, block_id, value,
  text}}` → `block_actions`; the action is sent as given, never checked against the message.
  `POST /message {channel, user, text, thread_ts?}` (a user's message: `message` events, and
  `app_mention` when the bot is mentioned), `/upload` (multipart), `/reaction`,
  `/edit-message`, `/delete-message`, `/open-home`, `/reset` (messages, files, log back to the
  config). With no app connected, `/command` and `/interact` still answer ok: the envelope is
  dropped and only the log says so (LocalSlack's helpers raise). `GET /messages/:channel` →
  `{"messages": [...]}`: every message in posting order, thread replies and ephemerals
  (`subtype: ephemeral`, `ephemeral_to`) included, flat; a reply has `thread_ts` = its parent's
  ts, the parent has no `thread_ts`/`reply_count` there (conversations.history adds them).
  chat.update edits in place: `text`, `blocks` as sent (absent: removed), `edited {user, ts}`.
  An upload is a `subtype: file_share` message with `files [{id, name, title, mimetype,
  url_private, …}]`; `url_private` serves the bytes to `Authorization: Bearer <bot token>`.
  `GET /log` → `{"log": [{id, time, direction: to_bot | from_bot | internal, kind, summary,
  detail}]}`, the last 1000: Web API calls, envelopes, acks, and why anything was dropped.
  `GET /state`: workspace, apps, users, channels.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, NotRequired, TypedDict, cast
from urllib.error import HTTPError
from urllib.request import Request, urlopen

import yaml

from playground.servers import free_port, start_child, stop_process, wait_until

BINARY = Path(__file__).resolve().parents[1] / "node_modules/local-slack-linux-x64/bin/local-slack"


@dataclass(frozen=True)
class SlackUser:
    """A workspace member as the config declares it."""

    id: str
    name: str
    real_name: str


@dataclass(frozen=True)
class SlackChannel:
    """A public channel; the bot and every configured user are members."""

    id: str
    name: str


ALICE = SlackUser("U0ALICE", "alice", "Alice Anders")  # asks for releases
BOB = SlackUser("U0BOB", "bob", "Bob Berg")  # an approver
CAROL = SlackUser("U0CAROL", "carol", "Carol Chen")  # not an approver
RELEASES = SlackChannel("C0RELEASES", "releases")


class SlackMessage(TypedDict, total=False):
    """A message as `/_control/messages/:channel` returns it."""

    type: str
    ts: str
    channel: str
    user: str
    text: str
    subtype: str  # file_share, ephemeral, me_message
    thread_ts: str  # only on replies: the ts of the parent
    bot_id: str
    app_id: str
    blocks: list[dict[str, Any]]
    files: list[dict[str, Any]]
    edited: dict[str, str]
    ephemeral_to: str
    reactions: list[dict[str, Any]]


class LogEntry(TypedDict):
    """One line of `/_control/log`."""

    id: str
    time: int  # ms since the epoch
    direction: Literal["to_bot", "from_bot", "internal"]
    kind: str  # web_api, socket, slash_commands, interactive, events_api, ack, files
    summary: str
    detail: NotRequired[Any]


class LocalSlackError(RuntimeError):
    """The emulator refused a control request or dropped what it should have delivered."""


@dataclass
class LocalSlack:
    """local-slack on a free port: one app in Socket Mode, alice, bob, carol and #releases.

    Start it, point the app at `api_url` with `bot_token` and `app_token`, then act as users
    (`command`, `interact`) and read what the app did (`messages`, `replies`, `log`).
    """

    work_dir: Path
    port: int = field(default_factory=free_port)
    team_id: str = "T0CANARY"
    app_id: str = "A0CANARYBOT"
    bot_user_id: str = "U0CANARYBOT"
    bot_token: str = "xoxb-canarybot-test"
    app_token: str = "xapp-canarybot-test"
    signing_secret: str = "canarybot-test-signing-secret"
    users: tuple[SlackUser, ...] = (ALICE, BOB, CAROL)
    channel: SlackChannel = RELEASES
    workspace: str = "Canarybot Tests"
    detached: bool = False  # see playground.servers.start_child
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The base URL: the web UI, `/api/`, `/_control`."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        """The Web API base, for `WebClient(base_url=...)`."""
        return f"{self.url}/api/"

    @property
    def channel_id(self) -> str:
        """The id of #releases."""
        return self.channel.id

    @property
    def log_path(self) -> Path:
        """Where the emulator's own output goes."""
        return self.work_dir / "local-slack.log"

    def start(self) -> LocalSlack:
        """Write the config, start the emulator and wait until its control API answers."""
        if not BINARY.exists():
            raise RuntimeError(f"local-slack is not installed at {BINARY}: run scripts/bootstrap")
        self.work_dir.mkdir(parents=True, exist_ok=True)
        config = self.work_dir / "local-slack.yaml"
        config.write_text(yaml.safe_dump(self._config(), sort_keys=False))
        args = [
            str(BINARY),
            "--config", str(config),
            "--port", str(self.port),
            # The URLs it hands out (ws://, response_url, files) then avoid localhost's ::1.
            "--base-host", "127.0.0.1",
            "--files-dir", str(self.work_dir / "files"),
        ]  # fmt: skip
        with self.log_path.open("wb") as log:
            self.process = start_child(args, stdout=log, detached=self.detached)
        try:
            wait_until(self._ready, timeout_s=15, what=f"local-slack on port {self.port}")
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it has not exited within 10 s."""
        if self.process is not None:
            stop_process(self.process)
            self.process = None

    def reset(self) -> None:
        """Back to the config: no messages, files or log. Socket connections stay open."""
        self._control("/reset", {})

    def command(
        self, *, user: str, text: str, command: str = "/canary", channel: str | None = None
    ) -> None:
        """`user` types `command text` in `channel` (#releases); returns once the app acked."""
        channel = channel or self.channel_id
        body = {"channel": channel, "user": user, "command": command, "text": text}
        self._deliver("/command", body, kind="slash_commands")

    def interact(self, *, user: str, ts: str, action_id: str, channel: str | None = None) -> None:
        """`user` clicks the button `action_id` of the message `ts`; returns once the app acked.

        The button is looked up in the message's blocks (the emulator would send any action).
        """
        channel = channel or self.channel_id
        message = self.message(ts, channel=channel)
        block_id, button = _find_button(message, action_id)
        action = {
            "type": "button",
            "action_id": action_id,
            "block_id": block_id,
            "value": button.get("value"),
            "text": button.get("text"),
        }
        body = {"channel": channel, "messageTs": ts, "user": user, "action": action}
        self._deliver("/interact", body, kind="interactive")

    def messages(self, channel: str | None = None) -> list[SlackMessage]:
        """Every message of `channel` (#releases) in posting order, thread replies included."""
        reply = self._control(f"/messages/{channel or self.channel_id}")
        return cast(list[SlackMessage], reply["messages"])

    def message(self, ts: str, *, channel: str | None = None) -> SlackMessage:
        """The message `ts` of `channel` as it is now (after any chat.update)."""
        for message in self.messages(channel):
            if message.get("ts") == ts:
                return message
        raise LookupError(f"no message {ts} in {channel or self.channel_id}")

    def replies(self, thread_ts: str, *, channel: str | None = None) -> list[SlackMessage]:
        """The replies in the thread of `thread_ts`, oldest first, without the parent."""
        return [m for m in self.messages(channel) if m.get("thread_ts") == thread_ts]

    def wait_for_message(
        self,
        matches: Callable[[SlackMessage], bool],
        *,
        what: str,
        channel: str | None = None,
        timeout_s: float = 10,
    ) -> SlackMessage:
        """The first message of `channel` that `matches`, waiting up to `timeout_s` for it."""
        found: list[SlackMessage] = []

        def arrived() -> bool:
            found[:] = [m for m in self.messages(channel) if matches(m)]
            return bool(found)

        wait_until(arrived, timeout_s=timeout_s, what=what)
        return found[0]

    def log(self) -> list[LogEntry]:
        """The emulator's record of all traffic to and from the app."""
        return cast(list[LogEntry], self._control("/log")["log"])

    def has_connected(self) -> bool:
        """True once an app's Socket Mode connection got its hello (since start or reset)."""
        return any(
            e["kind"] == "socket" and e["summary"].startswith("socket connected")
            for e in self.log()
        )

    def _deliver(self, path: str, body: Mapping[str, Any], *, kind: str) -> None:
        """POST to the control API, and fail if the log says the envelope went nowhere."""
        seen = {entry["id"] for entry in self.log()}
        self._control(path, body)
        new = [e for e in self.log() if e["id"] not in seen and e["direction"] == "internal"]
        for entry in new:
            if entry["kind"] == kind or "dropped" in entry["summary"]:
                raise LocalSlackError(f"{path}: {entry['summary']}")

    def _control(self, path: str, body: Mapping[str, Any] | None = None) -> dict[str, Any]:
        data = None if body is None else json.dumps(body).encode()
        request = Request(
            f"{self.url}/_control{path}", data=data, headers={"Content-Type": "application/json"}
        )
        try:
            # Over 5 s: /command and /interact wait up to 5 s for the app's ack.
            with urlopen(request, timeout=15) as response:
                reply = cast(dict[str, Any], json.load(response))
        except HTTPError as err:
            with err:
                raise LocalSlackError(f"{path}: HTTP {err.code} {err.read()!r}") from err
        if reply.get("ok") is False:
            raise LocalSlackError(f"{path}: {reply.get('error')}")
        return reply

    def _config(self) -> dict[str, Any]:
        members = [*(user.id for user in self.users), self.bot_user_id]
        return {
            "workspace": {"name": self.workspace, "domain": "canarybot", "teamId": self.team_id},
            "app": {
                "appId": self.app_id,
                "botUserId": self.bot_user_id,
                "botName": "canarybot",
                "botToken": self.bot_token,
                "appToken": self.app_token,
                "signingSecret": self.signing_secret,
                "mode": "socket",
            },
            "users": [{"id": u.id, "name": u.name, "real_name": u.real_name} for u in self.users],
            "channels": [{"id": self.channel.id, "name": self.channel.name, "members": members}],
        }

    def _ready(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            log = self.log_path.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"local-slack exited early; its output ends:\n{log}")
        try:
            with urlopen(f"{self.url}/_control/state", timeout=1) as response:
                return bool(response.status == 200)
        except OSError:  # refused while it starts
            return False


def _find_button(message: SlackMessage, action_id: str) -> tuple[str | None, dict[str, Any]]:
    """The block id and element of the button `action_id` in an actions or section block."""
    for block in message.get("blocks", []):
        elements = [*block.get("elements", []), *filter(None, [block.get("accessory")])]
        for element in elements:
            if element.get("type") == "button" and element.get("action_id") == action_id:
                return block.get("block_id"), element
    raise LookupError(f"no button {action_id!r} in message {message.get('ts')}")
