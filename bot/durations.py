"""Durations as people type them: ``90s``, ``10m``, ``1h30m``, ``2h``, ``1d``.

The same grammar serves ``services.yaml``, the environment (``CANARYBOT_DEFAULT_WINDOW=10m``)
and the chat command grammar (``window=10m``), so a duration reads the same everywhere.
Purely computational, no side effects.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated

from pydantic import BeforeValidator, PlainSerializer

# Units largest first: the order parse_duration requires and format_duration writes.
_UNITS: tuple[tuple[str, int], ...] = (("d", 86400), ("h", 3600), ("m", 60), ("s", 1))
_DURATION = re.compile(
    r"(?:(?P<d>[0-9]+)d)?(?:(?P<h>[0-9]+)h)?(?:(?P<m>[0-9]+)m)?(?:(?P<s>[0-9]+)s)?"
)
_FORMS = "use forms like 30s, 10m, 1h30m"


def parse_duration(text: str) -> timedelta:
    """Parse ``90s``, ``10m``, ``1h30m``, ``2h``, ``1d`` or a bare number of seconds.

    Units go largest first, each at most once, without spaces. Zero and negative durations are
    refused: a zero-length window or deadline is always a mistake.

    Raises:
        ValueError: with a one-line message that quotes the input and shows the accepted forms.
    """
    cleaned = text.strip()
    negative = cleaned.startswith("-")
    seconds = _count_seconds(cleaned.removeprefix("-"))
    if seconds is None:
        raise ValueError(f"bad duration {text!r}: {_FORMS}")
    if negative or seconds == 0:
        raise ValueError(f"bad duration {text!r}: must be positive")
    return timedelta(seconds=seconds)


def _count_seconds(text: str) -> int | None:
    """Seconds in an unsigned duration, or None when it is not one."""
    if text.isascii() and text.isdigit():
        return int(text)
    match = _DURATION.fullmatch(text)
    if not text or match is None:
        return None
    return sum(int(match[unit] or 0) * size for unit, size in _UNITS)


def format_duration(duration: timedelta) -> str:
    """Write a duration in the compact form :func:`parse_duration` reads (``1h30m``).

    Fractions of a second are dropped: nothing here is timed more finely than a second.
    A zero duration is written ``0s``.

    Raises:
        ValueError: for a negative duration, which has no compact form.
    """
    remaining = int(duration.total_seconds())
    if remaining < 0:
        raise ValueError(f"negative duration {duration!r} has no compact form")
    parts: list[str] = []
    for unit, size in _UNITS:
        count, remaining = divmod(remaining, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts) or "0s"


def coerce_duration(value: object) -> timedelta:
    """Turn a config value into a positive duration: a string, whole seconds, or a timedelta.

    Used as the validator of :data:`Duration`; YAML reads ``window: 600`` as an integer,
    which means seconds just as the string ``"600"`` does.

    Raises:
        ValueError: for anything else, or a duration that is not positive.
    """
    if isinstance(value, str):
        return parse_duration(value)
    # bool is an int subclass, and `window: yes` is not one second.
    if isinstance(value, int) and not isinstance(value, bool):
        return parse_duration(str(value))
    if isinstance(value, timedelta):
        if value <= timedelta(0):
            raise ValueError("bad duration: must be positive")
        return value
    raise ValueError(f"bad duration {value!r}: {_FORMS}")


# A positive duration field for pydantic models and settings; serialised back to "1h30m".
Duration = Annotated[
    timedelta,
    BeforeValidator(coerce_duration),
    PlainSerializer(format_duration, return_type=str, when_used="json"),
]
