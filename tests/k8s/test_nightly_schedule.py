"""The nightly schedule end to end in one process: services.yaml's cron line becomes a job in
Redis due at 02:00 in the service's time zone, and that job, run as the scheduler runs it at
02:00, releases the newest candidate on the simulated cluster.

APScheduler's own clock cannot be moved, so the test checks the job's next run time and then
runs the job's body the way the leader does when it comes due; the engine's clock says 02:00.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import redis

from bot.registry import parse_registry
from bot.release import SCHEDULER, Phase
from bot.scheduler import EngineWork, ReleaseScheduler, nightly_job_id
from bot.store import ReleaseStore
from tests.k8s.conftest import SimCluster
from tests.k8s.engine_rig import SERVICES, Rig, build_rig
from tests.k8s.scenarios import CANARY_DEPLOYMENT, NEW, Scenario
from tests.servers import RedisServer, wait_until

BERLIN = ZoneInfo("Europe/Berlin")
NIGHTLY = '    nightly: {cron: "0 2 * * *", timezone: Europe/Berlin}\n'
CONFIG = SERVICES.replace("  fop-gate:\n", "  fop-gate:\n" + NIGHTLY, 1)


@pytest.fixture
def rig(
    scenario_cluster: Callable[[Scenario], SimCluster],
    store: ReleaseStore,
    redis_client: redis.Redis,
) -> Rig:
    """fop-gate with a nightly release at 02:00 Berlin time."""
    return build_rig(scenario_cluster(CANARY_DEPLOYMENT), store, redis_client, config=CONFIG)


@pytest.fixture
def scheduler(rig: Rig, redis_server: RedisServer) -> Iterator[ReleaseScheduler]:
    """The leading scheduler of one replica, on the rig's engine."""
    made = ReleaseScheduler(
        redis_url=redis_server.url,
        work=EngineWork(rig.engine),
        registry=parse_registry(CONFIG),
        lease=None,
    )
    made.start()
    yield made
    made.shutdown()


def next_two_oclock(after: datetime) -> datetime:
    """The first 02:00 Berlin time after `after`."""
    local = after.astimezone(BERLIN)
    two = local.replace(hour=2, minute=0, second=0, microsecond=0)
    return two if two > local else (two + timedelta(days=1)).replace(hour=2)


def test_the_nightly_job_is_due_at_two_in_the_services_time_zone(
    scheduler: ReleaseScheduler,
) -> None:
    job_id = nightly_job_id("fop-gate")
    # The new leader schedules the nightlies as it takes over, beside renewing its lease.
    wait_until(lambda: scheduler.next_run(job_id) is not None, timeout_s=5, what="the job")
    assert scheduler.next_run(job_id) == next_two_oclock(datetime.now(UTC))


def test_the_nightly_at_two_releases_the_newest_candidate(
    rig: Rig, scheduler: ReleaseScheduler
) -> None:
    rig.clock.now = datetime(2026, 11, 23, 2, 0, tzinfo=BERLIN)
    rig.candidates.record("fop-gate", NEW, by="ci", at=rig.clock.now - timedelta(hours=6))

    scheduler.run("nightly", "fop-gate")  # what the leader does when the job comes due

    live = rig.store.live_release("fop-gate")
    assert live is not None
    assert (live.image, live.requested_by, live.phase) == (NEW, SCHEDULER, Phase.OBSERVING)
    canary = "{.spec.template.spec.containers[0].image}"
    assert rig.cluster.jsonpath("deployment/fop-gate-canary", canary) == NEW
    assert rig.said.announced == []
