"""``python -m playground.screenshot``: the README's picture of a release thread.

Plays the scripted releases (:func:`playground.scripted.play`) in a playground of its own, opens
the promoted release's thread in local-slack's web page with Debian's headless Chromium, and
saves what it shows: the card, the window's summary, the chart, and bob's promotion.

local-slack's page opens a thread from a Slack-like permalink, ``/archives/<channel>?thread_ts=
<ts>``, in a side pane 380 px wide that a person widens by dragging its left edge, scrolled to
the thread's last message; it fetches the messages over a websocket once it has loaded. So
rather than ``--screenshot``, the DevTools protocol waits for the chart to be shown, drags the
pane wider, scrolls the summary to its top, and takes the picture. Chromium runs without Debian's
``/usr/bin/chromium`` wrapper, which adds flags and API keys of its own, in a fresh profile
removed afterwards; emoji need a colour emoji font (Debian's ``fonts-noto-color-emoji``).
"""

from __future__ import annotations

import argparse
import base64
import itertools
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, cast
from urllib.request import urlopen

import websocket

from playground.parts import DEMO_SERVICE, Playground, PlaygroundOptions, running_playground
from playground.scripted import play
from playground.servers import start_child, stop_process, wait_until

CHROMIUM = Path("/usr/lib/chromium/chromium")  # Debian's `chromium`, without its wrapper
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
DEFAULT_OUT = Path("docs/playground-thread.png")
WIDTH, HEIGHT = 1280, 900
THREAD_WIDTH = 640  # the pane, dragged wider than its 380 px so the chart can be read
# True once the thread shows its chart, loaded, and bob's promotion.
THREAD_READY_JS = """(() => {
  const pane = document.querySelector('.thread-pane');
  const chart = pane && pane.querySelector('.file-image img');
  return Boolean(chart && chart.complete && chart.naturalWidth > 0
    && pane.innerText.includes('Promoted by'));
})()"""
# The thread's first message with the window's summary, scrolled to the top of the pane.
SCROLL_TO_SUMMARY_JS = """(() => {
  const summary = [...document.querySelectorAll('.thread-pane .msg')]
    .find(message => message.innerText.includes('TPS2XX'));
  summary.scrollIntoView({block: 'start'});
})()"""
HANDLE_JS = """(() => {
  const box = document.querySelector('.thread-resize-handle').getBoundingClientRect();
  return [box.left + box.width / 2, box.top + box.height / 2];
})()"""


class DevTools:
    """One page of Chromium, driven over the DevTools protocol's websocket."""

    def __init__(self, socket: websocket.WebSocket) -> None:
        self.socket = socket
        self.ids = itertools.count(1)

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        """Send one command and return its result, skipping the events that come before it."""
        call_id = next(self.ids)
        self.socket.send(json.dumps({"id": call_id, "method": method, "params": params}))
        while True:
            reply = json.loads(self.socket.recv())
            if reply.get("id") != call_id:
                continue  # an event
            if "error" in reply:
                raise RuntimeError(f"{method}: {reply['error']}")
            return cast(dict[str, Any], reply["result"])

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page."""
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        return result["result"].get("value")

    def drag(self, *, start: tuple[float, float], to_x: float) -> None:
        """Press the left button at `start`, move it to `to_x`, release it; then rest the
        pointer on the page's top left corner, where it highlights nothing."""
        x, y = start
        for kind, at_x in (("mousePressed", x), ("mouseMoved", to_x), ("mouseReleased", to_x)):
            self.call(
                "Input.dispatchMouseEvent", type=kind, x=at_x, y=y, button="left", clickCount=1
            )
        self.call("Input.dispatchMouseEvent", type="mouseMoved", x=0, y=0)

    def close_browser(self) -> None:
        """Ask Chromium to close (it may hang up before it answers)."""
        self.socket.send(json.dumps({"id": next(self.ids), "method": "Browser.close"}))


@contextmanager
def chromium(url: str, *, width: int, height: int) -> Iterator[DevTools]:
    """Headless Chromium in a fresh profile showing `url`; its page's DevTools, then closed."""
    if not CHROMIUM.exists():
        raise RuntimeError(f"{CHROMIUM} is missing: apt-get install -y chromium")
    with tempfile.TemporaryDirectory(prefix="canarybot-chromium-") as profile:
        args = [
            str(CHROMIUM),
            *CHROMIUM_FLAGS,
            f"--user-data-dir={profile}",
            f"--window-size={width},{height}",
            "--remote-debugging-port=0",  # Chromium picks a free one and writes it down
            url,
        ]
        process = start_child(args, stdout=subprocess.DEVNULL, detached=True)
        try:
            page = DevTools(websocket.create_connection(_page_socket_url(Path(profile))))
            try:
                yield page
                # Closed, not killed: its helper processes are done with the profile when it
                # exits, so the profile can be removed.
                page.close_browser()
            finally:
                page.socket.close()
            process.wait(timeout=10)
        finally:
            stop_process(process)


def _page_socket_url(profile: Path) -> str:
    """The DevTools websocket of the page of the Chromium that uses `profile`."""
    port_file = profile / "DevToolsActivePort"  # the port, a newline, the browser's path

    def written() -> bool:
        return port_file.exists() and "\n" in port_file.read_text()

    wait_until(written, timeout_s=30, what="Chromium's DevTools port")
    port = port_file.read_text().split()[0]
    with urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as response:
        targets = json.load(response)
    return next(str(t["webSocketDebuggerUrl"]) for t in targets if t["type"] == "page")


def thread_url(playground: Playground, card: str) -> str:
    """local-slack's permalink to the thread of the message `card` in #releases."""
    return f"{playground.slack.url}/archives/{playground.slack.channel_id}?thread_ts={card}"


def promoted_card(playground: Playground) -> str:
    """The ts of the card of the first release of fop-gate that was promoted."""
    bot = playground.slack.bot_user_id
    for message in playground.slack.messages():
        if (
            message.get("user") == bot
            and "thread_ts" not in message
            and message.get("text", "").startswith(f"{DEMO_SERVICE}: promoted")
        ):
            return message["ts"]
    raise LookupError(f"no promoted release of {DEMO_SERVICE} in #releases")


def take_screenshot(url: str, out: Path, *, width: int = WIDTH, height: int = HEIGHT) -> None:
    """Open `url` (a thread of local-slack), widen its pane, and save the page as PNG `out`."""
    with chromium(url, width=width, height=height) as page:
        # --window-size sizes the window, and the page in it is shorter: make the page that size.
        page.call(
            "Emulation.setDeviceMetricsOverride",
            width=width,
            height=height,
            deviceScaleFactor=1,
            mobile=False,
        )

        def thread_ready() -> bool:
            return bool(page.evaluate(THREAD_READY_JS))

        wait_until(thread_ready, timeout_s=30, what="the thread with its chart in Chromium")
        handle_x, handle_y = page.evaluate(HANDLE_JS)
        page.drag(start=(handle_x, handle_y), to_x=width - THREAD_WIDTH)
        time.sleep(0.5)  # the pane lays its blocks out again; there is no event to wait on
        page.evaluate(SCROLL_TO_SUMMARY_JS)
        shot = page.call("Page.captureScreenshot", format="png")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(base64.b64decode(shot["data"]))


def main(argv: list[str] | None = None) -> int:
    """Play the releases, photograph the promoted one's thread; 0 if it was saved."""
    parser = argparse.ArgumentParser(prog="python -m playground.screenshot", description=__doc__)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"default: {DEFAULT_OUT}")
    args = parser.parse_args(argv)

    def say(text: str) -> None:
        print(text, flush=True)

    with running_playground(PlaygroundOptions(), say=say) as playground:
        if play(playground, say=say) != 0:
            return 1
        take_screenshot(thread_url(playground, promoted_card(playground)), args.out)
    say(f"saved {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
