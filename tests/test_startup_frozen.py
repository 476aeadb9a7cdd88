"""While the bot serves, what start-up built is left out of the cyclic collector's passes.

A full pass over start-up's objects held every thread for 60-100 ms on the bench machine and
set the acks' p99 (bench/ack_latency.py); frozen, a pass covers only what came after.
"""

from __future__ import annotations

import gc
import weakref

from bot.app import startup_frozen


class _Node:
    """A container the collector tracks; two of them referring to each other make a cycle."""

    other: _Node | None = None


def test_what_start_up_built_is_frozen_while_serving_and_let_go_after() -> None:
    gc.collect()  # what the tests before left is garbage, not start-up's
    built_at_start_up = len(gc.get_objects())

    with startup_frozen():
        assert gc.get_freeze_count() >= built_at_start_up * 0.9
        assert len(gc.get_objects()) < built_at_start_up * 0.1

    assert gc.get_freeze_count() == 0


def test_a_cycle_made_while_serving_is_still_collected() -> None:
    with startup_frozen():
        first, second = _Node(), _Node()
        first.other, second.other = second, first
        gone = weakref.ref(first)
        del first, second

        gc.collect()

        assert gone() is None
