"""Durations as people type them: parsing, refusing, and writing them back."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from bot.durations import Duration, format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("90s", timedelta(seconds=90), id="seconds"),
        pytest.param("10m", timedelta(minutes=10), id="minutes"),
        pytest.param("2h", timedelta(hours=2), id="hours"),
        pytest.param("1d", timedelta(days=1), id="days"),
        pytest.param("1h30m", timedelta(hours=1, minutes=30), id="hours-and-minutes"),
        pytest.param("1d2h3m4s", timedelta(days=1, hours=2, minutes=3, seconds=4), id="all-units"),
        pytest.param("90m", timedelta(minutes=90), id="minutes-beyond-an-hour"),
        pytest.param("600", timedelta(minutes=10), id="bare-number-is-seconds"),
        pytest.param(" 5m ", timedelta(minutes=5), id="surrounding-spaces"),
    ],
)
def test_parse_duration_reads_compact_forms(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param(
            "10 minutes",
            "bad duration '10 minutes': use forms like 30s, 10m, 1h30m",
            id="words",
        ),
        pytest.param("", "bad duration '': use forms like 30s, 10m, 1h30m", id="empty"),
        pytest.param("1m1h", "bad duration '1m1h': use forms like 30s, 10m, 1h30m", id="order"),
        pytest.param("1.5h", "bad duration '1.5h': use forms like 30s, 10m, 1h30m", id="fraction"),
        pytest.param("5M", "bad duration '5M': use forms like 30s, 10m, 1h30m", id="upper-case"),
        pytest.param("1h 30m", "bad duration '1h 30m': use forms like 30s, 10m, 1h30m", id="gap"),
        pytest.param("-", "bad duration '-': use forms like 30s, 10m, 1h30m", id="lone-minus"),
        pytest.param("0s", "bad duration '0s': must be positive", id="zero"),
        pytest.param("0", "bad duration '0': must be positive", id="bare-zero"),
        pytest.param("-5m", "bad duration '-5m': must be positive", id="negative"),
    ],
)
def test_parse_duration_refuses_with_a_readable_message(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("duration", "text"),
    [
        pytest.param(timedelta(hours=1, minutes=30), "1h30m", id="hours-and-minutes"),
        pytest.param(timedelta(seconds=90), "1m30s", id="seconds-carry-into-minutes"),
        pytest.param(timedelta(days=1), "1d", id="whole-day"),
        pytest.param(timedelta(days=1, seconds=1), "1d1s", id="skips-empty-units"),
        pytest.param(timedelta(0), "0s", id="zero"),
        pytest.param(timedelta(seconds=5, milliseconds=700), "5s", id="drops-fractions"),
    ],
)
def test_format_duration_writes_the_compact_form(duration: timedelta, text: str) -> None:
    assert format_duration(duration) == text


def test_format_duration_refuses_negative_durations() -> None:
    with pytest.raises(ValueError, match="negative duration"):
        format_duration(timedelta(seconds=-1))


@given(st.integers(min_value=1, max_value=10 * 365 * 86400))
def test_formatted_durations_parse_back_to_themselves(seconds: int) -> None:
    duration = timedelta(seconds=seconds)
    assert parse_duration(format_duration(duration)) == duration


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("10m", timedelta(minutes=10), id="string"),
        pytest.param(600, timedelta(minutes=10), id="yaml-integer-is-seconds"),
        pytest.param(timedelta(seconds=3), timedelta(seconds=3), id="timedelta"),
    ],
)
def test_duration_fields_accept_strings_seconds_and_timedeltas(
    value: object, expected: timedelta
) -> None:
    assert TypeAdapter(Duration).validate_python(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(True, id="yaml-yes-is-not-one-second"),
        pytest.param(-5, id="negative-seconds"),
        pytest.param(timedelta(0), id="zero-timedelta"),
        pytest.param(1.5, id="float"),
    ],
)
def test_duration_fields_refuse_other_values(value: object) -> None:
    with pytest.raises(ValidationError, match="bad duration"):
        TypeAdapter(Duration).validate_python(value)


def test_duration_fields_serialise_to_the_compact_form() -> None:
    assert TypeAdapter(Duration).dump_python(timedelta(minutes=90), mode="json") == "1h30m"
