"""The worker's side of Slack requests: carrying out a `/canary` command or a button click.

The front door (:mod:`handlers.listeners`) acknowledged the request and queued it as a job;
here, in a worker process, it is authorized and applied through the engine. Whatever comes of
it (a refusal, a listing, a crash) reaches the person who asked as an ephemeral message; an
applied change needs no answer, because the engine's progress hook updates the card.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Any

from slack_sdk import WebClient

from bot.engine import Engine
from bot.failures import from_outside
from bot.registry import Registry
from bot.release import Actor, Door, EventKind, Release
from bot.transitions import Applied, Outcome
from bot.work_queue import Job
from handlers.approvals import Act, GroupDirectory, authorize
from handlers.commands import (
    Abort,
    Command,
    CommandError,
    FreezeReleases,
    Help,
    History,
    ListReleases,
    Pause,
    Promote,
    RecordCandidate,
    Resume,
    ScheduleRelease,
    ServiceCommand,
    Start,
    Status,
    Undo,
    UnfreezeReleases,
)
from handlers.grammar import parse_command
from handlers.render import (
    ApprovalAction,
    Message,
    context,
    history,
    parse_button_value,
    progress,
    refusal,
    release_card,
    release_list,
)
from handlers.render_window import approval_resolved
from handlers.work_plans import PlanWork

log = logging.getLogger(__name__)

COMMAND_JOB = "slack-command"
CLICK_JOB = "slack-click"

# What each command or button asks of the engine, and which permission it needs.
_COMMAND_EVENTS: dict[type[ServiceCommand], tuple[EventKind, Act]] = {
    Pause: (EventKind.PAUSE, Act.OTHER),
    Resume: (EventKind.RESUME, Act.OTHER),
    Promote: (EventKind.PROMOTE, Act.PROMOTE),
    Undo: (EventKind.UNDO, Act.UNDO),
    Abort: (EventKind.UNDO, Act.UNDO),
}
_BUTTON_EVENTS = {
    ApprovalAction.PROMOTE: (EventKind.APPROVE, Act.PROMOTE),
    ApprovalAction.EXTEND: (EventKind.EXTEND, Act.EXTEND),
    ApprovalAction.UNDO: (EventKind.UNDO, Act.UNDO),
}


def command_job(command: dict[str, Any]) -> Job:
    """The job for a slash command's payload: only what the worker needs of it."""
    fields = ("text", "channel_id", "user_id", "user_name", "trigger_id")
    return Job(COMMAND_JOB, {name: str(command.get(name) or "") for name in fields})


def click_job(body: dict[str, Any], action: dict[str, Any]) -> Job:
    """The job for a button click: who, which button and value, and on which message."""
    user = body.get("user") or {}
    message_ts = str((body.get("container") or {}).get("message_ts") or "")
    return Job(
        CLICK_JOB,
        {
            "action_id": str(action.get("action_id") or ""),
            "value": str(action.get("value") or ""),
            "user_id": str(user.get("id") or ""),
            "user_name": str(user.get("username") or user.get("name") or ""),
            "channel_id": str((body.get("channel") or {}).get("id") or ""),
            "message_ts": message_ts,
            "thread_ts": str((body.get("message") or {}).get("thread_ts") or message_ts),
            # One click, however often Slack delivers it: a second click (a double click,
            # another approver) has its own trigger id and is judged afresh.
            "click": str(body.get("trigger_id") or action.get("action_ts") or ""),
        },
    )


@dataclass
class SlackWork:
    """Carries out queued Slack requests against the engine."""

    engine: Engine
    registry: Registry
    client: WebClient
    directory: GroupDirectory
    tz: tzinfo = UTC
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)

    def handlers(self) -> dict[str, Callable[[Job], None]]:
        """The job handlers, by kind, for :class:`bot.worker.Worker`."""
        return {COMMAND_JOB: self.run_command, CLICK_JOB: self.run_click}

    def expired(self, job: Job) -> None:
        """Tell the asker their request waited too long for a worker and was not carried out."""
        at = datetime.fromtimestamp(job.queued_at, self.tz)
        replier_for(self.client, job).send(
            refusal(
                f"your request from {at:%H:%M:%S} waited too long for a worker and was not "
                "carried out; check the release's state, then ask again"
            )
        )

    # --- /canary ------------------------------------------------------------------------------

    def run_command(self, job: Job) -> None:
        """A queued `/canary` command; failures are told to the asker."""
        reply = replier_for(self.client, job)
        with _answering(reply):
            self._command(job, reply)

    def _command(self, job: Job, reply: _Replier) -> None:
        command = parse_command(job.payload["text"], services=list(self.registry))
        if isinstance(command, CommandError | Help):  # the front door answered these
            return
        actor = Actor(job.payload["user_id"], job.payload["user_name"], Door.SLACK)
        key = f"slack-command:{job.payload['trigger_id'] or job.id}"
        self._run(command, actor, reply, key)

    def _run(self, command: Command, actor: Actor, reply: _Replier, key: str) -> None:
        if isinstance(
            command, RecordCandidate | ScheduleRelease | FreezeReleases | UnfreezeReleases
        ):
            PlanWork(self.engine, self.registry, self.tz, self.clock).run(command, actor, reply)
        elif isinstance(command, ListReleases):
            listing = release_list(self.engine.live(), tz=self.tz)
            services = ", ".join(sorted(self.registry)) or "none"
            reply.send(
                Message(listing.text, [*listing.blocks, context(f"Services: {services}").to_dict()])
            )
        elif isinstance(command, Status):
            release, status = self.engine.status(command.service)
            spec = self.registry.get(command.service)
            if release is None:
                reply.send(refusal(f"{command.service} has no releases yet; {status.message}"))
            else:
                reply.send(release_card(release, spec, tz=self.tz))
                reply.send(progress(release, f"cluster: {status.health.value}", status=status))
        elif isinstance(command, History):
            entries = self.engine.audit(command.service)
            reply.send(history(command.service, entries, tz=self.tz))
        elif isinstance(command, Start):
            self._start(command, actor, reply, key)
        elif isinstance(command, ServiceCommand):
            kind, act = _COMMAND_EVENTS[type(command)]
            revision = command.revision if isinstance(command, Undo) else None
            reason = "aborted" if isinstance(command, Abort) else ""
            force = isinstance(command, Promote) and command.force
            self._act(
                command.service,
                kind,
                act,
                actor,
                reply,
                key=key,
                revision=revision,
                reason=reason,
                force=force,
            )

    def _start(self, command: Start, actor: Actor, reply: _Replier, key: str) -> None:
        spec = self.registry.get(command.service)
        if command.strategy is not None and command.strategy != spec.strategy.kind:
            reply.send(
                refusal(
                    f"{spec.name} releases by {spec.strategy.kind}; strategy={command.strategy} "
                    "would need its own settings in services.yaml"
                )
            )
            return
        outcome = self.engine.start(
            command.service,
            command.image,
            actor,
            steps=command.steps,
            window=command.window,
            idempotency_key=key,
            force=command.force,
        )
        _report(outcome, reply)

    # --- buttons ------------------------------------------------------------------------------

    def run_click(self, job: Job) -> None:
        """A queued button click; failures are told to whoever clicked."""
        reply = replier_for(self.client, job)
        with _answering(reply):
            self._click(job, reply)

    def _click(self, job: Job, reply: _Replier) -> None:
        clicked = job.payload
        actor = Actor(clicked["user_id"], clicked["user_name"], Door.SLACK)
        value = parse_button_value(clicked["value"])
        release = self.engine.release(value.release_id) if value is not None else None
        if value is None or release is None:
            reply.send(refusal("this button belongs to a release the bot no longer knows"))
            return
        pressed = ApprovalAction(clicked["action_id"])
        kind, act = _BUTTON_EVENTS[pressed]
        key = f"slack-click:{value.release_id}:{value.step}:{pressed.value}:{clicked['click']}"
        outcome = self._act(
            release.service, kind, act, actor, reply, key=key, step=value.step, release=release
        )
        # A replayed click was answered, and its message replaced, when it was first applied.
        message_ts = clicked["message_ts"]
        if isinstance(outcome, Applied) and not outcome.replayed and message_ts:
            resolved = approval_resolved(
                outcome.release,
                actor=actor,
                action=pressed,
                at=self.clock(),
                tz=self.tz,
                step=value.step,
            )
            self.client.chat_update(channel=reply.channel, ts=message_ts, **resolved.payload())

    # --- shared -------------------------------------------------------------------------------

    def _act(
        self,
        service: str,
        kind: EventKind,
        act: Act,
        actor: Actor,
        reply: _Replier,
        *,
        key: str,
        step: int | None = None,
        revision: int | None = None,
        reason: str = "",
        release: Release | None = None,
        force: bool = False,
    ) -> Outcome | None:
        """Authorize and apply; a button names its `release`, a command means the live one."""
        spec = self.registry.get(service)
        target = release or self.engine.live_release(service)
        approvers, problem = (
            self.directory.approvers(spec) if act is not Act.OTHER else (frozenset(), None)
        )
        refused = authorize(act, user_id=actor.id, release=target, spec=spec, approvers=approvers)
        if refused is not None:
            why = f"{refused} ({problem})" if problem else refused
            self.engine.refuse(service, kind, actor, why, release=target)
            reply.send(refusal(why))
            return None
        outcome = self.engine.act(
            service,
            kind,
            actor,
            reason=reason,
            step=step,
            to_revision=revision,
            idempotency_key=key,
            release_id=release.id if release is not None else None,
            force=force,
        )
        _report(outcome, reply)
        return outcome


def _report(outcome: Outcome, reply: _Replier) -> None:
    # An applied outcome needs no answer: the engine's progress hook updated the card.
    if not isinstance(outcome, Applied):
        reply.send(refusal(outcome.reason))


@contextmanager
def _answering(reply: _Replier) -> Iterator[None]:
    """Tells the asker, not only the log, when their request failed."""
    try:
        yield
    except Exception as err:
        log.error("a Slack request failed: %s", err, exc_info=not from_outside(err))
        reply.send(refusal(f"something went wrong: {err}"))


def replier_for(client: WebClient, job: Job) -> _Replier:
    """Who asked for `job`, where: a click is answered in its release's thread."""
    return _Replier(
        client,
        channel=str(job.payload.get("channel_id") or ""),
        user=str(job.payload.get("user_id") or ""),
        thread_ts=job.payload.get("thread_ts") or None,
    )


@dataclass(frozen=True)
class _Replier:
    """Answers the person who asked, where they asked, for their eyes only."""

    client: WebClient
    channel: str
    user: str
    thread_ts: str | None = None

    def send(self, message: Message) -> None:
        try:
            self.client.chat_postEphemeral(
                channel=self.channel,
                user=self.user,
                thread_ts=self.thread_ts,
                **message.payload(),
            )
        except Exception:
            log.exception("could not answer %s in %s", self.user, self.channel)
