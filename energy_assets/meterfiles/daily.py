"""Interval reads summed to one row per meter and day; a day that is not whole is quarantined.

Every reader (NEM12, Green Button XML and CSV) turns its file into the same interval frame, so
the rules live here once: a day goes to the usage table only when its reads cover the whole
local day exactly once; otherwise it is quarantined with a reason and its partial sum, never
written as if it were the day's usage and never dropped without a word.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import pandas as pd

# Quality letters, in the order they are written: NEM12's own (A actual, E estimated,
# F final substituted, S substituted, N null, V variable) plus Q (questionable, Green Button).
QUALITY_ORDER = "AEFSNVQ"
INTERVAL_COLUMNS = ("meter_id", "date", "start", "seconds", "kwh", "quality", "day_seconds")
DAILY_COLUMNS = ("meter_id", "date", "usage", "unit", "quality", "source")
QUARANTINE_COLUMNS = (
    "file",
    "meter_id",
    "date",
    "usage",
    "unit",
    "quality",
    "intervals_read",
    "intervals_expected",
    "reason",
    "detail",
)
_ENERGY_UNITS = {"wh": 1e-3, "kwh": 1.0, "mwh": 1e3}
_SAFE_ID = re.compile(r"[^A-Za-z0-9._-]+")


class MeterFileError(ValueError):
    """A file that cannot be read as a whole: one line saying which file and why."""


def energy_factor(unit: str) -> float | None:
    """kWh per unit for active energy (Wh, kWh, MWh in any case); None for anything else."""
    return _ENERGY_UNITS.get(str(unit).strip().lower())


def safe_meter_id(text: str) -> str:
    """A meter id of letters, digits, ``.``, ``_`` and ``-`` only (no ``/``: ids appear in
    URL paths and S3 keys)."""
    cleaned = _SAFE_ID.sub("_", str(text).strip()).strip("_")
    if not cleaned:
        raise MeterFileError(f"cannot make a meter id from {text!r}")
    return cleaned


def quality_letters(flags) -> str:
    """The distinct quality letters of a day in a fixed order, e.g. ``A`` or ``AS``."""
    present = {str(f)[:1].upper() for f in flags if isinstance(f, str) and f}
    known = "".join(q for q in QUALITY_ORDER if q in present)
    return known + "".join(sorted(present - set(QUALITY_ORDER)))


@dataclass
class MeterFileResult:
    """What one file holds: whole days for the table, the rest quarantined with reasons."""

    file: str
    source: str
    daily: pd.DataFrame
    quarantine: pd.DataFrame
    notes: list[str] = field(default_factory=list)

    @property
    def summary(self) -> dict:
        reasons = self.quarantine["reason"].value_counts().to_dict() if len(self.quarantine) else {}
        days = self.daily["date"]
        return {
            "file": self.file,
            "source": self.source,
            "rows": len(self.daily),
            "meters": int(self.daily["meter_id"].nunique()),
            "first_date": str(days.min()) if len(days) else None,
            "last_date": str(days.max()) if len(days) else None,
            "quarantined": len(self.quarantine),
            "quarantined_by_reason": {str(k): int(v) for k, v in reasons.items()},
        }


def quarantine_rows(file: str, rows: list[dict]) -> pd.DataFrame:
    """Quarantine records in the common column order (missing fields empty)."""
    frame = pd.DataFrame(rows, columns=list(QUARANTINE_COLUMNS))
    return frame.assign(file=file)


def daily_usage(
    intervals: pd.DataFrame, file: str, source: str, extra_quarantine: pd.DataFrame | None = None
) -> MeterFileResult:
    """Sum interval kWh per meter and local day; keep the day only if its reads cover it once.

    ``intervals`` has :data:`INTERVAL_COLUMNS`: ``kwh`` is NaN where the file has no usable
    value, ``day_seconds`` is the length of the local day (86,400 except on daylight-saving
    days) and ``start`` identifies the interval within the meter's series.
    """
    frame = intervals.loc[:, list(INTERVAL_COLUMNS)].copy()
    frame["quality"] = frame["quality"].fillna("").astype(str).str[:1].str.upper()
    read = frame["kwh"].notna() & frame["quality"].ne("N")
    frame["read_seconds"] = frame["seconds"].where(read, 0)
    frame["repeated"] = frame.duplicated(["meter_id", "start"], keep=False)
    grouped = frame.groupby(["meter_id", "date"], sort=True)
    days = grouped.agg(
        usage=("kwh", "sum"),
        read_seconds=("read_seconds", "sum"),
        day_seconds=("day_seconds", "first"),
        intervals=("seconds", "size"),
        interval_seconds=("seconds", "median"),
        repeated=("repeated", "sum"),
    ).reset_index()
    days["quality"] = grouped["quality"].agg(quality_letters).to_numpy()
    days["usage"] = days["usage"].round(6)
    days["intervals_read"] = (days["read_seconds"] / days["interval_seconds"]).round().astype(int)
    days["intervals_expected"] = (days["day_seconds"] / days["interval_seconds"]).round()
    days["intervals_expected"] = days["intervals_expected"].astype(int)

    whole = days["read_seconds"].eq(days["day_seconds"]) & days["repeated"].eq(0)
    bad = days[~whole].copy()
    bad["unit"] = "kWh"
    bad["reason"] = "partial_day"
    bad["detail"] = (
        bad["intervals_read"].astype(str)
        + " of "
        + bad["intervals_expected"].astype(str)
        + " intervals read"
    )
    repeated = bad["repeated"] > 0
    bad.loc[repeated, "reason"] = "repeated_interval"
    bad.loc[repeated, "detail"] = (
        bad.loc[repeated, "repeated"].astype(int).astype(str) + " reads of intervals read twice"
    )
    over = ~repeated & (bad["read_seconds"] > bad["day_seconds"])
    bad.loc[over, "reason"] = "overlapping_intervals"
    bad.loc[over, "detail"] = "reads cover more than the day"
    quarantine = bad.assign(file=file).loc[:, list(QUARANTINE_COLUMNS)]
    if extra_quarantine is not None and len(extra_quarantine):
        quarantine = pd.concat([quarantine, extra_quarantine], ignore_index=True)
    daily = days[whole].assign(unit="kWh", source=source).loc[:, list(DAILY_COLUMNS)]
    return MeterFileResult(
        file=file,
        source=source,
        daily=daily.reset_index(drop=True),
        quarantine=quarantine.reset_index(drop=True),
    )
