"""Versioned Deployments, as blue-green and Istio releases run them side by side.

The new version runs in `<deployment>-<version>`, a copy of the live Deployment whose
`version` label (in selector and pod template) names the new version; a Service selector or an
Istio subset then chooses between versions by that label.
"""

from __future__ import annotations

import copy
import re
import time

from k8s.cluster import Cluster, Obj
from k8s.errors import InvalidError
from k8s.resources import DEPLOYMENTS
from k8s.rollouts import image_of, set_image
from k8s.strategy import IMAGE, POLL_S, STEP, wait_rolled_out
from k8s.types import Revision

PREVIOUS_VERSION = "canarybot.io/previous-version"  # on a new version: the one it replaces

_LABEL_UNSAFE = re.compile(r"[^a-z0-9.-]+")


def version_from_image(image: str) -> str:
    """A label-safe version for an image: its tag, or the start of its digest.

    `reg/hexo:2026-11-22` → `2026-11-22`; `reg/hexo@sha256:ab12…` → `sha256-ab12…` (12 hex).
    Purely computational.
    """
    if "@" in image:
        algorithm, _, digest = image.rpartition("@")[2].partition(":")
        raw = f"{algorithm}-{digest[:12]}"
    else:
        last = image.rsplit("/", 1)[-1]
        raw = last.partition(":")[2] or "latest"
    cleaned = _LABEL_UNSAFE.sub("-", raw.lower()).strip("-.")
    return cleaned[:40].rstrip("-.") or "unversioned"


def versioned_copy(
    live: Obj,
    *,
    name: str,
    version: str,
    version_label: str,
    image: str,
    container: str | None,
    notes: dict[str, str],
) -> Obj:
    """The new version's Deployment, copied from the live one. Purely computational."""
    spec = copy.deepcopy(live["spec"])
    spec.pop("paused", None)
    spec["selector"].setdefault("matchLabels", {})[version_label] = version
    spec["template"].setdefault("metadata", {}).setdefault("labels", {})[version_label] = version
    labels = {**(live["metadata"].get("labels") or {}), version_label: version}
    body: Obj = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": name,
            "namespace": live["metadata"]["namespace"],
            "labels": labels,
            "annotations": dict(notes),
        },
        "spec": spec,
    }
    set_image(body, container, image)
    return body


def deployment_with_labels(cluster: Cluster, namespace: str, labels: dict[str, str]) -> Obj | None:
    """The Deployment whose pods carry all of `labels` (what a selector picks), if any."""
    for deployment in cluster.select(DEPLOYMENTS, namespace):
        pod_labels = deployment["spec"]["template"].get("metadata", {}).get("labels", {})
        if all(pod_labels.get(k) == v for k, v in labels.items()):
            return deployment
    return None


def versions_history(
    deployments: list[Obj], *, version_label: str, live_version: str, container: str | None
) -> list[Revision]:
    """Every version present, oldest first, numbered like a rollout history.

    Purely computational.
    """
    versioned = [
        d
        for d in deployments
        if version_label in d["spec"]["template"].get("metadata", {}).get("labels", {})
    ]
    versioned.sort(key=lambda d: str(d["metadata"].get("creationTimestamp", "")))
    history = []
    for number, deployment in enumerate(versioned, start=1):
        version = deployment["spec"]["template"]["metadata"]["labels"][version_label]
        history.append(
            Revision(
                number=number,
                image=image_of(deployment, container),
                change_cause=f"{deployment['metadata']['name']} ({version})",
                current=version == live_version,
            )
        )
    return history


def bring_up(
    cluster: Cluster,
    namespace: str,
    *,
    live: Obj,
    live_version: str,
    base: str,
    image: str,
    version_label: str,
    container: str | None,
    timeout_s: float,
) -> str:
    """Run `image` as a new version beside the live one and wait until it is ready.

    Returns the new version. A leftover Deployment of the same version (an earlier, failed
    try) is replaced, so the new one starts from the live spec.
    """
    version = version_from_image(image)
    if version == live_version:
        raise InvalidError(f"version {version} is already live")
    name = f"{base}-{version}"
    body = versioned_copy(
        live,
        name=name,
        version=version,
        version_label=version_label,
        image=image,
        container=container,
        notes={IMAGE: image, PREVIOUS_VERSION: live_version, STEP: "0"},
    )
    if cluster.find(DEPLOYMENTS, namespace, name) is not None:
        cluster.delete(DEPLOYMENTS, namespace, name)
        wait_gone(cluster, namespace, name, timeout_s=timeout_s)
    cluster.create(DEPLOYMENTS, namespace, body)
    wait_rolled_out(cluster, namespace, name, timeout_s=timeout_s, what=f"{name} on {image}")
    return version


def wait_gone(cluster: Cluster, namespace: str, name: str, *, timeout_s: float) -> None:
    """Wait until a deleted Deployment is gone (the API may keep it while it finalizes)."""
    deadline = time.monotonic() + timeout_s
    while cluster.find(DEPLOYMENTS, namespace, name) is not None:
        if time.monotonic() >= deadline:
            raise InvalidError(f"deployment {name} is still being deleted")
        time.sleep(POLL_S)
