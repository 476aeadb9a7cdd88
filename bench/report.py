"""What every bench prints and returns: its sections, its checks, and a last line to quote.

Each bench computes its figures and its checks; :func:`report` prints the sections and the
checks, names the failed checks on stderr, prints the last line, and gives the exit code.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Check:
    """One done-when condition and how it came out."""

    passed: bool
    detail: str


def report(name: str, sections: Sequence[Sequence[str]], found: Sequence[Check], last: str) -> int:
    """Print `sections`, then the checks and `last`; 1 if a check failed, else 0."""
    lines = [
        *sections,
        ["checks", *(f"  {'pass' if c.passed else 'FAIL'}  {c.detail}" for c in found)],
    ]
    print("\n\n".join("\n".join(section) for section in lines), end="\n\n", flush=True)
    failed = [c for c in found if not c.passed]
    if failed:
        names = "; ".join(c.detail.split("\n")[0] for c in failed)
        print(f"{name}: {len(failed)} check(s) failed: {names}", file=sys.stderr, flush=True)
    print(last)
    return 1 if failed else 0


def positive(text: str) -> int:
    """An argparse type: a whole number of at least 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value
