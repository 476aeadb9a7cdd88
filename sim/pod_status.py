"""What the kubelet reports for a pod, decided from the pod's age and its containers' fates.

A pod's fate comes from `PodBehaviour` per container image: READY pods run and turn Ready
after a delay; NEVER_READY pods run but never pass readiness; CRASH_LOOP containers restart
with the kubelet's back-off (10 s doubling to 5 min) in CrashLoopBackOff; IMAGE_PULL_ERROR
containers wait in ErrImagePull, then ImagePullBackOff between pull attempts. Every function
here is purely computational.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from sim.behaviour import PodFate
from sim.clock import rfc3339

Obj = dict[str, Any]

HOST_IP = "172.18.0.2"
BACKOFF_START_S = 10.0
BACKOFF_MAX_S = 300.0
PULL_ERROR_SHOWN_S = 1.0  # how long ErrImagePull shows after each pull attempt
_CONDITION_ORDER = (
    "PodReadyToStartContainers",
    "Initialized",
    "Ready",
    "ContainersReady",
    "PodScheduled",
)


@dataclass(frozen=True)
class PodClock:
    """When the kubelet started a pod: `age_s` on the monotonic clock, `started` wall time."""

    age_s: float
    started: float  # epoch seconds
    now: float  # epoch seconds


def backoff_cycle(age_s: float) -> tuple[int, float, float]:
    """(attempts so far, start of the current attempt, back-off until the next) at `age_s`.

    Attempts happen at 0, 10, 30, 70, … seconds: each back-off doubles up to five minutes.
    """
    attempts, start, backoff = 1, 0.0, BACKOFF_START_S
    while start + backoff <= age_s:
        start += backoff
        attempts += 1
        backoff = min(backoff * 2, BACKOFF_MAX_S)
    return attempts, start, backoff


def image_reference(image: str) -> str:
    """The fully qualified reference a container runtime pulls (docker.io/library/x:latest)."""
    name, tag = image, ""
    if "@" not in image and ":" not in image.rsplit("/", 1)[-1]:
        tag = ":latest"
    first = name.split("/", 1)[0]
    if "/" not in name:
        name = f"docker.io/library/{name}"
    elif "." not in first and ":" not in first and first != "localhost":
        name = f"docker.io/{name}"
    return name + tag


def image_id(image: str) -> str:
    """A stable fake digest for an image."""
    ref = image_reference(image).split("@")[0].rsplit(":", 1)[0]
    return f"{ref}@sha256:{hashlib.sha256(image.encode()).hexdigest()}"


def container_id(pod_uid: str, name: str, *, attempt: int) -> str:
    """A stable fake containerd id for one run of a container."""
    digest = hashlib.sha256(f"{pod_uid}/{name}/{attempt}".encode()).hexdigest()
    return f"containerd://{digest}"


def pull_error(image: str) -> str:
    """What the runtime says when the image does not exist."""
    ref = image_reference(image)
    return (
        f'rpc error: code = NotFound desc = failed to pull and unpack image "{ref}": '
        f'failed to resolve reference "{ref}": {ref}: not found'
    )


def container_status(
    pod: Obj, container: Obj, *, fate: PodFate, ready_after_s: float, clock: PodClock
) -> Obj:
    """The status of one container at the pod's age. Purely computational."""
    name, image = container["name"], container.get("image", "")
    uid = pod["metadata"].get("uid", "")
    status: Obj = {
        "name": name,
        "image": image,
        "imageID": "",
        "ready": False,
        "restartCount": 0,
        "started": False,
        "lastState": {},
    }
    if fate is PodFate.IMAGE_PULL_ERROR:
        _, attempt_start, _ = backoff_cycle(clock.age_s)
        if clock.age_s - attempt_start < PULL_ERROR_SHOWN_S:
            waiting = {"reason": "ErrImagePull", "message": pull_error(image)}
        else:
            message = f'Back-off pulling image "{image}": ErrImagePull: {pull_error(image)}'
            waiting = {"reason": "ImagePullBackOff", "message": message}
        return {**status, "state": {"waiting": waiting}}
    status["imageID"] = image_id(image)
    started = rfc3339(clock.started)
    if fate is PodFate.CRASH_LOOP:
        restarts, last_start, backoff = backoff_cycle(clock.age_s)
        crashed = rfc3339(clock.started + last_start)
        message = (
            f"back-off {int(backoff)}s restarting failed container={name} "
            f"pod={pod['metadata']['name']}_{pod['metadata'].get('namespace')}({uid})"
        )
        terminated = {
            "exitCode": 1,
            "reason": "Error",
            "startedAt": crashed,
            "finishedAt": crashed,
            "containerID": container_id(uid, name, attempt=restarts),
        }
        return {
            **status,
            "restartCount": restarts,
            "containerID": terminated["containerID"],
            "state": {"waiting": {"reason": "CrashLoopBackOff", "message": message}},
            "lastState": {"terminated": terminated},
        }
    ready = fate is PodFate.READY and clock.age_s >= ready_after_s
    return {
        **status,
        "ready": ready,
        "started": True,
        "containerID": container_id(uid, name, attempt=0),
        "state": {"running": {"startedAt": started}},
    }


def pod_status(
    pod: Obj, *, fates: list[tuple[PodFate, float]], clock: PodClock, pod_ip: str
) -> Obj:
    """The status the kubelet reports for `pod`, one (fate, delay) per container.

    Condition transition times are kept from the current status unless the condition flips.
    Purely computational.
    """
    containers = pod.get("spec", {}).get("containers") or []
    statuses = [
        container_status(pod, c, fate=fate, ready_after_s=delay, clock=clock)
        for c, (fate, delay) in zip(containers, fates, strict=True)
    ]
    unready = [s["name"] for s in statuses if not s["ready"]]
    pulling = any("waiting" in s["state"] and s["restartCount"] == 0 for s in statuses)
    current = pod.get("status", {})
    start = current.get("startTime") or rfc3339(clock.started)
    ready_reason = (
        {}
        if not unready
        else {
            "reason": "ContainersNotReady",
            "message": f"containers with unready status: [{' '.join(unready)}]",
        }
    )
    wanted = {
        "PodReadyToStartContainers": ("True", {}),
        "Initialized": ("True", {}),
        "Ready": ("False" if unready else "True", ready_reason),
        "ContainersReady": ("False" if unready else "True", ready_reason),
        "PodScheduled": ("True", {}),
    }
    conditions = [
        _condition(current, type_, *wanted[type_], clock.now) for type_ in _CONDITION_ORDER
    ]
    return {
        "phase": "Pending" if pulling else "Running",
        "conditions": conditions,
        "hostIP": HOST_IP,
        "hostIPs": [{"ip": HOST_IP}],
        "podIP": pod_ip,
        "podIPs": [{"ip": pod_ip}],
        "startTime": start,
        "containerStatuses": statuses,
        "qosClass": current.get("qosClass", "BestEffort"),
    }


def _condition(current: Obj, type_: str, status: str, extra: Obj, now: float) -> Obj:
    previous = next((c for c in current.get("conditions") or [] if c.get("type") == type_), None)
    since = rfc3339(now)
    if previous is not None and previous.get("status") == status:
        since = previous.get("lastTransitionTime") or since
    return {
        "type": type_,
        "status": status,
        "lastProbeTime": None,
        "lastTransitionTime": since,
        **extra,
    }
