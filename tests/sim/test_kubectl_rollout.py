"""The real kubectl's rollout commands against the simulator with its controllers running.

Expectations are Kubernetes' documented behaviour and kubectl's own output, not the
simulator's code: revision numbering on undo, the paused-undo refusal, the progress deadline
failure of `rollout status`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from sim.behaviour import PodFate, PodRule
from sim.server import SimServer
from tests.sim.conftest import KUBECTL, Kubectl

WEB = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 3
  progressDeadlineSeconds: {deadline}
  selector:
    matchLabels: {{app: web}}
  template:
    metadata:
      labels: {{app: web}}
    spec:
      containers:
      - name: app
        image: reg/web:1
"""

WAIT = "--timeout=30s"


@pytest.fixture
def kubectl(cluster: SimServer, tmp_path: Path) -> Kubectl:
    """kubectl against a simulator whose pods are Ready after 50 ms (reg/web:bad never)."""
    cluster.behaviour.set_rules(
        [PodRule("reg/web:bad", PodFate.NEVER_READY)], default_ready_after_s=0.05
    )
    return Kubectl(KUBECTL, cluster.write_kubeconfig(tmp_path / "kubeconfig"))


def ok(kubectl: Kubectl, *args: str, stdin: str | None = None) -> str:
    """Run kubectl, insist on success, return its output."""
    result = kubectl(*args, stdin=stdin)
    assert result.returncode == 0, result.stderr
    return result.stdout


def deploy(kubectl: Kubectl, *, deadline: int = 600) -> None:
    ok(kubectl, "create", "-f", "-", stdin=WEB.format(deadline=deadline))
    ok(kubectl, "rollout", "status", "deployment/web", WAIT)


def pod_images(kubectl: Kubectl) -> list[str]:
    pods = json.loads(ok(kubectl, "get", "pods", "-l", "app=web", "-o", "json"))["items"]
    return sorted(p["spec"]["containers"][0]["image"] for p in pods)


def history(kubectl: Kubectl) -> list[list[str]]:
    """The rows of `kubectl rollout history` below its header."""
    lines = ok(kubectl, "rollout", "history", "deployment/web").splitlines()
    start = lines.index(next(line for line in lines if line.startswith("REVISION")))
    return [line.split() for line in lines[start + 1 :] if line.strip()]


def deployment_image(kubectl: Kubectl) -> str:
    return ok(
        kubectl,
        "get",
        "deployment",
        "web",
        "-o",
        "jsonpath={.spec.template.spec.containers[0].image}",
    )


def eventually(check: Callable[[], bool], *, timeout_s: float = 10) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def test_set_image_rolls_out_and_rollout_status_reports_success(kubectl: Kubectl) -> None:
    deploy(kubectl)

    assert ok(kubectl, "set", "image", "deployment/web", "app=reg/web:2") == (
        "deployment.apps/web image updated\n"
    )
    status = kubectl("rollout", "status", "deployment/web", WAIT)

    assert status.returncode == 0, status.stderr
    assert status.stdout.splitlines()[-1] == 'deployment "web" successfully rolled out'
    assert pod_images(kubectl) == ["reg/web:2"] * 3


def test_rollout_status_fails_once_the_progress_deadline_passes(kubectl: Kubectl) -> None:
    deploy(kubectl, deadline=2)
    ok(kubectl, "set", "image", "deployment/web", "app=reg/web:bad")

    status = kubectl("rollout", "status", "deployment/web", WAIT)

    assert status.returncode == 1
    assert status.stderr.strip() == 'error: deployment "web" exceeded its progress deadline'
    reason = ok(
        kubectl,
        "get",
        "deployment",
        "web",
        "-o",
        'jsonpath={.status.conditions[?(@.type=="Progressing")].reason}',
    )
    assert reason == "ProgressDeadlineExceeded"


def test_a_paused_deployment_holds_and_refuses_undo_until_resumed(kubectl: Kubectl) -> None:
    deploy(kubectl)
    ok(kubectl, "set", "image", "deployment/web", "app=reg/web:2")
    ok(kubectl, "rollout", "status", "deployment/web", WAIT)

    assert ok(kubectl, "rollout", "pause", "deployment/web") == "deployment.apps/web paused\n"
    ok(kubectl, "set", "image", "deployment/web", "app=reg/web:3")
    time.sleep(0.3)  # several controller passes
    assert pod_images(kubectl) == ["reg/web:2"] * 3
    assert len(ok(kubectl, "get", "rs", "-l", "app=web", "-o", "name").split()) == 2
    reason = ok(
        kubectl,
        "get",
        "deployment",
        "web",
        "-o",
        'jsonpath={.status.conditions[?(@.type=="Progressing")].reason}',
    )
    assert reason == "DeploymentPaused"

    undo = kubectl("rollout", "undo", "deployment/web")
    assert undo.returncode == 1
    assert undo.stderr.strip() == (
        "error: you cannot rollback a paused deployment; resume it first with "
        "'kubectl rollout resume' and try again"
    )

    assert ok(kubectl, "rollout", "resume", "deployment/web") == "deployment.apps/web resumed\n"
    ok(kubectl, "rollout", "status", "deployment/web", WAIT)
    assert pod_images(kubectl) == ["reg/web:3"] * 3


def test_undo_without_an_earlier_revision_finds_no_history(kubectl: Kubectl) -> None:
    deploy(kubectl)
    ok(kubectl, "rollout", "pause", "deployment/web")
    ok(kubectl, "set", "image", "deployment/web", "app=reg/web:2")  # paused: no new revision

    undo = kubectl("rollout", "undo", "deployment/web")

    assert undo.returncode == 1
    assert undo.stderr.strip() == 'error: no rollout history found for deployment "web"'


def test_history_lists_revisions_and_shows_one_template(kubectl: Kubectl) -> None:
    deploy(kubectl)
    ok(kubectl, "set", "image", "deployment/web", "app=reg/web:2")
    ok(kubectl, "annotate", "deployment/web", "kubernetes.io/change-cause=ship web 2")
    ok(kubectl, "rollout", "status", "deployment/web", WAIT)

    eventually(lambda: history(kubectl) == [["1", "<none>"], ["2", "ship", "web", "2"]])
    first = ok(kubectl, "rollout", "history", "deployment/web", "--revision=1")
    assert first.startswith("deployment.apps/web with revision #1\nPod Template:\n")
    assert "Image:\treg/web:1" in first.replace(" ", "")
    assert "pod-template-hash=" in first


def test_undo_returns_to_the_previous_template_under_a_new_revision(kubectl: Kubectl) -> None:
    deploy(kubectl)
    ok(kubectl, "set", "image", "deployment/web", "app=reg/web:2")
    ok(kubectl, "rollout", "status", "deployment/web", WAIT)

    assert ok(kubectl, "rollout", "undo", "deployment/web") == "deployment.apps/web rolled back\n"
    ok(kubectl, "rollout", "status", "deployment/web", WAIT)

    assert deployment_image(kubectl) == "reg/web:1"
    assert pod_images(kubectl) == ["reg/web:1"] * 3
    eventually(lambda: [row[0] for row in history(kubectl)] == ["2", "3"])
    third = ok(kubectl, "rollout", "history", "deployment/web", "--revision=3")
    assert "reg/web:1" in third
    annotations = json.loads(
        ok(kubectl, "get", "deployment", "web", "-o", "jsonpath={.metadata.annotations}")
    )
    assert annotations["deployment.kubernetes.io/revision"] == "3"


def test_undo_to_a_named_revision(kubectl: Kubectl) -> None:
    deploy(kubectl)
    for image in ("reg/web:2", "reg/web:3"):
        ok(kubectl, "set", "image", "deployment/web", f"app={image}")
        ok(kubectl, "rollout", "status", "deployment/web", WAIT)

    ok(kubectl, "rollout", "undo", "deployment/web", "--to-revision=1")
    ok(kubectl, "rollout", "status", "deployment/web", WAIT)

    assert pod_images(kubectl) == ["reg/web:1"] * 3
    eventually(lambda: [row[0] for row in history(kubectl)] == ["2", "3", "4"])
    missing = kubectl("rollout", "undo", "deployment/web", "--to-revision=1")
    assert missing.returncode == 1
    assert missing.stderr.strip() == "error: unable to find specified revision 1 in history"


def test_scale_changes_the_number_of_ready_pods(kubectl: Kubectl) -> None:
    deploy(kubectl)

    assert ok(kubectl, "scale", "deployment/web", "--replicas=5") == "deployment.apps/web scaled\n"
    ok(kubectl, "rollout", "status", "deployment/web", WAIT)
    assert pod_images(kubectl) == ["reg/web:1"] * 5

    ok(kubectl, "scale", "deployment/web", "--replicas=1")
    ok(kubectl, "rollout", "status", "deployment/web", WAIT)
    eventually(lambda: len(pod_images(kubectl)) == 1)
    ready = ok(kubectl, "get", "deployment", "web", "-o", "jsonpath={.status.readyReplicas}")
    assert ready == "1"
    assert len(history(kubectl)) == 1
