"""Public holidays and temperature climatology: the covariates known for future days.

Holidays come from the ``holidays`` library (country and subdivision configurable) plus any days a
dataset marks itself (a ``holiday`` column). For temperature, future days use a climatology (the
smoothed mean for the day of year over the training years): the honest setting. Observed
temperature for future days is an oracle, kept only for the benchmark's separate column.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pandas as pd


def holiday_ordinals(
    country: str | None,
    subdiv: str | None = None,
    years: range | None = None,
    extra_days: pd.DatetimeIndex | None = None,
) -> np.ndarray:
    """Sorted day numbers (days since 1970-01-01) of public holidays."""
    days: set[int] = set()
    if country:
        years = years or range(2000, 2041)
        days.update(_library_days(country, subdiv, years.start, years.stop))
    if extra_days is not None and len(extra_days):
        days.update(day_numbers(pd.DatetimeIndex(extra_days)).tolist())
    return np.array(sorted(days), dtype=np.int64)


@lru_cache(maxsize=32)
def _library_days(country: str, subdiv: str | None, first: int, stop: int) -> tuple[int, ...]:
    import holidays

    calendar = holidays.country_holidays(country, subdiv=subdiv, years=range(first, stop))
    return tuple(int(pd.Timestamp(d).value // 86_400_000_000_000) for d in calendar)


def day_numbers(dates: pd.DatetimeIndex) -> np.ndarray:
    return np.asarray(dates.values.astype("datetime64[D]").astype(np.int64))


def is_holiday(day_number: np.ndarray, ordinals: np.ndarray) -> np.ndarray:
    if len(ordinals) == 0:
        return np.zeros(len(day_number), dtype=float)
    pos = np.searchsorted(ordinals, day_number)
    pos = np.clip(pos, 0, len(ordinals) - 1)
    return (ordinals[pos] == day_number).astype(float)


def climatology(dates: pd.DatetimeIndex, values: np.ndarray, window: int = 15) -> np.ndarray:
    """Mean by day of year (1..366) smoothed over ``window`` days, circularly; index 0 unused."""
    doy = np.asarray(dates.day_of_year) - 1
    ok = np.isfinite(values)
    sums = np.bincount(doy[ok], weights=values[ok], minlength=366)
    counts = np.bincount(doy[ok], minlength=366).astype(float)
    kernel = np.ones(window)
    pad = window // 2
    sums = np.convolve(np.r_[sums[-pad:], sums, sums[:pad]], kernel, "valid")
    counts = np.convolve(np.r_[counts[-pad:], counts, counts[:pad]], kernel, "valid")
    fallback = float(np.nanmean(values)) if ok.any() else np.nan
    clim = np.where(counts > 0, sums / np.maximum(counts, 1), fallback)
    return np.r_[np.nan, clim]
