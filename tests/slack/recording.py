"""A local stand-in for Slack's Web API that records every call, and signed requests to the bot.

Bolt's own tests work this way: the app's `WebClient` gets the recording server's URL as its
``base_url``, requests signed with the app's signing secret are sent to the app, and the test
asserts on what the recording server received (``chat.postMessage`` called with …).

    with RecordingSlackApi(group_members={"S0ONCALL1": ["U0DAVE001"]}) as slack:
        ...  # SLACK_API_URL=slack.url
        card = slack.wait_for("chat.postMessage", lambda call: "thread_ts" not in call.params)
"""

from __future__ import annotations

import http.client
import json
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from slack_sdk.signature import SignatureVerifier

from sim.served import ServedInThread

TEAM_ID = "T0CANARY1"
BOT_USER_ID = "U0CANARYB"
BOT_ID = "B0CANARYB"
APP_ID = "A0CANARY1"
_CHANNEL_ID = re.compile(r"[CGD][A-Z0-9]{8,}")  # anything else is a channel's #name

Params = dict[str, Any]


@dataclass(frozen=True)
class ApiCall:
    """One Web API call as the recording server received it."""

    method: str  # "chat.postMessage"
    params: Params  # query string, form fields (one value each) or the JSON body, merged
    headers: dict[str, str]  # names lower-cased
    reply: Params  # what the server answered: the posted message's channel id and ts
    at: float = field(default_factory=time.monotonic)

    @property
    def text(self) -> str:
        """The call's ``text`` argument, or ""."""
        return str(self.params.get("text") or "")

    @property
    def blocks(self) -> list[dict[str, Any]]:
        """The call's Block Kit blocks, decoded when they came as a form field."""
        raw = self.params.get("blocks") or []
        blocks: list[dict[str, Any]] = json.loads(raw) if isinstance(raw, str) else raw
        return blocks

    @property
    def block_types(self) -> list[str]:
        """The type of each block, in order."""
        return [str(block.get("type")) for block in self.blocks]

    def shows(self, words: str) -> bool:
        """Whether `words` appear in the fallback text or anywhere in the blocks."""
        return words in self.text or words in json.dumps(self.blocks, ensure_ascii=False)


class RecordingSlackApi(ServedInThread):
    """The Web API on 127.0.0.1 (a free port), answering as Slack does and recording each call.

    A context manager that starts and stops it. Methods it does not know answer ``ok``.
    """

    thread_name = "slack-api"

    def __init__(self, *, group_members: Mapping[str, Iterable[str]] | None = None) -> None:
        """A stopped server; `group_members` is what ``usergroups.users.list`` answers per group."""
        self._lock = threading.Condition()
        self._calls: list[ApiCall] = []
        self._groups = {group: list(users) for group, users in (group_members or {}).items()}
        self._group_error: str | None = None
        self._channels: dict[str, str] = {}
        self._uploads: dict[str, bytes] = {}
        self._sequence = 0
        self._epoch = int(time.time())
        self._http = _HttpServer(("127.0.0.1", 0), self)
        self.port = int(self._http.server_address[1])
        self.url = f"http://127.0.0.1:{self.port}/api/"  # SLACK_API_URL: methods join onto it

    # --- what tests set -------------------------------------------------------------------------

    def set_group_members(self, group: str, users: Iterable[str]) -> None:
        """What ``usergroups.users.list`` answers for `group` from now on."""
        with self._lock:
            self._groups[group] = list(users)

    def fail_group_lookups(self, error: str | None) -> None:
        """Answer every ``usergroups.users.list`` with ``ok: false`` and `error` (None: stop)."""
        with self._lock:
            self._group_error = error

    def channel_id(self, channel: str) -> str:
        """The id this server gives a channel named `channel` (an id stays itself)."""
        with self._lock:
            return self._channel_id(channel)

    # --- what tests read ------------------------------------------------------------------------

    def calls(self, method: str | None = None) -> list[ApiCall]:
        """Every call so far (of `method` only, if given), in the order received."""
        with self._lock:
            return [call for call in self._calls if method is None or call.method == method]

    def wait_for(
        self,
        method: str,
        predicate: Callable[[ApiCall], bool] | None = None,
        *,
        timeout: float = 10.0,
    ) -> ApiCall:
        """The first call of `method` that `predicate` accepts, waiting up to `timeout` seconds.

        Raises AssertionError naming the calls that did arrive, so a failure says what the bot
        did instead.
        """
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                for call in self._calls:
                    if call.method == method and (predicate is None or predicate(call)):
                        return call
                left = deadline - time.monotonic()
                if left <= 0:
                    seen = "\n".join(f"  {c.method} {_short(c.params)}" for c in self._calls)
                    raise AssertionError(f"no matching {method} in {timeout} s; got:\n{seen}")
                self._lock.wait(left)

    def uploads(self) -> dict[str, bytes]:
        """The bytes uploaded to each upload URL, by file id."""
        with self._lock:
            return dict(self._uploads)

    # --- answering ------------------------------------------------------------------------------

    def answer(self, method: str, params: Params, headers: dict[str, str]) -> Params:
        """Record one call and answer it the way Slack would."""
        with self._lock:
            reply = self._reply(method, params)
            self._calls.append(ApiCall(method, params, headers, reply))
            self._lock.notify_all()
        return reply

    def receive_upload(self, file_id: str, content: bytes) -> None:
        """Keep the bytes sent to an upload URL."""
        with self._lock:
            self._uploads[file_id] = content
            self._lock.notify_all()

    def _reply(self, method: str, params: Params) -> Params:
        if method == "auth.test":
            return {
                "ok": True,
                "url": "https://canarybot-tests.slack.com/",
                "team": "canarybot tests",
                "user": "canarybot",
                "team_id": TEAM_ID,
                "user_id": BOT_USER_ID,
                "bot_id": BOT_ID,
                "is_enterprise_install": False,
            }
        if method in ("chat.postMessage", "chat.update"):
            channel = self._channel_id(str(params.get("channel") or ""))
            ts = self._next_ts() if method == "chat.postMessage" else str(params.get("ts"))
            message = {"type": "message", "text": params.get("text", ""), "ts": ts}
            if params.get("thread_ts"):
                message["thread_ts"] = params["thread_ts"]
            return {"ok": True, "channel": channel, "ts": ts, "message": message}
        if method == "chat.postEphemeral":
            return {"ok": True, "message_ts": self._next_ts()}
        if method == "usergroups.users.list":
            return self._group_reply(str(params.get("usergroup") or ""))
        if method == "files.getUploadURLExternal":
            file_id = f"F{self._sequence + 1:08d}"
            self._sequence += 1
            upload = f"http://127.0.0.1:{self.port}/upload/{file_id}"
            return {"ok": True, "upload_url": upload, "file_id": file_id}
        if method == "files.completeUploadExternal":
            files = params.get("files") or "[]"
            listed = json.loads(files) if isinstance(files, str) else files
            return {"ok": True, "files": [{"id": f["id"], "title": f.get("title")} for f in listed]}
        return {"ok": True}

    def _group_reply(self, group: str) -> Params:
        if self._group_error is not None:
            return {"ok": False, "error": self._group_error}
        if group not in self._groups:
            return {"ok": False, "error": "no_such_subteam"}
        return {"ok": True, "users": list(self._groups[group])}

    def _channel_id(self, channel: str) -> str:
        if _CHANNEL_ID.fullmatch(channel):
            return channel
        return self._channels.setdefault(channel, f"C{len(self._channels) + 1:09d}")

    def _next_ts(self) -> str:
        # Unique and increasing, like Slack's: seconds, then a six-digit sequence.
        self._sequence += 1
        seconds, sequence = divmod(self._sequence, 1_000_000)
        return f"{self._epoch + seconds}.{sequence:06d}"


def _short(params: Params, limit: int = 160) -> str:
    text = json.dumps(params, ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


class _HttpServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], api: RecordingSlackApi) -> None:
        self.api = api
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    server: _HttpServer

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet."""

    def do_GET(self) -> None:
        """A Web API method called with GET (``usergroups.users.list`` is one)."""
        self._call(b"")

    def do_POST(self) -> None:
        """A Web API method, or the bytes of a file sent to its upload URL."""
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        path = urlsplit(self.path).path
        if path.startswith("/upload/"):
            self.server.api.receive_upload(path.removeprefix("/upload/"), body)
            self._send(200, f"OK - {len(body)}".encode(), "text/plain")
            return
        self._call(body)

    def _call(self, body: bytes) -> None:
        url = urlsplit(self.path)
        if not url.path.startswith("/api/"):
            self._send(404, b"not found", "text/plain")
            return
        params: Params = {key: values[-1] for key, values in parse_qs(url.query).items()}
        kind = self.headers.get("Content-Type") or ""
        if body and kind.startswith("application/json"):
            params.update(json.loads(body))
        elif body:
            form = parse_qs(body.decode(), keep_blank_values=True)
            params.update({key: values[-1] for key, values in form.items()})
        headers = {name.lower(): value for name, value in self.headers.items()}
        reply = self.server.api.answer(url.path.removeprefix("/api/"), params, headers)
        self._send(200, json.dumps(reply).encode(), "application/json; charset=utf-8")

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


# --- requests from "Slack" to the bot -----------------------------------------------------------


def signed_headers(body: str | bytes, secret: str, timestamp: int | None = None) -> dict[str, str]:
    """The headers Slack sends with `body`, signed with `secret` at `timestamp` (default now)."""
    when = str(int(time.time()) if timestamp is None else timestamp)
    signature = SignatureVerifier(secret).generate_signature(timestamp=when, body=body)
    assert signature is not None
    return {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": when,
        "X-Slack-Signature": signature,
    }


@dataclass(frozen=True)
class SlackUser:
    """Someone in the workspace who types commands and clicks buttons."""

    id: str
    name: str


def command_body(
    text: str,
    *,
    user: SlackUser,
    channel_id: str = "C0RELEASE1",
    trigger_id: str = "",
    command: str = "/canary",
) -> str:
    """The form body Slack posts for a slash command typed by `user` in `channel_id`."""
    trigger = trigger_id or f"{time.monotonic_ns()}.{user.id}"
    return urlencode(
        {
            "token": "legacy-verification-token",
            "team_id": TEAM_ID,
            "team_domain": "canarybot-tests",
            "channel_id": channel_id,
            "channel_name": "releases",
            "user_id": user.id,
            "user_name": user.name,
            "command": command,
            "text": text,
            "api_app_id": APP_ID,
            "is_enterprise_install": "false",
            "response_url": f"https://hooks.slack.invalid/commands/{TEAM_ID}/{trigger}",
            "trigger_id": trigger,
        }
    )


def block_actions_body(
    *,
    user: SlackUser,
    action_id: str,
    value: str,
    channel_id: str,
    message_ts: str,
    thread_ts: str | None = None,
) -> str:
    """The form body (``payload=`` JSON) Slack posts when `user` clicks a message's button.

    `message_ts` is the clicked message; `thread_ts` the thread it is in, if any.
    """
    message: dict[str, Any] = {
        "type": "message",
        "user": BOT_USER_ID,
        "bot_id": BOT_ID,
        "ts": message_ts,
        "text": "",
    }
    if thread_ts:
        message["thread_ts"] = thread_ts
    payload = {
        "type": "block_actions",
        "user": {"id": user.id, "username": user.name, "name": user.name, "team_id": TEAM_ID},
        "api_app_id": APP_ID,
        "token": "legacy-verification-token",
        "container": {
            "type": "message",
            "message_ts": message_ts,
            "channel_id": channel_id,
            "is_ephemeral": False,
        },
        "trigger_id": f"{time.monotonic_ns()}.{user.id}",
        "team": {"id": TEAM_ID, "domain": "canarybot-tests"},
        "is_enterprise_install": False,
        "channel": {"id": channel_id, "name": "releases"},
        "message": message,
        "response_url": f"https://hooks.slack.invalid/actions/{TEAM_ID}/{message_ts}",
        "actions": [
            {
                "type": "button",
                "action_id": action_id,
                "block_id": "approval",
                "text": {"type": "plain_text", "text": action_id},
                "value": value,
                "action_ts": f"{time.time():.6f}",
            }
        ],
    }
    return urlencode({"payload": json.dumps(payload)})


@dataclass(frozen=True)
class Reply:
    """What the bot answered a request with."""

    status: int
    body: bytes

    def json(self) -> dict[str, Any]:
        """The body as JSON; an empty body (a bare ack) is {}."""
        parsed: dict[str, Any] = json.loads(self.body) if self.body else {}
        return parsed


def post_signed(
    url: str,
    body: str,
    secret: str,
    *,
    timestamp: int | None = None,
    headers: Mapping[str, str] | None = None,
    timeout: float = 10.0,
) -> Reply:
    """POST `body` to the bot at `url`, signed with `secret`, as Slack would."""
    parts = urlsplit(url)
    sent = {**signed_headers(body, secret, timestamp), **(headers or {})}
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=timeout)
    try:
        connection.request("POST", parts.path or "/", body=body.encode(), headers=sent)
        response = connection.getresponse()
        return Reply(response.status, response.read())
    finally:
        connection.close()
