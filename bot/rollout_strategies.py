"""Which k8s strategy releases a service, built from its `services.yaml` entry.

The one place that knows both the registry's models and k8s/'s strategy classes; k8s/ itself
never sees the registry.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import timedelta

from bot.service_spec import ServiceSpec
from bot.strategy_specs import (
    BlueGreenSpec,
    CanaryDeploymentSpec,
    IstioSpec,
    PausedRolloutSpec,
    RollingSpec,
)
from k8s.blue_green import BlueGreenStrategy
from k8s.canary_deployment import CanaryDeploymentStrategy
from k8s.cluster import Cluster, connect
from k8s.errors import ClusterError
from k8s.istio import IstioStrategy, TrafficMatch
from k8s.paused_rollout import PausedRolloutStrategy
from k8s.rolling import RollingStrategy
from k8s.strategy import ReleaseStrategy


class ClusterPool:
    """One API connection per kube context, made on first use and shared after.

    A context that cannot be connected to (no kubeconfig, a bad one) is tried again after
    `retry_s`, not on every request: reading and parsing the kubeconfig costs milliseconds,
    and a fixed file is picked up soon enough.
    """

    def __init__(
        self,
        *,
        kubeconfig: str | None,
        retry_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Connect through `kubeconfig` (None: the default one, or in-cluster in a pod)."""
        self._kubeconfig = kubeconfig
        self._retry_s = retry_s
        self._clock = clock
        self._clusters: dict[str | None, Cluster] = {}
        self._failures: dict[str | None, tuple[float, ClusterError]] = {}
        self._lock = threading.Lock()

    def for_context(self, context: str | None) -> Cluster:
        """The connection for `context` (None: the kubeconfig's current context).

        Raises `ClusterError` when it cannot be made (the same one again until `retry_s`).
        """
        with self._lock:
            if context in self._clusters:
                return self._clusters[context]
            failed = self._failures.get(context)
            if failed is not None and self._clock() - failed[0] < self._retry_s:
                # A new error each time: raising one object again would grow its traceback.
                raise ClusterError(str(failed[1])) from failed[1]
            try:
                cluster = connect(kubeconfig=self._kubeconfig, context=context)
            except ClusterError as err:
                self._failures[context] = (self._clock(), err)
                raise
            self._failures.pop(context, None)
            self._clusters[context] = cluster
            return cluster


def strategy_for(spec: ServiceSpec, cluster: Cluster, *, timeout: timedelta) -> ReleaseStrategy:
    """The strategy object that releases `spec`'s service in `cluster`."""
    s, ns, wait_s = spec.strategy, spec.namespace, timeout.total_seconds()
    match s:
        case CanaryDeploymentSpec():
            return CanaryDeploymentStrategy(
                cluster,
                ns,
                s.deployment,
                s.service,
                steps=tuple(s.steps),
                container=s.container,
                track_label=s.track_label,
                timeout_s=wait_s,
            )
        case PausedRolloutSpec():
            return PausedRolloutStrategy(
                cluster,
                ns,
                s.deployment,
                steps=tuple(s.steps),
                container=s.container,
                preview_service=s.preview_service,
                timeout_s=wait_s,
            )
        case BlueGreenSpec():
            return BlueGreenStrategy(
                cluster,
                ns,
                s.deployment,
                s.service,
                version_label=s.version_label,
                preview_service=s.preview_service,
                container=s.container,
                grace_period=s.grace_period,
                timeout_s=wait_s,
            )
        case IstioSpec():
            ab = (
                None
                if s.match is None
                else TrafficMatch(s.match.header, s.match.cookie, s.match.value)
            )
            return IstioStrategy(
                cluster,
                ns,
                s.deployment,
                s.host,
                s.virtual_service,
                s.destination_rule,
                version_label=s.version_label,
                steps=tuple(s.steps),
                match=ab,
                container=s.container,
                timeout_s=wait_s,
            )
        case RollingSpec():
            return RollingStrategy(
                cluster,
                ns,
                s.deployment,
                max_surge=s.max_surge,
                max_unavailable=s.max_unavailable,
                progress_deadline_s=int(s.progress_deadline.total_seconds()),
                container=s.container,
            )
