"""Which errors come from the world outside the bot (a cluster, Redis, a network away)."""

from __future__ import annotations

import redis

from k8s.errors import ClusterError


def from_outside(err: BaseException) -> bool:
    """True for a failure of something the bot talks to; such a failure needs one log line,
    while anything else is a bug and deserves its traceback."""
    return isinstance(err, ClusterError | redis.RedisError | OSError)
