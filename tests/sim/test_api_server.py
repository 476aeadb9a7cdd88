"""SimServer itself: lifecycle, the controller loop, kubeconfig, subresources, the CLI."""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import yaml

from sim.server import SimServer
from sim.store import DEPLOYMENTS, NAMESPACES, PODS
from tests.servers import free_port, wait_until
from tests.sim.conftest import Kubectl

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: default}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: app, image: reg/web:1}]
"""


class CountingController:
    """A real (if trivial) controller: counts its reconcile passes."""

    def __init__(self) -> None:
        self.passes = 0
        self.lock = threading.Lock()

    def reconcile(self) -> None:
        with self.lock:
            self.passes += 1


class FailingController:
    """A controller with a bug: every pass raises."""

    def reconcile(self) -> None:
        raise RuntimeError("bug")


def _request(sim: SimServer, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    connection = http.client.HTTPConnection("127.0.0.1", sim.port, timeout=10)
    payload = json.dumps(body) if body is not None else None
    connection.request(method, path, payload, {"Content-Type": "application/json"})
    response = connection.getresponse()
    data = json.loads(response.read())
    connection.close()
    return response.status, data


# --- lifecycle and controllers ---------------------------------------------------------------


def test_new_server_has_the_standard_namespaces() -> None:
    with SimServer(controllers=[]) as sim:
        names = [ns["metadata"]["name"] for ns in sim.store.select(NAMESPACES)]

    assert names == ["default", "kube-node-lease", "kube-public", "kube-system"]


def test_controllers_reconcile_periodically_and_on_every_change() -> None:
    counter = CountingController()
    with SimServer(controllers=[counter]) as sim:
        time.sleep(0.3)
        idle = counter.passes
        sim.load_yaml(DEPLOYMENT)
        wait_until(lambda: counter.passes > idle, timeout_s=2, what="a pass after the write")

    assert idle >= 3  # at least every 50 ms, with slack for a loaded machine


def test_a_failing_controller_does_not_stop_the_others() -> None:
    counter = CountingController()
    with SimServer(controllers=[FailingController(), counter]):
        wait_until(lambda: counter.passes >= 3, timeout_s=2, what="passes despite a failure")


def test_stop_ends_serving() -> None:
    sim = SimServer(controllers=[]).start()
    port = sim.port
    sim.stop()

    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        connection.request("GET", "/version")
        refused = False
    except ConnectionRefusedError:
        refused = True
    finally:
        connection.close()
    assert refused


def test_kubeconfig_names_one_context_per_name_and_the_first_is_current(tmp_path: Path) -> None:
    with SimServer(controllers=[]) as sim:
        path = sim.write_kubeconfig(tmp_path / "kc", contexts=("prod", "staging"), namespace="fop")
        config = yaml.safe_load(path.read_text())

    assert config["current-context"] == "prod"
    assert [c["name"] for c in config["contexts"]] == ["prod", "staging"]
    assert {c["context"]["namespace"] for c in config["contexts"]} == {"fop"}
    assert config["clusters"][0]["cluster"]["server"] == f"http://127.0.0.1:{sim.port}"
    assert config["users"][0]["user"]["token"] == sim.token


# --- subresources and deletion ---------------------------------------------------------------


def test_status_write_changes_only_the_status(sim: SimServer) -> None:
    [created] = sim.load_yaml(DEPLOYMENT)
    created["spec"]["replicas"] = 9
    created["status"] = {"replicas": 4, "observedGeneration": 1}

    code, body = _request(
        sim, "PUT", "/apis/apps/v1/namespaces/default/deployments/web/status", created
    )

    assert code == 200
    assert (body["spec"]["replicas"], body["status"]["replicas"]) == (1, 4)


def test_spec_write_keeps_the_status(sim: SimServer) -> None:
    [created] = sim.load_yaml(DEPLOYMENT)
    stored = sim.store.get(DEPLOYMENTS, "default", "web")
    stored["status"] = {"replicas": 4}
    sim.store.update(DEPLOYMENTS, stored, subresource="status")
    created["status"] = {}
    created["spec"]["replicas"] = 3
    created["metadata"].pop("resourceVersion")

    code, body = _request(sim, "PUT", "/apis/apps/v1/namespaces/default/deployments/web", created)

    assert code == 200
    assert (body["spec"]["replicas"], body["status"]) == (3, {"replicas": 4})


def test_scale_put_with_a_stale_resource_version_is_a_conflict(sim: SimServer) -> None:
    [created] = sim.load_yaml(DEPLOYMENT)
    url = "/apis/apps/v1/namespaces/default/deployments/web/scale"
    _, scale = _request(sim, "GET", url)
    scale["spec"]["replicas"] = 2
    fresh = _request(sim, "PUT", url, scale)
    scale["spec"]["replicas"] = 5

    stale = _request(sim, "PUT", url, scale)

    assert fresh[0] == 200
    assert (stale[0], stale[1]["reason"]) == (409, "Conflict")
    assert sim.store.get(DEPLOYMENTS, "default", "web")["spec"]["replicas"] == 2
    assert created["spec"]["replicas"] == 1


def test_deleting_a_pod_answers_the_pod(sim: SimServer) -> None:
    sim.load_yaml(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\n"
        "spec: {containers: [{name: a, image: i:1}]}\n"
    )

    code, body = _request(sim, "DELETE", "/api/v1/namespaces/default/pods/p")

    assert (code, body["kind"], body["metadata"]["name"]) == (200, "Pod", "p")
    assert sim.store.select(PODS) == []


def test_deleting_a_namespace_deletes_what_it_holds(sim: SimServer, kubectl: Kubectl) -> None:
    assert kubectl("create", "namespace", "fop").stdout.strip() == "namespace/fop created"
    sim.load_yaml(DEPLOYMENT.replace("namespace: default", "namespace: fop"))

    result = kubectl("delete", "namespace", "fop")

    assert result.returncode == 0, result.stderr
    assert sim.store.select(DEPLOYMENTS) == []
    assert "fop" not in [ns["metadata"]["name"] for ns in sim.store.select(NAMESPACES)]


def test_delete_collection_by_label(sim: SimServer, kubectl: Kubectl) -> None:
    labelled = DEPLOYMENT.replace("namespace: default}", "namespace: default, labels: {app: web}}")
    sim.load_yaml(labelled)
    sim.load_yaml(labelled.replace("web", "api"))

    result = kubectl("delete", "deploy", "-l", "app=api")

    assert result.returncode == 0, result.stderr
    assert [d["metadata"]["name"] for d in sim.store.select(DEPLOYMENTS)] == ["web"]


# --- CLI -------------------------------------------------------------------------------------


def test_cli_serves_until_sigterm(tmp_path: Path) -> None:
    port = free_port()
    kubeconfig = tmp_path / "kc"
    manifest = tmp_path / "objects.yaml"
    manifest.write_text(DEPLOYMENT)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sim",
            "serve",
            "--port",
            str(port),
            "--kubeconfig",
            str(kubeconfig),
            "--context",
            "prod",
            "--load",
            str(manifest),
            "--no-controllers",
        ],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).parents[2],
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline().strip()
        served = Kubectl(Path(sys.executable).parent / "kubectl", kubeconfig)("get", "deploy")
    finally:
        os.kill(process.pid, signal.SIGTERM)
        process.communicate(timeout=10)

    assert line == f"sim: serving on http://127.0.0.1:{port} (kubeconfig {kubeconfig})"
    assert served.stdout.splitlines()[1].split()[0] == "web"
    assert process.returncode == 0
