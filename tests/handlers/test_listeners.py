"""The listeners only parse, ack and queue: what reaches the queue, and what the asker hears
when Redis is away. The full HTTP path is in tests/slack/test_front_door.py."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from slack_bolt import Ack

from bot.registry import Registry, load_registry
from bot.work_queue import Job, Outbox, WorkQueue
from handlers.listeners import SlackFrontDoor
from handlers.work import CLICK_JOB, COMMAND_JOB
from tests.servers import free_port, wait_until

EXAMPLE = Path(__file__).resolve().parents[2] / "deploy" / "services.example.yaml"
COMMAND = {
    "text": "fop-gate status",
    "channel_id": "C0RELEASE1",
    "user_id": "U0ALICE01",
    "user_name": "alice",
    "trigger_id": "1337.42.abc",
    "team_id": "T0TEAM",
    "response_url": "https://hooks.slack.com/commands/secret",
}


def new_ack() -> Ack:
    """Bolt's own ack, as a listener gets it (slack_bolt leaves its constructor unannotated)."""
    return Ack()  # type: ignore[no-untyped-call]


def said(ack: Ack) -> dict[str, Any]:
    """What the listener acknowledged with: {} for an empty ack; fails if it never acked."""
    assert ack.response is not None, "the listener did not ack"
    assert ack.response.status == 200
    return json.loads(ack.response.body) if ack.response.body else {}


@pytest.fixture(scope="module")
def registry() -> Registry:
    """The example services."""
    return load_registry(EXAMPLE)


@pytest.fixture
def queue(redis_client: redis.Redis) -> WorkQueue:
    """The work queue on an emptied Redis."""
    return WorkQueue(redis_client)


@pytest.fixture
def outbox(queue: WorkQueue) -> Iterator[Outbox]:
    """The front door's outbox to that queue; nothing is lost while Redis is up."""
    box = Outbox(queue, lost=lambda job, why: pytest.fail(f"lost {job}: {why}"))
    yield box
    box.close()


def delivered(queue: WorkQueue, count: int = 1) -> None:
    """Wait until the outbox has queued `count` jobs."""
    wait_until(lambda: queue.waiting() >= count, timeout_s=5, what=f"{count} queued jobs")


def test_a_command_is_acked_empty_and_queued_with_only_what_the_worker_needs(
    registry: Registry, queue: WorkQueue, outbox: Outbox
) -> None:
    ack = new_ack()

    SlackFrontDoor(registry, outbox).on_command(ack, dict(COMMAND))

    assert said(ack) == {}
    delivered(queue)
    taken = queue.take("w", timeout_s=1)
    assert taken is not None
    assert taken.job is not None
    assert taken.job.kind == COMMAND_JOB
    assert taken.job.payload == {
        "text": "fop-gate status",
        "channel_id": "C0RELEASE1",
        "user_id": "U0ALICE01",
        "user_name": "alice",
        "trigger_id": "1337.42.abc",
    }  # no response_url or tokens kept in Redis


@pytest.mark.parametrize("text", ["help", "fop-gat status", "fop-gate launch"])
def test_help_and_errors_are_answered_in_the_ack_and_queue_nothing(
    registry: Registry, queue: WorkQueue, outbox: Outbox, text: str
) -> None:
    ack = new_ack()

    SlackFrontDoor(registry, outbox).on_command(ack, dict(COMMAND, text=text))

    assert said(ack)["text"]
    outbox.close()  # delivers whatever it holds
    assert queue.waiting() == 0


def test_a_click_is_queued_with_its_button_message_and_trigger(
    registry: Registry, queue: WorkQueue, outbox: Outbox
) -> None:
    ack = new_ack()
    body = {
        "user": {"id": "U0BOB0001", "username": "bob"},
        "channel": {"id": "C0RELEASE1"},
        "container": {"message_ts": "1700000000.000200"},
        "message": {"ts": "1700000000.000200", "thread_ts": "1700000000.000100"},
        "trigger_id": "9.9.click",
    }
    action = {"action_id": "canary_promote", "value": "fop-gate#1:0"}

    SlackFrontDoor(registry, outbox).on_click(ack, body, action)

    assert said(ack) == {}
    delivered(queue)
    taken = queue.take("w", timeout_s=1)
    assert taken is not None
    assert taken.job is not None
    assert taken.job.kind == CLICK_JOB
    assert taken.job.payload == {
        "action_id": "canary_promote",
        "value": "fop-gate#1:0",
        "user_id": "U0BOB0001",
        "user_name": "bob",
        "channel_id": "C0RELEASE1",
        "message_ts": "1700000000.000200",
        "thread_ts": "1700000000.000100",
        "click": "9.9.click",
    }


def test_with_redis_away_the_asker_hears_their_request_was_lost_and_later_acks_say_so(
    registry: Registry,
) -> None:
    away = redis.Redis(port=free_port(), socket_connect_timeout=1, decode_responses=True)
    lost: list[tuple[Job, str]] = []
    outbox = Outbox(WorkQueue(away), lost=lambda job, why: lost.append((job, why)), give_up_s=1)
    door = SlackFrontDoor(registry, outbox)
    try:
        first = new_ack()
        door.on_command(first, dict(COMMAND))
        assert said(first) == {}  # acked before the outbox could know

        wait_until(lambda: bool(lost), timeout_s=10, what="the outbox to give up")
        assert [job.payload["text"] for job, _ in lost] == ["fop-gate status"]
        assert "Redis unreachable" in lost[0][1]

        second = new_ack()
        door.on_command(second, dict(COMMAND))
        assert "cannot take requests right now" in said(second)["text"]
        assert "try again" in said(second)["text"]
    finally:
        outbox.close()
