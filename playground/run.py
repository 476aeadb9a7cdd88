"""``canarybot playground``: start every part, say where it is, stop it all on Ctrl-C.

Interactive, it runs until SIGINT or SIGTERM; ``--scripted`` plays two releases through
local-slack by itself (:mod:`playground.scripted`) and exits 0 only if both went as they should.
Either way everything it started is stopped before it exits (:mod:`playground.parts`).
"""

from __future__ import annotations

import signal
import time
from types import FrameType

from playground.parts import PlaygroundOptions, Say, running_playground
from playground.screen import welcome_text
from playground.scripted import play

EXIT_FAILED = 1  # a part did not start, or a scripted step did not happen
EXIT_STOPPED = 130  # what a shell reports for a command ended by Ctrl-C


class Stopped(Exception):  # noqa: N818 -- says what happened, like KeyboardInterrupt
    """SIGINT or SIGTERM arrived: stop everything and exit."""

    def __init__(self, signal_name: str) -> None:
        super().__init__(signal_name)
        self.at = time.monotonic()  # when it arrived, to say how long stopping took


def stop_on_signals() -> None:
    """SIGINT and SIGTERM raise :class:`Stopped` in the main thread; a second one while the
    playground stops is ignored, so that stopping is never cut short."""

    def stop(signum: int, _frame: FrameType | None) -> None:
        for ignored in (signal.SIGINT, signal.SIGTERM):
            signal.signal(ignored, signal.SIG_IGN)
        raise Stopped(signal.Signals(signum).name)

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, stop)


def run_interactive(options: PlaygroundOptions, *, say: Say) -> int:
    """Start the playground, say how to use it, and run until SIGINT or SIGTERM."""
    started = time.monotonic()
    say("canarybot playground: starting (on free ports of 127.0.0.1)…")
    try:
        with running_playground(options, say=say) as playground:
            say(welcome_text(playground, options, seconds=time.monotonic() - started))
            # Until a signal raises Stopped. Not one untimed wait: a signal the kernel hands to
            # another of our threads runs its handler only when the main thread next wakes.
            while True:
                time.sleep(0.5)
    except Stopped as stop:
        took = time.monotonic() - stop.at
        say(f"canarybot playground: stopped ({stop}) in {took:.0f} s; nothing it started runs")
    return 0


def run_scripted(options: PlaygroundOptions, *, say: Say) -> int:
    """Start the playground, play the scripted releases, stop it; 0 only if all went well."""
    started = time.monotonic()
    say("canarybot playground --scripted: starting (on free ports of 127.0.0.1)…")
    try:
        with running_playground(options, say=say) as playground:
            say(f"ready in {time.monotonic() - started:.0f} s; Slack at {playground.slack.url}/")
            status = play(playground, say=say)
    except Stopped as stop:
        say(f"canarybot playground: stopped ({stop}) before the script ended")
        return EXIT_STOPPED
    say(f"canarybot playground --scripted: done in {time.monotonic() - started:.0f} s")
    return status


def run_playground(options: PlaygroundOptions, *, scripted: bool) -> int:
    """``canarybot playground [--scripted]``: the exit status."""
    stop_on_signals()

    def say(text: str) -> None:
        print(text, flush=True)

    run = run_scripted if scripted else run_interactive
    try:
        return run(options, say=say)
    except (RuntimeError, TimeoutError, OSError) as err:  # a part could not start
        say(f"canarybot playground: could not start: {err}")
        return EXIT_FAILED
