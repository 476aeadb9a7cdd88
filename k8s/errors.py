"""The Kubernetes side's own errors: the rest of the bot never sees the client's ApiException.

Each says, in one line, what the bot tried and what the cluster answered; the client's error is
chained (`raise … from err`) for logs.
"""

from __future__ import annotations


class ClusterError(Exception):
    """Anything that went wrong talking to, or acting on, a cluster."""


class NotFoundError(ClusterError):
    """The object the bot needs does not exist."""


class ForbiddenError(ClusterError):
    """The bot's identity lacks a permission; `verb` and `resource` name it."""

    def __init__(self, *, verb: str, resource: str, namespace: str, detail: str) -> None:
        self.verb = verb
        self.resource = resource
        self.namespace = namespace
        super().__init__(
            f"forbidden: the bot may not {verb} {resource} in namespace {namespace!r} "
            f"(grant '{verb}' on '{resource}' to its ServiceAccount): {detail}"
        )


class ConflictError(ClusterError):
    """Someone else changed the object between our read and our write."""


class InvalidError(ClusterError):
    """The cluster rejected an object the bot sent (422)."""


class UnavailableError(ClusterError):
    """The Kubernetes API could not be reached or did not answer."""


class DriftError(ClusterError):
    """The cluster differs from what the release left there: someone changed it by hand."""


class RolloutFailedError(ClusterError):
    """The new pods did not come up: pull errors, crash loops, or a progress deadline."""


class RolloutTimeoutError(ClusterError):
    """The rollout was still under way when the bot stopped waiting."""
