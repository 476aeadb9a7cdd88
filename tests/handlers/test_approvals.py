"""Who may promote, undo or extend a release: the pure rules, and the group lookup's cache."""

from __future__ import annotations

import pytest

from bot.release import Actor, Door
from bot.service_spec import ServiceSpec
from handlers.approvals import Act, authorize
from tests.factories import plan, release

ALICE, BOB, CAROL = "U0ALICE01", "U0BOB0001", "U0CAROL01"
SPEC = ServiceSpec.model_validate(
    {
        "name": "fop-gate",
        "channel": "#releases",
        "strategy": {"kind": "rolling", "deployment": "fop-gate"},
        "approval": {"approvers": [BOB, ALICE]},
    }
)
BY_ALICE = release(requested_by=Actor(ALICE, "alice", Door.SLACK))
APPROVERS = frozenset({ALICE, BOB})


@pytest.mark.parametrize(
    ("act", "user", "expected"),
    [
        pytest.param(Act.PROMOTE, BOB, None, id="approver-promotes"),
        pytest.param(
            Act.PROMOTE, ALICE,
            f"you started {BY_ALICE.id}; another approver must promote it",
            id="self-approval-refused",
        ),
        pytest.param(
            Act.PROMOTE, CAROL,
            "only fop-gate's approvers may promote it, and you are not one of them",
            id="stranger-may-not-promote",
        ),
        pytest.param(Act.UNDO, BOB, None, id="approver-undoes"),
        pytest.param(Act.UNDO, ALICE, None, id="requester-undoes-own-release"),
        pytest.param(
            Act.UNDO, CAROL,
            "only fop-gate's approvers or whoever started the release may undo it",
            id="stranger-may-not-undo",
        ),
        pytest.param(Act.EXTEND, ALICE, None, id="requester-extends"),
        pytest.param(
            Act.EXTEND, CAROL,
            "only fop-gate's approvers or whoever started the release may extend it",
            id="stranger-may-not-extend",
        ),
        pytest.param(Act.OTHER, CAROL, None, id="anyone-pauses-or-asks-status"),
    ],
)  # fmt: skip
def test_who_may_act_on_a_release(act: Act, user: str, expected: str | None) -> None:
    assert authorize(act, user_id=user, release=BY_ALICE, spec=SPEC, approvers=APPROVERS) == (
        expected
    )


def test_a_service_that_allows_self_approval_lets_the_requester_promote() -> None:
    own = release(
        requested_by=Actor(ALICE, "alice", Door.SLACK), plan=plan(allow_self_approval=True)
    )

    assert (
        authorize(Act.PROMOTE, user_id=ALICE, release=own, spec=SPEC, approvers=APPROVERS) is None
    )


def test_the_requester_who_is_no_approver_still_may_not_promote_with_self_approval() -> None:
    own = release(
        requested_by=Actor(CAROL, "carol", Door.SLACK), plan=plan(allow_self_approval=True)
    )

    refused = authorize(Act.PROMOTE, user_id=CAROL, release=own, spec=SPEC, approvers=APPROVERS)

    assert refused == "only fop-gate's approvers may promote it, and you are not one of them"
