"""The local day of an interval read: an IANA zone by name, or an ESPI feed's own rules.

Meters live in local time: a day's usage runs from local midnight to local midnight, which is
23 or 25 hours long on daylight-saving days. Green Button XML stamps reads in UTC and states
its zone in ``LocalTimeParameters`` (standard offset, daylight offset and the two daylight
rules, each a 32-bit word: month, occurrence, day of month, day of week, hour, seconds); they
become a ``dateutil`` zone here, which greenbutton-objects does not read.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dateutil import tz
from dateutil.relativedelta import relativedelta, weekday

from energy_assets.meterfiles.daily import MeterFileError

_ESPI = "{http://naesb.org/espi}"


def zone_named(name: str) -> tzinfo:
    """An IANA zone such as ``America/New_York`` (``UTC`` also works)."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise MeterFileError(f"unknown time zone {name!r} (use an IANA name)") from None


def _rule(word: int, dst_seconds: int, end: bool) -> relativedelta:
    """An ESPI DstRuleType word as the moment of change, in standard local time."""
    seconds = word & 0xFFF
    hour = (word >> 12) & 0x1F
    day_of_week = (word >> 17) & 0x7  # 1 = Monday .. 7 = Sunday, 0 = none
    day_of_month = (word >> 20) & 0x1F
    operator = (word >> 25) & 0x7
    month = (word >> 28) & 0xF
    at = timedelta(hours=hour, seconds=seconds) - timedelta(seconds=dst_seconds if end else 0)
    weekday_ = weekday(day_of_week - 1) if day_of_week else None
    if operator == 0:  # on the day of month
        shape = {"day": day_of_month}
    elif operator == 1:  # the day of week on or after the day of month
        shape = {"day": day_of_month, "weekday": weekday_(+1)}
    elif 2 <= operator <= 5:  # first .. fourth occurrence
        shape = {"day": 1, "weekday": weekday_(operator - 1)}
    elif operator == 6:  # last occurrence
        shape = {"day": 31, "weekday": weekday_(-1)}
    else:
        raise MeterFileError(f"ESPI daylight-saving rule {word:08X} has a reserved operator")
    if not 1 <= month <= 12 or (operator and weekday_ is None):
        raise MeterFileError(f"ESPI daylight-saving rule {word:08X} is not a valid rule")
    return relativedelta(month=month, seconds=int(at.total_seconds()), **shape)


def espi_zone(path_or_file) -> tuple[tzinfo, str] | None:
    """The zone an ESPI feed declares (``LocalTimeParameters``) and a description, or None."""
    root = ET.parse(path_or_file).getroot()
    params = root.find(f".//{_ESPI}LocalTimeParameters")
    if params is None:
        return None

    def number(tag: str, base: int = 10) -> int | None:
        element = params.find(f"{_ESPI}{tag}")
        return int(element.text.strip(), base) if element is not None and element.text else None

    offset = number("tzOffset") or 0
    dst = number("dstOffset") or 0
    start, end = number("dstStartRule", 16), number("dstEndRule", 16)
    hours = f"UTC{offset / 3600:+g}"
    if not dst or start is None or end is None:
        return tz.tzoffset(hours, offset), f"{hours} (the feed's LocalTimeParameters)"
    zone = tz.tzrange(
        "STD",
        offset,
        "DST",
        offset + dst,
        start=_rule(start, dst, end=False),
        end=_rule(end, dst, end=True),
    )
    return zone, f"{hours} with daylight saving (the feed's LocalTimeParameters)"


def local_days(starts_utc: list[datetime], zone: tzinfo) -> tuple[list[str], dict[str, int]]:
    """Each start's local date, and the length in seconds of every local date seen."""
    dates = [s.astimezone(zone).strftime("%Y-%m-%d") for s in starts_utc]
    lengths = {}
    for day in set(dates):
        midnight = datetime.fromisoformat(day)
        this = midnight.replace(tzinfo=zone).astimezone(UTC)
        following = (midnight + timedelta(days=1)).replace(tzinfo=zone).astimezone(UTC)
        lengths[day] = int((following - this).total_seconds())
    return dates, lengths
