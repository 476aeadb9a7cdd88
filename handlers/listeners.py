"""The Bolt listeners: `/canary` and the approval buttons. Acknowledge, queue, nothing more.

Slack wants every command and click acknowledged within 3 seconds, and a bot under load must
keep that promise for every request. So a listener only parses (pure and fast), acks — with
the error or the help right away, since those need nothing else — and hands the request to an
outbox, whose thread queues it as a job in Redis. A worker process (:mod:`handlers.work`, run
by :class:`bot.worker.Worker`) carries it out and answers the person. No engine, cluster or
Prometheus call happens here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

from slack_bolt import Ack, App
from slack_sdk import WebClient

from bot.registry import Registry
from bot.work_queue import Job, Outbox
from handlers.commands import CommandError, Help
from handlers.grammar import help_text, parse_command
from handlers.render import ApprovalAction, command_error, help_message, refusal
from handlers.work import click_job, command_job, replier_for

log = logging.getLogger(__name__)


@dataclass
class SlackFrontDoor:
    """The listeners, the services they know by name, and the outbox they hand work to."""

    registry: Registry
    outbox: Outbox

    def register(self, app: App) -> None:
        """Attach the `/canary` command and the approval buttons to `app`."""
        app.command("/canary")(self.on_command)
        for action in ApprovalAction:
            app.action(action.value)(self.on_click)

    def on_command(self, ack: Ack, command: dict[str, Any]) -> None:
        """Parse; ack with the error or the help, or ack and queue the command."""
        parsed = parse_command(str(command.get("text") or ""), services=list(self.registry))
        if isinstance(parsed, CommandError):
            ack(**command_error(parsed.message, parsed.usage).payload())
        elif isinstance(parsed, Help):
            ack(**_help(parsed.topic))
        else:
            self._queue(ack, command_job(command))

    def on_click(self, ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
        """Ack and queue the click; a worker authorizes and applies it."""
        self._queue(ack, click_job(body, action))

    def _queue(self, ack: Ack, job: Job) -> None:
        problem = self.outbox.problem
        if problem is not None:  # Redis away: say so now, the request is not taken
            ack(
                **refusal(
                    f"the bot cannot take requests right now ({problem}); try again"
                ).payload()
            )
            return
        self.outbox.put(job)
        ack()


def tell_lost(client: WebClient) -> Callable[[Job, str], None]:
    """What the outbox calls for a request it could not queue: the asker hears of it."""

    def lost(job: Job, why: str) -> None:
        asked = str(job.payload.get("text") or job.payload.get("action_id") or "request")
        replier_for(client, job).send(refusal(f"`{asked}` was not carried out: {why}; try again"))

    return lost


@cache
def _help(topic: str | None) -> dict[str, Any]:
    """The help for `topic`, built once: it never changes while the bot runs."""
    return help_message(help_text(topic)).payload()
