"""Every Redis key canarybot uses, in one place.

One prefix, one function a key family, so that a `SCAN canarybot:*` shows everything the bot
owns and nothing else ever writes there.
"""

PREFIX = "canarybot"


def release(release_id: str) -> str:
    """The release record (JSON) with its compare-and-set version inside."""
    return f"{PREFIX}:release:{release_id}"


def release_seq(service: str) -> str:
    """Counter that numbers a service's releases: fop-gate#1, fop-gate#2, …"""
    return f"{PREFIX}:seq:{service}"


def live_lock(service: str) -> str:
    """The service's live-release lock; its value is the holding release's id."""
    return f"{PREFIX}:live:{service}"


def live_index() -> str:
    """Set of the ids of all live releases, for listing and for the scheduler's recovery."""
    return f"{PREFIX}:live-releases"


def history(service: str) -> str:
    """List of a service's release ids, newest first."""
    return f"{PREFIX}:history:{service}"


def release_audit(release_id: str) -> str:
    """Append-only audit stream of one release."""
    return f"{PREFIX}:audit:release:{release_id}"


def service_audit(service: str) -> str:
    """Append-only audit stream of one service, including refused starts that made no release."""
    return f"{PREFIX}:audit:service:{service}"


def idempotency(key: str) -> str:
    """The remembered outcome of a request, so that a retry of it is applied once."""
    return f"{PREFIX}:idem:{key}"


def slack_thread(release_id: str) -> str:
    """Where a release's thread is: its channel id and the card's ts (JSON)."""
    return f"{PREFIX}:slack-thread:{release_id}"


def work_queue() -> str:
    """List of acknowledged requests waiting for a worker (JSON jobs, oldest at the right)."""
    return f"{PREFIX}:work:queue"


def work_taken(worker_id: str) -> str:
    """List of the jobs one worker has taken and not yet finished."""
    return f"{PREFIX}:work:taken:{worker_id}"


def work_alive(worker_id: str) -> str:
    """A worker's heartbeat; when it lapses, the worker's taken jobs go back on the queue."""
    return f"{PREFIX}:work:alive:{worker_id}"


def work_done() -> str:
    """Counter of jobs finished by any worker."""
    return f"{PREFIX}:work:done"


# --- the scheduler and its leader ---------------------------------------------------------------


def scheduler_jobs() -> str:
    """APScheduler's RedisJobStore hash of scheduled jobs (window ends, deadlines, nightlies)."""
    return f"{PREFIX}:scheduler:jobs"


def scheduler_run_times() -> str:
    """APScheduler's RedisJobStore sorted set of the jobs' next run times."""
    return f"{PREFIX}:scheduler:run-times"


def leader_lease() -> str:
    """The scheduler leader's lease (SET NX PX): its value names the holder and its token."""
    return f"{PREFIX}:leader:lease"


def leader_fence() -> str:
    """Counter that gives every new lease a larger fencing token."""
    return f"{PREFIX}:leader:fence"


# --- freezes and release candidates -------------------------------------------------------------


def service_freeze(service: str) -> str:
    """A service's ad-hoc freeze (JSON), set by `/canary freeze SERVICE`; expires with it."""
    return f"{PREFIX}:freeze:service:{service}"


def global_freeze() -> str:
    """The ad-hoc freeze of every service (JSON), set by `/canary freeze`; expires with it."""
    return f"{PREFIX}:freeze:all"


def candidates(service: str) -> str:
    """Sorted set of a service's release candidates (images), scored by when CI recorded them."""
    return f"{PREFIX}:candidates:{service}"


def candidate_records(service: str) -> str:
    """Hash of a service's release candidates: image → who recorded it, when, when released."""
    return f"{PREFIX}:candidate-records:{service}"


def pending_report(idempotency_key: str) -> str:
    """A judged window's report, held from before its verdict is committed until it is posted."""
    return f"{PREFIX}:pending-report:{idempotency_key}"
