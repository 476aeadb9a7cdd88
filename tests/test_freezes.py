"""Freeze windows and the freeze gate, pure: which freeze holds at a moment, and who may pass."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from bot.freezes import (
    ALL_SERVICES,
    Blocked,
    Freeze,
    FreezeWindow,
    active_freeze,
    describe_until,
    freeze_gate,
    window_freeze,
)
from tests.factories import ALICE

BERLIN = ZoneInfo("Europe/Berlin")


def berlin(day: int, hour: int, minute: int = 0, *, month: int = 11) -> datetime:
    """A moment of 2026 on Berlin's clock."""
    return datetime(2026, month, day, hour, minute, tzinfo=BERLIN)


def utc(day: int, hour: int, minute: int = 0, *, month: int = 11) -> datetime:
    """A moment of 2026 in UTC."""
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


def window(cron: str, duration: str, timezone: str = "UTC") -> FreezeWindow:
    return FreezeWindow.model_validate({"cron": cron, "duration": duration, "timezone": timezone})


# Fridays 18:00 in Berlin for 62 hours: until Monday 08:00, local time.
WEEKEND = window("0 18 * * fri", "62h", "Europe/Berlin")


@dataclass(frozen=True)
class WindowCase:
    """A window, a moment, and when the freeze it imposes then ends (None: not frozen)."""

    window: FreezeWindow
    now: datetime
    until: datetime | None


WINDOW_CASES = [
    pytest.param(WindowCase(WEEKEND, berlin(20, 17, 59), None),
                 id="a_minute_before_friday_18_berlin_is_not_frozen"),
    pytest.param(WindowCase(WEEKEND, berlin(20, 18), berlin(23, 8)),
                 id="friday_18_berlin_starts_a_freeze_until_monday_08"),
    pytest.param(WindowCase(WEEKEND, berlin(21, 12), berlin(23, 8)),
                 id="saturday_noon_is_frozen"),
    pytest.param(WindowCase(WEEKEND, berlin(23, 7, 59), berlin(23, 8)),
                 id="monday_07_59_is_still_frozen"),
    pytest.param(WindowCase(WEEKEND, berlin(23, 8), None),
                 id="monday_08_00_the_freeze_has_ended"),
    pytest.param(WindowCase(WEEKEND, utc(20, 17, 30), berlin(23, 8)),
                 id="friday_17_30_utc_is_18_30_in_berlin_so_frozen"),
    pytest.param(WindowCase(window("0 18 * * fri", "62h"), utc(20, 17, 30), None),
                 id="the_same_cron_line_read_in_utc_has_not_started"),
    pytest.param(WindowCase(WEEKEND, berlin(26, 7, 30, month=10), None),
                 id="across_the_end_of_summer_time_62h_is_elapsed_time_ending_07_00_local"),
    pytest.param(WindowCase(WEEKEND, berlin(26, 6, 59, month=10), utc(26, 6, month=10)),
                 id="across_the_end_of_summer_time_the_freeze_holds_until_06_00_utc"),
    pytest.param(WindowCase(window("0 9,12 * * *", "4h"), utc(22, 10), utc(22, 16)),
                 id="overlapping_windows_of_one_line_make_one_freeze"),
    pytest.param(WindowCase(window("0 9 * * *", "1h"), utc(22, 10, 1), None),
                 id="a_daily_hour_is_over_after_it"),
]  # fmt: skip


@pytest.mark.parametrize("case", WINDOW_CASES)
def test_window_freeze(case: WindowCase) -> None:
    freeze = window_freeze(case.window, scope="fop-gate", now=case.now)
    assert (freeze.until if freeze else None) == case.until
    if freeze is not None:
        assert (freeze.scope, freeze.reason, freeze.by) == ("fop-gate", "release freeze", None)


def test_the_longest_of_several_freezes_is_the_one_in_force() -> None:
    now = berlin(21, 12)
    adhoc = Freeze(scope="fop-gate", until=berlin(25, 9), reason="incident 4711", by=ALICE)
    found = active_freeze(now, windows=[(ALL_SERVICES, WEEKEND)], adhoc=[adhoc])
    assert found == adhoc


def test_a_window_outlasting_an_ad_hoc_freeze_is_the_one_in_force() -> None:
    now = berlin(21, 12)
    adhoc = Freeze(scope="fop-gate", until=berlin(21, 13), reason="incident 4711", by=ALICE)
    found = active_freeze(now, windows=[(ALL_SERVICES, WEEKEND)], adhoc=[adhoc])
    assert found == Freeze(scope=ALL_SERVICES, until=berlin(23, 8), reason="release freeze")


def test_an_expired_ad_hoc_freeze_is_ignored() -> None:
    ended = Freeze(scope="fop-gate", until=utc(22, 9), reason="incident", by=ALICE)
    assert active_freeze(utc(22, 9), windows=[], adhoc=[ended]) is None


def test_nothing_holds_without_windows_or_freezes() -> None:
    assert active_freeze(utc(22, 9), windows=[], adhoc=[]) is None


@pytest.mark.parametrize(
    ("until", "now", "words"),
    [
        pytest.param(utc(23, 6), utc(22, 9), "Mon 06:00 UTC", id="within-a-week-weekday"),
        pytest.param(berlin(23, 8), utc(22, 9), "Mon 07:00 UTC", id="said-in-utc"),
        pytest.param(utc(30, 6), utc(22, 9), "Mon 30 Nov 2026 06:00 UTC", id="a-week-off-dated"),
    ],
)
def test_when_a_freeze_ends_is_said_in_utc(until: datetime, now: datetime, words: str) -> None:
    assert describe_until(until, now=now) == words


def test_a_freeze_describes_itself_for_a_refusal() -> None:
    freeze = Freeze(scope=ALL_SERVICES, until=utc(23, 6), reason="release freeze")
    assert freeze.describe("fop-gate", now=utc(22, 9)) == (
        "fop-gate is frozen until Mon 06:00 UTC (release freeze)"
    )


# --- the gate ---------------------------------------------------------------------------------

FROZEN = Freeze(scope="fop-gate", until=utc(23, 6), reason="release freeze")
NOW = utc(22, 9)


@pytest.mark.parametrize(
    ("freeze", "force", "admin", "expected"),
    [
        pytest.param(None, False, False, None, id="not_frozen_goes_ahead"),
        pytest.param(None, True, True, None, id="admin_force_without_a_freeze_goes_ahead"),
        pytest.param(
            FROZEN,
            False,
            True,
            Blocked(
                "fop-gate is frozen until Mon 06:00 UTC (release freeze); an admin may add force"
            ),
            id="frozen_refuses_even_an_admin_without_force",
        ),
        pytest.param(FROZEN, True, True, FROZEN, id="admin_force_breaks_the_freeze"),
        pytest.param(
            FROZEN,
            True,
            False,
            Blocked(
                "only admins may use force "
                "(fop-gate is frozen until Mon 06:00 UTC (release freeze))"
            ),
            id="non_admin_force_is_refused",
        ),
        pytest.param(
            None,
            True,
            False,
            Blocked("only admins may use force (fop-gate is not frozen)"),
            id="non_admin_force_is_refused_without_a_freeze_too",
        ),
    ],
)
def test_freeze_gate(
    freeze: Freeze | None, force: bool, admin: bool, expected: Freeze | Blocked | None
) -> None:
    assert freeze_gate(freeze, service="fop-gate", force=force, admin=admin, now=NOW) == expected


# --- validation -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        pytest.param({"cron": "0 18 * * friday-ish", "duration": "1h"}, "bad cron line",
                     id="bad-cron"),
        pytest.param({"cron": "0 18 * *", "duration": "1h"}, "bad cron line", id="four-fields"),
        pytest.param({"cron": "0 18 * * fri", "duration": "1h", "timezone": "Europe/Berln"},
                     "unknown time zone 'Europe/Berln'", id="bad-zone"),
        pytest.param({"cron": "0 18 * * fri", "duration": "0s"}, "must be positive",
                     id="zero-duration"),
        pytest.param({"cron": "0 18 * * fri"}, "Field required", id="no-duration"),
        pytest.param({"cron": "0 18 * * fri", "duration": "1h", "reason": ""},
                     "at least 1 character", id="empty-reason"),
    ],
)  # fmt: skip
def test_a_bad_freeze_window_is_refused(fields: dict[str, str], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        FreezeWindow.model_validate(fields)


def test_a_freeze_window_reads_its_duration_like_any_other() -> None:
    assert WEEKEND.duration == timedelta(hours=62)
