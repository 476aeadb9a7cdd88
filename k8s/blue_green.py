"""Seeds 001 and 002: blue-green by switching a Service's `version` selector.

The new version comes up next to the live one in `<deployment>-<version>` and takes no traffic
(an optional preview Service reaches it alone) until promotion switches the Service's selector
to it. The old version keeps running for a grace period (annotated with when it may go), so
undo is switching the selector back.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from k8s.cluster import Cluster, Obj
from k8s.errors import InvalidError, NotFoundError
from k8s.resources import DEPLOYMENTS, SERVICES
from k8s.rollouts import (
    health_of,
    pause_deployment,
    rollout_complete,
    workload_of,
)
from k8s.strategy import annotations_of, expect_image
from k8s.types import Health, ReleaseStatus, Revision
from k8s.versions import (
    PREVIOUS_VERSION,
    bring_up,
    deployment_with_labels,
    versions_history,
)

RETIRE_AFTER = "canarybot.io/retire-after"  # when the old version may be deleted


@dataclass(frozen=True)
class BlueGreenStrategy:
    """Release a new version beside the live one; promote by switching the Service."""

    cluster: Cluster
    namespace: str
    deployment: str
    service: str
    version_label: str = "version"
    preview_service: str | None = None
    container: str | None = None
    grace_period: timedelta = timedelta(minutes=10)
    timeout_s: float = 600.0

    def start(self, image: str) -> None:
        """Bring the new version up beside the live one, and open its preview."""
        live_version, live = self._live()
        version = bring_up(
            self.cluster,
            self.namespace,
            live=live,
            live_version=live_version,
            base=self.deployment,
            image=image,
            version_label=self.version_label,
            container=self.container,
            timeout_s=self.timeout_s,
        )
        if self.preview_service:
            self._preview(version)

    def set_step(self, step: int) -> None:
        """Blue-green has one step: the new version is up; promotion switches traffic."""

    def status(self) -> ReleaseStatus:
        """The new version's pods, and whether the Service points at it yet."""
        live_version, live = self._live()
        new = self._new()
        stable = workload_of(live, self.container)
        if new is None:
            return ReleaseStatus(
                Health.READY,
                f"{self.service} serves {live_version} ({stable.ready}/{stable.replicas} ready)",
                stable=stable,
            )
        canary = workload_of(new, self.container)
        switched = new["metadata"]["name"] == live["metadata"]["name"]
        share = 1.0 if switched else 0.0
        line = (
            f"{canary.name} {canary.ready}/{canary.replicas} ready on {canary.image}; "
            f"{self.service} serves {live_version}"
        )
        health, message = health_of(
            self.cluster, self.namespace, new, line=line, in_place=rollout_complete(new)
        )
        return ReleaseStatus(health, message, stable, canary, share)

    def pause(self) -> None:
        """Hold the new version's rollout."""
        if (new := self._new()) is not None:
            pause_deployment(self.cluster, self.namespace, new["metadata"]["name"], paused=True)

    def resume(self) -> None:
        """Let the new version's rollout go on."""
        if (new := self._new()) is not None:
            pause_deployment(self.cluster, self.namespace, new["metadata"]["name"], paused=False)

    def promote(self) -> None:
        """Switch the Service to the new version; the old one stays for the grace period."""
        new = self._require_new()
        expect_image(new, workload_of(new, self.container).image)
        _old_version, old = self._live()
        version = new["spec"]["template"]["metadata"]["labels"][self.version_label]
        self._select(self.service, version)
        retire_at = datetime.now(UTC) + self.grace_period
        self.cluster.modify(
            DEPLOYMENTS,
            self.namespace,
            old["metadata"]["name"],
            lambda d: _note(d, RETIRE_AFTER, f"{retire_at:%Y-%m-%dT%H:%M:%SZ}"),
        )
        self._close_preview()

    def undo(self, to_revision: int | None = None) -> None:
        """Point the Service back at the old version and remove the new one."""
        new = self._new()
        if new is None:
            self._close_preview()
            return
        previous = annotations_of(new).get(PREVIOUS_VERSION)
        if previous:
            self._select(self.service, previous)
        self._close_preview()
        self.cluster.delete(DEPLOYMENTS, self.namespace, new["metadata"]["name"])

    def history(self) -> list[Revision]:
        """The versions present, oldest first."""
        live_version, _ = self._live()
        return versions_history(
            self.cluster.select(DEPLOYMENTS, self.namespace),
            version_label=self.version_label,
            live_version=live_version,
            container=self.container,
        )

    # --- pieces ------------------------------------------------------------------------------

    def _live(self) -> tuple[str, Obj]:
        """The version the Service selects, and the Deployment running it."""
        selector = self.cluster.get(SERVICES, self.namespace, self.service)["spec"]["selector"]
        version = selector.get(self.version_label)
        if not version:
            raise InvalidError(f"Service {self.service} does not select by {self.version_label!r}")
        live = deployment_with_labels(self.cluster, self.namespace, selector)
        if live is None:
            raise NotFoundError(f"no Deployment runs the pods Service {self.service} selects")
        return str(version), live

    def _new(self) -> Obj | None:
        """The newest release-made version (it carries the release's annotations), if any."""
        made = [
            d
            for d in self.cluster.select(DEPLOYMENTS, self.namespace)
            if d["metadata"]["name"].startswith(f"{self.deployment}-")
            and PREVIOUS_VERSION in annotations_of(d)
            and RETIRE_AFTER not in annotations_of(d)
        ]
        made.sort(key=lambda d: str(d["metadata"].get("creationTimestamp", "")))
        return made[-1] if made else None

    def _require_new(self) -> Obj:
        new = self._new()
        if new is None:
            raise NotFoundError(f"no new version of {self.deployment} is running")
        return new

    def _select(self, service: str, version: str) -> None:
        def point(svc: Obj) -> bool:
            if svc["spec"]["selector"].get(self.version_label) == version:
                return False
            svc["spec"]["selector"][self.version_label] = version
            return True

        self.cluster.modify(SERVICES, self.namespace, service, point)

    def _preview(self, version: str) -> None:
        assert self.preview_service is not None
        main = self.cluster.get(SERVICES, self.namespace, self.service)
        selector = {**main["spec"]["selector"], self.version_label: version}
        if self.cluster.find(SERVICES, self.namespace, self.preview_service) is not None:
            self._select(self.preview_service, version)
            return
        ports = [
            {k: p[k] for k in ("name", "port", "targetPort", "protocol") if k in p}
            for p in main["spec"].get("ports", [])
        ]
        self.cluster.create(
            SERVICES,
            self.namespace,
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {
                    "name": self.preview_service,
                    "namespace": self.namespace,
                    "labels": {"app.kubernetes.io/managed-by": "canarybot"},
                },
                "spec": {"selector": selector, "ports": ports},
            },
        )

    def _close_preview(self) -> None:
        if self.preview_service:
            self.cluster.delete(SERVICES, self.namespace, self.preview_service)


def _note(obj: Obj, key: str, value: str) -> bool:
    if annotations_of(obj).get(key) == value:
        return False
    annotations_of(obj)[key] = value
    return True
