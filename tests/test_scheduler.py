"""The scheduler: jobs in Redis, run once, only by the replica that leads, and again after a loss.

Real Redis (the session's redis-server); real APScheduler with its RedisJobStore. The engine is
replaced by a recorder of what the jobs asked, since these tests are about when and how often
the scheduler wakes it; the engine's own refusal of a second wake-up is tested with the engine.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import redis

from bot.actions import OpenWindow, PlannedRelease, RequestApproval
from bot.leader import LeaderLease
from bot.registry import Registry, load_registry
from bot.release import Phase, Window
from bot.scheduler import (
    ReleaseScheduler,
    deadline_job_id,
    job_writer,
    nightly_job_id,
    pending_actions,
    reminder_job_id,
    window_job_id,
)
from tests.factories import ALICE, release
from tests.servers import RedisServer, wait_until

REPO = Path(__file__).resolve().parents[1]


class Recorder:
    """Every call a job made, as (kind, args); `fail_on` makes one kind raise."""

    def __init__(self, fail_on: str = "") -> None:
        self.calls: list[tuple[str, tuple[object, ...]]] = []
        self._lock = threading.Lock()
        self._fail_on = fail_on

    def _record(self, kind: str, *args: object) -> None:
        with self._lock:
            self.calls.append((kind, args))
        if kind == self._fail_on:
            raise RuntimeError(f"{kind} exploded")

    def close_window(self, release_id: str, *, step: int, index: int) -> object:
        self._record("window", release_id, step, index)
        return None

    def approval_deadline(self, release_id: str, *, step: int) -> object:
        self._record("deadline", release_id, step)
        return None

    def remind_approval(self, release_id: str, *, step: int) -> object:
        self._record("remind", release_id, step)
        return None

    def run_nightly(self, service: str) -> object:
        self._record("nightly", service)
        return None

    def run_planned(self, planned: PlannedRelease) -> object:
        self._record("planned", planned)
        return None

    def post_held_reports(self) -> object:
        return 0

    def kinds(self) -> list[str]:
        with self._lock:
            return [kind for kind, _ in self.calls]


@pytest.fixture
def registry() -> Registry:
    return load_registry(REPO / "deploy" / "services.example.yaml")


@pytest.fixture
def schedulers(
    redis_server: RedisServer, redis_client: redis.Redis, registry: Registry
) -> Iterator[list[ReleaseScheduler]]:
    """Schedulers the test makes with `make`; all shut down after it."""
    made: list[ReleaseScheduler] = []
    yield made
    for scheduler in made:
        scheduler.shutdown()


def make(
    made: list[ReleaseScheduler],
    redis_server: RedisServer,
    registry: Registry,
    work: Recorder,
    *,
    lease: LeaderLease | None = None,
) -> ReleaseScheduler:
    scheduler = ReleaseScheduler(
        redis_url=redis_server.url, work=work, registry=registry, lease=lease, interval_s=0.1
    )
    made.append(scheduler)
    return scheduler


def soon(seconds: float = 0.3) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=seconds)


def settle(seconds: float = 0.6) -> None:
    """Room for a second wake-up, which must not come."""
    threading.Event().wait(seconds)


def test_a_window_scheduled_twice_wakes_the_engine_once(
    schedulers: list[ReleaseScheduler], redis_server: RedisServer, registry: Registry
) -> None:
    work = Recorder()
    scheduler = make(schedulers, redis_server, registry, work)
    scheduler.start()
    action = OpenWindow(step=0, index=0, ends_at=soon())
    scheduler.schedule(release(), action)
    scheduler.schedule(release(), action)
    wait_until(lambda: bool(work.calls), timeout_s=5, what="the wake-up")
    settle()
    assert work.calls == [("window", ("fop-gate#1", 0, 0))]


def test_jobs_are_kept_in_redis_and_run_by_a_scheduler_started_later(
    schedulers: list[ReleaseScheduler], redis_server: RedisServer, registry: Registry
) -> None:
    writer = job_writer(redis_url=redis_server.url, registry=registry)  # the CLI's
    schedulers.append(writer)
    writer.schedule(release(), OpenWindow(step=0, index=0, ends_at=soon(0.1)))
    settle(0.4)
    work = Recorder()
    make(schedulers, redis_server, registry, work).start()
    wait_until(lambda: bool(work.calls), timeout_s=5, what="the wake-up")
    assert work.calls == [("window", ("fop-gate#1", 0, 0))]
    assert writer.leading is False


def test_an_approval_request_schedules_its_deadline_and_a_reminder_halfway(
    schedulers: list[ReleaseScheduler], redis_server: RedisServer, registry: Registry
) -> None:
    work = Recorder()
    scheduler = make(schedulers, redis_server, registry, work)
    scheduler.start()
    asking = replace(
        release(), plan=replace(release().plan, approval_deadline=timedelta(seconds=1))
    )
    scheduler.schedule(asking, RequestApproval(step=0, deadline_at=soon(1.0), reason="passed"))
    wait_until(lambda: len(work.calls) == 2, timeout_s=5, what="the reminder and the deadline")
    assert work.kinds() == ["remind", "deadline"]


def test_a_window_that_ended_while_no_replica_ran_is_judged_when_one_leads(
    schedulers: list[ReleaseScheduler], redis_server: RedisServer, registry: Registry
) -> None:
    ended = datetime.now(UTC) - timedelta(minutes=5)
    observing = replace(
        release(),
        phase=Phase.OBSERVING,
        window=Window(step=0, index=1, started_at=ended - timedelta(minutes=10), ends_at=ended),
    )
    finished = replace(release(), id="fop-gate#0", phase=Phase.PROMOTED)
    work = Recorder()
    scheduler = ReleaseScheduler(
        redis_url=redis_server.url,
        work=work,
        registry=registry,
        lease=None,
        interval_s=0.1,
        live=lambda: [observing, finished],
    )
    schedulers.append(scheduler)
    scheduler.start()
    wait_until(lambda: bool(work.calls), timeout_s=5, what="the wake-up")
    settle()
    assert work.calls == [("window", ("fop-gate#1", 0, 1))]


def test_reconciling_adds_only_what_is_missing_and_no_reminder_past_its_time() -> None:
    due = datetime(2026, 11, 22, 14, 30, tzinfo=UTC)
    asking = replace(release(), phase=Phase.AWAITING_APPROVAL, approval_deadline_at=due)
    [action] = pending_actions(asking)
    assert isinstance(action, RequestApproval)
    assert deadline_job_id(asking.id, action) != reminder_job_id(asking.id, action)
    assert pending_actions(replace(release(), phase=Phase.PROMOTED)) == []


def test_reconcile_schedules_a_lost_window_once_and_skips_a_late_reminder(
    schedulers: list[ReleaseScheduler], redis_server: RedisServer, registry: Registry
) -> None:
    later = datetime.now(UTC) + timedelta(hours=1)
    observing = replace(
        release(),
        phase=Phase.OBSERVING,
        window=Window(step=0, index=0, started_at=later - timedelta(minutes=10), ends_at=later),
    )
    # Asked 50 minutes ago with a 1-hour deadline: the reminder (at 30 minutes) is past.
    asking = replace(
        release(),
        id="checkout#1",
        service="checkout",
        phase=Phase.AWAITING_APPROVAL,
        plan=replace(release().plan, approval_deadline=timedelta(hours=1)),
        approval_deadline_at=datetime.now(UTC) + timedelta(minutes=10),
    )
    scheduler = make(schedulers, redis_server, registry, Recorder())
    scheduler.start(compete=False)
    first = scheduler.reconcile([observing, asking])
    again = scheduler.reconcile([observing, asking])
    window = OpenWindow(0, 0, later)
    [approval] = pending_actions(asking)
    assert isinstance(approval, RequestApproval)
    jobs = scheduler.job_ids()
    assert window_job_id(observing.id, window) in jobs
    assert deadline_job_id(asking.id, approval) in jobs
    assert reminder_job_id(asking.id, approval) not in jobs
    nightlies = [job for job in jobs if job.startswith("nightly:")]
    assert first == 2 + len(nightlies)
    assert again == 0


class Blocking(Recorder):
    """A recorder whose window jobs wait until `release` is set, as a slow judge would."""

    def __init__(self) -> None:
        super().__init__()
        self.running, self.release = threading.Event(), threading.Event()

    def close_window(self, release_id: str, *, step: int, index: int) -> object:
        self.running.set()
        self.release.wait(10)
        return super().close_window(release_id, step=step, index=index)


def test_reconciling_while_a_window_is_being_judged_does_not_queue_it_again(
    schedulers: list[ReleaseScheduler],
    redis_server: RedisServer,
    registry: Registry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    work = Blocking()
    scheduler = make(schedulers, redis_server, registry, work)
    scheduler.start()
    ends = soon(0.2)
    observing = replace(
        release(),
        phase=Phase.OBSERVING,
        window=Window(step=0, index=0, started_at=ends - timedelta(seconds=30), ends_at=ends),
    )
    job_id = window_job_id(observing.id, OpenWindow(0, 0, ends))
    scheduler.schedule(observing, OpenWindow(0, 0, ends))
    assert work.running.wait(5)
    # The job leaves the store once handed to a thread, while the release still shows the
    # window open: its verdict is not committed yet.
    wait_until(lambda: job_id not in scheduler.job_ids(), timeout_s=5, what="the job to leave")
    added = scheduler.reconcile([observing])  # the nightlies were synced on taking the lead
    settle()
    work.release.set()
    wait_until(lambda: bool(work.calls), timeout_s=5, what="the wake-up")
    settle()
    assert added == 0
    assert work.kinds() == ["window"]
    assert "maximum number of running instances" not in caplog.text


def test_a_service_with_a_nightly_schedule_gets_one_cron_job(
    schedulers: list[ReleaseScheduler], redis_server: RedisServer, registry: Registry
) -> None:
    nightly = [name for name, spec in registry.services.items() if spec.nightly is not None]
    assert nightly, "the example services file should have a nightly schedule"
    scheduler = make(schedulers, redis_server, registry, Recorder())
    scheduler.start(compete=False)
    scheduler.sync_nightlies()
    scheduler.sync_nightlies()
    jobs = scheduler.job_ids()
    assert [job for job in jobs if job.startswith("nightly:")] == sorted(
        nightly_job_id(name) for name in nightly
    )


def test_a_planned_release_runs_at_its_time_with_who_asked(
    schedulers: list[ReleaseScheduler], redis_server: RedisServer, registry: Registry
) -> None:
    work = Recorder()
    scheduler = make(schedulers, redis_server, registry, work)
    scheduler.start()
    at = soon(0.3).replace(microsecond=0) + timedelta(seconds=1)
    planned = PlannedRelease(
        "fop-gate", "reg/fop-gate:2", at, ALICE, f"fop-gate:{int(at.timestamp())}"
    )
    scheduler.plan(planned)
    wait_until(lambda: bool(work.calls), timeout_s=5, what="the planned release")
    assert work.calls == [("planned", (planned,))]


def test_a_failing_job_does_not_stop_later_ones(
    schedulers: list[ReleaseScheduler], redis_server: RedisServer, registry: Registry
) -> None:
    work = Recorder(fail_on="window")
    scheduler = make(schedulers, redis_server, registry, work)
    scheduler.start()
    scheduler.schedule(release(), OpenWindow(step=0, index=0, ends_at=soon(0.1)))
    scheduler.schedule(release(), OpenWindow(step=0, index=1, ends_at=soon(0.4)))
    wait_until(lambda: len(work.calls) == 2, timeout_s=5, what="both wake-ups")
    assert [args[2] for _, args in work.calls] == [0, 1]


def test_only_the_leader_runs_jobs_and_another_takes_over_when_it_stops(
    schedulers: list[ReleaseScheduler],
    redis_server: RedisServer,
    redis_client: redis.Redis,
    registry: Registry,
) -> None:
    first_work, second_work = Recorder(), Recorder()
    first = make(
        schedulers, redis_server, registry, first_work, lease=LeaderLease(redis_client, ttl_s=1.0)
    )
    second = make(
        schedulers, redis_server, registry, second_work, lease=LeaderLease(redis_client, ttl_s=1.0)
    )
    first.start()
    wait_until(lambda: first.leading, timeout_s=5, what="the first to lead")
    second.start()
    settle(0.5)
    assert not second.leading
    second.schedule(release(), OpenWindow(step=0, index=0, ends_at=soon(0.2)))  # a follower adds
    wait_until(lambda: bool(first_work.calls), timeout_s=5, what="the leader's wake-up")

    first.shutdown()  # gives up its lease: the other leads at its next renewal
    wait_until(lambda: second.leading, timeout_s=5, what="the second to lead")
    second.schedule(release(), OpenWindow(step=0, index=1, ends_at=soon(0.2)))
    wait_until(lambda: bool(second_work.calls), timeout_s=5, what="the new leader's wake-up")
    settle()
    assert first_work.calls == [("window", ("fop-gate#1", 0, 0))]
    assert second_work.calls == [("window", ("fop-gate#1", 0, 1))]
