"""The three patch types, table-driven with named cases."""

from __future__ import annotations

from typing import Any

import pytest

from sim.patches import PatchError, json_patch, merge_patch, strategic_merge_patch

Obj = dict[str, Any]

POD_SPEC: Obj = {
    "spec": {
        "containers": [
            {
                "name": "app",
                "image": "web:1",
                "env": [{"name": "A", "value": "1"}],
                "ports": [{"containerPort": 80, "protocol": "TCP"}],
            },
            {"name": "proxy", "image": "envoy:1"},
        ],
        "volumes": [{"name": "data", "emptyDir": {}}],
        "nodeSelector": {"disk": "ssd", "zone": "a"},
        "args": ["a", "b"],
    }
}

APP, PROXY = POD_SPEC["spec"]["containers"]

STRATEGIC_CASES: dict[str, tuple[Obj, Obj]] = {
    "container image by name": (
        {"spec": {"containers": [{"name": "proxy", "image": "envoy:2"}]}},
        {"containers": [POD_SPEC["spec"]["containers"][0], {"name": "proxy", "image": "envoy:2"}]},
    ),
    "new container is appended": (
        {"spec": {"containers": [{"name": "log", "image": "fluent:1"}]}},
        {"containers": [*POD_SPEC["spec"]["containers"], {"name": "log", "image": "fluent:1"}]},
    ),
    "env merges by name inside the container": (
        {"spec": {"containers": [{"name": "app", "env": [{"name": "B", "value": "2"}]}]}},
        {
            "containers": [
                {**APP, "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]},
                PROXY,
            ]
        },
    ),
    "container ports merge by containerPort": (
        {"spec": {"containers": [{"name": "app", "ports": [{"containerPort": 80, "name": "h"}]}]}},
        {
            "containers": [
                {**APP, "ports": [{"containerPort": 80, "protocol": "TCP", "name": "h"}]},
                PROXY,
            ]
        },
    ),
    "delete directive removes a container": (
        {"spec": {"containers": [{"name": "proxy", "$patch": "delete"}]}},
        {"containers": [POD_SPEC["spec"]["containers"][0]]},
    ),
    "replace directive replaces the list": (
        {"spec": {"containers": [{"name": "only", "image": "x:1"}, {"$patch": "replace"}]}},
        {"containers": [{"name": "only", "image": "x:1"}]},
    ),
    "replace directive replaces a map": (
        {"spec": {"nodeSelector": {"zone": "b", "$patch": "replace"}}},
        {"nodeSelector": {"zone": "b"}},
    ),
    "null deletes a key": (
        {"spec": {"nodeSelector": {"disk": None}}},
        {"nodeSelector": {"zone": "a"}},
    ),
    "lists without a merge key replace": (
        {"spec": {"args": ["c"]}},
        {"args": ["c"]},
    ),
    "volumes merge by name": (
        {"spec": {"volumes": [{"name": "cache", "emptyDir": {}}]}},
        {"volumes": [{"name": "data", "emptyDir": {}}, {"name": "cache", "emptyDir": {}}]},
    ),
    "set element order reorders containers": (
        {"spec": {"$setElementOrder/containers": [{"name": "proxy"}, {"name": "app"}]}},
        {"containers": POD_SPEC["spec"]["containers"][::-1]},
    ),
    "retain keys drops what it does not list": (
        {"spec": {"$retainKeys": ["containers"], "containers": []}},
        {"containers": POD_SPEC["spec"]["containers"]},
    ),
}


@pytest.mark.parametrize(
    ("patch", "expected"), STRATEGIC_CASES.values(), ids=STRATEGIC_CASES.keys()
)
def test_strategic_merge_patch(patch: Obj, expected: Obj) -> None:
    spec = strategic_merge_patch(POD_SPEC, patch, kind="Pod")["spec"]

    assert {key: spec[key] for key in expected} == expected


def test_strategic_merge_patch_merges_service_ports_by_port() -> None:
    service = {"spec": {"ports": [{"port": 80, "targetPort": 8080}, {"port": 443}]}}

    patched = strategic_merge_patch(
        service, {"spec": {"ports": [{"port": 80, "name": "h"}]}}, kind="Service"
    )

    assert patched["spec"]["ports"] == [
        {"port": 80, "targetPort": 8080, "name": "h"},
        {"port": 443},
    ]


def test_strategic_merge_patch_merges_conditions_by_type() -> None:
    status = {
        "status": {
            "conditions": [
                {"type": "Available", "status": "False"},
                {"type": "Progressing", "status": "True"},
            ]
        }
    }

    patched = strategic_merge_patch(
        status,
        {"status": {"conditions": [{"type": "Available", "status": "True"}]}},
        kind="Deployment",
    )

    assert [c["status"] for c in patched["status"]["conditions"]] == ["True", "True"]


def test_strategic_merge_patch_leaves_its_input_alone() -> None:
    before = repr(POD_SPEC)

    strategic_merge_patch(
        POD_SPEC, {"spec": {"containers": [{"name": "app", "image": "w:9"}]}}, kind="Pod"
    )

    assert repr(POD_SPEC) == before


MERGE_CASES: dict[str, tuple[Any, Any, Any]] = {
    "adds a key": ({"a": 1}, {"b": 2}, {"a": 1, "b": 2}),
    "null removes a key": ({"a": 1, "b": 2}, {"a": None}, {"b": 2}),
    "nested objects merge": ({"a": {"x": 1, "y": 2}}, {"a": {"y": 3}}, {"a": {"x": 1, "y": 3}}),
    "lists replace whole": ({"a": [1, 2]}, {"a": [3]}, {"a": [3]}),
    "object replaces a scalar": ({"a": 1}, {"a": {"b": 1}}, {"a": {"b": 1}}),
    "RFC 7386 example": (
        {
            "title": "Goodbye!",
            "author": {"givenName": "John", "familyName": "Doe"},
            "tags": ["example", "sample"],
            "content": "This will be unchanged",
        },
        {
            "title": "Hello!",
            "phoneNumber": "+01-123-456-7890",
            "author": {"familyName": None},
            "tags": ["example"],
        },
        {
            "title": "Hello!",
            "author": {"givenName": "John"},
            "tags": ["example"],
            "content": "This will be unchanged",
            "phoneNumber": "+01-123-456-7890",
        },
    ),
}


@pytest.mark.parametrize(
    ("target", "patch", "expected"), MERGE_CASES.values(), ids=MERGE_CASES.keys()
)
def test_merge_patch(target: Any, patch: Any, expected: Any) -> None:
    assert merge_patch(target, patch) == expected


JSON_CASES: dict[str, tuple[list[Obj], Obj]] = {
    "replace": ([{"op": "replace", "path": "/a", "value": 2}], {"a": 2, "l": [1, 2]}),
    "add to a list": ([{"op": "add", "path": "/l/-", "value": 3}], {"a": 1, "l": [1, 2, 3]}),
    "remove": ([{"op": "remove", "path": "/a"}], {"l": [1, 2]}),
    "test then replace": (
        [{"op": "test", "path": "/a", "value": 1}, {"op": "replace", "path": "/a", "value": 5}],
        {"a": 5, "l": [1, 2]},
    ),
    "move": ([{"op": "move", "from": "/a", "path": "/b"}], {"b": 1, "l": [1, 2]}),
}


@pytest.mark.parametrize(("operations", "expected"), JSON_CASES.values(), ids=JSON_CASES.keys())
def test_json_patch(operations: list[Obj], expected: Obj) -> None:
    assert json_patch({"a": 1, "l": [1, 2]}, operations) == expected


BAD_JSON_PATCHES: dict[str, Any] = {
    "failed test": [{"op": "test", "path": "/a", "value": 2}],
    "missing path": [{"op": "remove", "path": "/nope"}],
    "not a list": {"op": "remove", "path": "/a"},
    "unknown op": [{"op": "frobnicate", "path": "/a"}],
}


@pytest.mark.parametrize("operations", BAD_JSON_PATCHES.values(), ids=BAD_JSON_PATCHES.keys())
def test_json_patch_that_does_not_apply_is_refused(operations: Any) -> None:
    with pytest.raises(PatchError):
        json_patch({"a": 1}, operations)
