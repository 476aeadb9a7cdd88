"""Wakes the engine when something is due: a window's end, an approval deadline, a nightly.

Jobs live in Redis (APScheduler's RedisJobStore), so every replica sees them and a restart
forgets none. Every replica runs a scheduler, started *paused*: it can add jobs (the replica
that deploys a step schedules that step's window) but runs none. Only the replica holding the
leader lease (:mod:`bot.leader`) resumes its scheduler and runs what is due, each job inside the
lease's fence. APScheduler does not notice jobs another process added, so the leader wakes its
scheduler every `interval_s`; and since a date job leaves the store as soon as it is handed to a
thread, the leader also *reconciles* when it starts leading and every `reconcile_s`: for each
live release it schedules again whatever the stored release says is pending (an open window, an
approval deadline and its reminder), and a nightly job for each service with a schedule.

The scheduler only wakes; the engine decides from the stored release whether the thing is still
due (:meth:`bot.engine.Engine.close_window` refuses a window that was already judged). Job ids
are fixed per release, step, window and due time, so scheduling one twice keeps one job, and a
late, repeated or concurrent wake-up changes nothing.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any, Protocol, cast

import redis
from apscheduler.events import (
    EVENT_JOB_ERROR,
    EVENT_JOB_EXECUTED,
    EVENT_JOB_MISSED,
    EVENT_JOB_SUBMITTED,
    JobEvent,
    JobSubmissionEvent,
)
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.redis import RedisJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger

from bot import keys
from bot.actions import OpenWindow, PlannedRelease, RequestApproval
from bot.engine import Engine
from bot.leader import Fence, FencedOut, LeaderLease, Leadership, fenced
from bot.registry import Registry
from bot.release import SCHEDULER, Actor, Door, EventKind, Phase, Release

log = logging.getLogger(__name__)

NIGHTLY_GRACE_S = 3600  # a nightly missed by more than this (the bot was down) waits a day
JOB_FUNCTION = "bot.scheduler:run_job"  # what the job store records: importable by any replica


class ScheduledWork(Protocol):
    """What the scheduler's jobs ask of the engine; each call decides from the stored state."""

    def close_window(self, release_id: str, *, step: int, index: int) -> object:
        """Judge that window, if it is still open."""

    def approval_deadline(self, release_id: str, *, step: int) -> object:
        """Take the service's default action, if that approval is still unanswered."""

    def remind_approval(self, release_id: str, *, step: int) -> object:
        """Remind on-call, if that approval is still unanswered."""

    def run_nightly(self, service: str) -> object:
        """Release the service's newest candidate, or say why not."""

    def run_planned(self, planned: PlannedRelease) -> object:
        """Start a release someone scheduled for now, or say why not."""

    def post_held_reports(self) -> object:
        """Post the window summaries a dead leader committed and did not post."""


# --- job ids: one per thing that is due, so that scheduling it again keeps one job ----------


def window_job_id(release_id: str, action: OpenWindow) -> str:
    """The one job that judges this window; an extended window gets a new end, so a new id."""
    return f"window:{release_id}:{action.step}:{action.index}:{action.ends_at.timestamp():.0f}"


def deadline_job_id(release_id: str, action: RequestApproval) -> str:
    """The one job that acts when this approval request runs out."""
    return f"deadline:{release_id}:{action.step}:{action.deadline_at.timestamp():.0f}"


def reminder_job_id(release_id: str, action: RequestApproval) -> str:
    """The one job that reminds on-call halfway to this approval request's deadline."""
    return f"remind:{release_id}:{action.step}:{action.deadline_at.timestamp():.0f}"


def nightly_job_id(service: str) -> str:
    """The service's nightly release job."""
    return f"nightly:{service}"


def planned_job_id(planned: PlannedRelease) -> str:
    """A one-off release someone scheduled."""
    return f"planned:{planned.id}"


def reminder_at(release: Release, action: RequestApproval) -> datetime:
    """Halfway between asking and the deadline."""
    return action.deadline_at - release.plan.approval_deadline / 2


def pending_actions(release: Release) -> list[OpenWindow | RequestApproval]:
    """What the stored `release` is waiting for: its open window or its approval deadline.

    Purely computational, no side effects.
    """
    window = release.window
    if release.phase is Phase.OBSERVING and window is not None:
        return [OpenWindow(window.step, window.index, window.ends_at)]
    due = release.approval_deadline_at
    if release.phase is Phase.AWAITING_APPROVAL and due is not None:
        return [RequestApproval(release.step, due, release.reason)]
    return []


# --- the job every replica can run: it finds this process's scheduler -----------------------

# The schedulers running in this process: one in production, two in a test of replicas.
_running: list[ReleaseScheduler] = []


def run_job(kind: str, *args: Any) -> None:
    """A job's body, as the job store names it: hand it to the scheduler that leads here."""
    for scheduler in list(_running):
        if scheduler.leading:
            scheduler.run(kind, *args)
            return
    log.warning("job %s%s came due with no leading scheduler here; left to the leader", kind, args)


class ReleaseScheduler:
    """One replica's scheduler: adds jobs always, runs them only while it leads."""

    def __init__(
        self,
        *,
        redis_url: str,
        work: ScheduledWork,
        registry: Registry,
        lease: LeaderLease | None,
        interval_s: float = 1.0,
        reconcile_s: float = 30.0,
        threads: int = 20,
        live: Callable[[], Iterable[Release]] = lambda: (),
    ) -> None:
        """Keep jobs in the Redis at `redis_url`; run them against `work` while `lease` is held.

        `live()` lists the live releases to reconcile; without a `lease` (tests, one replica by
        design) this replica always leads.
        """
        self._pool = redis.ConnectionPool.from_url(redis_url)
        store = RedisJobStore(
            jobs_key=keys.scheduler_jobs(),
            run_times_key=keys.scheduler_run_times(),
            connection_pool=self._pool,
        )
        self._scheduler = BackgroundScheduler(
            jobstores={"default": store},
            executors={"default": ThreadPoolExecutor(threads)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
            timezone=UTC,
        )
        self._work = work
        self._registry = registry
        self._lease = lease
        self._interval_s = interval_s
        self._reconcile_s = reconcile_s
        self._live = live
        self._lock = threading.Lock()  # leading, the fence and pausing change together
        self._leading = False
        self._fence: Fence | None = None  # the lease's, while leading with one
        self._leadership: Leadership | None = None
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None
        # Jobs handed to a thread and not done: their ids have left the store, but reconciling
        # must not add them again (APScheduler would skip the copy, with a warning).
        self._busy: set[str] = set()
        self._busy_lock = threading.Lock()
        self._scheduler.add_listener(self._job_started, EVENT_JOB_SUBMITTED)
        done = EVENT_JOB_EXECUTED | EVENT_JOB_ERROR | EVENT_JOB_MISSED
        self._scheduler.add_listener(self._job_ended, done)

    def _job_started(self, event: JobSubmissionEvent) -> None:
        with self._busy_lock:
            self._busy.add(event.job_id)

    def _job_ended(self, event: JobEvent) -> None:
        with self._busy_lock:
            self._busy.discard(event.job_id)

    @property
    def leading(self) -> bool:
        """Whether this replica runs the jobs now."""
        return self._leading

    # --- life -----------------------------------------------------------------------------------

    def start(self, stop: threading.Event | None = None, *, compete: bool = True) -> None:
        """Start paused; compete for the lease (or lead at once without one) until `stop`.

        With `compete` false the scheduler only adds jobs, for a leader elsewhere to run: what
        a one-off command (the CLI) needs.
        """
        self._stop = stop or threading.Event()
        self._scheduler.start(paused=True)
        if not compete:
            return
        _running.append(self)
        if self._lease is None:
            self._lead(None)
        else:
            self._leadership = Leadership(self._lease, on_lead=self._lead, on_follow=self._follow)
            self._leadership.start(self._stop)
        self._ticker = threading.Thread(target=self._tick, name="canarybot-wakeup", daemon=True)
        self._ticker.start()

    def shutdown(self) -> None:
        """Stop running jobs and give up the lease; jobs stay in Redis for the next leader."""
        self._stop.set()
        if self._leadership is not None:
            self._leadership.join()
        self._follow()
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)
        # Again, now that the scheduler's thread has ended: one still looking for due jobs
        # when the store disconnected has connected afresh.
        self._pool.disconnect()
        if self in _running:
            _running.remove(self)

    def _lead(self, fence: Fence | None) -> None:
        with self._lock:
            self._leading, self._fence = True, fence
        # Taking over can take a while (posting what a dead leader left): not in the lease's
        # thread, which must go on renewing meanwhile.
        threading.Thread(
            target=self._take_over, args=(fence,), name="canarybot-take-over", daemon=True
        ).start()

    def _take_over(self, fence: Fence | None) -> None:
        """Schedule again what the releases wait for, post what a dead leader left, then run.

        The held reports are posted before this replica runs a job, so none of them can be
        one its own job is about to post.
        """
        try:
            self.reconcile()
            with fenced(fence) if fence is not None else contextlib.nullcontext():
                self._work.post_held_reports()
        except Exception:  # Redis away, or the lease lost meanwhile: the next leader retries
            log.exception("taking over the scheduler failed")
        with self._lock:
            if self._leading and self._fence is fence:
                self._scheduler.resume()
                log.info("running scheduled jobs (token %s)", fence.token if fence else "-")

    def _follow(self) -> None:
        with self._lock:
            if self._leading:
                self._leading, self._fence = False, None
                if self._scheduler.running:
                    self._scheduler.pause()
                log.info("no longer running scheduled jobs")

    def _tick(self) -> None:
        """While leading: look for jobs other replicas added, and reconcile now and then."""
        since_reconcile = 0.0
        while not self._stop.wait(self._interval_s):
            if not self.leading:
                continue
            try:
                since_reconcile += self._interval_s
                if since_reconcile >= self._reconcile_s:
                    since_reconcile = 0.0
                    self.reconcile()
                self._scheduler.wakeup()
            except Exception:  # Redis away: the next tick tries again
                log.exception("the scheduler's wake-up failed")

    # --- adding jobs (any replica) ------------------------------------------------------------

    def schedule(self, release: Release, action: OpenWindow | RequestApproval) -> None:
        """The engine's hook: wake it at a window's end, or at an approval's reminder and
        deadline."""
        for job_id, at, args in _jobs_for(release, action):
            self._add(job_id, at, *args)

    def plan(self, planned: PlannedRelease) -> None:
        """The engine's hook for `/canary SERVICE schedule …`: start it at its time."""
        actor = planned.requested_by
        args = (planned.service, planned.image, planned.at.timestamp())
        self._add(planned_job_id(planned), planned.at, "planned", *args, *_actor_args(actor))

    def reconcile(self, releases: Iterable[Release] | None = None) -> int:
        """Schedule again what the live releases wait for, and the nightlies; the count added."""
        added, now = 0, datetime.now(UTC)
        for release in self._live() if releases is None else releases:
            for action in pending_actions(release):
                for job_id, at, args in _jobs_for(release, action):
                    # A reminder whose time has passed ran already, or is no use now.
                    late_reminder = args[0] == "remind" and at <= now
                    with self._busy_lock:
                        busy = job_id in self._busy
                    if not late_reminder and not busy and self._scheduler.get_job(job_id) is None:
                        self._add(job_id, at, *args)
                        added += 1
        return added + self.sync_nightlies()

    def sync_nightlies(self) -> int:
        """One cron job a service with a nightly schedule, none for others; the count changed."""
        wanted: dict[str, CronTrigger] = {}
        for name, spec in self._registry.services.items():
            if spec.nightly is not None:
                wanted[nightly_job_id(name)] = spec.nightly.trigger()
        changed = 0
        for job in self._scheduler.get_jobs():
            if job.id.startswith("nightly:") and job.id not in wanted:
                job.remove()
                changed += 1
        for job_id, trigger in wanted.items():
            job = self._scheduler.get_job(job_id)
            if job is not None and str(job.trigger) == str(trigger):
                continue  # replacing it would move its next run
            self._scheduler.add_job(
                JOB_FUNCTION,
                trigger=trigger,
                args=("nightly", job_id.removeprefix("nightly:")),
                id=job_id,
                replace_existing=True,
                misfire_grace_time=NIGHTLY_GRACE_S,
            )
            changed += 1
        return changed

    def next_run(self, job_id: str) -> datetime | None:
        """When the job `job_id` runs next; None if there is no such job."""
        job = self._scheduler.get_job(job_id)
        return None if job is None else cast(datetime | None, job.next_run_time)

    def job_ids(self) -> list[str]:
        """Every scheduled job's id (for tests and `canarybot` diagnostics)."""
        return sorted(job.id for job in self._scheduler.get_jobs())

    def _add(self, job_id: str, at: datetime, *args: Any) -> None:
        self._scheduler.add_job(
            JOB_FUNCTION, trigger="date", run_date=at, args=args, id=job_id, replace_existing=True
        )

    # --- running jobs (the leader) ------------------------------------------------------------

    def run(self, kind: str, *args: Any) -> None:
        """Run one due job inside the lease's fence; a failure is logged, never raised."""
        if not self._leading:
            log.info("job %s%s came due after this replica stopped leading", kind, args)
            return
        fence = self._fence
        try:
            with fenced(fence) if fence is not None else contextlib.nullcontext():
                self._dispatch(kind, *args)
        except FencedOut as err:
            log.warning("job %s%s not applied: %s", kind, args, err)
        except Exception:  # one bad job must not stop the others
            log.exception("scheduled job %s%s failed", kind, args)

    def _dispatch(self, kind: str, *args: Any) -> None:
        match (kind, *args):
            case ("window", str(release_id), int(step), int(index)):
                self._work.close_window(release_id, step=step, index=index)
            case ("deadline", str(release_id), int(step)):
                self._work.approval_deadline(release_id, step=step)
            case ("remind", str(release_id), int(step)):
                self._work.remind_approval(release_id, step=step)
            case ("nightly", str(service)):
                self._work.run_nightly(service)
            case ("planned", str(service), str(image), float(at), str(uid), str(name), str(door)):
                when = datetime.fromtimestamp(at, UTC)
                actor = Actor(uid, name, Door(door))
                planned = PlannedRelease(service, image, when, actor, f"{service}:{int(at)}")
                self._work.run_planned(planned)
            case _:
                log.error("unknown scheduled job %s%s: dropped", kind, args)


def _jobs_for(
    release: Release, action: OpenWindow | RequestApproval
) -> list[tuple[str, datetime, tuple[Any, ...]]]:
    """The jobs (id, when, job arguments) that wake the engine for `action`."""
    if isinstance(action, OpenWindow):
        args = ("window", release.id, action.step, action.index)
        return [(window_job_id(release.id, action), action.ends_at, args)]
    return [
        (
            deadline_job_id(release.id, action),
            action.deadline_at,
            ("deadline", release.id, action.step),
        ),
        (
            reminder_job_id(release.id, action),
            reminder_at(release, action),
            ("remind", release.id, action.step),
        ),
    ]


def _actor_args(actor: Actor) -> tuple[str, str, str]:
    return actor.id, actor.name, actor.door.value


def job_writer(*, redis_url: str, registry: Registry) -> ReleaseScheduler:
    """A started scheduler that only adds jobs for the leader to run, never running one."""
    writer = ReleaseScheduler(
        redis_url=redis_url, work=_NoJobsHere(), registry=registry, lease=None
    )
    writer.start(compete=False)
    return writer


class _NoJobsHere:
    """The work of a scheduler that does not compete for the lease: it is never asked."""

    def _never(self, *_args: object, **_kwargs: object) -> object:
        raise RuntimeError("a scheduler that only adds jobs was asked to run one")

    close_window = approval_deadline = remind_approval = run_nightly = run_planned = _never
    post_held_reports = _never


class EngineWork:
    """The engine as the scheduler's jobs need it."""

    def __init__(self, engine: Engine) -> None:
        """Wake `engine`."""
        self._engine = engine

    def close_window(self, release_id: str, *, step: int, index: int) -> object:
        """Judge the window (the engine measures how late after its end it starts)."""
        return self._engine.close_window(release_id, step=step, index=index)

    def approval_deadline(self, release_id: str, *, step: int) -> object:
        """Send DEADLINE to the release (refused if it was answered meanwhile)."""
        release = self._engine.release(release_id)
        if release is None or release.approval_deadline_at is None:
            return None
        key = f"deadline:{release_id}:{step}:{release.approval_deadline_at.timestamp():.0f}"
        return self._engine.act(
            release.service,
            EventKind.DEADLINE,
            SCHEDULER,
            step=step,
            release_id=release_id,
            idempotency_key=key,
        )

    def remind_approval(self, release_id: str, *, step: int) -> object:
        """Remind on-call."""
        return self._engine.remind_approval(release_id, step=step)

    def run_nightly(self, service: str) -> object:
        """The nightly release."""
        return self._engine.run_nightly(service)

    def run_planned(self, planned: PlannedRelease) -> object:
        """A one-off release."""
        return self._engine.run_planned(planned)

    def post_held_reports(self) -> object:
        """Summaries a dead leader left."""
        return self._engine.post_held_reports()
