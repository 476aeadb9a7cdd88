"""Who may press which button (or type which command) on a release.

:func:`authorize` is pure: the approvers come in as a set, already resolved. The service's
approvers are its listed users plus the members of its approver groups, which
:class:`GroupDirectory` looks up with ``usergroups.users.list`` and caches for a while.

- Promote (and approve): the approver set only, and not whoever started the release unless
  the service allows self-approval.
- Undo and extend: the approver set, and whoever started the release: a way back, or a longer
  look, is never riskier than the release itself.
- Everything else (start, status, pause, resume): anyone in the channel.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Collection, Mapping
from enum import StrEnum

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.release import Release
from bot.service_spec import ServiceSpec


class Act(StrEnum):
    """What a person asks to do to a release, as far as permission goes."""

    PROMOTE = "promote"
    UNDO = "undo"
    EXTEND = "extend"
    OTHER = "other"


def authorize(
    act: Act,
    *,
    user_id: str,
    release: Release | None,
    spec: ServiceSpec,
    approvers: Collection[str],
) -> str | None:
    """None when `user_id` may `act` on `release`, else the reason they may not.

    Purely computational.
    """
    if act is Act.OTHER:
        return None
    requester = release is not None and release.requested_by.id == user_id
    approver = user_id in approvers
    if act is Act.PROMOTE:
        if not approver:
            return f"only {spec.name}'s approvers may promote it, and you are not one of them"
        self_ok = release.plan.allow_self_approval if release is not None else False
        if requester and not self_ok:
            return (
                f"you started {release.id if release else spec.name}; another approver must "
                "promote it"
            )
        return None
    if approver or requester:
        return None
    return f"only {spec.name}'s approvers or whoever started the release may {act.value} it"


class GroupDirectory:
    """Members of Slack user groups, cached for `ttl_s` seconds."""

    def __init__(
        self,
        client: WebClient,
        *,
        ttl_s: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Look groups up through `client`."""
        self._client = client
        self._ttl_s = ttl_s
        self._clock = clock
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[float, frozenset[str]]] = {}

    def members(self, group_id: str) -> frozenset[str]:
        """The group's member ids; raises `SlackApiError` when Slack cannot say."""
        now = self._clock()
        with self._lock:
            cached = self._cache.get(group_id)
        if cached is not None and now - cached[0] < self._ttl_s:
            return cached[1]
        response = self._client.usergroups_users_list(usergroup=group_id)
        users = frozenset(str(user) for user in response.get("users") or ())
        with self._lock:
            self._cache[group_id] = (now, users)
        return users

    def approvers(self, spec: ServiceSpec) -> tuple[frozenset[str], str | None]:
        """The service's approver set, and why it may be incomplete (a group lookup failed)."""
        found = set(spec.approval.approvers)
        problem = None
        for group in spec.approval.approver_groups:
            try:
                found |= self.members(group)
            except SlackApiError as err:
                problem = f"couldn't read the members of <!subteam^{group}>: {_error(err)}"
        return frozenset(found), problem


def _error(err: SlackApiError) -> str:
    response: Mapping[str, object] | None = getattr(err, "response", None)
    return str(response.get("error")) if response is not None else str(err)
