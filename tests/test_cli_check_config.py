"""``canarybot check-config``, run as the installed console script."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.cli import main

ROOT = Path(__file__).resolve().parents[1]
CANARYBOT = Path(sys.executable).parent / "canarybot"
EXAMPLE = "deploy/services.example.yaml"
THREE_PROBLEMS = "tests/data/three_problems.yaml"


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``canarybot ARGS`` from the repository root, without the caller's CANARYBOT_*."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CANARYBOT_")}
    return subprocess.run(
        [str(CANARYBOT), *args],
        cwd=ROOT,
        env={**clean, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_example_file_is_ok() -> None:
    done = run("check-config", EXAMPLE)
    assert (done.returncode, done.stdout, done.stderr) == (0, "ok: 6 services\n", "")


def test_three_broken_services_print_three_lines_and_exit_2() -> None:
    done = run("check-config", THREE_PROBLEMS)
    assert done.returncode == 2
    assert done.stdout.splitlines() == [
        f"{THREE_PROBLEMS}: fop-gate.strategy.kind: unknown strategy 'canery' (expected one of:"
        " blue-green, canary-deployment, istio, paused-rollout, rolling)",
        f"{THREE_PROBLEMS}: img-thumbnail.strategy.deployment: required",
        f"{THREE_PROBLEMS}: hexo-blog.nightly.cron: bad cron line '61 2 * * *': Error validating"
        " expression '61': the last value (61) is higher than the maximum value (59)",
    ]
    assert "Traceback" not in done.stderr


def test_the_file_defaults_to_canarybot_config() -> None:
    done = run("check-config", env={"CANARYBOT_CONFIG": EXAMPLE})
    assert (done.returncode, done.stdout) == (0, "ok: 6 services\n")


def test_a_missing_file_is_one_line(tmp_path: Path) -> None:
    missing = tmp_path / "services.yaml"
    done = run("check-config", str(missing))
    assert done.returncode == 2
    assert done.stdout == f"{missing}: file: cannot read it: No such file or directory\n"
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("variable", "value", "line"),
    [
        pytest.param("CANARYBOT_HTTP_PORT", "abc",
                     "CANARYBOT_HTTP_PORT: expected a whole number (got 'abc')", id="port"),
        pytest.param("CANARYBOT_DEFAULT_WINDOW", "ten",
                     "CANARYBOT_DEFAULT_WINDOW: bad duration 'ten': use forms like 30s, 10m, 1h30m",
                     id="window"),
    ],
)  # fmt: skip
def test_bad_settings_are_one_line_and_exit_2(variable: str, value: str, line: str) -> None:
    done = run("check-config", EXAMPLE, env={variable: value})
    assert (done.returncode, done.stdout, done.stderr) == (2, "", line + "\n")


def test_a_single_service_is_not_plural(tmp_path: Path) -> None:
    one = tmp_path / "one.yaml"
    one.write_text(
        "services:\n"
        "  web:\n"
        "    channel: '#releases'\n"
        "    strategy: {kind: rolling, deployment: web}\n"
        "    approval: {approvers: [U012ABCDEF]}\n"
    )
    assert run("check-config", str(one)).stdout == "ok: 1 service\n"


def test_no_subcommand_is_a_usage_error() -> None:
    done = run()
    assert done.returncode == 2
    assert "usage: canarybot" in done.stderr
    assert "Traceback" not in done.stderr


def test_main_returns_the_exit_status_in_process(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)
    assert main(["check-config", THREE_PROBLEMS]) == 2
    assert len(capsys.readouterr().out.splitlines()) == 3
