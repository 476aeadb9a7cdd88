"""Defaulting as the API server does it on create and update (k8s.io/kubernetes/pkg/apis/*/v1).

Fidelity matters: `kubectl rollout undo` compares pod templates of ReplicaSets with the
Deployment's, so a template must read back exactly as a real cluster defaults it.
All functions are purely computational: they return a defaulted copy.
"""

from __future__ import annotations

import copy
import ipaddress
import random
from collections.abc import Callable
from typing import Any

from sim.store import DEPLOYMENTS, NAMESPACES, PODS, REPLICASETS, SERVICES, ResourceType

Obj = dict[str, Any]

SERVICE_CIDR = ipaddress.ip_network("10.96.0.0/16")


def defaulted(rt: ResourceType, obj: Obj) -> Obj:
    """A copy of `obj` with every field the API server defaults for `rt` filled in."""
    result = copy.deepcopy(obj)
    defaulter = _DEFAULTERS.get(rt.plural + "." + rt.group)
    if defaulter is not None:
        defaulter(result)
    return result


def _deployment(obj: Obj) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("replicas", 1)
    strategy = spec.setdefault("strategy", {})
    strategy.setdefault("type", "RollingUpdate")
    if strategy["type"] == "RollingUpdate":
        rolling = strategy.setdefault("rollingUpdate", {})
        rolling.setdefault("maxUnavailable", "25%")
        rolling.setdefault("maxSurge", "25%")
    spec.setdefault("revisionHistoryLimit", 10)
    spec.setdefault("progressDeadlineSeconds", 600)
    _pod_template(spec)


def _replicaset(obj: Obj) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("replicas", 1)
    _pod_template(spec)


def _pod_template(spec: Obj) -> None:
    template = spec.setdefault("template", {})
    template.setdefault("metadata", {})
    pod_spec(template.setdefault("spec", {}))


def _pod(obj: Obj) -> None:
    spec = obj.setdefault("spec", {})
    pod_spec(spec)
    # What SetDefaults_Pod and the ServiceAccount / DefaultTolerationSeconds admission add.
    spec.setdefault("enableServiceLinks", True)
    spec.setdefault("serviceAccountName", "default")
    spec.setdefault("serviceAccount", spec["serviceAccountName"])
    spec.setdefault("preemptionPolicy", "PreemptLowerPriority")
    spec.setdefault("priority", 0)
    spec.setdefault(
        "tolerations",
        [
            {
                "key": f"node.kubernetes.io/{taint}",
                "operator": "Exists",
                "effect": "NoExecute",
                "tolerationSeconds": 300,
            }
            for taint in ("not-ready", "unreachable")
        ],
    )


def pod_spec(spec: Obj) -> None:
    """Default a PodSpec in place (pods and pod templates alike)."""
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("securityContext", {})
    spec.setdefault("schedulerName", "default-scheduler")
    for key in ("containers", "initContainers"):
        for container in spec.get(key) or []:
            _container(container)
    for volume in spec.get("volumes") or []:
        for source in ("configMap", "secret"):
            if isinstance(volume.get(source), dict):
                volume[source].setdefault("defaultMode", 420)
        if set(volume) == {"name"}:  # a volume with no source is an emptyDir
            volume["emptyDir"] = {}


def _container(container: Obj) -> None:
    image = str(container.get("image", ""))
    last = image.rsplit("/", 1)[-1]
    untagged_or_latest = "@" not in last and (":" not in last or last.endswith(":latest"))
    container.setdefault("imagePullPolicy", "Always" if untagged_or_latest else "IfNotPresent")
    container.setdefault("terminationMessagePath", "/dev/termination-log")
    container.setdefault("terminationMessagePolicy", "File")
    container.setdefault("resources", {})
    for port in container.get("ports") or []:
        port.setdefault("protocol", "TCP")
    for env in container.get("env") or []:
        field_ref = (env.get("valueFrom") or {}).get("fieldRef")
        if isinstance(field_ref, dict):
            field_ref.setdefault("apiVersion", "v1")
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        if isinstance(container.get(probe), dict):
            _probe(container[probe])


def _probe(probe: Obj) -> None:
    probe.setdefault("timeoutSeconds", 1)
    probe.setdefault("periodSeconds", 10)
    probe.setdefault("successThreshold", 1)
    probe.setdefault("failureThreshold", 3)
    if isinstance(probe.get("httpGet"), dict):
        probe["httpGet"].setdefault("scheme", "HTTP")


def _service(obj: Obj) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("type", "ClusterIP")
    spec.setdefault("sessionAffinity", "None")
    spec.setdefault("internalTrafficPolicy", "Cluster")
    if spec["type"] in ("NodePort", "LoadBalancer"):
        spec.setdefault("externalTrafficPolicy", "Cluster")
    for port in spec.get("ports") or []:
        port.setdefault("protocol", "TCP")
        port.setdefault("targetPort", port.get("port"))
    obj.setdefault("status", {}).setdefault("loadBalancer", {})


def _namespace(obj: Obj) -> None:
    name = obj.get("metadata", {}).get("name", "")
    obj.setdefault("metadata", {}).setdefault("labels", {})
    obj["metadata"]["labels"]["kubernetes.io/metadata.name"] = name
    obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
    obj.setdefault("status", {}).setdefault("phase", "Active")


_DEFAULTERS: dict[str, Callable[[Obj], None]] = {
    DEPLOYMENTS.plural + "." + DEPLOYMENTS.group: _deployment,
    REPLICASETS.plural + "." + REPLICASETS.group: _replicaset,
    PODS.plural + "." + PODS.group: _pod,
    SERVICES.plural + "." + SERVICES.group: _service,
    NAMESPACES.plural + "." + NAMESPACES.group: _namespace,
}


def allocate_cluster_ip(spec: Obj, used: set[str], rng: random.Random) -> None:
    """Give a Service spec a free clusterIP from 10.96.0.0/16 unless it has one (or "None")."""
    if spec.get("type") == "ExternalName":
        return
    if not spec.get("clusterIP"):
        hosts = SERVICE_CIDR.num_addresses - 2
        while True:
            candidate = str(SERVICE_CIDR.network_address + rng.randint(10, hosts))
            if candidate not in used:
                break
        spec["clusterIP"] = candidate
    spec.setdefault("clusterIPs", [spec["clusterIP"]])
    if spec["clusterIP"] != "None":
        spec.setdefault("ipFamilies", ["IPv4"])
        spec.setdefault("ipFamilyPolicy", "SingleStack")


def allocate_node_ports(spec: Obj, used: set[int], rng: random.Random) -> None:
    """Give NodePort/LoadBalancer Service ports a free nodePort from 30000-32767."""
    if spec.get("type") not in ("NodePort", "LoadBalancer"):
        return
    for port in spec.get("ports") or []:
        while not port.get("nodePort"):
            candidate = rng.randint(30000, 32767)
            if candidate not in used:
                port["nodePort"] = candidate
                used.add(candidate)


def initial_status(rt: ResourceType, obj: Obj) -> None:
    """Reset `status` on create as the API server's PrepareForCreate does."""
    if rt in (DEPLOYMENTS, REPLICASETS):
        obj["status"] = {}
    elif rt == PODS:
        obj["status"] = {"phase": "Pending", "qosClass": _qos_class(obj.get("spec", {}))}


def _qos_class(spec: Obj) -> str:
    resources = [c.get("resources") or {} for c in spec.get("containers") or []]
    if not any(r.get("requests") or r.get("limits") for r in resources):
        return "BestEffort"
    guaranteed = all(
        r.get("limits", {}).get(res)
        and r.get("requests", {}).get(res, r["limits"][res]) == r["limits"][res]
        for r in resources
        for res in ("cpu", "memory")
    )
    return "Guaranteed" if guaranteed else "Burstable"
