"""Seeding from CSV (meter tables and date-keyed single-series tables) and exporting them."""

from datetime import UTC, datetime, timedelta

import dagster as dg
import pandas as pd
import pytest
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)
from dagster_aws.s3 import S3Resource

from energy_assets import layout
from energy_assets.assets.ingestion import raw_usage_export
from energy_assets.assets.preparation import cleaned_usage
from energy_assets.cli import main
from energy_assets.resources import S3Storage, UsageTableResource
from energy_assets.seed import read_usage_csv, seed_table

YESTERDAY = datetime.now(UTC).date() - timedelta(days=1)


def _csv(tmp_path, with_meter: bool) -> str:
    days = pd.date_range(end=YESTERDAY, periods=40).strftime("%Y-%m-%d")
    frame = pd.DataFrame({"date": days, "usage": [f"{100 + i % 7}.5" for i in range(40)]})
    frame.loc[3, "usage"] = "broken"
    if with_meter:
        frame.insert(0, "meter_id", "house-1")
    path = tmp_path / "usage.csv"
    frame.to_csv(path, index=False)
    return str(path)


def test_csv_without_usage_column_is_refused(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("meter_id,day,kwh\na,2025-01-01,3\n")
    with pytest.raises(ValueError, match="missing column"):
        read_usage_csv(path)


def test_seed_command_reads_a_csv(local_aws, tmp_path, capsys):
    assert main(["seed", "--csv", _csv(tmp_path, True), "--table", "cli-usage"]) == 0
    assert "seeded 40 items into cli-usage (1 meter(s)" in capsys.readouterr().out
    items = UsageTableResource(table_name="cli-usage").scan()
    assert len(items) == 40 and set(items["meter_id"]) == {"house-1"}
    assert (items["usage"] == "broken").sum() == 1  # kept as written, for cleaning to reject


def test_single_series_table_exports_and_cleans(local_aws, tmp_path):
    table = UsageTableResource(table_name="one-series")
    summary = seed_table(table, read_usage_csv(_csv(tmp_path, False)))
    assert summary.single_series and table.is_single_series()
    storage = S3Storage(bucket="one-series-bucket", s3=S3Resource())
    result = dg.materialize(
        [raw_usage_export, cleaned_usage],
        resources={"usage_table": table, "storage": storage},
        tags={
            ASSET_PARTITION_RANGE_START_TAG: summary.first_date,
            ASSET_PARTITION_RANGE_END_TAG: summary.last_date,
        },
        selection=[raw_usage_export],
    )
    assert result.success
    assert dg.materialize([cleaned_usage], resources={"storage": storage}).success
    clean = storage.read_parquet(layout.CLEAN)
    assert set(clean["meter_id"]) == {"one-series"}  # the series is named after its table
    assert len(clean) == 40 and clean["imputed"].sum() == 1
    stats = storage.get_json(layout.CLEAN_STATS)
    assert stats["quarantined_invalid_usage"] == 1


def test_rows_repeating_a_key_leave_one_item_the_last(local_aws):
    table = UsageTableResource(table_name="dup-usage")
    table.create()
    rows = [("m1", "2026-01-01", 1.0), ("m1", "2026-01-02", 2.0)] * 20 + [("m1", "2026-01-01", 9.0)]
    frame = pd.DataFrame(rows, columns=["meter_id", "date", "usage"])
    assert table.put_usage(frame) == 2  # one BatchWriteItem would refuse the repeated keys
    stored = table.scan().sort_values("date")
    assert stored["usage"].astype(float).tolist() == [9.0, 2.0]
