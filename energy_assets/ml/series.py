"""A long frame (``meter_id, date, <column>``) as one daily series per meter: the one
conversion training, evaluation and the bundle all make."""

from __future__ import annotations

import pandas as pd


def meter_series(frame: pd.DataFrame, column: str = "usage") -> dict[str, pd.Series]:
    """Each meter's ``column`` by date (sorted, named by the meter id, meters in sorted order).
    A gap-free meter's index has a daily frequency; gaps stay gaps (callers that need a full
    calendar fill them their own way)."""
    return {
        str(m): pd.Series(
            g[column].to_numpy(float),
            index=pd.DatetimeIndex(g["date"].to_numpy(), freq="infer"),
            name=str(m),
        )
        for m, g in frame.sort_values(["meter_id", "date"]).groupby("meter_id", sort=True)
    }
