"""Moments as people type them, placed by a clock and a time zone. Pure, table-driven."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.moments import parse_moment

BERLIN = ZoneInfo("Europe/Berlin")
# Sunday 22 November 2026, 14:00 UTC = 15:00 in Berlin.
NOW = datetime(2026, 11, 22, 14, 0, tzinfo=UTC)


def berlin(day: int, hour: int, minute: int = 0, *, month: int = 11) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=BERLIN)


@pytest.mark.parametrize(
    ("text", "tz", "expected"),
    [
        pytest.param("02:00", BERLIN, berlin(23, 2), id="a_time_of_day_past_today_is_tomorrow"),
        pytest.param("18:30", BERLIN, berlin(22, 18, 30), id="a_time_of_day_still_ahead_is_today"),
        pytest.param("15:00", BERLIN, berlin(23, 15), id="the_current_minute_is_tomorrow"),
        pytest.param("14:30", UTC, NOW + timedelta(minutes=30), id="read_in_the_zone_given"),
        pytest.param("mon 06:00", BERLIN, berlin(23, 6), id="the_next_monday"),
        pytest.param("Sunday 9:00", BERLIN, berlin(29, 9), id="this_sundays_time_passed_next"),
        pytest.param("sun 16:00", BERLIN, berlin(22, 16), id="later_today_by_weekday"),
        pytest.param("fri", BERLIN, berlin(27, 0), id="a_weekday_alone_is_its_midnight"),
        pytest.param("tomorrow 09:30", BERLIN, berlin(23, 9, 30), id="tomorrow"),
        pytest.param("today 23:00", UTC, NOW.replace(hour=23), id="today"),
        pytest.param("2h", BERLIN, NOW + timedelta(hours=2), id="a_duration_from_now"),
        pytest.param("1d12h", UTC, NOW + timedelta(days=1, hours=12), id="a_longer_duration"),
        pytest.param("2026-12-01", BERLIN, berlin(1, 0, month=12), id="an_iso_date_at_midnight"),
        pytest.param("2026-12-01T06:00", BERLIN, berlin(1, 6, month=12),
                     id="an_iso_date_time_in_the_zone"),
        pytest.param("2026-12-01T06:00Z", BERLIN, datetime(2026, 12, 1, 6, tzinfo=UTC),
                     id="an_iso_date_time_in_utc"),
        pytest.param("2026-12-01T06:00+05:30", BERLIN, datetime(2026, 12, 1, 0, 30, tzinfo=UTC),
                     id="an_iso_date_time_with_its_offset"),
        pytest.param("mon 02:00", ZoneInfo("Europe/Berlin"), berlin(23, 2),
                     id="weekday_and_time_in_winter"),
    ],
)  # fmt: skip
def test_a_moment_resolves(text: str, tz: ZoneInfo, expected: datetime) -> None:
    assert parse_moment(text).resolve(NOW, tz) == expected


def test_a_time_of_day_across_the_change_to_winter_time_keeps_the_wall_clock() -> None:
    saturday = datetime(2026, 10, 24, 12, 0, tzinfo=UTC)  # the clocks go back that night
    at = parse_moment("sun 02:30").resolve(saturday, BERLIN)
    assert (at.hour, at.minute, at.utcoffset()) == (2, 30, timedelta(hours=2))


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        pytest.param("Mon 6:00", "mon 06:00", id="weekday"),
        pytest.param("MONDAY", "mon", id="long-weekday"),
        pytest.param("90m", "1h30m", id="duration"),
        pytest.param("2026-12-01t06:00:00", "2026-12-01T06:00", id="iso"),
        pytest.param("2026-12-01T06:00z", "2026-12-01T06:00+00:00", id="iso-z"),
    ],
)
def test_a_moment_is_written_back_in_one_form(text: str, canonical: str) -> None:
    moment = parse_moment(text)
    assert moment.text == canonical
    assert parse_moment(canonical) == moment


@pytest.mark.parametrize(
    "text",
    [
        "",
        "soon",
        "24:00",
        "12:60",
        "6",
        "0200",
        "next week",
        "mon 06:00 utc",
        "06:00 mon",
        "2026-02-30",
        "2026-13-01T00:00",
        "99999999999999999d",
        "-2h",
        "0s",
    ],
)
def test_what_is_not_a_time_is_refused_with_the_forms_that_are(text: str) -> None:
    with pytest.raises(ValueError, match=r"is not a time: use e\.g\. 02:00, mon 06:00"):
        parse_moment(text)
