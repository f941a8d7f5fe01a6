"""The raw usage monitoring reads, cleaned the way it is scored: one place for the window and
the cleaning, so the asset and the replay's counterfactual see the same rows."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from energy_assets.ml.cleaning import clean_usage
from energy_assets.raw_store import read_raw

if TYPE_CHECKING:
    from energy_assets.ml.bundle import ForecastBundle
    from energy_assets.resources import S3Storage

# Raw days read before the first new one: the cleaning's calendar and the drift windows need
# them (the 28-day recent window, a week of lags) around the model's last history day.
CONTEXT_DAYS = 35


def recent_clean(
    storage: S3Storage, bundle: ForecastBundle, last: str, shard: str | None = None
) -> pd.DataFrame:
    """The cleaned usage from ``CONTEXT_DAYS`` before the bundle's history ends through
    ``last`` (empty when there is none): what realised error and usage drift are computed on.
    ``shard``: that meter shard's objects only."""
    history_end = min(s.index[-1] for s in bundle.history.values())
    first = (history_end - pd.Timedelta(days=CONTEXT_DAYS)).strftime("%Y-%m-%d")
    # month objects, and day CSVs dropped into S3
    raw = read_raw(storage, first, last, shard=None if shard is None else int(shard)).rows
    return clean_usage(raw).clean if len(raw) else pd.DataFrame()
