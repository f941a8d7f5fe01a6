"""The raw usage monitoring reads, cleaned the way it is scored: one place for the window and
the cleaning, so the asset and the replay's counterfactual see the same rows."""

from __future__ import annotations

import io
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

import pandas as pd

from energy_assets import layout
from energy_assets.ml.cleaning import clean_usage

if TYPE_CHECKING:
    from energy_assets.ml.bundle import ForecastBundle
    from energy_assets.resources import S3Storage

# Raw days read before the first new one: the cleaning's calendar and the drift windows need
# them (the 28-day recent window, a week of lags) around the model's last history day.
CONTEXT_DAYS = 35


def raw_day_keys(storage: S3Storage, after: str | None = None) -> list[str]:
    """Keys of the daily raw objects of days after ``after`` (all when None), by one listing
    that starts after that day's key rather than at the start of the prefix."""
    start = layout.raw_day(after) if after else None
    return [k for k in storage.list_keys_after(layout.RAW_PREFIX, start) if "date=" in k]


def day_of(key: str) -> str:
    return key.split("date=")[1][:10]


def read_raw_days(storage: S3Storage, first: str, last: str) -> pd.DataFrame:
    """Raw day objects in ``[first, last]``: one listing, then parallel GETs."""
    before = (pd.Timestamp(first) - pd.Timedelta(days=1)).strftime("%Y-%m-%d")
    keys = [
        k
        for k in raw_day_keys(storage, before)
        if first <= day_of(k) <= last and k.endswith(".csv")
    ]
    with ThreadPoolExecutor(storage.threads) as pool:
        blobs = list(pool.map(storage.get_bytes, keys))
    frames = [
        pd.read_csv(io.BytesIO(b), dtype=str, keep_default_na=False) for b in blobs if b.strip()
    ]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def recent_clean(storage: S3Storage, bundle: ForecastBundle, last: str) -> pd.DataFrame:
    """The cleaned usage from ``CONTEXT_DAYS`` before the bundle's history ends through
    ``last`` (empty when there is none): what realised error and usage drift are computed on."""
    history_end = min(s.index[-1] for s in bundle.history.values())
    first = (history_end - pd.Timedelta(days=CONTEXT_DAYS)).strftime("%Y-%m-%d")
    raw = read_raw_days(storage, first, last)
    return clean_usage(raw).clean if len(raw) else pd.DataFrame()
