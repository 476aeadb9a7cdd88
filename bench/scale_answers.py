"""Record the Prometheus answers bench/scale.py serves, from a real Prometheus.

The traffic app (:mod:`sim.traffic`) serves one service's stable and canary tracks, healthy
traffic runs against both over loopback, and Debian's Prometheus scrapes the app every second.
The bot's own Prometheus adapter (:class:`bot.metrics.PrometheusMetrics`) then measures a
window of the service as the bench's services are configured (generic preset, track label,
30 s windows), several times a few seconds apart, through :class:`RecordingProxy`, which
keeps every answer. Each window is judged as the bot would judge it, and printed.

Run from the repository root (about a minute and a half)::

    python -m bench.scale_answers [--windows 12] [--out bench/data/scale_prometheus.json]
"""

from __future__ import annotations

import argparse
import http.client
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.scale import ANSWERS, OFFICIAL_WINDOW_S
from bench.scale_rig import namespace_of, service_name, services_yaml
from bot.analysis import judge
from bot.measurements import Track
from bot.metrics import PrometheusMetrics
from bot.queries import TrackRef
from bot.registry import parse_registry
from bot.windows import CANARY_TRACK, STABLE_TRACK
from sim.recorded_prometheus import RecordingProxy
from sim.traffic import TrackBehaviour, TrafficApp
from tests.servers import PrometheusServer

# Requests a second to each track, and their shares of 5xx and 4xx: a healthy canary with a
# tenth of stable's... a quarter here, so a 30 s window holds well over min_requests (50).
RATES = {"stable": 18.0, "canary": 6.0}
BEHAVIOUR = TrackBehaviour(error_share=0.002, client_error_share=0.01)
SETTLE_S = 2.0  # a window is measured this long after its end: the last scrape is in
GAP_S = 2.5  # between recorded windows


@contextmanager
def traffic(app: TrafficApp, service: str) -> Iterator[None]:
    """Requests to both tracks at RATES, one kept-alive connection a track, while the block runs."""
    stop = threading.Event()

    def drive(track: str) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", app.port, timeout=10)
        gap, due = 1 / RATES[track], time.monotonic()
        while not stop.wait(max(0.0, due - time.monotonic())):
            due += gap
            connection.request("GET", f"/{namespace_of(0)}/{service}/{track}")
            connection.getresponse().read()
        connection.close()

    threads = [threading.Thread(target=drive, args=(track,)) for track in RATES]
    for thread in threads:
        thread.start()
    try:
        yield
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=10)


def record(*, windows: int, out: Path) -> None:
    """Run the traffic and a real Prometheus; measure `windows` windows through the proxy."""
    service = service_name(0)
    window = timedelta(seconds=OFFICIAL_WINDOW_S)
    spec = parse_registry(services_yaml(1, window_s=OFFICIAL_WINDOW_S, windows=3)).get(service)
    stable, canary = TrackRef(Track.STABLE, STABLE_TRACK), TrackRef(Track.CANARY, CANARY_TRACK)
    with (
        tempfile.TemporaryDirectory(prefix="scale-answers-") as tmp,
        TrafficApp([(namespace_of(0), service)]) as app,
    ):
        for track in RATES:
            app.set_behaviour(namespace_of(0), service, track, BEHAVIOUR)
        prometheus = PrometheusServer(Path(tmp), targets=(f"127.0.0.1:{app.port}",)).start()
        try:
            with RecordingProxy(prometheus.url) as proxy, traffic(app, service):
                metrics = PrometheusMetrics(proxy.url)
                print(f"traffic for {window.total_seconds() + 5:.0f} s before the first window")
                time.sleep(window.total_seconds() + 5)
                for number in range(windows):
                    end = datetime.now(UTC) - timedelta(seconds=SETTLE_S)
                    measured = metrics.measure(spec, stable, canary, end=end, window=window)
                    metrics.series(spec, stable, canary, end=end, window=window)
                    print(f"window {number + 1}: {judge(measured, spec.analysis).reason}")
                    time.sleep(GAP_S)
                metrics.close()
            answers = proxy.answers
        finally:
            prometheus.stop()
    answers.about = {
        "recorded_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "by": "python -m bench.scale_answers",
        "prometheus": _prometheus_version(),
        "window_s": OFFICIAL_WINDOW_S,
        "windows": windows,
        "requests_per_second": RATES,
        "error_share": BEHAVIOUR.error_share,
        "client_error_share": BEHAVIOUR.client_error_share,
        "scrape_interval_s": 1,
    }
    answers.save(out)
    shapes = sum(len(shapes) for shapes in answers.queries.values())
    print(f"{shapes} query shapes, {windows} windows each: {out}")


def _prometheus_version() -> str:
    done = subprocess.run(
        ["prometheus", "--version"], capture_output=True, text=True, check=False, timeout=10
    )
    return (done.stdout or done.stderr).splitlines()[0] if (done.stdout or done.stderr) else ""


def main(argv: Sequence[str] | None = None) -> int:
    """Record and write the answers."""
    parser = argparse.ArgumentParser(prog="python -m bench.scale_answers", description=__doc__)
    parser.add_argument("--windows", type=int, default=12, help="windows to record")
    parser.add_argument("--out", type=Path, default=ANSWERS, help="where to write them")
    args = parser.parse_args(argv)
    record(windows=args.windows, out=args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
