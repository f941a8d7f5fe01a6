"""Which days of usage are complete.

Meters record local days: a day's usage is whole once midnight has passed where the meters are,
which for a meter in Sydney is 13:00 or 14:00 UTC and for one in New York 04:00 or 05:00 UTC the
next day. ``ENERGY_ASSETS_TIMEZONE`` (an IANA name, UTC by default) says where that is; the daily
partitions, the daily schedules and ``new_usage_sensor`` all draw the day boundary here.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


def zone(name: str) -> ZoneInfo:
    """The time zone ``name``; a ValueError that says what is wrong when there is none."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"ENERGY_ASSETS_TIMEZONE={name!r} is not an IANA time zone name "
            "(such as Australia/Sydney, America/New_York or UTC)"
        ) from None


def today(timezone: str, now: datetime | None = None) -> date:
    """The day in progress in ``timezone`` at ``now`` (an aware time; default: the clock)."""
    return (now or datetime.now(UTC)).astimezone(zone(timezone)).date()


def last_complete_day(timezone: str, now: datetime | None = None) -> date:
    """The latest day that has ended in ``timezone``."""
    return today(timezone, now) - timedelta(days=1)


def end_of(day: date, timezone: str) -> datetime:
    """The instant ``day`` ends in ``timezone`` (the next midnight there), in UTC."""
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone(timezone)).astimezone(UTC)
