"""`canarybot playground`: what a newcomer runs first, run as they would run it.

The installed console script in a child process, as from the README: `--scripted` plays a
promoted and an undone release by itself; the interactive playground serves the Slack web page
and, on Ctrl-C (SIGINT), stops every process it started and closes every port it opened.
"""

from __future__ import annotations

import ctypes
import os
import platform
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO
from urllib.request import urlopen

import pytest

CANARYBOT = Path(sys.executable).parent / "canarybot"
SCRIPTED_TIMEOUT_S = 180  # the bound on a 2-CPU machine
STOP_TIMEOUT_S = 90  # each part gets 10 s before SIGKILL; on a busy machine it adds up
READY_TIMEOUT_S = 150  # the bot alone may take a minute to start on a busy machine
_SYS_TGKILL = {"x86_64": 234, "aarch64": 131}[platform.machine()]


@pytest.mark.timeout(SCRIPTED_TIMEOUT_S + 20)
def test_scripted_playground_promotes_a_release_and_undoes_a_bad_one(tmp_path: Path) -> None:
    done = subprocess.run(
        [str(CANARYBOT), "playground", "--scripted"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=SCRIPTED_TIMEOUT_S,
        check=False,
        cwd=tmp_path,  # it needs nothing from the working directory
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    transcript = output.split("--- #releases, as people saw it ---", 1)[1]
    assert (
        "canarybot: fop-gate: promoted — `reg/fop-gate:2026-11-22` → `reg/fop-gate:2026-11-23`"
        in (transcript)
    ), output
    assert "Promoted by @bob" in transcript, output
    assert (
        "canarybot: fop-gate: undone — `reg/fop-gate:2026-11-23` → `reg/fop-gate:2026-11-24`"
        in (transcript)
    ), output
    assert ": FAIL — canary 5xx" in transcript, output


@pytest.mark.timeout(READY_TIMEOUT_S + 90)
@pytest.mark.parametrize("delivered_to", ["the process", "another thread"])
def test_interactive_playground_serves_the_slack_page_and_leaves_nothing_behind_on_sigint(
    tmp_path: Path, delivered_to: str
) -> None:
    """Ctrl-C stops it all, whichever of its threads the kernel hands the signal to: one
    given to a thread other than the main one left an untimed wait blocked for good."""
    with subprocess.Popen(
        [str(CANARYBOT), "playground"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        cwd=tmp_path,
    ) as playground:
        assert playground.stdout is not None
        lines = _lines_of(playground.stdout)
        try:
            printed = _read_until(lines, "Ctrl-C stops everything", timeout_s=READY_TIMEOUT_S)
            [slack_url] = re.findall(r"^Slack: (http://127\.0\.0\.1:\d+/)$", printed, re.M)
            [ports_line] = re.findall(r"^Ports: (.*)$", printed, re.MULTILINE)
            ports = [int(port) for port in re.findall(r"\b(\d+)\b", ports_line)]

            with urlopen(slack_url, timeout=10) as page:
                assert page.status == 200
                assert b"local-slack" in page.read()
            started = _descendants(playground.pid)
            assert len(started) >= 4, printed  # local-slack, redis, prometheus, bot (+ worker)
            assert all(_listening(port) for port in ports), printed

            if delivered_to == "the process":
                playground.send_signal(signal.SIGINT)
            else:
                _sigint_another_thread(playground.pid)
            try:
                status = playground.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                still = _descendants(playground.pid)
                said = printed + _read_until(lines, None, timeout_s=1)
                raise AssertionError(f"still running: {still}\n{said}") from None
            said = printed + _read_until(lines, None, timeout_s=5)
        finally:
            if playground.poll() is None:  # its children die with it (PR_SET_PDEATHSIG)
                playground.kill()
                playground.wait()

    assert status == 0, said
    assert "stopped (SIGINT)" in said, said
    left = {pid: name for (pid, name) in started.items() if _running(pid, name)}
    assert left == {}, said
    assert [port for port in ports if _listening(port)] == [], said


# --- helpers ---------------------------------------------------------------------------------


def _sigint_another_thread(pid: int) -> None:
    """SIGINT to one of `pid`'s threads other than its main one (Linux's tgkill(2))."""
    others = sorted(int(tid) for tid in os.listdir(f"/proc/{pid}/task") if int(tid) != pid)
    assert others, "the playground runs no other thread"
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.syscall(_SYS_TGKILL, pid, others[0], signal.SIGINT) != 0:
        raise OSError(ctypes.get_errno(), "tgkill failed")


def _lines_of(stream: IO[bytes]) -> queue.Queue[str | None]:
    """The stream's lines as they come, read by a thread; None once it ends."""
    lines: queue.Queue[str | None] = queue.Queue()

    def read() -> None:
        for line in stream:
            lines.put(line.decode(errors="replace"))
        lines.put(None)

    threading.Thread(target=read, daemon=True).start()
    return lines


def _read_until(lines: queue.Queue[str | None], marker: str | None, *, timeout_s: float) -> str:
    """What was printed up to the line holding `marker` (None: to the end of the stream)."""
    deadline = time.monotonic() + timeout_s
    seen: list[str] = []
    while True:
        try:
            line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            if marker is None:
                return "".join(seen)
            printed = "".join(seen)
            raise AssertionError(f"no {marker!r} in {timeout_s} s; printed:\n{printed}") from None
        if line is None:
            if marker is None:
                return "".join(seen)
            raise AssertionError(f"it exited before printing {marker!r}:\n{''.join(seen)}")
        seen.append(line)
        if marker is not None and marker in line:
            return "".join(seen)


def _processes() -> Iterator[tuple[int, int, str]]:
    """(pid, parent pid, identity) of every process: identity = name and start time, so a pid
    reused by another process later is not mistaken for the one seen before."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # it exited meanwhile
            continue
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        state, ppid, start = fields[0], int(fields[1]), fields[19]
        if state != "Z":
            yield int(entry.name), ppid, f"{name}@{start}"


def _descendants(root: int) -> dict[int, str]:
    """Every live process below `root`, by pid, with its identity."""
    children: dict[int, list[tuple[int, str]]] = {}
    for pid, ppid, identity in _processes():
        children.setdefault(ppid, []).append((pid, identity))
    found: dict[int, str] = {}
    todo = [root]
    while todo:
        for pid, identity in children.get(todo.pop(), []):
            found[pid] = identity
            todo.append(pid)
    return found


def _running(pid: int, identity: str) -> bool:
    return any(p == pid and i == identity for p, _ppid, i in _processes())


def _listening(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0
