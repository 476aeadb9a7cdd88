"""Every Redis key canarybot uses, in one place.

One prefix, one function a key family, so that a `SCAN canarybot:*` shows everything the bot
owns and nothing else ever writes there.
"""

PREFIX = "canarybot"


def release(release_id: str) -> str:
    """The release record (JSON) with its compare-and-set version inside."""
    return f"{PREFIX}:release:{release_id}"


def release_seq(service: str) -> str:
    """Counter that numbers a service's releases: fop-gate#1, fop-gate#2, …"""
    return f"{PREFIX}:seq:{service}"


def live_lock(service: str) -> str:
    """The service's live-release lock; its value is the holding release's id."""
    return f"{PREFIX}:live:{service}"


def live_index() -> str:
    """Set of the ids of all live releases, for listing and for the scheduler's recovery."""
    return f"{PREFIX}:live-releases"


def history(service: str) -> str:
    """List of a service's release ids, newest first."""
    return f"{PREFIX}:history:{service}"


def release_audit(release_id: str) -> str:
    """Append-only audit stream of one release."""
    return f"{PREFIX}:audit:release:{release_id}"


def service_audit(service: str) -> str:
    """Append-only audit stream of one service, including refused starts that made no release."""
    return f"{PREFIX}:audit:service:{service}"


def idempotency(key: str) -> str:
    """The remembered outcome of a request, so that a retry of it is applied once."""
    return f"{PREFIX}:idem:{key}"


def slack_thread(release_id: str) -> str:
    """Where a release's thread is: its channel id and the card's ts (JSON)."""
    return f"{PREFIX}:slack-thread:{release_id}"
