"""The bot itself, as it runs in production: ``canarybot serve`` in a child process.

Configured only through its environment (Socket Mode to local-slack, the playground's Redis,
Prometheus and simulated cluster, the playground's services file), in a session of its own so
that stopping its process group also stops the worker ``serve`` starts.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from playground.local_slack import LocalSlack
from playground.servers import start_child, stop_group, unconfigured_environment

STOP_GRACE_S = 10.0


@dataclass(frozen=True)
class BotSettings:
    """Where the bot finds everything it talks to."""

    redis_url: str
    prometheus_url: str
    kubeconfig: Path
    services: Path
    http_port: int  # where it serves HTTP beside Socket Mode (health, metrics), if it does


def bot_environment(slack: LocalSlack, settings: BotSettings) -> dict[str, str]:
    """This environment without Slack or canarybot settings, plus the playground's own."""
    return {
        **unconfigured_environment(),
        "PYTHONUNBUFFERED": "1",  # its log is written as it happens
        "CANARYBOT_SLACK_MODE": "socket",
        "SLACK_BOT_TOKEN": slack.bot_token,
        "SLACK_APP_TOKEN": slack.app_token,
        "SLACK_API_URL": slack.api_url,
        "REDIS_URL": settings.redis_url,
        "PROMETHEUS_URL": settings.prometheus_url,
        "CANARYBOT_PROMETHEUS_TIMEOUT": "2",
        "KUBECONFIG": str(settings.kubeconfig),
        "CANARYBOT_CONFIG": str(settings.services),
        "CANARYBOT_ROLLOUT_TIMEOUT": "30s",
        # A free port, never the default 3000 that another bot (or playground) may hold.
        "CANARYBOT_HTTP_HOST": "127.0.0.1",
        "CANARYBOT_HTTP_PORT": str(settings.http_port),
    }


@dataclass
class BotProcess:
    """``python -m bot serve`` in its own session, its output in `log_path`."""

    log_path: Path
    process: subprocess.Popen[bytes] | None = None

    def start(self, env: dict[str, str]) -> BotProcess:
        """Start the bot; it connects to Slack on its own (see LocalSlack.has_connected)."""
        with self.log_path.open("wb") as log:
            self.process = start_child(
                [sys.executable, "-m", "bot", "serve"], stdout=log, detached=True, env=env
            )
        return self

    def check_alive(self) -> None:
        """Raise, with the end of its log, if the bot has exited."""
        if self.process is not None and self.process.poll() is not None:
            raise RuntimeError(f"the bot exited with {self.process.returncode}{self.tail()}")

    def tail(self, lines: int = 40) -> str:
        """The end of what the bot logged, to explain a failure."""
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        end = "\n".join(text.splitlines()[-lines:])
        return f"\n--- the bot's log ({self.log_path}) ends:\n{end or '(nothing)'}\n---"

    def stop(self) -> None:
        """SIGTERM to its process group, SIGKILL to whatever is left after the grace period."""
        if self.process is None:
            return
        stop_group(self.process, grace_s=STOP_GRACE_S)
        self.process = None
