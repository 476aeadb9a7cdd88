"""The bot's own metrics, scraped over HTTP from the real bot while real releases run.

The bot runs in HTTP mode (worker and scheduler in its process) on the cluster simulator, the
test Redis and the real Prometheus, which scrapes a traffic app where both tracks answer
without errors. Releases go the real way: a signed `/canary … start`, a window judged on the
scheduler's wake-up, an approval click. The metrics live in one registry per process, so each
test compares a scrape after with a scrape before. The pure parts (which final state a run of
transitions reached, which API status a cluster error carries) are table-driven below.
"""

from __future__ import annotations

import http.client
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot import telemetry
from bot.release import Phase, Release
from k8s.errors import ClusterError, DriftError, NotFoundError, UnavailableError
from sim.traffic import TrafficApp
from tests.factories import release
from tests.release_rig import healthy_series, steady_traffic
from tests.servers import PrometheusServer, RedisServer, wait_until
from tests.slack.test_front_door import (
    ALICE,
    DAVE,
    NEW,
    SERVICES,
    WINDOW_S,
    FrontDoor,
    judging_door,
)
from tests.slack.test_front_door_clicks import awaiting_approval

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]

# A service whose Deployment is not in the cluster: starting it fails at the API (404).
LOST = """
  fop-lost:
    strategy: {kind: canary-deployment, deployment: fop-lost, service: fop-lost, steps: [1]}
"""


def scrape(port: int) -> Samples:
    """GET /metrics from the bot: every sample by name and labels."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", "/metrics")
        response = connection.getresponse()
        assert response.status == 200
        assert response.getheader("Content-Type", "").startswith("text/plain")
        text = response.read().decode()
    finally:
        connection.close()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    """One sample's value (0 when absent)."""
    return samples.get((name, frozenset(labels.items())), 0.0)


def grew(before: Samples, after: Samples, name: str, **labels: str) -> float:
    """How much a sample grew between two scrapes."""
    return value(after, name, **labels) - value(before, name, **labels)


@pytest.fixture(scope="module")
def traffic(traffic_app: TrafficApp, prometheus_server: PrometheusServer) -> Iterator[None]:
    """fop-gate's tracks answer ~300 requests a second, none failing."""
    healthy_series(traffic_app, prometheus_server, namespace="shop", service="fop-gate")
    with steady_traffic(traffic_app, namespace="shop", services=["fop-gate"]):
        yield


@pytest.fixture
def door(
    tmp_path: Path,
    redis_server: RedisServer,
    redis_client: object,  # an emptied Redis
    prometheus_server: PrometheusServer,
    traffic: None,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[FrontDoor]:
    """The bot in HTTP mode, judging windows from the real Prometheus."""
    with judging_door(
        tmp_path=tmp_path,
        redis_server=redis_server,
        prometheus_url=prometheus_server.url,
        monkeypatch=monkeypatch,
        services=SERVICES + LOST,
    ) as running:
        yield running


def port_of(door: FrontDoor) -> int:
    return int(door.url.split(":")[2].split("/")[0])


# --- over HTTP, real releases -----------------------------------------------------------------


def test_a_promoted_release_shows_its_commands_click_verdict_final_state_and_timings(
    door: FrontDoor,
) -> None:
    port = port_of(door)
    before = scrape(port)
    door.command("help")
    door.command("fop-gate launch image=x")  # no such action: answered with the usage
    request = awaiting_approval(door)  # `/canary fop-gate start …`, its window judged PASS
    request.click(DAVE)
    wait_until(
        lambda: door.store.get(request.release_id).phase is Phase.PROMOTED,  # type: ignore[union-attr]
        timeout_s=20,
        what="the promotion",
    )
    door.settle(2)
    after = scrape(port)

    requests = "canarybot_slack_requests_total"
    assert grew(before, after, requests, kind="command", outcome="help") == 1
    assert grew(before, after, requests, kind="command", outcome="invalid") == 1
    assert grew(before, after, requests, kind="command", outcome="queued") == 1
    assert grew(before, after, requests, kind="click", outcome="queued") == 1
    assert grew(before, after, "canarybot_ack_latency_seconds_count") == 4
    assert 0 < grew(before, after, "canarybot_ack_latency_seconds_sum") < 4 * 3  # under 3 s
    assert grew(before, after, "canarybot_window_verdicts_total", verdict="PASS") == 1
    assert grew(before, after, "canarybot_window_verdicts_total", verdict="FAIL") == 0
    assert grew(before, after, "canarybot_releases_finished_total", state="promoted") == 1
    assert grew(before, after, "canarybot_window_wake_lateness_seconds_count") == 1
    late = grew(before, after, "canarybot_window_wake_lateness_seconds_sum")
    assert 0 <= late < WINDOW_S + 10  # woken after the window's end, not long after
    assert door.logged_errors() == []


def test_an_aborted_release_counts_as_aborted_not_undone(door: FrontDoor) -> None:
    port = port_of(door)
    before = scrape(port)
    door.command(f"fop-gate start image={NEW}", ALICE)
    wait_until(
        lambda: (
            (live := door.store.live_release("fop-gate")) is not None
            and live.phase is Phase.OBSERVING
        ),
        timeout_s=20,
        what="the release's first window",
    )
    release_id = door.live().id
    door.command("fop-gate abort", ALICE)
    wait_until(
        lambda: door.store.get(release_id).phase is Phase.UNDONE,  # type: ignore[union-attr]
        timeout_s=20,
        what="the abort",
    )
    door.settle(2)
    after = scrape(port)

    finished = "canarybot_releases_finished_total"
    assert grew(before, after, finished, state="aborted") == 1
    assert grew(before, after, finished, state="undone") == 0
    assert grew(before, after, finished, state="promoted") == 0


def test_slack_and_kubernetes_api_failures_are_counted_by_method_and_status(
    door: FrontDoor,
) -> None:
    port = port_of(door)
    before = scrape(port)
    request = awaiting_approval(door)
    door.slack.fail_group_lookups("missing_scope")
    request.click(DAVE)  # on call through the group, which cannot be read now
    door.command(f"fop-lost start image={NEW}", ALICE)
    door.settle(3)
    after = scrape(port)

    slack_errors = "canarybot_slack_api_errors_total"
    lookups = {"method": "usergroups.users.list", "error": "missing_scope"}
    assert grew(before, after, slack_errors, **lookups) == 1
    assert grew(before, after, "canarybot_kubernetes_api_errors_total", status="404") == 1
    assert door.store.live_release("fop-lost") is None


def test_every_label_value_is_exposed_at_zero_from_the_start(door: FrontDoor) -> None:
    samples = scrape(port_of(door))
    for state in telemetry.FINAL_STATES:
        assert ("canarybot_releases_finished_total", frozenset({("state", state)})) in samples
    for verdict in ("PASS", "FAIL", "INCONCLUSIVE"):
        key = ("canarybot_window_verdicts_total", frozenset({("verdict", verdict)}))
        assert key in samples


# --- what is counted, decided without servers -------------------------------------------------

STARTED = release()


@pytest.mark.parametrize(
    ("first", "last", "state"),
    [
        pytest.param(
            replace(STARTED, phase=Phase.PROMOTING),
            replace(STARTED, phase=Phase.PROMOTED),
            "promoted",
            id="promoted",
        ),
        pytest.param(
            replace(STARTED, phase=Phase.UNDOING, reason="window 1 failed"),
            replace(STARTED, phase=Phase.UNDONE, reason="undo complete"),
            "undone",
            id="undone",
        ),
        pytest.param(
            replace(STARTED, phase=Phase.UNDOING, reason="aborted"),
            replace(STARTED, phase=Phase.UNDONE, reason="undo complete"),
            "aborted",
            id="aborted",
        ),
        pytest.param(
            replace(STARTED, phase=Phase.UNDONE, reason="aborted"),
            replace(STARTED, phase=Phase.UNDONE, reason="aborted"),
            "aborted",
            id="aborted-before-deploying",
        ),
        pytest.param(
            replace(STARTED, phase=Phase.DEPLOYING),
            replace(STARTED, phase=Phase.FAILED),
            "failed",
            id="failed",
        ),
        pytest.param(
            replace(STARTED, phase=Phase.DEPLOYING),
            replace(STARTED, phase=Phase.OBSERVING),
            None,
            id="still-live",
        ),
    ],
)
def test_final_state_of_a_run_of_transitions(
    first: Release, last: Release, state: str | None
) -> None:
    assert telemetry.final_state(first, last) == state


class _ApiError(Exception):
    """What the kubernetes client's ApiException looks like to the counting: an int status."""

    def __init__(self, status: int) -> None:
        super().__init__(f"({status})")
        self.status = status


def _chained(err: ClusterError, cause: BaseException | None) -> ClusterError:
    err.__cause__ = cause
    return err


@pytest.mark.parametrize(
    ("err", "status"),
    [
        pytest.param(_chained(NotFoundError("gone"), _ApiError(404)), "404", id="404"),
        pytest.param(_chained(UnavailableError("5xx"), _ApiError(503)), "503", id="503"),
        pytest.param(_chained(UnavailableError("down"), OSError("refused")), "unreachable",
                     id="no-answer"),
        pytest.param(
            _chained(DriftError("by hand"), _chained(NotFoundError("gone"), _ApiError(404))),
            "404",
            id="wrapped",
        ),
        pytest.param(DriftError("someone scaled it by hand"), None, id="not-an-api-failure"),
    ],
)  # fmt: skip
def test_api_status_of_a_cluster_error(err: ClusterError, status: str | None) -> None:
    assert telemetry.api_status(err) == status
