"""The Bolt listeners: `/canary` and the approval buttons. Acknowledge first, work after.

Slack wants every command and click acknowledged within 3 seconds. A listener parses (pure,
fast), acks — with the error or the help right away, since those need nothing else — and
hands the rest to a worker pool: engine calls can take as long as a rollout. Whatever the
worker finds (a refusal, a result) reaches the person as an ephemeral message; a crash is
logged and reported to them too, never swallowed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Any

from slack_bolt import Ack, App
from slack_sdk import WebClient

from bot.engine import Engine
from bot.registry import Registry
from bot.release import Actor, Door, EventKind, Release
from bot.transitions import Applied, Outcome
from handlers.approvals import Act, GroupDirectory, authorize
from handlers.commands import (
    Abort,
    Command,
    CommandError,
    Help,
    History,
    ListReleases,
    Pause,
    Promote,
    Resume,
    ServiceCommand,
    Start,
    Status,
    Undo,
)
from handlers.grammar import (
    help_text,
    parse_command,
)
from handlers.notifier import SlackNotifier
from handlers.render import (
    ApprovalAction,
    Message,
    command_error,
    context,
    help_message,
    history,
    parse_button_value,
    progress,
    refusal,
    release_card,
    release_list,
)
from handlers.render_window import approval_resolved

log = logging.getLogger(__name__)

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


@dataclass
class SlackFrontDoor:
    """Everything the listeners need: the engine and the Slack side around it."""

    engine: Engine
    registry: Registry
    notifier: SlackNotifier
    directory: GroupDirectory
    workers: Executor
    tz: tzinfo = UTC
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)

    def register(self, app: App) -> None:
        """Attach the `/canary` command and the approval buttons to `app`."""
        app.command("/canary")(self.on_command)
        for action in ApprovalAction:
            app.action(action.value)(self.on_click)

    # --- /canary ------------------------------------------------------------------------------

    def on_command(self, ack: Ack, command: dict[str, Any], client: WebClient) -> None:
        """Parse, ack at once, and do the work in a worker."""
        parsed = parse_command(str(command.get("text") or ""), services=list(self.registry))
        if isinstance(parsed, CommandError):
            ack(**command_error(parsed.message, parsed.usage).payload())
            return
        if isinstance(parsed, Help):
            ack(**help_message(help_text(parsed.topic)).payload())
            return
        ack()
        reply = _Replier(client, channel=str(command["channel_id"]), user=str(command["user_id"]))
        actor = Actor(str(command["user_id"]), str(command.get("user_name") or ""), Door.SLACK)
        key = f"slack-command:{command.get('trigger_id') or ''}"
        self._submit(reply, lambda: self._run_command(parsed, actor, reply, key))

    def _run_command(self, command: Command, actor: Actor, reply: _Replier, key: str) -> None:
        if isinstance(command, ListReleases):
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
            self._act(
                command.service, kind, act, actor, reply, key=key, revision=revision, reason=reason
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
        if command.steps is not None or command.window is not None:
            reply.send(
                refusal(
                    "steps= and window= are set per service in services.yaml for now; "
                    "start without them to use the service's plan"
                )
            )
            return
        outcome = self.engine.start(command.service, command.image, actor, idempotency_key=key)
        self._report(outcome, reply)

    # --- buttons ------------------------------------------------------------------------------

    def on_click(
        self, ack: Ack, body: dict[str, Any], action: dict[str, Any], client: WebClient
    ) -> None:
        """Ack at once; authorize and apply the click in a worker."""
        ack()
        user = body.get("user") or {}
        channel = str((body.get("channel") or {}).get("id") or "")
        message_ts = str((body.get("container") or {}).get("message_ts") or "")
        thread_ts = str((body.get("message") or {}).get("thread_ts") or message_ts)
        reply = _Replier(
            client, channel=channel, user=str(user.get("id") or ""), thread_ts=thread_ts
        )
        actor = Actor(
            str(user.get("id") or ""),
            str(user.get("username") or user.get("name") or ""),
            Door.SLACK,
        )
        # One click, however often Slack delivers it: a second click (a double click, another
        # approver, an old message) is a new request that the state machine judges afresh.
        click = str(body.get("trigger_id") or action.get("action_ts") or "")
        self._submit(reply, lambda: self._run_click(action, actor, reply, message_ts, click))

    def _run_click(
        self, action: dict[str, Any], actor: Actor, reply: _Replier, message_ts: str, click: str
    ) -> None:
        value = parse_button_value(action.get("value"))
        pressed = ApprovalAction(str(action.get("action_id")))
        release = self.engine.release(value.release_id) if value is not None else None
        if value is None or release is None:
            reply.send(refusal("this button belongs to a release the bot no longer knows"))
            return
        kind, act = _BUTTON_EVENTS[pressed]
        key = f"slack-click:{value.release_id}:{value.step}:{pressed.value}:{click}"
        outcome = self._act(
            release.service, kind, act, actor, reply, key=key, step=value.step, release=release
        )
        # A replayed click was answered, and its message replaced, when it was first applied.
        if isinstance(outcome, Applied) and not outcome.replayed and message_ts:
            resolved = approval_resolved(
                outcome.release,
                actor=actor,
                action=pressed,
                at=self.clock(),
                tz=self.tz,
                step=value.step,
            )
            reply.client.chat_update(channel=reply.channel, ts=message_ts, **resolved.payload())

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
    ) -> Outcome | None:
        """Authorize and apply; a button names its `release`, a command means the live one."""
        spec = self.registry.get(service)
        live = release or self.engine.live_release(service)
        approvers, problem = (
            self.directory.approvers(spec) if act is not Act.OTHER else (frozenset(), None)
        )
        refused = authorize(act, user_id=actor.id, release=live, spec=spec, approvers=approvers)
        if refused is not None:
            why = f"{refused} ({problem})" if problem else refused
            self.engine.refuse(service, kind, actor, why)
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
        )
        self._report(outcome, reply)
        return outcome

    def _report(self, outcome: Outcome, reply: _Replier) -> None:
        # An applied outcome needs no answer: the engine's progress hook updated the card.
        if not isinstance(outcome, Applied):
            reply.send(refusal(outcome.reason))

    def _submit(self, reply: _Replier, work: Callable[[], None]) -> None:
        def run() -> None:
            try:
                work()
            except Exception as err:
                log.exception("a Slack request failed")
                reply.send(refusal(f"something went wrong: {err}"))

        self.workers.submit(run)


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
