"""Pods report what the kubelet would: readiness after a delay, crash loops, pull errors."""

from __future__ import annotations

import re
from typing import Any

import pytest

from sim.behaviour import PodFate
from sim.pod_status import backoff_cycle, image_reference
from tests.sim.fake_cluster import FakeCluster, is_ready

Obj = dict[str, Any]


def one_pod(cluster: FakeCluster) -> Obj:
    (pod,) = cluster.pods()
    return pod


def container(pod: Obj) -> Obj:
    (only,) = pod["status"]["containerStatuses"]
    return dict(only)


def conditions(pod: Obj) -> dict[str, str]:
    return {c["type"]: c["status"] for c in pod["status"]["conditions"]}


def start(fate: PodFate, image: str = "web:1", ready_after_s: float | None = None) -> FakeCluster:
    cluster = FakeCluster()
    cluster.fate(image, fate, ready_after_s)
    cluster.create_deployment(replicas=1, image=image)
    cluster.step(seconds=0)  # the ReplicaSet
    cluster.step(seconds=0)  # its pod, seen by the kubelet
    return cluster


class TestReady:
    def test_runs_at_once_and_turns_ready_after_its_delay(self) -> None:
        cluster = start(PodFate.READY, ready_after_s=5)
        pod = one_pod(cluster)
        assert pod["status"]["phase"] == "Running"
        assert conditions(pod) == {
            "PodReadyToStartContainers": "True",
            "Initialized": "True",
            "Ready": "False",
            "ContainersReady": "False",
            "PodScheduled": "True",
        }
        assert container(pod)["ready"] is False
        assert "running" in container(pod)["state"]

        cluster.step(seconds=4.9)
        cluster.step()
        assert not is_ready(one_pod(cluster))
        cluster.step()
        assert is_ready(one_pod(cluster))
        assert set(conditions(one_pod(cluster)).values()) == {"True"}

    def test_status_has_ip_start_time_and_container_details(self) -> None:
        cluster = start(PodFate.READY, ready_after_s=0)
        pod = one_pod(cluster)
        status = pod["status"]
        assert re.fullmatch(r"10\.244\.\d+\.\d+", status["podIP"])
        assert status["podIPs"] == [{"ip": status["podIP"]}]
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", status["startTime"])
        details = container(pod)
        assert details["name"] == "app"
        assert details["image"] == "web:1"
        assert str(details["imageID"]).startswith("docker.io/library/web@sha256:")
        assert str(details["containerID"]).startswith("containerd://")
        assert (details["ready"], details["started"], details["restartCount"]) == (True, True, 0)
        assert details["state"] == {"running": {"startedAt": status["startTime"]}}

    def test_pods_get_distinct_ips(self) -> None:
        cluster = FakeCluster()
        cluster.create_deployment(replicas=5)
        cluster.settle()
        ips = [p["status"]["podIP"] for p in cluster.pods()]
        assert len(set(ips)) == 5

    def test_the_kubelet_reports_scheduling_and_start_as_events(self) -> None:
        cluster = start(PodFate.READY)
        pod = one_pod(cluster)
        name = pod["metadata"]["name"]
        reasons = {e["reason"]: e for e in cluster.events() if e["involvedObject"]["kind"] == "Pod"}
        assert (
            reasons["Scheduled"]["message"] == f"Successfully assigned default/{name} to sim-node-1"
        )
        assert reasons["Started"]["message"] == "Started container app"
        assert reasons["Started"]["involvedObject"]["fieldPath"] == "spec.containers{app}"
        assert reasons["Started"]["source"] == {"component": "kubelet", "host": "sim-node-1"}


class TestNeverReady:
    def test_runs_but_never_turns_ready(self) -> None:
        cluster = start(PodFate.NEVER_READY)
        for _ in range(10):
            cluster.step(seconds=60)
        pod = one_pod(cluster)
        assert pod["status"]["phase"] == "Running"
        assert conditions(pod)["Ready"] == "False"
        ready = next(c for c in pod["status"]["conditions"] if c["type"] == "Ready")
        assert ready["reason"] == "ContainersNotReady"
        assert ready["message"] == "containers with unready status: [app]"
        assert [e["reason"] for e in cluster.events("Unhealthy")] == ["Unhealthy"]


class TestCrashLoop:
    def test_waits_in_crash_loop_back_off_after_an_error_exit(self) -> None:
        cluster = start(PodFate.CRASH_LOOP)
        pod = one_pod(cluster)
        details = container(pod)
        uid, name = pod["metadata"]["uid"], pod["metadata"]["name"]
        assert pod["status"]["phase"] == "Running"
        assert details["state"] == {
            "waiting": {
                "reason": "CrashLoopBackOff",
                "message": "back-off 10s restarting failed container=app "
                f"pod={name}_default({uid})",
            }
        }
        terminated = details["lastState"]["terminated"]
        assert (terminated["exitCode"], terminated["reason"]) == (1, "Error")
        assert details["restartCount"] == 1
        assert (details["ready"], details["started"]) == (False, False)

    def test_restarts_grow_with_a_doubling_back_off(self) -> None:
        cluster = start(PodFate.CRASH_LOOP)
        seen = []
        for _ in range(80):
            cluster.step(seconds=1)
            details = container(one_pod(cluster))
            seen.append(
                (details["restartCount"], details["state"]["waiting"]["message"].split()[1])
            )
        assert sorted(set(seen)) == [(1, "10s"), (2, "20s"), (3, "40s"), (4, "80s")]

    def test_each_restart_is_a_back_off_warning(self) -> None:
        cluster = start(PodFate.CRASH_LOOP)
        for _ in range(35):
            cluster.step(seconds=1)
        (event,) = cluster.events("BackOff")
        pod = one_pod(cluster)
        uid, name = pod["metadata"]["uid"], pod["metadata"]["name"]
        assert event["type"] == "Warning"
        assert (
            event["message"]
            == f"Back-off restarting failed container app in pod {name}_default({uid})"
        )
        assert event["count"] == 3


class TestImagePullError:
    def test_err_image_pull_then_image_pull_back_off(self) -> None:
        cluster = start(PodFate.IMAGE_PULL_ERROR, image="reg.example/web:404")
        pod = one_pod(cluster)
        assert pod["status"]["phase"] == "Pending"
        waiting = container(pod)["state"]["waiting"]
        assert waiting["reason"] == "ErrImagePull"
        assert 'failed to pull and unpack image "reg.example/web:404"' in waiting["message"]

        cluster.step(seconds=2)
        cluster.step()
        waiting = container(one_pod(cluster))["state"]["waiting"]
        assert waiting["reason"] == "ImagePullBackOff"
        assert waiting["message"].startswith('Back-off pulling image "reg.example/web:404"')
        assert conditions(one_pod(cluster))["Ready"] == "False"

    def test_pull_attempts_repeat_after_the_back_off(self) -> None:
        cluster = start(PodFate.IMAGE_PULL_ERROR)
        reasons = []
        for _ in range(40):
            cluster.step(seconds=0.5)
            reasons.append(container(one_pod(cluster))["state"]["waiting"]["reason"])
        assert reasons.count("ErrImagePull") >= 2
        assert reasons[-1] == "ImagePullBackOff"

    def test_failures_are_events_naming_the_image(self) -> None:
        cluster = start(PodFate.IMAGE_PULL_ERROR, image="web:404")
        cluster.step(seconds=2)
        cluster.step()
        messages = [
            (e["type"], e["reason"], e["message"])
            for e in cluster.events()
            if e["involvedObject"]["kind"] == "Pod"
        ]
        assert ("Normal", "Pulling", 'Pulling image "web:404"') in messages
        assert ("Warning", "Failed", "Error: ErrImagePull") in messages
        assert ("Normal", "BackOff", 'Back-off pulling image "web:404"') in messages
        assert ("Warning", "Failed", "Error: ImagePullBackOff") in messages
        assert any(m[2].startswith('Failed to pull image "web:404": ') for m in messages)


@pytest.mark.parametrize(
    ("age", "expected"),
    [
        pytest.param(0, (1, 0, 10), id="first-attempt"),
        pytest.param(9.9, (1, 0, 10), id="before-first-retry"),
        pytest.param(10, (2, 10, 20), id="first-retry"),
        pytest.param(30, (3, 30, 40), id="second-retry"),
        pytest.param(310, (6, 310, 300), id="capped-at-five-minutes"),
        pytest.param(610, (7, 610, 300), id="stays-capped"),
    ],
)
def test_back_off_doubles_from_ten_seconds_to_five_minutes(
    age: float, expected: tuple[int, float, float]
) -> None:
    assert backoff_cycle(age) == expected


@pytest.mark.parametrize(
    ("image", "reference"),
    [
        pytest.param("nginx", "docker.io/library/nginx:latest", id="bare"),
        pytest.param("nginx:1.27", "docker.io/library/nginx:1.27", id="tagged"),
        pytest.param("acme/web:2", "docker.io/acme/web:2", id="docker-hub-user"),
        pytest.param("reg.example:5000/web", "reg.example:5000/web:latest", id="registry-port"),
    ],
)
def test_image_references_are_normalised_as_containerd_does(image: str, reference: str) -> None:
    assert image_reference(image) == reference
