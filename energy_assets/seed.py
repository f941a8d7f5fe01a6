"""Fill the usage table from the generator or from a CSV in ``meter_id,date,usage`` form."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from energy_assets.resources import UsageTableResource


@dataclass
class SeedSummary:
    table: str
    rows: int
    meters: int
    first_date: str
    last_date: str
    single_series: bool
    created_table: bool


def read_usage_csv(path: str | Path) -> pd.DataFrame:
    """Read a usage CSV as text (bad values stay as they are); needs ``date`` and ``usage``."""
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = {"date", "usage"} - set(frame.columns)
    if missing:
        raise ValueError(
            f"{path}: missing column(s) {sorted(missing)}; expected meter_id,date,usage"
        )
    return frame


def seed_table(
    table: UsageTableResource,
    frame: pd.DataFrame,
    single_series: bool | None = None,
) -> SeedSummary:
    """Create the table when absent (one series when the frame has no ``meter_id``) and write."""
    single = ("meter_id" not in frame.columns) if single_series is None else single_series
    if single and "meter_id" in frame.columns:
        if frame["meter_id"].nunique() > 1:
            raise ValueError("a table keyed by date alone holds one series; got several meters")
        frame = frame.drop(columns="meter_id")
    created = not table.exists()
    if created:
        table.create(single_series=single)
    rows = table.put_usage(frame)
    days = pd.to_datetime(frame["date"].astype(str).str[:10], format="%Y-%m-%d", errors="coerce")
    return SeedSummary(
        table=table.table_name,
        rows=rows,
        meters=1 if single else int(frame["meter_id"].nunique()),
        first_date=str(days.min().date()),
        last_date=str(days.max().date()),
        single_series=single,
        created_table=created,
    )
