"""The simulator's HTTP API spoken directly: Status bodies, discovery, tables, watch, control."""

from __future__ import annotations

import contextlib
import http.client
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from sim.server import SimServer
from sim.store import DEPLOYMENTS

DEPLOYMENT = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "web", "labels": {"app": "web", "track": "stable"}},
    "spec": {
        "selector": {"matchLabels": {"app": "web"}},
        "template": {
            "metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "app", "image": "reg/web:1"}]},
        },
    },
}
DEPLOYMENTS_URL = "/apis/apps/v1/namespaces/default/deployments"
TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"


class Http:
    """One kept-alive connection to the simulator."""

    def __init__(self, sim: SimServer) -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", sim.port, timeout=10)
        self.token = sim.token

    def __call__(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        content_type: str = "application/json",
        accept: str = "application/json",
        raw: bytes | None = None,
    ) -> tuple[int, Any]:
        """Send one request; the status and the decoded JSON (or text) answer."""
        payload = raw if raw is not None else (b"" if body is None else json.dumps(body).encode())
        headers = {
            "Content-Type": content_type,
            "Accept": accept,
            "Authorization": f"Bearer {self.token}",
        }
        self.connection.request(method, path, body=payload, headers=headers)
        response = self.connection.getresponse()
        data = response.read()
        try:
            return response.status, json.loads(data)
        except ValueError:
            return response.status, data.decode()


@pytest.fixture
def http_api(sim: SimServer) -> Iterator[Http]:
    """A kept-alive HTTP connection to `sim`."""
    client = Http(sim)
    yield client
    client.connection.close()


def _created(http_api: Http, body: dict[str, Any] = DEPLOYMENT) -> dict[str, Any]:
    code, created = http_api("POST", DEPLOYMENTS_URL, body)
    assert code == 201, created
    return dict(created)


# --- Status bodies ---------------------------------------------------------------------------


def test_not_found_is_the_api_servers_status_body(http_api: Http) -> None:
    code, body = http_api("GET", DEPLOYMENTS_URL + "/nope")

    assert code == 404
    assert body == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": 'deployments.apps "nope" not found',
        "reason": "NotFound",
        "details": {"name": "nope", "group": "apps", "kind": "deployments"},
        "code": 404,
    }


def test_invalid_object_answers_422_with_causes(http_api: Http) -> None:
    bad = json.loads(json.dumps(DEPLOYMENT))
    bad["spec"]["replicas"] = -1

    code, body = http_api("POST", DEPLOYMENTS_URL, bad)

    assert (code, body["reason"]) == (422, "Invalid")
    assert body["message"] == (
        'Deployment.apps "web" is invalid: spec.replicas: Invalid value: -1: must be greater '
        "than or equal to 0"
    )
    assert body["details"]["causes"] == [
        {
            "reason": "FieldValueInvalid",
            "field": "spec.replicas",
            "message": "Invalid value: -1: must be greater than or equal to 0",
        }
    ]


def test_schema_type_error_is_invalid(http_api: Http) -> None:
    bad = json.loads(json.dumps(DEPLOYMENT))
    bad["spec"]["template"]["spec"]["containers"][0]["ports"] = [{"containerPort": "http"}]

    code, body = http_api("POST", DEPLOYMENTS_URL, bad)

    assert code == 422
    assert [c["field"] for c in body["details"]["causes"]] == [
        "spec.template.spec.containers[0].ports[0].containerPort"
    ]


def test_unknown_fields_are_dropped_with_a_warning_without_strict_validation(
    sim: SimServer,
) -> None:
    unknown = json.loads(json.dumps(DEPLOYMENT))
    unknown["spec"]["replica"] = 3
    connection = http.client.HTTPConnection("127.0.0.1", sim.port, timeout=10)
    connection.request(
        "POST", DEPLOYMENTS_URL, json.dumps(unknown), {"Content-Type": "application/json"}
    )
    response = connection.getresponse()
    body = json.loads(response.read())
    connection.close()

    assert response.status == 201
    assert response.getheader("Warning") == '299 - "unknown field \\"spec.replica\\""'
    assert "replica" not in body["spec"]


def test_unknown_path_is_not_found(http_api: Http) -> None:
    code, body = http_api("GET", "/apis/apps/v1/namespaces/default/statefulsets")

    assert (code, body["message"]) == (404, "the server could not find the requested resource")


def test_post_to_an_object_is_method_not_allowed(http_api: Http) -> None:
    code, body = http_api("POST", DEPLOYMENTS_URL + "/web", DEPLOYMENT)

    assert (code, body["reason"]) == (405, "MethodNotAllowed")


def test_server_side_apply_is_an_unsupported_media_type(http_api: Http) -> None:
    _created(http_api)

    code, body = http_api(
        "PATCH", DEPLOYMENTS_URL + "/web", DEPLOYMENT, content_type="application/apply-patch+yaml"
    )

    assert (code, body["reason"]) == (415, "UnsupportedMediaType")


def test_json_patch_that_fails_its_test_is_invalid(http_api: Http) -> None:
    _created(http_api)

    code, _body = http_api(
        "PATCH",
        DEPLOYMENTS_URL + "/web",
        [{"op": "test", "path": "/spec/replicas", "value": 9}],
        content_type="application/json-patch+json",
    )

    assert code == 422


def test_changing_a_deployment_selector_is_invalid(http_api: Http) -> None:
    _created(http_api)
    patch = {
        "spec": {
            "selector": {"matchLabels": {"app": "other"}},
            "template": {"metadata": {"labels": {"app": "other"}}},
        }
    }

    code, body = http_api(
        "PATCH", DEPLOYMENTS_URL + "/web", patch, content_type="application/merge-patch+json"
    )

    assert code == 422
    assert "spec.selector: Invalid value" in body["message"]
    assert "field is immutable" in body["message"]


# --- discovery -------------------------------------------------------------------------------


def test_discovery_lists_groups_and_resources_with_subresources(http_api: Http) -> None:
    _, groups = http_api("GET", "/apis")
    _, apps = http_api("GET", "/apis/apps/v1")
    _, core = http_api("GET", "/api")

    assert {g["name"] for g in groups["groups"]} == {"apps", "networking.istio.io"}
    by_name = {r["name"]: r for r in apps["resources"]}
    assert by_name["deployments"]["shortNames"] == ["deploy"]
    assert by_name["deployments"]["namespaced"] is True
    assert "watch" in by_name["deployments"]["verbs"]
    assert (by_name["deployments/scale"]["group"], by_name["deployments/scale"]["kind"]) == (
        "autoscaling",
        "Scale",
    )
    assert "deployments/status" in by_name
    assert core["versions"] == ["v1"]


# --- tables ----------------------------------------------------------------------------------


def test_table_rows_carry_partial_object_metadata_by_default(http_api: Http) -> None:
    _created(http_api)

    _, body = http_api("GET", DEPLOYMENTS_URL, accept=TABLE)

    assert body["kind"] == "Table"
    assert [c["name"] for c in body["columnDefinitions"] if c["priority"] == 0] == [
        "Name",
        "Ready",
        "Up-to-date",
        "Available",
        "Age",
    ]
    [row] = body["rows"]
    assert row["cells"][:4] == ["web", "0/1", 0, 0]
    assert row["object"]["kind"] == "PartialObjectMetadata"
    assert row["object"]["metadata"]["name"] == "web"


def test_table_rows_carry_the_whole_object_when_asked(http_api: Http) -> None:
    _created(http_api)

    _, body = http_api("GET", DEPLOYMENTS_URL + "?includeObject=Object", accept=TABLE)

    assert body["rows"][0]["object"]["spec"]["replicas"] == 1


def test_pod_status_column_shows_the_waiting_reason(sim: SimServer, http_api: Http) -> None:
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p"},
        "spec": {"containers": [{"name": "app", "image": "broken:1"}]},
    }
    http_api("POST", "/api/v1/namespaces/default/pods", pod)
    status = {
        "status": {
            "phase": "Pending",
            "containerStatuses": [
                {
                    "name": "app",
                    "ready": False,
                    "restartCount": 0,
                    "image": "broken:1",
                    "imageID": "",
                    "state": {"waiting": {"reason": "ImagePullBackOff"}},
                }
            ],
        }
    }
    http_api(
        "PATCH",
        "/api/v1/namespaces/default/pods/p/status",
        status,
        content_type="application/merge-patch+json",
    )

    _, body = http_api("GET", "/api/v1/namespaces/default/pods/p", accept=TABLE)

    assert body["rows"][0]["cells"][:3] == ["p", "0/1", "ImagePullBackOff"]


# --- watch -----------------------------------------------------------------------------------


def _watch(sim: SimServer, query: str) -> list[dict[str, Any]]:
    connection = http.client.HTTPConnection("127.0.0.1", sim.port, timeout=10)
    connection.request("GET", f"{DEPLOYMENTS_URL}?watch=true&timeoutSeconds=1&{query}")
    response = connection.getresponse()
    lines = response.read().decode().splitlines()
    connection.close()
    return [json.loads(line) for line in lines]


def test_watch_from_a_version_replays_later_changes_only(sim: SimServer, http_api: Http) -> None:
    created = _created(http_api)
    http_api(
        "PATCH",
        DEPLOYMENTS_URL + "/web",
        {"spec": {"replicas": 3}},
        content_type="application/merge-patch+json",
    )

    events = _watch(sim, f"resourceVersion={created['metadata']['resourceVersion']}")

    assert [(e["type"], e["object"]["spec"]["replicas"]) for e in events] == [("MODIFIED", 3)]


def test_watch_sees_an_object_leave_its_label_selector_as_deleted(
    sim: SimServer, http_api: Http
) -> None:
    _created(http_api)

    def relabel() -> None:
        time.sleep(0.3)
        http_api(
            "PATCH",
            DEPLOYMENTS_URL + "/web",
            {"metadata": {"labels": {"track": "canary"}}},
            content_type="application/merge-patch+json",
        )

    writer = threading.Thread(target=relabel)
    writer.start()
    events = _watch(sim, "labelSelector=track%3Dstable")
    writer.join()

    assert [e["type"] for e in events] == ["ADDED", "DELETED"]


def test_watch_with_initial_events_ends_them_with_a_bookmark(
    sim: SimServer, http_api: Http
) -> None:
    _created(http_api)

    events = _watch(
        sim, "sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true"
    )

    assert [e["type"] for e in events] == ["ADDED", "BOOKMARK"]
    assert events[1]["object"]["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}


def test_watch_ends_when_the_server_stops(sim: SimServer) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", sim.port, timeout=10)
    connection.request("GET", f"{DEPLOYMENTS_URL}?watch=1")
    response = connection.getresponse()

    started = time.monotonic()
    sim.stop()
    with contextlib.suppress(http.client.IncompleteRead, ConnectionError):
        response.read()  # cut off mid-stream is an ending too
    connection.close()

    assert time.monotonic() - started < 5


# --- control API -----------------------------------------------------------------------------


def test_control_api_records_denies_and_clears(sim: SimServer, http_api: Http) -> None:
    assert http_api("GET", "/_sim/healthz") == (200, "ok")
    http_api("DELETE", "/_sim/requests")
    http_api("POST", "/_sim/deny", [{"verb": "create", "resource": "deployments"}])

    code, body = http_api("POST", DEPLOYMENTS_URL, DEPLOYMENT)
    _, recorded = http_api("GET", "/_sim/requests")

    assert (code, body["reason"]) == (403, "Forbidden")
    assert recorded["requests"] == [
        {
            "verb": "create",
            "api_group": "apps",
            "resource": "deployments",
            "subresource": "",
            "namespace": "default",
            "name": "",
            "denied": True,
        }
    ]
    assert body["message"].startswith("deployments.apps is forbidden: User ")


def test_control_api_injects_conflicts(http_api: Http) -> None:
    _created(http_api)
    http_api("POST", "/_sim/conflicts", {"count": 2, "verb": "patch", "resource": "deployments"})
    patch = {"spec": {"replicas": 2}}
    merge = "application/merge-patch+json"

    codes = [
        http_api("PATCH", DEPLOYMENTS_URL + "/web", patch, content_type=merge)[0] for _ in range(3)
    ]

    assert codes == [409, 409, 200]


def test_control_api_loads_yaml_and_sets_pod_behaviour(sim: SimServer, http_api: Http) -> None:
    manifest = json.dumps(DEPLOYMENT).encode()
    code, _ = http_api("POST", "/_sim/load", raw=manifest, content_type="application/yaml")
    http_api(
        "POST",
        "/_sim/pods",
        {"default_ready_after_s": 1.5, "rules": [{"image": "bad/*", "fate": "crash-loop"}]},
    )

    assert code == 201
    assert sim.store.get(DEPLOYMENTS, "default", "web")["spec"]["replicas"] == 1
    assert sim.behaviour.fate_of("bad/x:1")[0] == "crash-loop"
    assert sim.behaviour.default_ready_after_s == 1.5


# --- collections and dry runs ----------------------------------------------------------------


def test_delete_collection_deletes_the_selected_objects(sim: SimServer, http_api: Http) -> None:
    _created(http_api)
    other = json.loads(json.dumps(DEPLOYMENT))
    other["metadata"] = {"name": "api", "labels": {"app": "api"}}
    _created(http_api, other)

    code, body = http_api("DELETE", DEPLOYMENTS_URL + "?labelSelector=app%3Dapi")

    assert code == 200
    assert [item["metadata"]["name"] for item in body["items"]] == ["api"]
    assert [d["metadata"]["name"] for d in sim.store.select(DEPLOYMENTS)] == ["web"]


def test_dry_run_create_checks_but_does_not_store(sim: SimServer, http_api: Http) -> None:
    dry, _ = http_api("POST", DEPLOYMENTS_URL + "?dryRun=All", DEPLOYMENT)
    _created(http_api)
    again, body = http_api("POST", DEPLOYMENTS_URL + "?dryRun=All", DEPLOYMENT)

    assert dry == 201
    assert (again, body["reason"]) == (409, "AlreadyExists")
    assert len(sim.store.select(DEPLOYMENTS)) == 1
