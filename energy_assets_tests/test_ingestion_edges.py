"""Issue 13's probes of the way in (3 meters x 200 days): every item the export reads ends as a
clean row or a quarantined row with a reason, counted in and counted out."""

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
from energy_assets.tools.seed import seed_table
from energy_assets_tests.conftest import HISTORY_START, deployment

TODAY = datetime.now(UTC).date()
YESTERDAY = TODAY - timedelta(days=1)
DAYS = pd.date_range(end=YESTERDAY, periods=200).strftime("%Y-%m-%d")


def _fleet() -> pd.DataFrame:
    rows = [
        (f"meter-{m:04d}", d, f"{10 + m + (i % 7) * 0.5:.2f}")
        for m in (1, 2, 3)
        for i, d in enumerate(DAYS)
    ]
    return pd.DataFrame(rows, columns=["meter_id", "date", "usage"])


def _unpadded(day: str) -> str:
    stamp = pd.Timestamp(day)
    return f"{stamp.year}-{stamp.month}-{stamp.day}"


# A day whose month and day are both single digits, so that its unpadded spelling differs.
UNPADDED_DAY = next(d for d in DAYS if pd.Timestamp(d).month < 10 and pd.Timestamp(d).day < 10)
ZONED_DAY = DAYS[50]
BEFORE_START = (pd.Timestamp(HISTORY_START) - pd.Timedelta(days=30)).strftime("%Y-%m-%d")


@pytest.fixture(scope="module")
def probe(local_aws):
    """The fleet plus one item of each edge, seeded, exported over every day and cleaned."""
    frame = _fleet()
    where = (frame["meter_id"] == "meter-0002") & (frame["date"] == UNPADDED_DAY)
    frame.loc[where, "date"] = _unpadded(UNPADDED_DAY)
    where = (frame["meter_id"] == "meter-0003") & (frame["date"] == ZONED_DAY)
    frame.loc[where, "date"] = f"{ZONED_DAY}T00:00:00+10:00"
    defs = build_defs(deployment(table="edge-usage", bucket="edge-bucket"))
    table, storage = defs.resources["usage_table"], defs.resources["storage"]
    seeded = seed_table(table, frame, covariates=())
    extra = [
        {"meter_id": "meter-0001", "date": "2030-01-01", "usage": "12"},  # the future
        {"meter_id": "meter-0001", "date": TODAY.isoformat(), "usage": "12"},  # day not over
        {"meter_id": "meter-0001", "date": BEFORE_START, "usage": "12"},
        {"meter_id": "meter-0001", "date": DAYS[10] + "T00:00:00", "usage": "11"},  # twin
    ]
    table.put_usage(pd.DataFrame(extra))
    stray = pd.DataFrame([{"meter_id": "meter-0001", "date": DAYS[20], "usage": "12"}])
    table.put_usage(stray.assign(temperature=-40))  # an item rewritten with an extra attribute
    resources = defs.resources
    export = dg.materialize(
        [defs.get_assets_def("raw_usage_export")],
        resources=resources,
        tags={
            ASSET_PARTITION_RANGE_START_TAG: DAYS[0],
            ASSET_PARTITION_RANGE_END_TAG: YESTERDAY.isoformat(),
        },
    )
    clean = dg.materialize([cleaned_usage], resources=resources)
    events = export.get_asset_materialization_events()
    meta = {k: v.value for k, v in events[-1].materialization.metadata.items()}
    stats = storage.get_json(layout.CLEAN_STATS)
    quarantine = storage.read_csv(
        storage.key_of(stats["quarantine_uri"]), dtype=str, keep_default_na=False
    )
    return {
        "seeded": seeded,
        "export": export,
        "clean": clean,
        "meta": meta,
        "stats": stats,
        "quarantine": quarantine,
        "frame": storage.read_parquet(layout.CLEAN),
        "items": len(table.scan()),
    }


def _reason(probe, date: str) -> list[str]:
    q = probe["quarantine"]
    return q.loc[q["date"] == date, "reason"].tolist()


def test_every_item_read_is_exported_or_accounted_for(probe):
    meta = probe["meta"]
    assert probe["export"].success and meta["table_items"] == probe["items"] == 604
    assert (
        meta["rows"] + meta["rows_other_days"] + meta["pending_rows"] + meta["undated_rows"]
        == (meta["table_items"])
    )
    assert (meta["rows"], meta["undated_rows"], meta["rows_other_days"]) == (600, 3, 0)
    assert meta["pending_rows"] == 1  # today's item waits for the day to end
    assert (meta["undated_future_date"], meta["undated_before_history_start"]) == (1, 1)
    assert meta["undated_timezone"] == 1 and meta["dates_normalised"] == 2


def test_cleaning_counts_every_exported_item_in_and_out(probe):
    stats, meta = probe["stats"], probe["meta"]
    assert probe["clean"].success and counted(stats)
    assert stats["rows_in"] == meta["table_items"] - meta["pending_rows"] == 603
    assert stats["rows_in"] == stats["rows_clean"] + stats["rows_quarantined"]
    assert len(probe["quarantine"]) == stats["rows_quarantined"] == 4
    assert stats["rows_clean"] == 599


def test_an_unpadded_date_is_normalised_not_imputed(probe):
    frame = probe["frame"].set_index(["meter_id", "date"])
    row = frame.loc[("meter-0002", pd.Timestamp(UNPADDED_DAY))]
    assert not row["imputed"] and row["usage"] > 0
    assert probe["stats"]["dates_normalised"] >= 1


def test_a_future_date_and_one_before_the_history_start_are_quarantined(probe):
    assert _reason(probe, "2030-01-01") == ["future_date"]
    assert _reason(probe, BEFORE_START) == ["before_history_start"]
    assert probe["frame"]["date"].max() == pd.Timestamp(YESTERDAY)


def test_a_date_with_a_time_zone_is_quarantined(probe):
    assert _reason(probe, f"{ZONED_DAY}T00:00:00+10:00") == ["timezone"]
    frame = probe["frame"].set_index(["meter_id", "date"])
    assert frame.loc[("meter-0003", pd.Timestamp(ZONED_DAY)), "imputed"]


def test_a_second_spelling_of_a_day_is_a_duplicate(probe):
    assert _reason(probe, DAYS[10] + "T00:00:00") == ["duplicate"]


def test_a_stray_attribute_is_ignored_not_a_fleet_column(probe):
    assert "temperature" not in probe["frame"].columns
    assert probe["stats"]["ignored_attributes"] == "temperature (1 rows)"
    assert probe["stats"]["quarantined_outlier"] == 0
