"""The ack-latency bench on a short run: every request answered and acked, everything stopped,
and the report in its promised form.

Timing is never asserted here (machines are noisy); ``python -m bench.ack_latency`` holds the
targets.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import pytest

import bench.ack_latency
from bench.ack_latency import KINDS, Kind, Latency, Outcome, Sample, last_line, main, measure
from tests.servers import live_children

REQUESTS, CONCURRENCY = 60, 10
LAST_LINE = re.compile(r"ack: p50=\d+\.\dms p99=\d+\.\dms bare_p99=\d+\.\dms ratio=\d+\.\d\d")


@dataclass(frozen=True)
class ShortRun:
    """One short run of the whole bench, and the child processes it left behind."""

    outcome: Outcome
    leftovers: list[str]


@pytest.fixture(scope="module")
def run() -> ShortRun:
    """Redis, the Web API and both apps started, loaded and stopped once for this module."""
    before = live_children()
    outcome = measure(requests=REQUESTS, concurrency=CONCURRENCY)
    return ShortRun(
        outcome, [cmdline for pid, cmdline in live_children().items() if pid not in before]
    )


@pytest.fixture
def outcome(run: ShortRun) -> Outcome:
    """What the short run measured."""
    return run.outcome


def test_every_request_to_either_app_gets_200_and_its_ack(outcome: Outcome) -> None:
    for samples in outcome.samples.values():
        assert len(samples) == REQUESTS
        assert [(s.status, s.acked) for s in samples] == [(200, True)] * REQUESTS
    assert {s.kind for s in outcome.samples["ours"]} == {k.name for k in KINDS}


def test_every_status_gets_its_answer_after_the_ack(outcome: Outcome) -> None:
    assert outcome.statuses > 0
    assert outcome.follow_ups >= outcome.statuses
    # No cluster: each status fails in its worker, into the bot's log, not the bench's output.
    assert outcome.worker_errors == outcome.statuses


def test_no_server_or_redis_outlives_the_run(run: ShortRun) -> None:
    assert run.leftovers == []


def test_main_prints_the_report_and_last_the_line(
    outcome: Outcome, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(bench.ack_latency, "measure", lambda **_: outcome)
    code = main(["--requests", str(REQUESTS), "--concurrency", str(CONCURRENCY)])
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert LAST_LINE.fullmatch(lines[-1])
    assert lines[-1] == last_line(outcome)
    assert "pass  no non-200 responses: 0 of 120" in out
    assert "pass  every 200 is the ack its command gets: 0 are not" in out
    assert code == 1  # a short run is never an official one
    assert "(an official run)" in err


@pytest.mark.parametrize(
    ("body", "bare", "acked"),
    [
        pytest.param(b"", False, True, id="ours-empty-ack"),
        pytest.param(
            b'{"text": "nosuch"}', False, False, id="ours-ack-with-a-body-for-an-empty-kind"
        ),
        pytest.param(b"", True, True, id="bare-empty-ack"),
    ],
)
def test_a_status_ack_must_be_empty(body: bytes, bare: bool, acked: bool) -> None:
    assert Kind("status", "fop-gate status", b"").acked(body, bare=bare) is acked


def test_an_error_ack_must_say_what_is_wrong_except_from_the_bare_app() -> None:
    error = Kind("error", "nosuch start", b"nosuch")
    assert error.acked(b'{"text": "unknown service \'nosuch\'"}', bare=False)
    assert not error.acked(b"", bare=False)
    assert error.acked(b"", bare=True)


def test_percentiles_are_nearest_rank_and_unanswered_requests_are_errors() -> None:
    samples = [Sample("help", 200, True, float(ms)) for ms in range(1, 101)]
    samples += [Sample("help", 500, False, 7.0), Sample("help", 0, False, math.nan)]
    figures = Latency.of(samples)
    assert (figures.n, figures.errors) == (102, 2)
    # The 500 was answered, so its 7 ms counts: the 99th of 101 answers is 99 ms.
    assert (figures.p50, figures.p99, figures.max) == (50.0, 99.0, 100.0)
