"""Label and field selectors, table-driven with named cases."""

from __future__ import annotations

from typing import Any

import pytest

from sim.selectors import (
    SelectorError,
    format_label_selector,
    label_selector_matches,
    matches_labels,
    object_filter,
    parse_labels,
)

STABLE = {"app": "web", "track": "stable"}
CANARY = {"app": "web", "track": "canary"}
UNTRACKED = {"app": "web"}

LABEL_CASES = {
    "empty selects all": ("", [STABLE, CANARY, UNTRACKED]),
    "equality": ("track=canary", [CANARY]),
    "double equals": ("track==canary", [CANARY]),
    "inequality accepts a missing key": ("track!=canary", [STABLE, UNTRACKED]),
    "in": ("track in (canary,blue)", [CANARY]),
    "in with spaces": ("track in ( canary , stable )", [STABLE, CANARY]),
    "notin accepts a missing key": ("track notin (canary)", [STABLE, UNTRACKED]),
    "exists": ("track", [STABLE, CANARY]),
    "does not exist": ("!track", [UNTRACKED]),
    "conjunction": ("app=web,track in (stable)", [STABLE]),
    "conjunction with a set and exists": ("track notin (stable),track", [CANARY]),
    "nothing matches": ("app=api", []),
    "prefixed key": ("example.com/tier=web", []),
    "empty value is a value": ("track=", []),
}


@pytest.mark.parametrize(("selector", "selected"), LABEL_CASES.values(), ids=LABEL_CASES.keys())
def test_label_selector_selects(selector: str, selected: list[dict[str, str]]) -> None:
    requirements = parse_labels(selector)

    assert [
        labels for labels in (STABLE, CANARY, UNTRACKED) if matches_labels(requirements, labels)
    ] == selected


BAD_LABELS = {
    "operator without value list": "track in canary",
    "empty value list": "track in ()",
    "dangling set operator": "track notin",
    "garbage": "=canary",
}


@pytest.mark.parametrize("selector", BAD_LABELS.values(), ids=BAD_LABELS.keys())
def test_malformed_label_selector_is_refused(selector: str) -> None:
    with pytest.raises(SelectorError):
        parse_labels(selector)


POD = {
    "metadata": {"name": "web-1", "namespace": "fop", "labels": STABLE},
    "status": {"phase": "Running"},
}

FIELD_CASES = {
    "name": ("metadata.name=web-1", "pods", True),
    "other name": ("metadata.name=web-2", "pods", False),
    "namespace": ("metadata.namespace==fop", "pods", True),
    "not namespace": ("metadata.namespace!=fop", "pods", False),
    "pod phase": ("status.phase=Running", "pods", True),
    "name and phase": ("metadata.name=web-1,status.phase=Pending", "pods", False),
}


@pytest.mark.parametrize(
    ("selector", "plural", "selected"), FIELD_CASES.values(), ids=FIELD_CASES.keys()
)
def test_field_selector_selects(selector: str, plural: str, selected: bool) -> None:
    assert object_filter("", selector, plural)(POD) is selected


def test_unsupported_field_is_refused() -> None:
    with pytest.raises(SelectorError, match=r"field label not supported: spec\.replicas"):
        object_filter("", "spec.replicas=1", "deployments")


LABEL_SELECTOR_OBJECTS: dict[str, tuple[dict[str, Any], str, bool]] = {
    "match labels": ({"matchLabels": {"app": "web"}}, "app=web", True),
    "match expressions": (
        {
            "matchExpressions": [
                {"key": "track", "operator": "In", "values": ["stable"]},
                {"key": "gone", "operator": "DoesNotExist"},
            ]
        },
        "track in (stable),!gone",
        True,
    ),
    "not matching": ({"matchLabels": {"app": "api"}}, "app=api", False),
    "empty": ({}, "<none>", True),
}


@pytest.mark.parametrize(
    ("selector", "text", "selects_stable"),
    LABEL_SELECTOR_OBJECTS.values(),
    ids=LABEL_SELECTOR_OBJECTS.keys(),
)
def test_label_selector_objects_format_and_match(
    selector: dict[str, Any], text: str, selects_stable: bool
) -> None:
    assert format_label_selector(selector) == text
    assert label_selector_matches(selector, STABLE) is selects_stable
