"""The "did you mean …?" suggestions: close names first, nothing for a word like none."""

from __future__ import annotations

import pytest

from bot.close_names import close_names

ACTIONS = ["start", "status", "promote", "undo", "pause", "resume", "abort", "history"]


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        pytest.param("promot", ["promote"], id="a letter missing"),
        pytest.param("statsu", ["status", "start"], id="letters swapped, best first"),
        pytest.param("undoo", ["undo"], id="a letter too many"),
        pytest.param("nosuch", [], id="nothing close"),
    ],
)
def test_suggests_the_closest_names_best_first(word: str, expected: list[str]) -> None:
    assert close_names(word, ACTIONS) == expected


def test_a_mapping_is_matched_by_its_keys() -> None:
    assert close_names("fop-gat", {"fop-gate": object(), "checkout": object()}) == ["fop-gate"]


def test_at_most_limit_names() -> None:
    assert close_names("a", ["ab", "ac", "ad", "ae"], limit=2) == ["ab", "ac"]
