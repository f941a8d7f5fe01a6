"""Seeding from CSV (meter tables and date-keyed single-series tables) and exporting them."""

from datetime import UTC, datetime, timedelta

import dagster as dg
import pandas as pd
import pytest
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)

from energy_assets import layout
from energy_assets.assets.preparation import cleaned_usage
from energy_assets.ml.cleaning import counted
from energy_assets.orchestration.definitions import build_defs
from energy_assets.resources import UsageTableResource
from energy_assets.tools.cli import main
from energy_assets.tools.seed import SeedError, read_usage_csv, seed_table
from energy_assets_tests.conftest import deployment

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
    path.write_text("meter_id,when,amount\na,2025-01-01,3\n")
    with pytest.raises(SeedError, match="no date or usage column .* --date-column --usage-column"):
        read_usage_csv(path)


def _seed_cli(capsys, *args) -> tuple[int, str, str]:
    code = main(["seed", *args])
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.parametrize(
    "text",
    [
        "meter_id,date,usage\n",  # a header and no rows
        "",  # nothing at all
        "meter_id,when,amount\na,2025-01-01,3\n",
        "meter_id,usage,kwh,date\na,1,1,2025-01-01\n",  # two usage columns
    ],
)
def test_seed_refuses_unusable_csvs_in_one_line_with_exit_2(local_aws, tmp_path, capsys, text):
    path = tmp_path / "usage.csv"
    path.write_text(text)
    code, out, err = _seed_cli(capsys, "--csv", str(path), "--table", "never-created")
    assert code == 2 and out == ""
    assert err.startswith(f"energy-assets seed: {path}: ") and err.count("\n") == 1
    assert not UsageTableResource(table_name="never-created").exists()


@pytest.mark.parametrize(
    ("text", "options"),
    [
        ("Meter;Date;Usage\nhouse-2;{d0};1,5\nhouse-2;{d1};2.5\n", []),
        ("NMI\tDay\tkWh\nhouse-2\t{d0}\t1.5\nhouse-2\t{d1}\t2.5\n", []),
        ("meter_id,reading,read_on\nhouse-2,1.5,{d0}\nhouse-2,2.5,{d1}\n",
         ["--usage-column", "reading", "--date-column", "read_on"]),
    ],
)  # fmt: skip
def test_seed_reads_the_usual_spellings_and_separators(local_aws, tmp_path, capsys, text, options):
    d0, d1 = (YESTERDAY - timedelta(days=1)).isoformat(), YESTERDAY.isoformat()
    path = tmp_path / "usage.csv"
    path.write_text(text.format(d0=d0, d1=d1))
    table = f"spelling-{abs(hash(text)) % 10**6}"
    code, out, err = _seed_cli(capsys, "--csv", str(path), "--table", table, *options)
    assert (code, err) == (0, "")
    assert out.startswith(f"seeded 2 items into {table} (1 meter(s), {d0} .. {d1}")
    items = UsageTableResource(table_name=table).scan().sort_values("date")
    assert items["meter_id"].tolist() == ["house-2", "house-2"]
    assert items["usage"].tolist()[1] == "2.5"


def test_conflicting_readings_for_one_meter_day_are_refused_not_overwritten(
    local_aws, tmp_path, capsys
):
    days = pd.date_range(end=YESTERDAY, periods=200).strftime("%Y-%m-%d")
    frame = pd.DataFrame({"meter_id": "m1", "date": days, "usage": "10.5"})
    frame = pd.concat([frame, frame.iloc[[12]].assign(usage="999")], ignore_index=True)
    path = tmp_path / "dup.csv"
    frame.to_csv(path, index=False)
    code, out, err = _seed_cli(capsys, "--csv", str(path), "--table", "dup-refused")
    assert code == 2 and out == ""
    assert (
        f"1 meter-day key(s) given more than once with different values, e.g. m1 {days[12]}: "
        "usage '10.5' on line 14; usage '999' on line 202"
    ) in err
    assert not UsageTableResource(table_name="dup-refused").exists()


def test_a_row_repeated_exactly_is_written_once_and_said(local_aws, tmp_path, capsys):
    days = pd.date_range(end=YESTERDAY, periods=10).strftime("%Y-%m-%d")
    frame = pd.DataFrame({"meter_id": "m1", "date": days, "usage": "10.5"})
    path = tmp_path / "repeat.csv"
    pd.concat([frame, frame.iloc[[3]]]).to_csv(path, index=False)
    code, out, _ = _seed_cli(capsys, "--csv", str(path), "--table", "dup-merged")
    assert code == 0 and "seeded 10 items" in out
    assert "note: 1 row(s) repeated another row exactly: written once" in out


def test_only_declared_covariates_are_written(local_aws, tmp_path, capsys):
    days = pd.date_range(end=YESTERDAY, periods=5).strftime("%Y-%m-%d")
    frame = pd.DataFrame(
        {"meter_id": "m1", "date": days, "usage": "1", "Temperature": "15", "humidity": "80"}
    )
    path = tmp_path / "cov.csv"
    frame.to_csv(path, index=False)
    code, out, _ = _seed_cli(
        capsys, "--csv", str(path), "--table", "cov-usage", "--covariates", "temperature"
    )
    assert code == 0 and "covariates: temperature;" in out
    assert "note: column(s) humidity not written: not declared covariates" in out
    items = UsageTableResource(table_name="cov-usage").scan()
    assert set(items.columns) == {"meter_id", "date", "usage", "temperature"}


def test_seed_command_reads_a_csv(local_aws, tmp_path, capsys):
    assert main(["seed", "--csv", _csv(tmp_path, True), "--table", "cli-usage"]) == 0
    assert "seeded 40 items into cli-usage (1 meter(s)" in capsys.readouterr().out
    items = UsageTableResource(table_name="cli-usage").scan()
    assert len(items) == 40 and set(items["meter_id"]) == {"house-1"}
    assert (items["usage"] == "broken").sum() == 1  # kept as written, for cleaning to reject


def test_single_series_table_exports_and_cleans(local_aws, tmp_path):
    defs = build_defs(deployment(table="one-series", bucket="one-series-bucket"))
    table, storage = defs.resources["usage_table"], defs.resources["storage"]
    summary = seed_table(table, read_usage_csv(_csv(tmp_path, False)))
    assert summary.single_series and table.is_single_series()
    raw_usage_export = defs.get_assets_def("raw_usage_export")
    result = dg.materialize(
        [raw_usage_export, cleaned_usage],
        resources=defs.resources,
        tags={
            ASSET_PARTITION_RANGE_START_TAG: summary.first_date,
            ASSET_PARTITION_RANGE_END_TAG: summary.last_date,
        },
        selection=[raw_usage_export],
    )
    assert result.success
    assert dg.materialize([cleaned_usage], resources=defs.resources).success
    clean = storage.read_parquet(layout.CLEAN)
    assert set(clean["meter_id"]) == {"one-series"}  # the series is named after its table
    assert len(clean) == 40 and clean["imputed"].sum() == 1
    stats = storage.get_json(layout.CLEAN_STATS)
    assert stats["quarantined_invalid_usage"] == 1
    assert counted(stats) and stats["rows_in"] == summary.rows == 40


def test_rows_repeating_a_key_leave_one_item_the_last(local_aws):
    table = UsageTableResource(table_name="dup-usage")
    table.create()
    rows = [("m1", "2026-01-01", 1.0), ("m1", "2026-01-02", 2.0)] * 20 + [("m1", "2026-01-01", 9.0)]
    frame = pd.DataFrame(rows, columns=["meter_id", "date", "usage"])
    assert table.put_usage(frame) == 2  # one BatchWriteItem would refuse the repeated keys
    stored = table.scan().sort_values("date")
    assert stored["usage"].astype(float).tolist() == [9.0, 2.0]
