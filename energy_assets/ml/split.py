"""Time-ordered train/test split with one cutoff for every meter."""

from __future__ import annotations

import pandas as pd

MIN_TRAIN_DAYS = 3 * 7


def time_split(frame: pd.DataFrame, test_days: int = 28) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The last ``test_days`` calendar days are the test set; everything before trains.

    A meter with fewer than three weeks of training days cannot be fit or backtested: such
    meters are named in the error rather than silently dropped.
    """
    if test_days < 1:
        raise ValueError(f"test_days must be at least 1, got {test_days}")
    cutoff = frame["date"].max() - pd.Timedelta(days=test_days)
    train = frame[frame["date"] <= cutoff]
    test = frame[frame["date"] > cutoff]
    counts = train.groupby("meter_id").size().reindex(frame["meter_id"].unique(), fill_value=0)
    short = sorted(counts[counts < MIN_TRAIN_DAYS].index)
    if short:
        raise ValueError(
            f"{len(short)} meter(s) have fewer than {MIN_TRAIN_DAYS} training days before "
            f"{cutoff.date()}: {', '.join(map(str, short[:10]))}"
        )
    return train.reset_index(drop=True), test.reset_index(drop=True)
