"""Builds the engine from settings: the one place that connects Redis, the registry and clusters.

Every front door (the CLI now, the Slack app and the scheduler later) gets its engine here.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import redis

from bot.candidates import CandidateStore
from bot.engine import Engine, EngineHooks
from bot.freeze_store import FreezeStore
from bot.pending_reports import PendingReports
from bot.registry import Registry, load_registry
from bot.rollout_strategies import ClusterPool, strategy_for
from bot.scheduler import ReleaseScheduler, job_writer
from bot.service_spec import ServiceSpec
from bot.settings import Settings
from bot.store import ReleaseStore
from bot.windows import WindowJudge
from k8s.strategy import ReleaseStrategy


def utc_now() -> datetime:
    """The engine's clock."""
    return datetime.now(UTC)


def build_engine(
    settings: Settings,
    *,
    registry_path: str | Path | None = None,
    hooks: EngineHooks | None = None,
    windows: WindowJudge | None = None,
) -> Engine:
    """An engine on the configured Redis, services file and Kubernetes API.

    Raises `RegistryError` for a bad services file; nothing connects until first used.
    """
    registry: Registry = load_registry(
        registry_path or settings.registry.path, default_window=settings.timing.default_window
    )
    client = redis.Redis.from_url(settings.redis.url, decode_responses=True)
    store = ReleaseStore(
        client, idempotency_ttl_s=int(settings.timing.idempotency_ttl.total_seconds())
    )
    pool = ClusterPool(kubeconfig=settings.kubernetes.kubeconfig)
    timeout = settings.timing.rollout_timeout

    def strategies(spec: ServiceSpec) -> ReleaseStrategy:
        return strategy_for(spec, pool.for_context(spec.context), timeout=timeout)

    return Engine(
        store=store,
        registry=registry,
        strategies=strategies,
        clock=utc_now,
        hooks=hooks,
        windows=windows,
        freezes=FreezeStore(client),
        candidates=CandidateStore(client, registry),
        reports=PendingReports(client),
    )


@contextmanager
def scheduling(
    settings: Settings, *, registry_path: str | Path | None = None
) -> Iterator[ReleaseScheduler]:
    """A scheduler that only adds jobs (window ends, deadlines, planned releases) for the
    bots' leader to run: what a one-off command such as the CLI needs. Stopped after the block.
    """
    registry = load_registry(
        registry_path or settings.registry.path, default_window=settings.timing.default_window
    )
    jobs = job_writer(redis_url=settings.redis.url, registry=registry)
    try:
        yield jobs
    finally:
        jobs.shutdown()
