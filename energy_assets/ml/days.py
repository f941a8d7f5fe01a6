"""Which day a reading's date names: one rule for the export, cleaning and the seed.

A daily reading names a calendar day of the meters' local time (``ENERGY_ASSETS_TIMEZONE``,
the day boundary of the partitions). Accepted: ``YYYY-MM-DD``; the same with an unpadded month
or day (``2026-10-1``: year first with dashes is unambiguous, so it is normalised, and counted
as such); either followed by a time of day without a zone (``2026-10-01T00:00:00``: the date
part is the day). A date with a zone (``Z``, ``+10:00``) names an instant: it is converted to
the meters' time zone and names the day that starts there only if it is midnight there; any
other instant falls inside a meter day rather than starting one (midnight at +10:00 is 14:00
the day before in UTC), and moving the reading to a day chosen by guess would be wrong data, so
it is refused (``timezone``). Anything else names no day (``invalid_date``).
"""

from __future__ import annotations

from datetime import datetime
from datetime import time as clock
from zoneinfo import ZoneInfo

import pandas as pd

_PATTERN = (
    r"^\s*(?P<y>\d{4})-(?P<m>\d{1,2})-(?P<d>\d{1,2})"
    r"(?:[T ](?P<h>\d{1,2}):(?P<rest>\d{2}(?::\d{2}(?:\.\d+)?)?)"
    r"(?P<zone>Z|[+-]\d{2}(?::?\d{2})?)?)?\s*$"
)


def _zoned_day(date: str, hour: str, rest: str, zone: str, tz: ZoneInfo):
    """The meter day a zoned stamp starts, or NaT when it is not midnight in ``tz``."""
    try:
        stamp = datetime.fromisoformat(f"{date}T{int(hour):02d}:{rest}{zone}")
    except ValueError:
        return pd.NaT
    local = stamp.astimezone(tz)
    return pd.Timestamp(local.date()) if local.time() == clock(0) else pd.NaT


def parse_days(text: pd.Series, timezone: str = "UTC") -> pd.DataFrame:
    """Per item: ``day`` (midnight Timestamp, NaT when refused), ``problem`` (``None``,
    ``"invalid_date"`` or ``"timezone"``) and ``normalised`` (accepted, but not written as
    ``YYYY-MM-DD``). ``timezone`` is where the meters are (an IANA name)."""
    raw = text.astype("string")
    parts = raw.str.extract(_PATTERN)
    canonical = parts["y"] + "-" + parts["m"].str.zfill(2) + "-" + parts["d"].str.zfill(2)
    day = pd.to_datetime(canonical, format="%Y-%m-%d", errors="coerce")
    zoned = parts["zone"].notna() & day.notna()
    if zoned.any():
        tz = ZoneInfo(timezone)
        columns = (canonical[zoned], *(parts.loc[zoned, c] for c in ("h", "rest", "zone")))
        stamps = list(zip(*columns, strict=True))
        found = {stamp: _zoned_day(*stamp, tz) for stamp in set(stamps)}
        day = day.astype(object)
        day[zoned] = [found[stamp] for stamp in stamps]
        day = pd.to_datetime(day)
    refused = zoned & day.isna()
    problem = pd.Series(None, index=text.index, dtype="object")
    problem = problem.mask(day.isna(), "invalid_date").mask(refused, "timezone")
    normalised = day.notna() & raw.ne(canonical).fillna(True)
    return pd.DataFrame(
        {"day": day, "problem": problem, "normalised": normalised},
        index=text.index,
    )


def day_keys(days: pd.Series) -> pd.Series:
    """``YYYY-MM-DD`` text of parsed days (NA where there is none)."""
    return days.dt.strftime("%Y-%m-%d").astype("string")
