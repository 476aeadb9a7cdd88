"""``canarybot measure``: a window measured in the real Prometheus and judged, from a terminal."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from bot.cli import main
from sim.traffic import TrackBehaviour, TrafficApp
from tests.servers import PrometheusServer, free_port, wait_until

NAMESPACE = "cli-measure"
SERVICES = f"""
services:
  healthy:
    namespace: {NAMESPACE}
    channel: "#releases"
    strategy: {{kind: canary-deployment, deployment: healthy, service: healthy}}
    approval: {{approvers: [U012ABCDEF]}}
  broken:
    namespace: {NAMESPACE}
    channel: "#releases"
    strategy: {{kind: canary-deployment, deployment: broken, service: broken}}
    approval: {{approvers: [U012ABCDEF]}}
  versioned:
    namespace: {NAMESPACE}
    channel: "#releases"
    strategy: {{kind: blue-green, deployment: versioned, service: versioned}}
    approval: {{approvers: [U012ABCDEF]}}
"""
# Per service and track: (requests, 5xx share).
TRAFFIC = {
    ("healthy", "stable"): (900, 0.01),
    ("healthy", "canary"): (300, 0.0),
    ("broken", "stable"): (900, 0.01),
    ("broken", "canary"): (300, 0.2),
}


@pytest.fixture(scope="module")
def served(traffic_app: TrafficApp, prometheus_server: PrometheusServer) -> None:
    """Serve TRAFFIC and wait until Prometheus has every request of it."""
    for (service, track), (_, share) in TRAFFIC.items():
        traffic_app.add_service(NAMESPACE, service)
        traffic_app.set_behaviour(NAMESPACE, service, track, TrackBehaviour(error_share=share))
    total = f'sum(http_requests_total{{namespace="{NAMESPACE}"}})'
    # Every series at 0 in Prometheus first, or increase() would not count the first requests.
    wait_until(lambda: bool(prometheus_server.query(total)), timeout_s=10, what="zero samples")
    for (service, track), (requests, _) in TRAFFIC.items():
        for _ in range(requests):
            traffic_app.answer(NAMESPACE, service, track)
    expected = sum(requests for requests, _ in TRAFFIC.values())

    def scraped() -> bool:
        result = prometheus_server.query(total)
        return bool(result) and float(result[0]["value"][1]) >= expected

    wait_until(scraped, timeout_s=10, what="Prometheus to scrape the traffic")
    time.sleep(1.5)  # one more scrape, so the window's last sample is flat


@pytest.fixture
def config(tmp_path: Path) -> Path:
    """The services file naming this module's services."""
    path = tmp_path / "services.yaml"
    path.write_text(SERVICES)
    return path


def measure(config: Path, url: str, *args: str, monkeypatch: pytest.MonkeyPatch) -> int:
    """Run ``canarybot measure`` in-process against Prometheus at `url`; its exit status."""
    monkeypatch.setenv("PROMETHEUS_URL", url)
    monkeypatch.setenv("CANARYBOT_PROMETHEUS_TIMEOUT", "2")
    return main(["measure", "--window", "60s", "--config", str(config), *args])


@pytest.mark.usefixtures("served")
def test_a_healthy_canary_prints_both_tracks_and_passes(
    config: Path,
    prometheus_server: PrometheusServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = measure(config, prometheus_server.url, "healthy", monkeypatch=monkeypatch)

    lines = capsys.readouterr().out.splitlines()
    assert code == 0
    assert lines[0].startswith("healthy over 60s ending ")
    assert lines[1].split() == ["TPS2XX", "TPS5XX", "requests", "2xx", "4xx", "5xx", "p99"]
    assert lines[2].split()[0] == "stable"
    assert lines[3].split()[0] == "canary"
    assert lines[3].split()[5] == "0"  # canary 5xx: a zero, not "no data"
    assert lines[4].startswith("verdict: PASS: canary 5xx 0% vs stable 1% over ")


@pytest.mark.usefixtures("served")
def test_an_erring_canary_fails_with_exit_1_and_writes_the_chart(
    config: Path,
    prometheus_server: PrometheusServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    chart = tmp_path / "broken.png"

    code = measure(
        config,
        prometheus_server.url,
        "broken",
        "--chart",
        str(chart),
        "--queries",
        monkeypatch=monkeypatch,
    )

    out = capsys.readouterr().out
    assert code == 1
    verdict = next(line for line in out.splitlines() if line.startswith("verdict: "))
    # increase() extrapolates the young series a little: the share stays, the count grows.
    assert re.fullmatch(
        r"verdict: FAIL: canary 5xx (19\.\d|20(\.\d)?)% over [\d,]+ requests: "
        r"above the 5% ceiling with 99% confidence",
        verdict,
    )
    assert 'canary errors: sum(increase(http_requests_total{namespace="cli-measure"' in out
    assert chart.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert f"chart: {chart}" in out


def test_no_prometheus_is_inconclusive_with_exit_3(
    config: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"http://127.0.0.1:{free_port()}"

    code = measure(config, url, "healthy", monkeypatch=monkeypatch)

    out = capsys.readouterr().out
    assert code == 3
    assert f"verdict: INCONCLUSIVE: couldn't measure the canary track: Prometheus at {url}" in out
    assert "stable  no data: Prometheus at" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(("nosuch",), "unknown service", id="unknown-service"),
        pytest.param(
            ("versioned",),
            "versioned: give --stable and --canary, the version of each track",
            id="versions-not-given",
        ),
        pytest.param(("healthy", "--window", "soon"), "soon", id="bad-window"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    config: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    args: tuple[str, ...],
    message: str,
) -> None:
    code = measure(config, "http://127.0.0.1:9", *args, monkeypatch=monkeypatch)

    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("canarybot measure: ")
    assert message in err
    assert len(err.splitlines()) == 1
