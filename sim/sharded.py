"""The simulator sharded by namespace: hundreds of services behind one API endpoint.

A simulator's controllers read every object of the store on every pass, and a lone simulator
passes on every change and at least every 50 ms, so one holding hundreds of Deployments
spends a whole CPU reconciling. :class:`ShardedSim` keeps each namespace in a simulator of
its own (a shard, never started: no port, no threads of its own) and serves them all from
one endpoint, routing each request by the namespace in its path (cluster-wide requests go to
the first shard). Clients see one cluster; one thread reconciles the shards, a shard whose
objects changed at most every `min_gap_s`, any shard at least every `idle_s` (pods become
Ready, deadlines pass):

    with ShardedSim([f"team-{n:03d}" for n in range(200)]) as cluster:
        cluster.write_kubeconfig(tmp_path / "kubeconfig")
        cluster.load(manifests)  # each object goes to its namespace's shard
        ...
        calls = len(cluster.requests())
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import yaml

from sim.access import RecordedRequest
from sim.api import Request, Response
from sim.behaviour import PodBehaviour
from sim.server import Controller, SimServer, default_controllers
from sim.store import ObjectStore

log = logging.getLogger(__name__)
_NAMESPACED = re.compile(r"^/(?:api/v1|apis/[^/]+/[^/]+)/namespaces/([^/]+)")


@dataclass
class _Shard:
    """One namespace's simulator, as the reconcile loop sees it."""

    server: SimServer
    controllers: list[Controller]
    seen: str = ""  # the store's resourceVersion when the last pass began
    at: float = 0.0  # time.monotonic() when the last pass began


class _Front(SimServer):
    """The one endpoint: answers each request from the shard of the namespace it names."""

    def __init__(self, shards: dict[str, SimServer]) -> None:
        super().__init__(controllers=[])
        self.shards = shards
        self._first = next(iter(shards.values()))

    def handle(self, request: Request) -> Response:
        """Answer `request` from its namespace's shard (the first for cluster-wide ones)."""
        match = _NAMESPACED.match(request.path)
        shard = self.shards.get(match[1], self._first) if match else self._first
        return shard.handle(request)


class ShardedSim:
    """One simulator a namespace behind one endpoint on 127.0.0.1; a context manager."""

    def __init__(
        self,
        namespaces: Sequence[str],
        *,
        ready_after_s: float = 0.05,
        min_gap_s: float = 0.1,
        idle_s: float = 2.0,
    ) -> None:
        """Stopped shards, each holding its namespace; pods become Ready `ready_after_s` after
        they start."""
        if not namespaces:
            raise ValueError("a sharded simulator needs at least one namespace")
        servers = {
            namespace: SimServer(
                controllers=[], behaviour=PodBehaviour(default_ready_after_s=ready_after_s)
            )
            for namespace in namespaces
        }
        for namespace, server in servers.items():
            server.load_yaml(f"apiVersion: v1\nkind: Namespace\nmetadata: {{name: {namespace}}}\n")
        self._shards = [
            _Shard(server, default_controllers(server.store, server.behaviour))
            for server in servers.values()
        ]
        self._front = _Front(servers)
        self.url = self._front.url
        self._min_gap_s, self._idle_s = min_gap_s, idle_s
        self._stop = threading.Event()
        self._loop = threading.Thread(target=self._reconcile, name="sim-shards", daemon=True)

    def start(self) -> Self:
        """Serve, and reconcile the shards; returns self."""
        self._front.start()
        self._loop.start()
        return self

    def stop(self) -> None:
        """Stop reconciling and serving (again is harmless)."""
        self._stop.set()
        if self._loop.is_alive():
            self._loop.join(timeout=10)
        self._front.stop()
        for shard in self._shards:
            shard.server.stop()  # closes the port it bound and never served

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def store(self, namespace: str) -> ObjectStore:
        """The objects of `namespace`'s shard."""
        return self._front.shards[namespace].store

    def load(self, manifests: str) -> list[dict[str, Any]]:
        """Create the objects of a multi-document YAML, each in its namespace's shard."""
        created = []
        for document in yaml.safe_load_all(manifests):
            if document:
                namespace = (document.get("metadata") or {}).get("namespace")
                shard = self._front.shards.get(namespace or "", self._shards[0].server)
                created += shard.load_yaml(yaml.safe_dump(document))
        return created

    def requests(self) -> list[RecordedRequest]:
        """Every resource request served since `clear_requests`, shard by shard."""
        return [request for shard in self._shards for request in shard.server.requests()]

    def clear_requests(self) -> None:
        """Forget every shard's recorded requests."""
        for shard in self._shards:
            shard.server.clear_requests()

    def write_kubeconfig(self, path: Path | str, *, namespace: str = "default") -> Path:
        """A kubeconfig for the one endpoint, as :meth:`SimServer.write_kubeconfig` writes."""
        return self._front.write_kubeconfig(path, namespace=namespace)

    def _reconcile(self) -> None:
        tick = min(self._min_gap_s, self._idle_s) / 2
        while not self._stop.wait(tick):
            for shard in self._shards:
                now = time.monotonic()
                version = shard.server.store.resource_version
                if now - shard.at < (self._min_gap_s if version != shard.seen else self._idle_s):
                    continue
                # What this pass writes counts as a change: the next pass follows it up.
                shard.seen, shard.at = version, now
                for controller in shard.controllers:
                    try:
                        controller.reconcile()
                    except Exception:  # a controller bug must not stop the cluster
                        log.exception("sim shards: controller %r failed", controller)
