"""Shared fixtures: real servers on loopback, started once and cleaned between tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from bot.store import ReleaseStore
from sim.traffic import TrafficApp
from tests.servers import PrometheusServer, RedisServer


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """One real redis-server for the whole run."""
    server = RedisServer(data_dir=tmp_path_factory.mktemp("redis")).start()
    yield server
    server.stop()


@pytest.fixture
def redis_client(redis_server: RedisServer) -> Iterator[redis.Redis]:
    """A client on an emptied database, so tests never see each other's keys."""
    client = redis_server.client()
    client.flushall()
    yield client
    client.close()


@pytest.fixture
def store(redis_client: redis.Redis) -> ReleaseStore:
    """The release store on the real Redis."""
    return ReleaseStore(redis_client)


@pytest.fixture
def fresh_redis_dir(tmp_path: Path) -> Path:
    """A data directory of its own, for tests that start and kill their own server."""
    return tmp_path / "redis-data"


@pytest.fixture(scope="session")
def traffic_app() -> Iterator[TrafficApp]:
    """One real HTTP app serving tracks of services; tests add services of their own names."""
    with TrafficApp() as app:
        yield app


@pytest.fixture(scope="session")
def prometheus_server(
    traffic_app: TrafficApp, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PrometheusServer]:
    """One real Prometheus scraping `traffic_app` every second, for the whole run.

    Started once: its first scrape comes only after ~5 s, when its scrape manager first syncs.
    """
    server = PrometheusServer(
        data_dir=tmp_path_factory.mktemp("prometheus"),
        targets=(f"127.0.0.1:{traffic_app.port}",),
    )
    try:
        yield server.start()
    finally:
        server.stop()
