"""The names closest to a mistyped one, for "did you mean …?" answers.

RapidFuzz's ratio is the similarity difflib's ratio approximates (twice the longest common
subsequence over both lengths), computed in C: at difflib's cutoff of 60 % it suggests what
difflib did, in about a microsecond instead of the 50 to 100 µs difflib takes for the list of
actions. That matters because a typo is answered in the ack of a busy front door.
"""

from __future__ import annotations

from collections.abc import Collection

from rapidfuzz import fuzz, process

CUTOFF = 60.0  # percent, as difflib.get_close_matches' default 0.6


def close_names(word: str, choices: Collection[str], *, limit: int = 3) -> list[str]:
    """Up to `limit` of `choices` most like `word`, best first; [] when none is close."""
    names = list(choices)  # a mapping's keys: RapidFuzz would match a mapping's values
    found = process.extract(word, names, scorer=fuzz.ratio, limit=limit, score_cutoff=CUTOFF)
    return [name for name, _score, _index in found]
