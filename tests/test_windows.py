"""Which pods each track of a release is, as the metrics queries need it."""

from __future__ import annotations

from typing import Any

import pytest

from bot.measurements import Track
from bot.queries import TrackRef
from bot.service_spec import ServiceSpec
from bot.windows import track_refs
from tests.factories import release


def spec(strategy: dict[str, Any], **metrics: str) -> ServiceSpec:
    return ServiceSpec.model_validate(
        {
            "name": "svc",
            "channel": "#releases",
            "strategy": strategy,
            "metrics": metrics,
            "approval": {"approvers": ["U012ABCDEF"]},
        }
    )


def test_a_canary_deployment_compares_the_track_labels() -> None:
    canary = spec({"kind": "canary-deployment", "deployment": "svc", "service": "svc"})

    assert track_refs(canary, release()) == (
        TrackRef(Track.STABLE, "stable"),
        TrackRef(Track.CANARY, "canary"),
    )


@pytest.mark.parametrize(
    "strategy",
    [
        {"kind": "blue-green", "deployment": "svc", "service": "svc"},
        {
            "kind": "istio", "deployment": "svc", "host": "svc", "virtual_service": "svc-vs",
            "destination_rule": "svc-dr", "steps": [10, 100],
        },
    ],
    ids=["blue-green", "istio"],
)  # fmt: skip
def test_versioned_strategies_compare_the_versions_of_both_images(strategy: dict[str, Any]) -> None:
    assert track_refs(spec(strategy), release()) == (
        TrackRef(Track.STABLE, "2026-11-21"),
        TrackRef(Track.CANARY, "2026-11-22"),
    )


def test_without_the_previous_image_the_stable_version_is_unknown() -> None:
    blue_green = spec({"kind": "blue-green", "deployment": "svc", "service": "svc"})

    assert track_refs(blue_green, release(previous_image="")) is None


def test_a_pod_template_hash_selector_is_not_resolved_without_the_cluster() -> None:
    paused = spec(
        {"kind": "paused-rollout", "deployment": "svc", "steps": [1]},
        track_selector="pod-template-hash",
    )

    assert track_refs(paused, release()) is None
