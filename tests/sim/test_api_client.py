"""The real kubernetes Python client against the simulator, as k8s/ will use it."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, watch
from kubernetes.client import ApiClient
from kubernetes.client.exceptions import ApiException

from sim.access import AccessRule, RecordedRequest
from sim.server import SimServer
from tests.sim.conftest import new_api_client


def _deployment(name: str = "web", *, image: str = "reg/web:1.0") -> dict[str, Any]:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "app", "image": image}]},
            },
        },
    }


VIRTUAL_SERVICE: dict[str, Any] = {
    "apiVersion": "networking.istio.io/v1",
    "kind": "VirtualService",
    "metadata": {"name": "web"},
    "spec": {
        "hosts": ["web"],
        "http": [
            {
                "route": [
                    {"destination": {"host": "web", "subset": "stable"}, "weight": 100},
                    {"destination": {"host": "web", "subset": "canary"}, "weight": 0},
                ]
            }
        ],
    },
}


def _message(err: ApiException) -> str:
    """The `message` of the Status body the server answered with."""
    return str(json.loads(err.body or "{}")["message"])


# The generated client types every model field Optional; the tests read them through Any.
@pytest.fixture
def apps(api_client: ApiClient) -> Any:
    """AppsV1Api on the simulator."""
    return client.AppsV1Api(api_client)


@pytest.fixture
def core(api_client: ApiClient) -> Any:
    """CoreV1Api on the simulator."""
    return client.CoreV1Api(api_client)


def _stream(func: Any, *args: Any, **kwargs: Any) -> tuple[Any, Iterator[dict[str, Any]]]:
    """A `watch.Watch()` (untyped in the client) and its event stream of `func`."""
    watch_type: Any = watch.Watch
    watcher = watch_type()
    return watcher, watcher.stream(func, *args, **kwargs)


# --- reads and writes ------------------------------------------------------------------------


def test_created_deployment_is_listed_and_read_with_defaults(apps: Any) -> None:
    created = apps.create_namespaced_deployment("default", _deployment())

    listed = apps.list_namespaced_deployment("default", label_selector="app=web")
    read = apps.read_namespaced_deployment("web", "default")

    assert [d.metadata.name for d in listed.items] == ["web"]
    assert read.metadata.uid == created.metadata.uid
    assert read.spec.strategy.rolling_update.max_surge == "25%"
    assert read.spec.template.spec.containers[0].image_pull_policy == "IfNotPresent"


def test_strategic_patch_merges_containers_by_name(apps: Any) -> None:
    apps.create_namespaced_deployment("default", _deployment())
    patch = {
        "spec": {"template": {"spec": {"containers": [{"name": "app", "image": "reg/web:2"}]}}}
    }

    patched = apps.patch_namespaced_deployment("web", "default", patch)

    [container] = patched.spec.template.spec.containers
    assert (container.image, container.termination_message_path) == (
        "reg/web:2",
        "/dev/termination-log",
    )
    assert patched.metadata.generation == 2


def test_replace_with_the_current_resource_version_succeeds(apps: Any) -> None:
    apps.create_namespaced_deployment("default", _deployment())
    current = apps.read_namespaced_deployment("web", "default")
    current.spec.replicas = 5

    replaced = apps.replace_namespaced_deployment("web", "default", current)

    assert replaced.spec.replicas == 5
    assert int(replaced.metadata.resource_version) > int(current.metadata.resource_version)


def test_replace_with_a_stale_resource_version_is_a_conflict(apps: Any) -> None:
    apps.create_namespaced_deployment("default", _deployment())
    stale = apps.read_namespaced_deployment("web", "default")
    apps.patch_namespaced_deployment("web", "default", {"spec": {"replicas": 3}})
    stale.spec.replicas = 5

    with pytest.raises(ApiException) as caught:
        apps.replace_namespaced_deployment("web", "default", stale)

    assert caught.value.status == 409
    assert 'Operation cannot be fulfilled on deployments.apps "web"' in _message(caught.value)


def test_patch_carrying_a_stale_resource_version_is_a_conflict(apps: Any) -> None:
    created = apps.create_namespaced_deployment("default", _deployment())
    apps.patch_namespaced_deployment("web", "default", {"spec": {"replicas": 3}})
    guarded = {
        "metadata": {"resourceVersion": created.metadata.resource_version},
        "spec": {"replicas": 4},
    }

    with pytest.raises(ApiException) as caught:
        apps.patch_namespaced_deployment("web", "default", guarded)

    assert caught.value.status == 409
    assert apps.read_namespaced_deployment("web", "default").spec.replicas == 3


def test_scale_subresource_reads_and_patches_replicas(apps: Any) -> None:
    apps.create_namespaced_deployment("default", _deployment())

    scale = apps.read_namespaced_deployment_scale("web", "default")
    apps.patch_namespaced_deployment_scale("web", "default", {"spec": {"replicas": 7}})

    assert (scale.spec.replicas, scale.status.selector) == (2, "app=web")
    assert apps.read_namespaced_deployment("web", "default").spec.replicas == 7


def test_create_in_a_missing_namespace_is_not_found(apps: Any) -> None:
    with pytest.raises(ApiException) as caught:
        apps.create_namespaced_deployment("nope", _deployment())

    assert caught.value.status == 404
    assert 'namespaces "nope" not found' in _message(caught.value)


def test_delete_of_a_deployment_answers_a_success_status(apps: Any) -> None:
    apps.create_namespaced_deployment("default", _deployment())

    status = apps.delete_namespaced_deployment("web", "default")  # a Status, untyped: a dict

    assert (status["status"], status["details"]["name"], status["details"]["kind"]) == (
        "Success",
        "web",
        "deployments",
    )
    assert apps.list_namespaced_deployment("default").items == []


def test_custom_objects_create_read_and_merge_patch_a_virtual_service(
    api_client: ApiClient,
) -> None:
    custom: Any = client.CustomObjectsApi(api_client)
    args = ("networking.istio.io", "v1", "default", "virtualservices")
    custom.create_namespaced_custom_object(*args, VIRTUAL_SERVICE)
    current = custom.get_namespaced_custom_object(*args, "web")
    routes = current["spec"]["http"][0]["route"]
    routes[0]["weight"], routes[1]["weight"] = 90, 10

    patched = custom.patch_namespaced_custom_object(
        *args,
        "web",
        {
            "metadata": {"resourceVersion": current["metadata"]["resourceVersion"]},
            "spec": {"http": current["spec"]["http"]},
        },
    )

    assert [r["weight"] for r in patched["spec"]["http"][0]["route"]] == [90, 10]


# --- watch -----------------------------------------------------------------------------------


def test_watch_stream_receives_changes_after_the_listed_version(apps: Any) -> None:
    apps.create_namespaced_deployment("default", _deployment())
    listed = apps.list_namespaced_deployment("default")

    def change() -> None:
        time.sleep(0.3)
        apps.patch_namespaced_deployment("web", "default", {"spec": {"replicas": 4}})
        apps.delete_namespaced_deployment("web", "default")

    changer = threading.Thread(target=change)
    changer.start()
    seen = []
    stream, events = _stream(
        apps.list_namespaced_deployment,
        "default",
        resource_version=listed.metadata.resource_version,
        timeout_seconds=10,
    )
    for event in events:
        seen.append((event["type"], event["object"].spec.replicas))
        if event["type"] == "DELETED":
            stream.stop()
    changer.join()

    assert seen == [("MODIFIED", 4), ("DELETED", 4)]


def test_watch_without_a_version_starts_with_the_current_objects(apps: Any) -> None:
    apps.create_namespaced_deployment("default", _deployment("a"))
    apps.create_namespaced_deployment("default", _deployment("b"))

    names = []
    stream, events = _stream(apps.list_namespaced_deployment, "default", timeout_seconds=10)
    for event in events:
        names.append((event["type"], event["object"].metadata.name))
        if len(names) == 2:
            stream.stop()

    assert names == [("ADDED", "a"), ("ADDED", "b")]


# --- authentication, RBAC, injected conflicts, recording -------------------------------------


def test_wrong_bearer_token_is_unauthorized(sim: SimServer, tmp_path: Path) -> None:
    path = sim.write_kubeconfig(tmp_path / "bad")
    path.write_text(path.read_text().replace(sim.token, "stolen"))
    with new_api_client(path) as bad, pytest.raises(ApiException) as caught:
        client.CoreV1Api(bad).list_namespace()

    assert caught.value.status == 401


def test_denied_subresource_patch_is_forbidden(sim: SimServer, apps: Any) -> None:
    apps.create_namespaced_deployment("default", _deployment("fop-gate"))
    sim.deny([AccessRule(verb="patch", resource="deployments/scale", namespace="default")])

    with pytest.raises(ApiException) as caught:
        apps.patch_namespaced_deployment_scale("fop-gate", "default", {"spec": {"replicas": 1}})

    assert caught.value.status == 403
    assert (
        'deployments.apps "fop-gate" is forbidden: User "system:serviceaccount:canarybot:'
        'canarybot" cannot patch resource "deployments/scale" in API group "apps" in the '
        'namespace "default"'
    ) in _message(caught.value)


def test_denied_list_names_the_collection(sim: SimServer, core: Any) -> None:
    sim.deny([{"verb": "list", "resource": "pods"}])

    with pytest.raises(ApiException) as caught:
        core.list_namespaced_pod("default")

    assert (
        'pods is forbidden: User "system:serviceaccount:canarybot:canarybot" cannot list '
        'resource "pods" in API group "" in the namespace "default"' in _message(caught.value)
    )


def test_injected_conflict_fails_the_next_matching_write_once(sim: SimServer, apps: Any) -> None:
    apps.create_namespaced_deployment("default", _deployment())
    sim.inject_conflicts(1, verb="patch", resource="deployments", name="web")

    with pytest.raises(ApiException) as caught:
        apps.patch_namespaced_deployment("web", "default", {"spec": {"replicas": 3}})
    retried = apps.patch_namespaced_deployment("web", "default", {"spec": {"replicas": 3}})

    assert caught.value.status == 409
    assert retried.spec.replicas == 3


def test_requests_are_recorded_with_their_rbac_attributes(sim: SimServer, apps: Any) -> None:
    apps.create_namespaced_deployment("default", _deployment())
    sim.clear_requests()

    apps.read_namespaced_deployment("web", "default")
    apps.list_deployment_for_all_namespaces()
    apps.patch_namespaced_deployment_scale("web", "default", {"spec": {"replicas": 1}})
    apps.delete_namespaced_deployment("web", "default")

    assert sim.requests() == [
        RecordedRequest("get", "apps", "deployments", "", "default", "web"),
        RecordedRequest("list", "apps", "deployments", "", "", ""),
        RecordedRequest("patch", "apps", "deployments", "scale", "default", "web"),
        RecordedRequest("delete", "apps", "deployments", "", "default", "web"),
    ]
