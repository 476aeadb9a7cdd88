"""A cron line read in a time zone, as services.yaml gives nightly releases and freeze windows."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator


def check_timezone(value: str) -> str:
    """``value`` if it names an IANA time zone; raises ValueError otherwise."""
    try:
        ZoneInfo(value)
    except (ValueError, KeyError, OSError) as err:  # OSError: a folder such as "Europe"
        raise ValueError(f"unknown time zone {value!r}") from err
    return value


def cron_trigger(line: str, timezone: str) -> CronTrigger:
    """The trigger of a five-field crontab line read in `timezone`; raises ValueError."""
    try:
        return CronTrigger.from_crontab(line, timezone=timezone)
    except (ValueError, KeyError) as err:
        raise ValueError(f"bad cron line {line!r}: {err}") from err


class CronSchedule(BaseModel):
    """When something recurs: a crontab line and the time zone it is read in."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # timezone is declared before cron because the cron check reads it from info.data.
    timezone: str = Field(default="UTC", description="IANA time zone the cron line is read in")
    cron: str = Field(description="five-field crontab line, e.g. '0 2 * * *'")

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        return check_timezone(value)

    @field_validator("cron")
    @classmethod
    def _valid_cron(cls, line: str, info: ValidationInfo) -> str:
        cron_trigger(line, info.data.get("timezone", "UTC"))  # no zone when the zone was bad
        return line

    def trigger(self) -> CronTrigger:
        """The APScheduler trigger that fires on this schedule."""
        return cron_trigger(self.cron, self.timezone)
