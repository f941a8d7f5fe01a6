"""Time-ordered train/test split with one cutoff for every meter."""

from __future__ import annotations

import pandas as pd

MIN_TRAIN_DAYS = 3 * 7


def time_split(frame: pd.DataFrame, test_days: int = 28) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The last ``test_days`` calendar days are the test set; everything before trains.

    Every meter stays: one too short to fit (a new meter, a stray item) is served seasonal naive
    by training once it has a week of days, and named by ``short_meters``; it must not stop the
    rest of the fleet from training.
    """
    if test_days < 1:
        raise ValueError(f"test_days must be at least 1, got {test_days}")
    cutoff = frame["date"].max() - pd.Timedelta(days=test_days)
    train = frame[frame["date"] <= cutoff]
    test = frame[frame["date"] > cutoff]
    return train.reset_index(drop=True), test.reset_index(drop=True)


def short_meters(train: pd.DataFrame, meters, minimum: int = MIN_TRAIN_DAYS) -> dict[str, int]:
    """Meters with fewer than ``minimum`` training days, and how many they have."""
    counts = train.groupby("meter_id").size().reindex(list(meters), fill_value=0)
    return {str(m): int(n) for m, n in counts[counts < minimum].items()}
