"""Which window chart is drawn next, and which are dropped when the bot falls behind."""

from __future__ import annotations

from bot.analysis import Verdict
from handlers.chart_queue import ChartJob, ChartQueue


def job(
    release: str, verdict: Verdict = Verdict.PASS, at: float = 0.0, channel: str = "C1"
) -> ChartJob[str]:
    return ChartJob(release, channel, verdict, queued_at=at, payload=f"{release}@{at}")


def always(_channel: str) -> bool:
    return True


def test_a_newer_chart_of_a_release_replaces_its_waiting_pass_chart() -> None:
    queue: ChartQueue[str] = ChartQueue()
    queue.add(job("r1", at=1))
    queue.add(job("r2", at=2))
    queue.add(job("r1", at=3))
    assert len(queue) == 2
    assert queue.dropped.replaced == 1
    taken = [queue.take(4, always), queue.take(4, always)]
    assert [j.payload for j in taken if j] == ["r2@2", "r1@3"]


def test_charts_that_need_a_person_are_never_replaced_and_go_first() -> None:
    queue: ChartQueue[str] = ChartQueue()
    queue.add(job("r1", at=1))
    queue.add(job("r2", Verdict.FAIL, at=2))
    queue.add(job("r2", Verdict.INCONCLUSIVE, at=3))
    queue.add(job("r3", Verdict.INCONCLUSIVE, at=4))
    order = [queue.take(5, always) for _ in range(4)]
    assert [j.payload for j in order if j] == ["r2@2", "r2@3", "r3@4", "r1@1"]
    assert queue.dropped.replaced == 0
    assert queue.take(5, always) is None


def test_a_pass_chart_that_waited_too_long_is_dropped_but_a_fail_chart_is_not() -> None:
    queue: ChartQueue[str] = ChartQueue(max_age_s=60)
    queue.add(job("r1", at=0))
    queue.add(job("r2", Verdict.FAIL, at=0))
    queue.add(job("r3", at=30))
    taken = [queue.take(61, always) for _ in range(3)]
    assert [j.payload if j else None for j in taken] == ["r2@0", "r3@30", None]
    assert queue.dropped.stale == 1


def test_only_charts_whose_channel_may_be_posted_to_now_are_taken() -> None:
    queue: ChartQueue[str] = ChartQueue()
    queue.add(job("r1", at=1, channel="BUSY"))
    queue.add(job("r2", at=2, channel="FREE"))
    taken = queue.take(3, lambda channel: channel == "FREE")
    assert taken is not None
    assert taken.payload == "r2@2"
    assert queue.take(3, lambda channel: channel == "FREE") is None
    assert queue.channels() == {"BUSY"}
    assert len(queue) == 1
