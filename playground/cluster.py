"""The simulated cluster: the registry's services with their stable pods running.

Each service gets what its strategy expects to find before a first release, as the seed
documents set it up: its namespace, the stable Deployment (``reg/<deployment>:<STABLE_TAG>``),
and the Service, DestinationRule and VirtualService the strategy switches. Preview Services and
canary Deployments are the strategies' to create. The kubeconfig has a context for every
context the registry names, all pointing at the one simulator.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from bot.registry import Registry
from bot.service_spec import ServiceSpec
from bot.strategy_specs import BlueGreenSpec, CanaryDeploymentSpec, IstioSpec
from sim.behaviour import PodBehaviour
from sim.server import SimServer
from sim.store import DEPLOYMENTS, NAMESPACES, NotFoundError

STABLE_TAG = "2026-11-22"
CONTEXT = "playground"
REPLICAS = {"fop-gate": 9, "img-thumbnail": 4}  # as the example's comments say; others 3
DEFAULT_REPLICAS = 3
Manifest = dict[str, Any]


def stable_image(deployment: str) -> str:
    """The image a service's stable pods run when the playground starts."""
    return f"reg/{deployment}:{STABLE_TAG}"


def manifests(spec: ServiceSpec) -> list[Manifest]:
    """The objects `spec`'s strategy expects before its first release."""
    strategy = spec.strategy
    name = strategy.deployment
    labels = {"app": name}
    if isinstance(strategy, CanaryDeploymentSpec):
        labels[strategy.track_label] = "stable"
    if isinstance(strategy, BlueGreenSpec | IstioSpec):
        labels[strategy.version_label] = "v1"
    container = strategy.container or name
    objects = [_deployment(spec, labels, container=container)]
    if isinstance(strategy, CanaryDeploymentSpec):
        objects.append(_service(spec, strategy.service, {"app": name}))
    if isinstance(strategy, BlueGreenSpec):
        objects.append(_service(spec, strategy.service, labels))
    if isinstance(strategy, IstioSpec):
        objects += _istio(spec, strategy, subset_labels={strategy.version_label: "v1"})
    return objects


def _deployment(spec: ServiceSpec, labels: dict[str, str], *, container: str) -> Manifest:
    name = spec.strategy.deployment
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": spec.namespace, "labels": labels},
        "spec": {
            "replicas": REPLICAS.get(name, DEFAULT_REPLICAS),
            "progressDeadlineSeconds": 60,
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0},
            },
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "containers": [
                        {
                            "name": container,
                            "image": stable_image(name),
                            "ports": [{"containerPort": 8080}],
                        }
                    ]
                },
            },
        },
    }


def _service(spec: ServiceSpec, name: str, selector: dict[str, str]) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": spec.namespace},
        "spec": {
            "selector": selector,
            "ports": [{"name": "http", "port": 80, "targetPort": 8080}],
        },
    }


def _istio(
    spec: ServiceSpec, strategy: IstioSpec, *, subset_labels: dict[str, str]
) -> list[Manifest]:
    service_name = strategy.host.split(".")[0]  # checkout.shop.svc.cluster.local: checkout
    meta = {"namespace": spec.namespace}
    return [
        _service(spec, service_name, {"app": strategy.deployment}),
        {
            "apiVersion": "networking.istio.io/v1",
            "kind": "DestinationRule",
            "metadata": {"name": strategy.destination_rule, **meta},
            "spec": {"host": strategy.host, "subsets": [{"name": "v1", "labels": subset_labels}]},
        },
        {
            "apiVersion": "networking.istio.io/v1",
            "kind": "VirtualService",
            "metadata": {"name": strategy.virtual_service, **meta},
            "spec": {
                "hosts": [strategy.host],
                "http": [{"route": [{"destination": {"host": strategy.host, "subset": "v1"}}]}],
            },
        },
    ]


def _namespaces(registry: Registry) -> Iterator[Manifest]:
    for namespace in sorted({spec.namespace for spec in registry.services.values()}):
        yield {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}


def start_cluster(registry: Registry, kubeconfig: Path, *, timeout_s: float = 30) -> SimServer:
    """A running simulator with every service's stable Deployment ready, and its kubeconfig."""
    server = SimServer(behaviour=PodBehaviour(default_ready_after_s=0.2)).start()
    try:
        contexts = {spec.context for spec in registry.services.values() if spec.context}
        server.write_kubeconfig(kubeconfig, contexts=(CONTEXT, *sorted(contexts)))
        existing = {obj["metadata"]["name"] for obj in server.store.select(NAMESPACES)}
        documents = [ns for ns in _namespaces(registry) if ns["metadata"]["name"] not in existing]
        for spec in registry.services.values():
            documents += manifests(spec)
        server.load_yaml(yaml.safe_dump_all(documents, sort_keys=False))
        _wait_ready(server, registry, timeout_s=timeout_s)
    except BaseException:
        server.stop()
        raise
    return server


def ready_replicas(server: SimServer, namespace: str, name: str) -> int:
    """The Deployment's ready pods; 0 when it does not exist (a canary not started)."""
    try:
        obj = server.store.get(DEPLOYMENTS, namespace, name)
    except NotFoundError:
        return 0
    return int((obj.get("status") or {}).get("readyReplicas") or 0)


def deployment_image(server: SimServer, namespace: str, name: str) -> str:
    """The image of the Deployment's first container."""
    obj = server.store.get(DEPLOYMENTS, namespace, name)
    return str(obj["spec"]["template"]["spec"]["containers"][0]["image"])


def deployment_replicas(server: SimServer, namespace: str, name: str) -> int:
    """The replicas the Deployment asks for; 0 when it does not exist."""
    try:
        return int(server.store.get(DEPLOYMENTS, namespace, name)["spec"]["replicas"])
    except NotFoundError:
        return 0


def _wait_ready(server: SimServer, registry: Registry, *, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    for spec in registry.services.values():
        name = spec.strategy.deployment
        while ready_replicas(server, spec.namespace, name) < REPLICAS.get(name, DEFAULT_REPLICAS):
            if time.monotonic() > deadline:
                raise TimeoutError(f"the simulator's {spec.namespace}/{name} never got ready")
            time.sleep(0.05)
