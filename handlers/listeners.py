"""The Bolt listeners: `/canary` and the approval buttons. Acknowledge, queue, nothing more.

Slack wants every command and click acknowledged within 3 seconds, and a bot under load must
keep that promise for every request. So a listener only parses (pure and fast), acks — with
the error or the help right away, since those need nothing else — and hands the request to an
outbox, whose thread queues it as a job in Redis. A worker process (:mod:`handlers.work`, run
by :class:`bot.worker.Worker`) carries it out and answers the person. No engine, cluster or
Prometheus call happens here.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

from slack_bolt import Ack, App, BoltRequest, BoltResponse
from slack_bolt.middleware import Middleware
from slack_sdk import WebClient

from bot import telemetry
from bot.registry import Registry
from bot.work_queue import Job, Outbox
from handlers.commands import CommandError, Help
from handlers.grammar import help_text, parse_command
from handlers.render import ApprovalAction, command_error, help_message, refusal
from handlers.work import click_job, command_job, replier_for

log = logging.getLogger(__name__)

_ARRIVED = "canarybot_arrived"  # the request's arrival (perf_counter), in Bolt's context


@dataclass
class SlackFrontDoor:
    """The listeners, the services they know by name, and the outbox they hand work to."""

    registry: Registry
    outbox: Outbox

    def register(self, app: App) -> None:
        """Attach the `/canary` command and the approval buttons to `app`."""
        app.middleware(_NoteArrival())
        app.command("/canary")(self.on_command)
        for action in ApprovalAction:
            app.action(action.value)(self.on_click)

    def on_command(
        self, ack: Ack, command: dict[str, Any], context: dict[str, Any] | None = None
    ) -> None:
        """Parse; ack with the error or the help, or ack and queue the command."""
        arrived = _arrival(context)
        parsed = parse_command(str(command.get("text") or ""), services=self.registry.services)
        if isinstance(parsed, CommandError):
            _answer(ack, json.dumps(command_error(parsed.message, parsed.usage).payload()))
            outcome = "invalid"
        elif isinstance(parsed, Help):
            _answer(ack, _help(parsed.topic))
            outcome = "help"
        else:
            outcome = self._queue(ack, command_job(command))
        telemetry.request_answered("command", outcome, seconds=time.perf_counter() - arrived)

    def on_click(
        self,
        ack: Ack,
        body: dict[str, Any],
        action: dict[str, Any],
        context: dict[str, Any] | None = None,
    ) -> None:
        """Ack and queue the click; a worker authorizes and applies it."""
        arrived = _arrival(context)
        outcome = self._queue(ack, click_job(body, action))
        telemetry.request_answered("click", outcome, seconds=time.perf_counter() - arrived)

    def _queue(self, ack: Ack, job: Job) -> str:
        """Ack and queue `job`: "queued", or "unavailable" when Redis is away."""
        problem = self.outbox.problem
        if problem is not None:  # Redis away: say so now, the request is not taken
            ack(
                **refusal(
                    f"the bot cannot take requests right now ({problem}); try again"
                ).payload()
            )
            return "unavailable"
        self.outbox.put(job)
        ack()
        return "queued"


class _NoteArrival(Middleware):
    """Bolt's first middleware of ours: when the request reached the app, for the ack latency.

    A class, not a function: Bolt calls a function middleware through its keyword-argument
    injection, which costs more than the rest of this middleware on every request.
    """

    def process(
        self, *, req: BoltRequest, resp: BoltResponse, next: Callable[[], BoltResponse]
    ) -> BoltResponse:
        req.context[_ARRIVED] = time.perf_counter()
        return next()


def _arrival(context: dict[str, Any] | None) -> float:
    """When the request arrived; now, for a listener called without Bolt's context."""
    arrived = context.get(_ARRIVED) if context is not None else None
    return arrived if isinstance(arrived, float) else time.perf_counter()


def tell_lost(client: WebClient) -> Callable[[Job, str], None]:
    """What the outbox calls for a request it could not queue: the asker hears of it."""

    def lost(job: Job, why: str) -> None:
        asked = str(job.payload.get("text") or job.payload.get("action_id") or "request")
        replier_for(client, job).send(refusal(f"`{asked}` was not carried out: {why}; try again"))

    return lost


def _answer(ack: Ack, message: str) -> None:
    """Ack with `message`, the JSON of a message's ``text`` and ``blocks``: what ``ack(text=…,
    blocks=…)`` sends (it sets ``ack.response`` so), without Bolt serializing the blocks
    again, which for the 2 KB help costs more than the rest of the listener."""
    ack.response = BoltResponse(status=200, body=message)


@cache
def _help(topic: str | None) -> str:
    """The help for `topic` as JSON, built once: it never changes while the bot runs."""
    return json.dumps(help_message(help_text(topic)).payload())
