"""Fixtures: local-slack on a free port, one per test module, emptied between tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.slack.local_slack import LocalSlack


@pytest.fixture(scope="module")
def local_slack_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalSlack]:
    """One emulator per module: it starts in ~0.15 s, but a Socket Mode bot takes up to ~3 s
    to close (slack_sdk's receive timeout), so a module may keep one bot connected throughout.
    """
    server = LocalSlack(work_dir=tmp_path_factory.mktemp("local-slack"))
    try:
        yield server.start()
    finally:
        server.stop()


@pytest.fixture
def local_slack(local_slack_server: LocalSlack) -> LocalSlack:
    """The module's emulator with no messages, files or log; open connections stay open."""
    local_slack_server.reset()
    return local_slack_server
