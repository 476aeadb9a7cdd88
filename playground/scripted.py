"""``canarybot playground --scripted``: two releases of fop-gate played through local-slack.

As people would, through local-slack's control API: alice starts a release, the window's PASS
summary comes into the thread, bob (an approver, not the requester) clicks Promote, the card
says promoted and the cluster runs the new image. Then a release whose canary errs: its window
FAILs and the bot undoes it by itself, the cluster back on the promoted image. Each expected
event is a :class:`Step`; the run prints the threads and says which steps did not happen.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from playground.cluster import deployment_image, deployment_replicas, ready_replicas
from playground.local_slack import SlackMessage
from playground.parts import DEMO_SERVICE, Playground, Say
from playground.servers import wait_until
from playground.services import ALICE, BOB, PEOPLE

GOOD_IMAGE = "reg/fop-gate:2026-11-23"
BAD_IMAGE = "reg/fop-gate:2026-11-24"
JUDGING_GRACE_S = 30.0  # beyond the window: deploying, judging, posting, on two busy CPUs
CHART_WAIT_S = 10.0


class StepFailed(Exception):  # noqa: N818 -- names the step that did not happen
    """An expected event did not happen in time."""


@dataclass
class Script:
    """One scripted run: the playground, what has happened so far, and the cards it made."""

    playground: Playground
    say: Say
    done: list[str] = field(default_factory=list)
    cards: list[str] = field(default_factory=list)  # ts of each release's card

    @property
    def window_s(self) -> float:
        """The observation window of fop-gate."""
        return self.playground.registry.get(DEMO_SERVICE).observation.window.total_seconds()

    def step(self, what: str, happened: Callable[[], bool], *, timeout_s: float = 20) -> None:
        """Wait for `what`; record it as done, or raise StepFailed naming it."""

        def checked() -> bool:
            self.playground.bot.check_alive()
            return happened()

        try:
            wait_until(checked, timeout_s=timeout_s, what=what)
        except TimeoutError as err:
            raise StepFailed(what) from err
        self.done.append(what)
        self.say(f"  ok: {what}")

    def wait_message(
        self, what: str, matches: Callable[[SlackMessage], bool], *, timeout_s: float = 20
    ) -> SlackMessage:
        """The first message that `matches`, waiting for it as a step."""
        found: list[SlackMessage] = []

        def arrived() -> bool:
            found[:] = [m for m in self.playground.slack.messages() if matches(m)]
            return bool(found)

        self.step(what, arrived, timeout_s=timeout_s)
        return found[0]

    def card_says(self, card: str, state: str) -> bool:
        """Whether the release card `card` now shows `state`."""
        text = self.playground.slack.message(card).get("text", "")
        return text.startswith(f"{DEMO_SERVICE}: {state}")

    def image(self) -> str:
        """The image fop-gate's stable Deployment runs."""
        spec = self.playground.registry.get(DEMO_SERVICE)
        return deployment_image(self.playground.cluster, spec.namespace, spec.strategy.deployment)

    def canary_replicas(self) -> int:
        """The replicas fop-gate's canary Deployment asks for, or still has ready."""
        spec = self.playground.registry.get(DEMO_SERVICE)
        name = f"{spec.strategy.deployment}-canary"
        cluster = self.playground.cluster
        return max(
            deployment_replicas(cluster, spec.namespace, name),
            ready_replicas(cluster, spec.namespace, name),
        )

    def start(self, *, image: str) -> str:
        """Alice starts a release of `image`; the ts of its card."""
        self.say(f"alice: /canary {DEMO_SERVICE} start image={image}")
        self.playground.slack.command(user=ALICE.id, text=f"{DEMO_SERVICE} start image={image}")
        bot = self.playground.slack.bot_user_id
        card = self.wait_message(
            f"the card of the release of {image} in #releases",
            lambda m: m.get("user") == bot and "thread_ts" not in m and m["ts"] not in self.cards,
        )
        self.cards.append(card["ts"])
        return card["ts"]

    def summary(self, card: str, verdict: str) -> SlackMessage:
        """The window's summary with `verdict` in the thread of `card`."""
        return self.wait_message(
            f"a {verdict} summary of the window in the thread",
            lambda m: (
                m.get("thread_ts") == card
                and "TPS2XX" in json.dumps(m.get("blocks", []))
                and f": {verdict} — " in m.get("text", "")
            ),
            timeout_s=self.window_s + JUDGING_GRACE_S,
        )


def play(playground: Playground, *, say: Say) -> int:
    """Play both releases; print the threads; 0 if every step happened, else 1 naming it."""
    script = Script(playground, say)
    started = time.monotonic()
    failed = None
    try:
        _promoted_release(script)
        _undone_release(script)
    except StepFailed as err:
        failed = str(err)
    _wait_for_charts(script)
    say("\n--- #releases, as people saw it ---")
    for line in transcript(playground, script.cards):
        say(line)
    seconds = time.monotonic() - started
    if failed is not None:
        say(f"\nFAILED after {seconds:.0f} s: did not happen: {failed}{playground.bot.tail()}")
        return 1
    say(f"\nok: {len(script.done)} steps in {seconds:.0f} s, every one as expected")
    return 0


def _promoted_release(script: Script) -> None:
    old = script.image()
    card = script.start(image=GOOD_IMAGE)
    script.summary(card, "PASS")
    request = script.wait_message(
        "the approval request (Promote, Extend, Undo) in the thread",
        lambda m: m.get("thread_ts") == card and "canary_promote" in json.dumps(m.get("blocks")),
    )
    script.say("bob: clicks Promote")
    script.playground.slack.interact(user=BOB.id, ts=request["ts"], action_id="canary_promote")
    script.step("the card shows the release promoted", lambda: script.card_says(card, "promoted"))
    script.step(
        f"the cluster runs {GOOD_IMAGE} (was {old}), no canary left",
        lambda: script.image() == GOOD_IMAGE and script.canary_replicas() == 0,
    )


def _undone_release(script: Script) -> None:
    script.say(f"(the next canary of {DEMO_SERVICE} answers 40 % of its requests with 5xx)")
    script.playground.users.bad_next_canary(DEMO_SERVICE)
    card = script.start(image=BAD_IMAGE)
    script.summary(card, "FAIL")
    script.step(
        "the card shows the release undone, by the bot itself",
        lambda: script.card_says(card, "undone"),
    )
    script.step(
        f"the cluster is back on {GOOD_IMAGE}, no canary left",
        lambda: script.image() == GOOD_IMAGE and script.canary_replicas() == 0,
    )


def _wait_for_charts(script: Script) -> None:
    """Give each thread's chart (drawn after its summary) a moment to arrive; not a step."""
    slack = script.playground.slack

    def charted() -> bool:
        threads = {m.get("thread_ts") for m in slack.messages() if m.get("subtype") == "file_share"}
        return all(card in threads for card in script.cards)

    deadline = time.monotonic() + CHART_WAIT_S
    while not charted() and time.monotonic() < deadline:
        time.sleep(0.2)


def transcript(playground: Playground, cards: list[str]) -> list[str]:
    """Each release's card and its thread, one line a message: who, then the text."""
    names = {person.id: person.name for person in PEOPLE}
    names[playground.slack.bot_user_id] = "canarybot"
    messages = playground.slack.messages()
    lines: list[str] = []
    for card in cards:
        if lines:
            lines.append("")  # a blank line between releases
        for message in messages:
            if message.get("ts") == card:
                lines.append(_line(message, names))
            elif message.get("thread_ts") == card:
                lines.append("    " + _line(message, names))
    return lines


def _line(message: SlackMessage, names: dict[str, str]) -> str:
    who = names.get(message.get("user", ""), message.get("user", "?"))
    if message.get("subtype") == "file_share":
        titles = [str(f.get("title") or f.get("name")) for f in message.get("files", [])]
        text = " ".join(f"[chart: {title}]" for title in titles)
    else:
        text = _readable(message.get("text", ""), names)
    if message.get("subtype") == "ephemeral":
        who += f" (only to {names.get(message.get('ephemeral_to', ''), '?')})"
    return f"{who}: {text}"


def _readable(text: str, names: dict[str, str]) -> str:
    """Slack's markup as a person reads it: mentions by name, links by label, one line."""
    text = re.sub(r"<@(\w+)>", lambda m: "@" + names.get(m[1], m[1]), text)
    text = re.sub(r"<[^|>]+\|([^>]+)>", r"\1", text)
    return " ".join(text.split())
