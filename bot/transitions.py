"""Decide and commit: the one way a release changes.

Reads the release, asks the pure state machine, and writes the result with a compare-and-set.
When another writer got there first, it re-reads and decides again, so the second of two
concurrent clicks is judged against the state the first one left (and usually refused).
Every attempt, applied or refused, lands in the audit trail.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from bot.actions import Action
from bot.machine import Refusal, decide
from bot.release import AuditEntry, Event, EventKind, Phase, Release
from bot.store import Committed, Conflict, LockHeld, ReleaseStore, Remembered, StoreBusyError

_DECIDE_ATTEMPTS = 10


@dataclass(frozen=True)
class Applied:
    """The event changed the release; the engine must now carry out `actions`.

    `replayed` marks a retry of a request already applied: nothing was written and there is
    nothing to do again.
    """

    release: Release
    actions: tuple[Action, ...] = ()
    replayed: bool = False


@dataclass(frozen=True)
class Refused:
    """Nothing changed; `reason` is for the person who asked."""

    reason: str
    release: Release | None = None


Outcome = Applied | Refused


def start_release(
    store: ReleaseStore,
    draft: Release,
    *,
    now: datetime,
    idempotency_key: str | None = None,
    forced: str = "",
) -> Outcome:
    """Create `draft` (a pending release) and start it, unless its service has a live release.

    `forced` names the freeze an admin broke to start it, for the audit trail.
    """
    event = Event(EventKind.START, draft.requested_by, forced=forced)
    decision = decide(draft, event, now=now)
    if isinstance(decision, Refusal):
        return Refused(decision.reason)
    # The start's audit line says which steps and window the starter chose over services.yaml.
    entry = _audit(draft, event, now, to_phase=decision.release.phase)
    audit = replace(entry, details={**entry.details, **draft.overrides.audit_details()})
    try:
        result = store.create(decision.release, audit=audit, idempotency_key=idempotency_key)
    except StoreBusyError as err:
        return Refused(str(err))
    if isinstance(result, LockHeld):
        holder = result.holder
        reason = (
            f"{draft.service} already has a live release {holder.id} "
            f"({holder.phase.value}), started by {holder.requested_by.mention}"
        )
        refusal = _audit(draft, event, now, refused=reason)
        store.record_refusal(replace(refusal, details={"holder": holder.id}))
        return Refused(reason, holder)
    if isinstance(result, Remembered):
        return _replayed(store, result)
    return Applied(result.release, decision.actions)


def apply_event(
    store: ReleaseStore,
    release_id: str,
    event: Event,
    *,
    now: datetime,
    idempotency_key: str | None = None,
    frozen: str | None = None,
) -> Outcome:
    """Apply `event` to the release once: decide, compare-and-set, re-decide on conflict.

    `frozen` says why the service is frozen, if it is (see `bot.machine.decide`).
    """
    for _ in range(_DECIDE_ATTEMPTS):
        release = store.get(release_id)
        # The key is checked after the read: the key and the record are written in one
        # transaction, so a twin request whose write we just read is seen here and replayed,
        # instead of being judged against the state it left.
        if idempotency_key is not None and (seen := store.remembered(idempotency_key)):
            return _replayed(store, seen)
        if release is None:
            return Refused(f"there is no release {release_id}")
        decision = decide(release, event, now=now, frozen=frozen)
        if isinstance(decision, Refusal):
            store.record_refusal(_audit(release, event, now, refused=decision.reason))
            return Refused(decision.reason, release)
        audit = _audit(release, event, now, to_phase=decision.release.phase)
        result = store.commit(
            decision.release,
            expected_version=release.version,
            audit=audit,
            idempotency_key=idempotency_key,
        )
        if isinstance(result, Committed):
            return Applied(result.release, decision.actions)
        if isinstance(result, Remembered):
            return _replayed(store, result)
        assert isinstance(result, Conflict)  # someone else wrote first: decide again
    return Refused(f"{release_id} is changing too fast right now; try again")


def _replayed(store: ReleaseStore, seen: Remembered) -> Outcome:
    release = store.get(seen.release_id)
    if release is None:
        return Refused(f"there is no release {seen.release_id}")
    return Applied(release, (), replayed=True)


def _audit(
    release: Release,
    event: Event,
    now: datetime,
    *,
    to_phase: Phase | None = None,
    refused: str = "",
) -> AuditEntry:
    details = {"to_revision": str(event.to_revision)} if event.to_revision is not None else {}
    if event.forced:
        details["forced"] = event.forced
    return AuditEntry(
        at=now,
        service=release.service,
        release_id=release.id,
        actor=event.actor,
        event=event.kind,
        applied=not refused,
        from_phase=release.phase,
        to_phase=to_phase,
        reason=refused or event.reason,
        details=details,
    )
