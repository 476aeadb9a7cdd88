"""Versioned Deployments, as blue-green and Istio releases run them side by side.

The new version runs in `<deployment>-<version>`, a copy of the live Deployment whose
`version` label (in selector and pod template) names the new version; a Service selector or an
Istio subset then chooses between versions by that label.
"""

from __future__ import annotations

import copy
import re

from k8s.cluster import Cluster, Obj
from k8s.resources import DEPLOYMENTS
from k8s.rollouts import image_of, set_image
from k8s.types import Revision

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
