"""Realistic daily usage for tests and the demo, with the faults real tables have.

Usage responds to a shared synthetic temperature (heating below ~16 °C, cooling above ~22 °C),
has a weekly pattern and holiday dips per meter, multiplicative noise, missing days, and a few
malformed rows of each kind cleaning must catch.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import numpy as np
import pandas as pd
from scipy.signal import lfilter

BAD_KINDS = (
    "missing_usage",
    "invalid_usage",
    "negative_usage",
    "outlier",
    "invalid_date",
    "duplicate",
)


def synthetic_temperature(days: pd.DatetimeIndex, rng: np.random.Generator) -> np.ndarray:
    """Northern-hemisphere daily mean temperature: yearly cycle plus AR(1) weather noise."""
    phase = 2 * np.pi * (days.day_of_year.to_numpy() - 200) / 365.25
    noise = lfilter([1.0], [1.0, -0.75], rng.normal(0, 2.2, len(days)))
    return 12.0 + 10.0 * np.cos(phase) + noise


def _holidays(days: pd.DatetimeIndex) -> np.ndarray:
    md = days.strftime("%m-%d")
    fixed = np.isin(md, ["01-01", "05-01", "07-04", "12-24", "12-25", "12-26", "12-31"])
    # last Monday of May and first Monday of September
    monday = days.day_of_week == 0
    last_may = monday & (days.month == 5) & (days.day > 24)
    first_sep = monday & (days.month == 9) & (days.day <= 7)
    return fixed | last_may | first_sep


def generate_usage(
    n_meters: int = 12,
    n_days: int = 730,
    end: date | None = None,
    seed: int = 0,
    missing_rate: float = 0.02,
    bad_rows: bool = True,
) -> pd.DataFrame:
    """Long frame ``meter_id, date, usage, temperature``; ``date`` is text and ``usage`` an
    object column, because bad rows carry text such as ``"n/a"`` or a second date spelling."""
    rng = np.random.default_rng(seed)
    end = end or (datetime.now(UTC).date() - timedelta(days=1))
    days = pd.date_range(end=pd.Timestamp(end), periods=n_days, freq="D")
    temperature = synthetic_temperature(days, rng)
    holiday = _holidays(days)
    dow = days.day_of_week.to_numpy()

    meters = [f"meter-{i + 1:04d}" for i in range(n_meters)]
    commercial = rng.random(n_meters) < 0.2
    base = np.where(commercial, rng.uniform(150, 600, n_meters), rng.uniform(6, 35, n_meters))
    weekend_factor = np.where(
        commercial, rng.uniform(0.35, 0.6, n_meters), rng.uniform(1.05, 1.3, n_meters)
    )
    heating = rng.uniform(0.02, 0.06, n_meters)  # share of base per degree below 16 C
    cooling = rng.uniform(0.02, 0.08, n_meters)  # share of base per degree above 22 C
    noise_sd = rng.uniform(0.04, 0.12, n_meters)

    weekly = np.where(dow[None, :] >= 5, weekend_factor[:, None], 1.0)
    weekly = weekly * (
        1 + 0.03 * np.sin(2 * np.pi * dow[None, :] / 7 + rng.uniform(0, 6, (n_meters, 1)))
    )
    thermal = (
        1
        + heating[:, None] * np.clip(16 - temperature, 0, None)[None, :]
        + cooling[:, None] * np.clip(temperature - 22, 0, None)[None, :]
    )
    holiday_effect = np.where(holiday[None, :], np.where(commercial, 0.4, 1.1)[:, None], 1.0)
    noise = np.exp(rng.normal(0, noise_sd[:, None], (n_meters, n_days)))
    usage = base[:, None] * weekly * thermal * holiday_effect * noise

    frame = pd.DataFrame(
        {
            "meter_id": np.repeat(meters, n_days),
            "date": np.tile(days.strftime("%Y-%m-%d"), n_meters),
            "usage": np.round(usage.ravel(), 3),
            "temperature": np.tile(np.round(temperature, 1), n_meters),
        }
    )
    keep = rng.random(len(frame)) >= missing_rate
    for m in range(0, n_meters, 3):  # a multi-day outage on every third meter
        start = int(rng.integers(30, max(31, n_days - 40)))
        keep[m * n_days + start : m * n_days + start + int(rng.integers(3, 8))] = False
    frame = frame[keep].reset_index(drop=True)
    frame["usage"] = frame["usage"].astype(object)
    if bad_rows and len(frame) > 50:
        frame = _inject_bad_rows(frame, rng)
    return frame


def _inject_bad_rows(frame: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    per_kind = max(2, len(frame) // 1000)
    picks = rng.choice(len(frame), size=per_kind * 5, replace=False).reshape(5, per_kind)
    frame.loc[picks[0], "usage"] = ""
    frame.loc[picks[1], "usage"] = "n/a"
    frame.loc[picks[2], "usage"] = -frame.loc[picks[2], "usage"].astype(float)
    frame.loc[picks[3], "usage"] = np.round(frame.loc[picks[3], "usage"].astype(float) * 50, 3)
    frame.loc[picks[4], "date"] = [_bad_date(k) for k in range(per_kind)]
    valid = np.setdiff1d(np.arange(len(frame)), picks.ravel())
    dup_rows = frame.loc[rng.choice(valid, size=per_kind, replace=False)].copy()
    dup_rows["date"] = dup_rows["date"] + "T00:00:00"
    dup_rows["usage"] = np.round(dup_rows["usage"].astype(float) * 1.02, 3)
    return pd.concat([frame, dup_rows], ignore_index=True)


def _bad_date(k: int) -> str:
    """The k-th unreadable date, each one different: two items of one meter with the same bad
    date would be one key, and the table would keep only one of them."""
    n = k // 3
    kind = k % 3
    if kind == 0:
        return f"{2024 - n}-02-30"  # no such day
    if kind == 1:
        return "not-a-date" if n == 0 else f"not-a-date-{n}"
    return f"{31 - n % 28:02d}/12/{2024 - n // 28}"  # day first: not this format
