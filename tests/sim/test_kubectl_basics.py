"""The real kubectl against the simulator: output as documented for a real cluster.

Expectations come from Kubernetes' documented behaviour (kubectl output formats, API server
defaults and error texts), not from the simulator's code.
"""

from __future__ import annotations

import ipaddress
import json
import threading
import time
from typing import Any

from sim.access import AccessRule
from sim.server import SimServer
from sim.store import DEPLOYMENTS
from tests.sim.conftest import Kubectl

WEB = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web, track: stable}
    spec:
      containers:
      - name: app
        image: reg/web:1.0
        ports:
        - containerPort: 8080
      - name: sidecar
        image: reg/proxy:2.0
---
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector: {app: web}
  ports:
  - port: 80
"""

POD = """\
apiVersion: v1
kind: Pod
metadata:
  name: {name}
  labels: {{app: web, track: {track}}}
spec:
  containers:
  - name: app
    image: reg/web:1.0
"""

VIRTUAL_SERVICE = """\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: web
spec:
  hosts: [web]
  http:
  - route:
    - destination: {host: web, subset: stable}
      weight: 90
    - destination: {host: web, subset: canary}
      weight: 10
"""


def _created(kubectl: Kubectl, manifest: str) -> None:
    result = kubectl("create", "-f", "-", stdin=manifest)
    assert result.returncode == 0, result.stderr


def _json(kubectl: Kubectl, *args: str) -> Any:
    result = kubectl("get", *args, "-o", "json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


# --- create and read -------------------------------------------------------------------------


def test_create_prints_one_created_line_per_object(kubectl: Kubectl) -> None:
    result = kubectl("create", "-f", "-", stdin=WEB)

    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["deployment.apps/web created", "service/web created"]


def test_creating_an_existing_object_fails_with_already_exists(kubectl: Kubectl) -> None:
    _created(kubectl, WEB)

    result = kubectl("create", "-f", "-", stdin=WEB)

    assert result.returncode == 1
    assert (
        'Error from server (AlreadyExists): error when creating "STDIN": '
        'deployments.apps "web" already exists' in result.stderr
    )


def test_get_by_label_prints_the_deployment_columns(kubectl: Kubectl) -> None:
    _created(kubectl, WEB)

    result = kubectl("get", "deploy", "-l", "app=web")

    header, row = result.stdout.splitlines()
    assert header.split() == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
    assert row.split()[:4] == ["web", "0/2", "0", "0"]


def test_get_wide_adds_containers_images_and_selector(kubectl: Kubectl) -> None:
    _created(kubectl, WEB)

    header, row = kubectl("get", "deploy", "web", "-o", "wide").stdout.splitlines()

    assert header.split()[5:] == ["CONTAINERS", "IMAGES", "SELECTOR"]
    assert row.split()[5:] == ["app,sidecar", "reg/web:1.0,reg/proxy:2.0", "app=web"]


def test_get_json_shows_the_deployment_defaults(kubectl: Kubectl) -> None:
    _created(kubectl, WEB)

    deployment = _json(kubectl, "deploy", "web")

    spec = deployment["spec"]
    assert spec["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"},
    }
    assert (spec["revisionHistoryLimit"], spec["progressDeadlineSeconds"]) == (10, 600)
    pod = spec["template"]["spec"]
    assert pod["restartPolicy"] == "Always"
    assert pod["terminationGracePeriodSeconds"] == 30
    assert pod["dnsPolicy"] == "ClusterFirst"
    assert pod["schedulerName"] == "default-scheduler"
    assert pod["securityContext"] == {}
    app = pod["containers"][0]
    assert app["imagePullPolicy"] == "IfNotPresent"
    assert app["terminationMessagePath"] == "/dev/termination-log"
    assert app["terminationMessagePolicy"] == "File"
    assert app["ports"] == [{"containerPort": 8080, "protocol": "TCP"}]
    assert deployment["metadata"]["generation"] == 1


def test_get_json_shows_the_service_defaults(kubectl: Kubectl) -> None:
    _created(kubectl, WEB)

    spec = _json(kubectl, "svc", "web")["spec"]

    assert spec["type"] == "ClusterIP"
    assert spec["sessionAffinity"] == "None"
    assert ipaddress.ip_address(spec["clusterIP"]) in ipaddress.ip_network("10.96.0.0/16")
    assert spec["ports"] == [{"port": 80, "protocol": "TCP", "targetPort": 80}]


def test_get_pods_with_a_set_based_selector(kubectl: Kubectl) -> None:
    for name, track in (("web-a", "stable"), ("web-b", "canary"), ("web-c", "canary")):
        _created(kubectl, POD.format(name=name, track=track))

    canary = kubectl("get", "pods", "-l", "track in (canary)", "-o", "name")
    stable = kubectl("get", "pods", "-l", "track notin (canary),app", "-o", "name")
    untracked = kubectl("get", "pods", "-l", "!track")

    assert canary.stdout.split() == ["pod/web-b", "pod/web-c"]
    assert stable.stdout.split() == ["pod/web-a"]
    assert untracked.stderr.strip() == "No resources found in default namespace."


def test_get_pods_prints_the_pod_columns(kubectl: Kubectl) -> None:
    _created(kubectl, POD.format(name="web-a", track="stable"))

    header, row = kubectl("get", "pods").stdout.splitlines()

    assert header.split() == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    assert row.split()[:4] == ["web-a", "0/1", "Pending", "0"]


def test_missing_deployment_is_not_found(kubectl: Kubectl) -> None:
    result = kubectl("get", "deploy", "nope")

    assert result.returncode == 1
    assert (
        result.stderr.strip() == 'Error from server (NotFound): deployments.apps "nope" not found'
    )


def test_invalid_deployment_is_rejected_with_its_causes(kubectl: Kubectl) -> None:
    invalid = WEB.split("---")[0].replace("image: reg/web:1.0", "imagePullPolicy: Always")

    result = kubectl("create", "-f", "-", stdin=invalid)

    assert result.returncode == 1
    assert 'The Deployment "web" is invalid' in result.stderr
    assert "spec.template.spec.containers[0].image: Required value" in result.stderr


def test_unknown_field_is_refused_by_strict_field_validation(kubectl: Kubectl) -> None:
    unknown = WEB.split("---")[0].replace("replicas: 2", "replicas: 2\n  replica: 3")

    result = kubectl("create", "-f", "-", stdin=unknown)

    assert result.returncode == 1
    assert 'strict decoding error: unknown field "spec.replica"' in result.stderr


# --- change ----------------------------------------------------------------------------------


def test_strategic_patch_changes_one_container_image_by_name(kubectl: Kubectl) -> None:
    _created(kubectl, WEB)
    patch = {
        "spec": {"template": {"spec": {"containers": [{"name": "app", "image": "reg/web:2"}]}}}
    }

    result = kubectl("patch", "deploy", "web", "--type=strategic", "-p", json.dumps(patch))

    assert result.stdout.strip() == "deployment.apps/web patched"
    containers = _json(kubectl, "deploy", "web")["spec"]["template"]["spec"]["containers"]
    assert [(c["name"], c["image"]) for c in containers] == [
        ("app", "reg/web:2"),
        ("sidecar", "reg/proxy:2.0"),
    ]


def test_merge_patch_replaces_the_container_list(kubectl: Kubectl) -> None:
    _created(kubectl, WEB)
    patch = {
        "spec": {"template": {"spec": {"containers": [{"name": "app", "image": "reg/web:2"}]}}}
    }

    result = kubectl("patch", "deploy", "web", "--type=merge", "-p", json.dumps(patch))

    assert result.returncode == 0, result.stderr
    containers = _json(kubectl, "deploy", "web")["spec"]["template"]["spec"]["containers"]
    assert [c["name"] for c in containers] == ["app"]


def test_json_patch_replaces_one_field(kubectl: Kubectl) -> None:
    _created(kubectl, WEB)
    patch = [{"op": "replace", "path": "/spec/template/spec/containers/1/image", "value": "p:3"}]

    result = kubectl("patch", "deploy", "web", "--type=json", "-p", json.dumps(patch))

    assert result.returncode == 0, result.stderr
    containers = _json(kubectl, "deploy", "web")["spec"]["template"]["spec"]["containers"]
    assert [c["image"] for c in containers] == ["reg/web:1.0", "p:3"]


def test_patch_that_changes_the_template_bumps_the_generation(kubectl: Kubectl) -> None:
    _created(kubectl, WEB)

    kubectl("patch", "deploy", "web", "--type=merge", "-p", '{"metadata":{"labels":{"x":"y"}}}')
    labelled = _json(kubectl, "deploy", "web")["metadata"]["generation"]
    kubectl("set", "image", "deploy/web", "app=reg/web:3")
    changed = _json(kubectl, "deploy", "web")["metadata"]["generation"]

    assert (labelled, changed) == (1, 2)


def test_scale_prints_scaled_and_sets_the_replicas(kubectl: Kubectl) -> None:
    _created(kubectl, WEB)

    result = kubectl("scale", "deploy/web", "--replicas=3")

    assert result.stdout.strip() == "deployment.apps/web scaled"
    assert _json(kubectl, "deploy", "web")["spec"]["replicas"] == 3


def test_apply_creates_then_configures(kubectl: Kubectl) -> None:
    first = kubectl("apply", "-f", "-", stdin=WEB)
    second = kubectl("apply", "-f", "-", stdin=WEB.replace("reg/web:1.0", "reg/web:1.1"))

    assert first.stdout.splitlines() == ["deployment.apps/web created", "service/web created"]
    assert second.stdout.splitlines() == ["deployment.apps/web configured", "service/web unchanged"]
    image = _json(kubectl, "deploy", "web")["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image == "reg/web:1.1"


def test_delete_removes_the_object(kubectl: Kubectl) -> None:
    _created(kubectl, WEB)

    result = kubectl("delete", "deploy", "web")

    assert result.returncode == 0, result.stderr
    assert 'deployment.apps "web" deleted' in result.stdout
    assert "NotFound" in kubectl("get", "deploy", "web").stderr


# --- watch -----------------------------------------------------------------------------------


def test_rollout_status_waits_on_the_watch_until_the_rollout_is_complete(
    sim: SimServer, kubectl: Kubectl
) -> None:
    _created(kubectl, WEB)

    def complete_the_rollout() -> None:
        time.sleep(0.5)
        deployment = sim.store.get(DEPLOYMENTS, "default", "web")
        deployment["status"] = {
            "observedGeneration": 1,
            "replicas": 2,
            "updatedReplicas": 2,
            "readyReplicas": 2,
            "availableReplicas": 2,
        }
        sim.store.update(DEPLOYMENTS, deployment, subresource="status")

    writer = threading.Thread(target=complete_the_rollout)
    writer.start()
    result = kubectl("rollout", "status", "deploy/web", "--timeout=20s")
    writer.join()

    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == 'deployment "web" successfully rolled out'


# --- Istio -----------------------------------------------------------------------------------


def test_istio_virtual_service_is_created_and_read(kubectl: Kubectl) -> None:
    created = kubectl("create", "-f", "-", stdin=VIRTUAL_SERVICE)

    header, row = kubectl("get", "vs").stdout.splitlines()
    service = _json(kubectl, "virtualservice", "web")

    assert created.stdout.strip() == "virtualservice.networking.istio.io/web created"
    assert header.split() == ["NAME", "GATEWAYS", "HOSTS", "AGE"]
    assert row.split()[:2] == ["web", '["web"]']
    assert [r["weight"] for r in service["spec"]["http"][0]["route"]] == [90, 10]


def test_istio_weights_outside_0_to_100_are_invalid(kubectl: Kubectl) -> None:
    result = kubectl(
        "create", "-f", "-", stdin=VIRTUAL_SERVICE.replace("weight: 90", "weight: 190")
    )

    assert result.returncode == 1
    assert 'The VirtualService "web" is invalid' in result.stderr
    assert "spec.http[0].route[0].weight" in result.stderr


# --- access ----------------------------------------------------------------------------------


def test_denied_patch_is_forbidden_with_the_rbac_message(sim: SimServer, kubectl: Kubectl) -> None:
    _created(kubectl, WEB)
    sim.deny([AccessRule(verb="patch", resource="deployments")])

    result = kubectl("scale", "deploy/web", "--replicas=3")
    patched = kubectl("patch", "deploy", "web", "--type=merge", "-p", '{"spec":{"replicas":4}}')

    assert result.returncode == 0, result.stderr  # scale patches deployments/scale, not denied
    assert patched.returncode == 1
    assert patched.stderr.strip() == (
        'Error from server (Forbidden): deployments.apps "web" is forbidden: User '
        '"system:serviceaccount:canarybot:canarybot" cannot patch resource "deployments" in API '
        'group "apps" in the namespace "default"'
    )


def test_kubectl_sends_no_token_over_plain_http_and_is_served(
    sim: SimServer, kubectl: Kubectl
) -> None:
    # client-go leaves bearer tokens off http:// connections, so the simulator serves
    # requests without one; a wrong token is refused (tests/sim/test_api_client.py).
    bad = sim.write_kubeconfig(kubectl.kubeconfig.with_name("bad-kubeconfig"))
    bad.write_text(bad.read_text().replace(sim.token, "stolen"))

    result = Kubectl(kubectl.binary, bad)("get", "pods")

    assert result.returncode == 0, result.stderr
