"""Calendar and history features of daily usage, computed without looking ahead."""

from __future__ import annotations

import numpy as np
import pandas as pd

FEATURE_COLUMNS = [
    "day_of_week",
    "is_weekend",
    "month",
    "day_of_year",
    "week_of_year",
    "season",
    "lag_7",
    "rolling_mean_7",
]
_NORTH = np.array(
    [
        "winter",
        "winter",
        "spring",
        "spring",
        "spring",
        "summer",
        "summer",
        "summer",
        "autumn",
        "autumn",
        "autumn",
        "winter",
    ]
)
_SOUTH_OF = {"winter": "summer", "summer": "winter", "spring": "autumn", "autumn": "spring"}
_SOUTH = np.array([_SOUTH_OF[s] for s in _NORTH])


def season_of(months: np.ndarray, hemisphere: str = "north") -> np.ndarray:
    """Meteorological season of each month (1–12): December to February is northern winter."""
    if hemisphere not in ("north", "south"):
        raise ValueError(f"hemisphere must be 'north' or 'south', got {hemisphere!r}")
    table = _NORTH if hemisphere == "north" else _SOUTH
    return table[np.asarray(months) - 1]


def add_calendar_features(frame: pd.DataFrame, hemisphere: str = "north") -> pd.DataFrame:
    """Day of week, weekend, month, day/week of year, season, and per-meter lag 7 and the mean
    of the previous 7 days (both from earlier days only)."""
    out = frame.sort_values(["meter_id", "date"]).reset_index(drop=True)
    dates = pd.DatetimeIndex(out["date"])
    out["day_of_week"] = dates.day_of_week
    out["is_weekend"] = out["day_of_week"] >= 5
    out["month"] = dates.month
    out["day_of_year"] = dates.day_of_year
    out["week_of_year"] = dates.isocalendar().week.to_numpy().astype(int)
    out["season"] = season_of(out["month"].to_numpy(), hemisphere)
    usage = out.groupby("meter_id", sort=False)["usage"]
    out["lag_7"] = usage.shift(7)
    previous = usage.shift(1)
    out["rolling_mean_7"] = previous.groupby(out["meter_id"], sort=False).transform(
        lambda s: s.rolling(7, min_periods=7).mean()
    )
    return out
