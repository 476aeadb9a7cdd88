"""`canarybot candidate` and `canarybot schedule`, run as installed, against the test Redis."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from dataclasses import replace

import pytest
import redis

from bot import keys
from bot.candidates import CandidateStore
from bot.cli_release import EXIT_OK, EXIT_REFUSED, EXIT_USAGE
from bot.registry import parse_registry
from tests.k8s.conftest import BIN, ReleaseCli
from tests.k8s.scenarios import CANARY_DEPLOYMENT, NEW, Scenario, services_yaml

NIGHTLY = replace(
    CANARY_DEPLOYMENT,
    config=CANARY_DEPLOYMENT.config + "    nightly: {cron: '0 2 * * *', timezone: Europe/Berlin}\n",
)


def run(cli: ReleaseCli, *args: str) -> subprocess.CompletedProcess[str]:
    """`canarybot ARGS` with the fixture's environment."""
    return subprocess.run(
        [str(BIN / "canarybot"), *args],
        capture_output=True,
        text=True,
        env=cli.env,
        timeout=60,
        check=False,
    )


def test_a_candidate_recorded_from_the_cli_waits_for_the_nightly(
    cli: Callable[[Scenario], ReleaseCli], redis_client: redis.Redis
) -> None:
    done = run(cli(NIGHTLY), "candidate", "fop-gate", "--image", NEW, "--by", "ci#4711")

    assert done.returncode == EXIT_OK, done.stderr
    assert done.stdout.startswith(
        f"recorded candidate {NEW} for fop-gate; the nightly release at 02:00 Europe/Berlin ("
    )
    candidates = CandidateStore(redis_client, parse_registry(services_yaml(NIGHTLY)))
    newest = candidates.newest_unreleased("fop-gate")
    assert newest is not None
    assert (newest.image, newest.recorded_by) == (NEW, "ci#4711")


def test_a_candidate_of_a_service_without_a_nightly_says_how_to_start_it(
    cli: Callable[[Scenario], ReleaseCli],
) -> None:
    done = run(cli(CANARY_DEPLOYMENT), "candidate", "fop-gate", "--image", NEW)

    assert done.returncode == EXIT_OK, done.stderr
    assert done.stdout.strip() == (
        f"recorded candidate {NEW} for fop-gate; fop-gate has no nightly schedule; start it "
        f"with `canarybot release fop-gate start --image {NEW}`"
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(
            ("candidate", "fop-gat", "--image", NEW),
            "canarybot: unknown service 'fop-gat' (did you mean: fop-gate?)",
            id="candidate-unknown-service",
        ),
        pytest.param(
            ("candidate", "fop-gate", "--image", "reg/app:latest"),
            "canarybot: image 'reg/app:latest' is not pinned: give a version tag or a digest "
            "(reg/fop-gate:2026-11-22 or reg/fop-gate@sha256:…), not latest",
            id="candidate-unpinned-image",
        ),
        pytest.param(
            ("schedule", "fop-gate", "--at", "someday", "--image", NEW),
            "canarybot: 'someday' is not a time: use e.g. 02:00, mon 06:00, tomorrow 09:00, 2h "
            "or 2026-11-23T06:00",
            id="schedule-bad-time",
        ),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    cli: Callable[[Scenario], ReleaseCli],
    redis_client: redis.Redis,
    args: tuple[str, ...],
    message: str,
) -> None:
    done = run(cli(NIGHTLY), *args)

    assert (done.returncode, done.stderr.strip()) == (EXIT_USAGE, message)
    assert redis_client.keys("*") == []


def test_a_release_scheduled_from_the_cli_is_kept_for_the_scheduler(
    cli: Callable[[Scenario], ReleaseCli], redis_client: redis.Redis
) -> None:
    done = run(cli(NIGHTLY), "schedule", "fop-gate", "--at", "02:00", "--image", NEW, "--as", "op")

    assert done.returncode == EXIT_OK, done.stderr
    assert done.stdout.startswith(f"planned: fop-gate releases {NEW} at 02:00 Europe/Berlin (")
    planned_id = done.stdout.strip().rsplit("(id ", 1)[1].rstrip(")")
    assert redis_client.hexists(keys.scheduler_jobs(), f"planned:{planned_id}")


def test_a_release_scheduled_in_the_past_is_refused_from_the_cli(
    cli: Callable[[Scenario], ReleaseCli], redis_client: redis.Redis
) -> None:
    done = run(cli(NIGHTLY), "schedule", "fop-gate", "--at", "2020-01-01T02:00Z", "--image", NEW)

    assert (done.returncode, done.stderr.strip()) == (
        EXIT_REFUSED,
        "canarybot: 2020-01-01 02:00 UTC has passed; plan the release for later",
    )
    assert not redis_client.exists(keys.scheduler_jobs())
