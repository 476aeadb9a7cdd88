"""One thread per release: the card at its top, everything else as replies.

Where a release's thread is (channel id, the card's ts) is kept in Redis, so any bot replica,
and the bot after a restart, posts into the same thread. The first poster claims the key with
``SET NX`` before posting, so two replicas never post two cards for one release.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import redis
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.web import SlackResponse

from bot import keys, telemetry
from bot.release import Release
from handlers.render import Message

_CLAIMED = "claimed"  # the key's value while the claiming replica posts the card
_CLAIM_TTL_S = 30
_THREAD_TTL_S = 90 * 86_400  # long after any release ends, the key goes


@dataclass(frozen=True)
class ThreadRef:
    """Where a release's thread is."""

    channel: str  # the channel's id, as chat.update needs it
    ts: str  # the card's ts: the thread_ts of every reply


class CountingWebClient(WebClient):
    """The Web API client, counting each call that fails by method and Slack's error.

    Every method of the client (``chat_postMessage``, ``files_upload_v2`` …) goes through
    `api_call`, so one override sees the failures of the threads, the notifier and the rest.
    """

    def api_call(self, api_method: str, **kwargs: Any) -> SlackResponse:
        """Call `api_method`; a failure is counted, then raised as it was."""
        try:
            return super().api_call(api_method, **kwargs)
        except SlackApiError as err:
            telemetry.slack_api_failed(api_method, str(err.response.get("error") or "unknown"))
            raise
        except Exception:
            telemetry.slack_api_failed(api_method, "connection")
            raise


class ChannelPacer:
    """Spaces messages to one channel `interval_s` apart: Slack allows about one a second."""

    def __init__(
        self, interval_s: float = 1.0, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        """Pace at `interval_s` between messages of a channel (0: no pacing)."""
        self._interval_s = interval_s
        self._clock = clock
        self._lock = threading.Lock()
        self._next: dict[str, float] = {}

    def wait(self, channel: str) -> None:
        """Return when a message to `channel` may go."""
        with self._lock:
            now = self._clock()
            at = max(now, self._next.get(channel, now))
            self._next[channel] = at + self._interval_s
        if at > now:
            time.sleep(at - now)

    def ready_in(self, channel: str) -> float:
        """Seconds until a message to `channel` may go (0: now), reserving nothing."""
        with self._lock:
            return max(0.0, self._next.get(channel, 0.0) - self._clock())


class ReleaseThreads:
    """Posts and updates a release's messages in its own thread."""

    def __init__(
        self, client: WebClient, redis_client: redis.Redis, *, pacer: ChannelPacer | None = None
    ) -> None:
        """Post through `client`; remember threads in `redis_client`."""
        self._client = client
        self._redis = redis_client
        self._pacer = pacer or ChannelPacer()

    def ready_in(self, channel: str) -> float:
        """Seconds until a message to `channel` may go without waiting (0: now)."""
        return self._pacer.ready_in(channel)

    def find(self, release_id: str) -> ThreadRef | None:
        """The release's thread, if its card was posted."""
        raw = self._redis.get(keys.slack_thread(release_id))
        if not isinstance(raw, str) or raw == _CLAIMED:
            return None
        data = json.loads(raw)
        return ThreadRef(channel=str(data["channel"]), ts=str(data["ts"]))

    def open(self, release: Release, channel: str, card: Message) -> ThreadRef | None:
        """The release's thread, posting its card first if nobody has.

        None while another replica is posting the card: its thread appears within seconds.
        """
        found = self.find(release.id)
        if found is not None:
            return found
        key = keys.slack_thread(release.id)
        if not self._redis.set(key, _CLAIMED, nx=True, ex=_CLAIM_TTL_S):
            return self._await(release.id)
        try:
            self._pacer.wait(channel)
            posted = self._client.chat_postMessage(channel=channel, **card.payload())
        except Exception:
            self._redis.delete(key)  # let the next attempt post the card
            raise
        ref = ThreadRef(channel=str(posted["channel"]), ts=str(posted["ts"]))
        self._redis.set(key, json.dumps({"channel": ref.channel, "ts": ref.ts}), ex=_THREAD_TTL_S)
        return ref

    def post(self, channel: str, message: Message) -> str:
        """Post `message` in `channel` itself, in no thread; its ts."""
        self._pacer.wait(channel)
        posted = self._client.chat_postMessage(channel=channel, **message.payload())
        return str(posted["ts"])

    def update_card(self, ref: ThreadRef, card: Message) -> None:
        """Replace the card's content in place."""
        self._client.chat_update(channel=ref.channel, ts=ref.ts, **card.payload())

    def reply(self, ref: ThreadRef, message: Message) -> str:
        """Post `message` in the thread; its ts."""
        self._pacer.wait(ref.channel)
        posted = self._client.chat_postMessage(
            channel=ref.channel, thread_ts=ref.ts, **message.payload()
        )
        return str(posted["ts"])

    def update(self, channel: str, ts: str, message: Message) -> None:
        """Replace one message of a thread (an approval request once it is answered)."""
        self._client.chat_update(channel=channel, ts=ts, **message.payload())

    def upload_chart(self, ref: ThreadRef, png: bytes, *, title: str) -> None:
        """Put the window's chart into the thread."""
        self._pacer.wait(ref.channel)
        self._client.files_upload_v2(
            channel=ref.channel,
            thread_ts=ref.ts,
            content=png,
            filename="window.png",
            title=title,
        )

    def _await(self, release_id: str, timeout_s: float = 10.0) -> ThreadRef | None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            found = self.find(release_id)
            if found is not None:
                return found
            time.sleep(0.05)
        return None
