"""Real servers for tests: on a free loopback port, stopped by the fixture that made them.

They live in the product now (:mod:`playground.servers`, which the playground runs too); these
names stay here so that tests import them as they always did.
"""

from __future__ import annotations

import os
from contextlib import suppress
from pathlib import Path

from playground.servers import PrometheusServer as PrometheusServer
from playground.servers import RedisServer as RedisServer
from playground.servers import free_port as free_port
from playground.servers import stop_process as stop_process
from playground.servers import unconfigured_environment as unconfigured_environment
from playground.servers import wait_until as wait_until


def live_children() -> dict[int, str]:
    """This process's live children (pid: command line), from Linux's /proc: what a bench run
    must leave none of."""
    found = {}
    for proc in Path("/proc").glob("[0-9]*"):
        with suppress(OSError, IndexError):  # gone while we looked
            stat = (proc / "stat").read_text().rsplit(")", 1)[1].split()
            if int(stat[1]) == os.getpid() and stat[0] != "Z":
                cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").strip()
                found[int(proc.name)] = cmdline.decode(errors="replace")
    return found
