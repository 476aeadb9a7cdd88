"""The cells of one table row per kind, as the API server's printers format them.

Follows k8s.io/kubernetes/pkg/printers/internalversion (and, for the Istio kinds, their CRDs'
additionalPrinterColumns). Purely computational: `now` comes in from the caller.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sim.selectors import format_label_selector

Obj = dict[str, Any]


def human_duration(seconds: float) -> str:
    """k8s.io/apimachinery/pkg/util/duration.HumanDuration: ``5s``, ``3m20s``, ``4h``, ``2d``."""
    s = int(seconds)
    if s < -1:
        return "<invalid>"
    if s < 0:
        return "0s"
    if s < 120:
        return f"{s}s"
    minutes, hours = s // 60, s // 3600
    if minutes < 10:
        return f"{minutes}m" if s % 60 == 0 else f"{minutes}m{s % 60}s"
    if minutes < 180:
        return f"{minutes}m"
    if hours < 8:
        return f"{hours}h" if minutes % 60 == 0 else f"{hours}h{minutes % 60}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        return f"{hours // 24}d" if hours % 24 == 0 else f"{hours // 24}d{hours % 24}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    years, days = hours // (24 * 365), (hours // 24) % 365
    if hours < 24 * 365 * 8:
        return f"{years}y" if days == 0 else f"{years}y{days}d"
    return f"{years}y"


def _since(timestamp: str | None, now: datetime) -> str:
    if not timestamp:
        return "<unknown>"
    then = datetime.strptime(timestamp[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)
    return human_duration((now - then).total_seconds())


def _containers(obj: Obj) -> list[Obj]:
    spec = obj.get("spec", {})
    pod = spec.get("template", {}).get("spec", {}) if "template" in spec else spec
    return list(pod.get("containers") or [])


def _workload_wide(obj: Obj) -> list[Any]:
    containers = _containers(obj)
    return [
        ",".join(c.get("name", "") for c in containers),
        ",".join(c.get("image", "") for c in containers),
        format_label_selector(obj.get("spec", {}).get("selector")),
    ]


def deployment_cells(obj: Obj, now: datetime) -> list[Any]:
    """NAME READY UP-TO-DATE AVAILABLE AGE, wide: CONTAINERS IMAGES SELECTOR."""
    spec, status = obj.get("spec", {}), obj.get("status", {})
    ready = f"{status.get('readyReplicas', 0)}/{spec.get('replicas', 0)}"
    age = _since(obj["metadata"].get("creationTimestamp"), now)
    return [
        obj["metadata"]["name"],
        ready,
        status.get("updatedReplicas", 0),
        status.get("availableReplicas", 0),
        age,
        *_workload_wide(obj),
    ]


def replicaset_cells(obj: Obj, now: datetime) -> list[Any]:
    """NAME DESIRED CURRENT READY AGE, wide: CONTAINERS IMAGES SELECTOR."""
    spec, status = obj.get("spec", {}), obj.get("status", {})
    age = _since(obj["metadata"].get("creationTimestamp"), now)
    return [
        obj["metadata"]["name"],
        spec.get("replicas", 0),
        status.get("replicas", 0),
        status.get("readyReplicas", 0),
        age,
        *_workload_wide(obj),
    ]


def pod_status_reason(pod: Obj) -> str:
    """The STATUS column of a pod: phase, or a container's waiting/terminated reason."""
    status = pod.get("status", {})
    reason = status.get("reason") or status.get("phase") or "Unknown"
    running = False
    for container in reversed(status.get("containerStatuses") or []):
        state = container.get("state") or {}
        waiting, terminated = state.get("waiting") or {}, state.get("terminated") or {}
        if waiting.get("reason"):
            reason = waiting["reason"]
        elif terminated.get("reason"):
            reason = terminated["reason"]
        elif terminated:
            reason = (
                f"Signal:{terminated['signal']}"
                if terminated.get("signal")
                else f"ExitCode:{terminated.get('exitCode', 0)}"
            )
        elif container.get("ready") and "running" in state:
            running = True
    if reason == "Completed" and running:
        reason = "Running"
    if pod.get("metadata", {}).get("deletionTimestamp"):
        reason = "Terminating"
    return str(reason)


def pod_cells(obj: Obj, now: datetime) -> list[Any]:
    """NAME READY STATUS RESTARTS AGE, wide: IP NODE NOMINATED NODE READINESS GATES."""
    spec, status = obj.get("spec", {}), obj.get("status", {})
    statuses = status.get("containerStatuses") or []
    ready = sum(1 for c in statuses if c.get("ready"))
    restarts = sum(int(c.get("restartCount", 0)) for c in statuses)
    last = max(
        (c.get("lastState", {}).get("terminated", {}).get("finishedAt", "") for c in statuses),
        default="",
    )
    restarts_text = f"{restarts} ({_since(last, now)} ago)" if restarts and last else str(restarts)
    return [
        obj["metadata"]["name"],
        f"{ready}/{len(spec.get('containers') or [])}",
        pod_status_reason(obj),
        restarts_text,
        _since(obj["metadata"].get("creationTimestamp"), now),
        status.get("podIP") or "<none>",
        spec.get("nodeName") or "<none>",
        status.get("nominatedNodeName") or "<none>",
        _readiness_gates(spec.get("readinessGates") or [], status.get("conditions") or []),
    ]


def _readiness_gates(gates: list[Obj], conditions: list[Obj]) -> str:
    if not gates:
        return "<none>"
    true = {c.get("type") for c in conditions if c.get("status") == "True"}
    return f"{sum(1 for gate in gates if gate.get('conditionType') in true)}/{len(gates)}"


def service_cells(obj: Obj, now: datetime) -> list[Any]:
    """NAME TYPE CLUSTER-IP EXTERNAL-IP PORT(S) AGE, wide: SELECTOR."""
    spec = obj.get("spec", {})
    kind = spec.get("type", "ClusterIP")
    external = ",".join(spec.get("externalIPs") or [])
    if kind == "LoadBalancer":
        ingress = obj.get("status", {}).get("loadBalancer", {}).get("ingress") or []
        external = ",".join(i.get("ip") or i.get("hostname", "") for i in ingress) or "<pending>"
    elif kind == "ExternalName":
        external = spec.get("externalName", "")
    ports = ",".join(
        f"{p.get('port')}:{p['nodePort']}/{p.get('protocol', 'TCP')}"
        if p.get("nodePort")
        else f"{p.get('port')}/{p.get('protocol', 'TCP')}"
        for p in spec.get("ports") or []
    )
    selector = ",".join(f"{k}={v}" for k, v in sorted((spec.get("selector") or {}).items()))
    return [
        obj["metadata"]["name"],
        kind,
        spec.get("clusterIP") or "<none>",
        external or "<none>",
        ports or "<none>",
        _since(obj["metadata"].get("creationTimestamp"), now),
        selector or "<none>",
    ]


def endpoints_cells(obj: Obj, now: datetime) -> list[Any]:
    """NAME ENDPOINTS AGE (at most three addresses, then "+ N more...")."""
    addresses = []
    for subset in obj.get("subsets") or []:
        for address in subset.get("addresses") or []:
            for port in subset.get("ports") or [{}]:
                suffix = f":{port['port']}" if "port" in port else ""
                addresses.append(f"{address.get('ip', '')}{suffix}")
    shown = ",".join(addresses[:3]) + (
        f" + {len(addresses) - 3} more..." if len(addresses) > 3 else ""
    )
    return [
        obj["metadata"]["name"],
        shown or "<none>",
        _since(obj["metadata"].get("creationTimestamp"), now),
    ]


def namespace_cells(obj: Obj, now: datetime) -> list[Any]:
    """NAME STATUS AGE."""
    phase = obj.get("status", {}).get("phase", "Active")
    return [obj["metadata"]["name"], phase, _since(obj["metadata"].get("creationTimestamp"), now)]


def event_cells(obj: Obj, now: datetime) -> list[Any]:
    """LAST SEEN TYPE REASON OBJECT MESSAGE."""
    involved = obj.get("involvedObject", {})
    last = (
        obj.get("lastTimestamp") or obj.get("eventTime") or obj["metadata"].get("creationTimestamp")
    )
    return [
        _since(last, now),
        obj.get("type", ""),
        obj.get("reason", ""),
        f"{str(involved.get('kind', '')).lower()}/{involved.get('name', '')}",
        obj.get("message", ""),
    ]


def _json_cell(value: Any) -> Any:
    return json.dumps(value, separators=(",", ":")) if isinstance(value, list | dict) else value


def virtual_service_cells(obj: Obj, now: datetime) -> list[Any]:
    """NAME GATEWAYS HOSTS AGE (lists shown as JSON, as for CRD columns)."""
    spec = obj.get("spec", {})
    return [
        obj["metadata"]["name"],
        _json_cell(spec.get("gateways")),
        _json_cell(spec.get("hosts")),
        _since(obj["metadata"].get("creationTimestamp"), now),
    ]


def destination_rule_cells(obj: Obj, now: datetime) -> list[Any]:
    """NAME HOST AGE."""
    return [
        obj["metadata"]["name"],
        obj.get("spec", {}).get("host"),
        _since(obj["metadata"].get("creationTimestamp"), now),
    ]
