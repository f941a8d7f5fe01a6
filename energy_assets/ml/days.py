"""Which day a reading's date names: one rule for the export and for cleaning.

A daily reading names a calendar day of the meter's local time. Accepted: ``YYYY-MM-DD``; the
same with an unpadded month or day (``2026-10-1``: year first with dashes is unambiguous, so it is
normalised, and counted as such); either followed by a time of day without a zone
(``2026-10-01T00:00:00``: the date part is the day). Refused: a date with a zone (``Z`` or
``+10:00``): it names an instant, and which local day that instant falls on depends on where the
meter is, which the table does not say, so the item is quarantined as ``timezone`` rather than
moved to a day chosen by guess. Anything else names no day (``invalid_date``).
"""

from __future__ import annotations

import pandas as pd

_PATTERN = (
    r"^\s*(?P<y>\d{4})-(?P<m>\d{1,2})-(?P<d>\d{1,2})"
    r"(?:[T ]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?P<zone>Z|[+-]\d{2}(?::?\d{2})?)?)?\s*$"
)


def parse_days(text: pd.Series) -> pd.DataFrame:
    """Per item: ``day`` (midnight Timestamp, NaT when refused), ``problem`` (``None``,
    ``"invalid_date"`` or ``"timezone"``) and ``normalised`` (accepted, but not written as
    ``YYYY-MM-DD``)."""
    raw = text.astype("string")
    parts = raw.str.extract(_PATTERN)
    canonical = parts["y"] + "-" + parts["m"].str.zfill(2) + "-" + parts["d"].str.zfill(2)
    day = pd.to_datetime(canonical, format="%Y-%m-%d", errors="coerce")
    zoned = parts["zone"].notna() & day.notna()
    day = day.mask(zoned)
    problem = pd.Series(None, index=text.index, dtype="object")
    problem = problem.mask(day.isna(), "invalid_date").mask(zoned, "timezone")
    normalised = day.notna() & raw.ne(canonical).fillna(True)
    return pd.DataFrame(
        {"day": day.astype("datetime64[ns]"), "problem": problem, "normalised": normalised},
        index=text.index,
    )


def day_keys(days: pd.Series) -> pd.Series:
    """``YYYY-MM-DD`` text of parsed days (NA where there is none)."""
    return days.dt.strftime("%Y-%m-%d").astype("string")
