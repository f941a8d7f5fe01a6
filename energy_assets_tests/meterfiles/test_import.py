"""Meter files into the usage table against the local AWS: `seed --nem12/--greenbutton`, the
S3 drop picked up by meter_file_sensor, and cleaning that quarantines flagged quality."""

from datetime import UTC, date, datetime, timedelta

import boto3
import dagster as dg
import pandas as pd
import pytest
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)
from dagster_aws.s3 import S3Resource

from energy_assets.meterfiles.ops import USAGE_TABLE
from energy_assets.ml.cleaning import clean_usage
from energy_assets.orchestration.jobs import ingestion_job, meter_file_job
from energy_assets.orchestration.sensors import build_meter_file_sensor
from energy_assets.resources import S3Storage, UsageTableResource
from energy_assets.tools.cli import main
from energy_assets_tests.conftest import HISTORY_START
from energy_assets_tests.meterfiles.builders import (
    espi_feed,
    greenbutton_csv,
    nem12_200,
    nem12_300,
    nem12_file,
)

YESTERDAY = datetime.now(UTC).date() - timedelta(days=1)
D1, D2, D3 = (YESTERDAY - timedelta(days=n) for n in (12, 11, 10))
meter_file_sensor = build_meter_file_sensor("UTC", HISTORY_START)


def _nem12() -> str:
    return nem12_file(
        [
            nem12_200("NMI0000001", "E1", "kWh", 30),
            nem12_300(D1, [0.5] * 48, "A"),
            nem12_300(D2, [0.5] * 48, "S"),
            nem12_300(D3, [0.5] * 47 + [""], "A"),
            nem12_200("NMI0000002", "E1", "Wh", 15),
            nem12_300(D1, [250] * 96, "A"),
        ]
    )


def _items(table: str) -> pd.DataFrame:
    return UsageTableResource(table_name=table).scan().sort_values(["meter_id", "date"])


def test_seed_nem12_writes_whole_days_and_quarantines_the_rest(local_aws, tmp_path, capsys):
    path = tmp_path / "meter.csv"
    path.write_text(_nem12())
    assert main(["seed", "--nem12", str(path), "--table", "nem12-usage"]) == 0
    out = capsys.readouterr().out
    assert f"seeded 3 items into nem12-usage (2 meter(s), {D1} .. {D2}) from 1 file(s)" in out
    assert "quarantined 1 meter-day(s) (partial_day 1): s3://test-energy-assets/quarantine/" in out
    items = _items("nem12-usage")
    assert items[["meter_id", "date", "usage", "unit", "quality"]].values.tolist() == [
        ["NMI0000001-E1", str(D1), "24.0", "kWh", "A"],
        ["NMI0000001-E1", str(D2), "24.0", "kWh", "S"],
        ["NMI0000002-E1", str(D1), "24.0", "kWh", "A"],
    ]
    key = out.split("s3://test-energy-assets/")[1].split()[0]
    storage = S3Storage(bucket="test-energy-assets", s3=S3Resource())
    quarantined = storage.read_csv(key)
    assert quarantined[["meter_id", "date", "reason", "detail"]].values.tolist() == [
        ["NMI0000001-E1", str(D3), "partial_day", "47 of 48 intervals read"]
    ]


def test_seed_greenbutton_xml_and_csv(local_aws, tmp_path, capsys):
    xml = tmp_path / "feed.xml"
    midnight = datetime(2024, 3, 9, 5, tzinfo=UTC)
    xml.write_text(
        espi_feed([(midnight + timedelta(hours=h), 3600, 1000, None) for h in range(24)])
    )
    csv = tmp_path / "pge.csv"
    csv.write_text(greenbutton_csv([date(2024, 3, 9)]))
    assert main(["seed", "--greenbutton", str(xml), str(csv), "--table", "gb-usage"]) == 0
    out = capsys.readouterr().out
    assert "seeded 2 items into gb-usage (2 meter(s), 2024-03-09 .. 2024-03-09)" in out
    assert "note: days in UTC-5 with daylight saving (the feed's LocalTimeParameters)" in out
    items = _items("gb-usage")
    assert dict(zip(items["meter_id"], items["usage"], strict=True)) == {
        "1234567890-Service_1": "24.0",
        "cust9-up1-mr1": "24.0",
    }


def test_a_malformed_file_among_several_writes_nothing(local_aws, tmp_path, capsys):
    good, bad = tmp_path / "good.csv", tmp_path / "bad.csv"
    good.write_text(_nem12())
    bad.write_text(_nem12().replace("\n900\n", "\n"))
    assert main(["seed", "--nem12", str(good), str(bad), "--table", "nem12-bad"]) == 1
    err = capsys.readouterr().err.strip()
    assert err == (
        f"seed failed, nothing written: {bad}: no 900 (end of data) record: the file is incomplete"
    )
    assert not UsageTableResource(table_name="nem12-bad").exists()


def test_cleaning_quarantines_substituted_reads_only_when_asked():
    raw = pd.DataFrame(
        {
            "meter_id": ["m1"] * 4,
            "date": ["2025-01-01", "2025-01-02", "2025-01-03", "2025-01-04"],
            "usage": ["10", "11", "12", "13"],
            "quality": ["A", "AS", "E", ""],
        }
    )
    assert clean_usage(raw).stats["rows_quarantined"] == 0
    result = clean_usage(raw, quarantine_quality="SE")
    assert result.quarantine["reason"].tolist() == ["quality_flag", "quality_flag"]
    assert result.stats["quarantined_quality_flag"] == 2
    assert result.clean["imputed"].tolist() == [False, True, True, False]


@pytest.fixture
def drop_bucket(local_aws):
    storage = S3Storage(bucket="meterfile-drops", s3=S3Resource())
    storage.ensure_bucket()
    return storage


def _tick(instance, storage, cursor=None):
    with dg.build_sensor_context(
        instance=instance, cursor=cursor, resources={"storage": storage}
    ) as context:
        result = meter_file_sensor(context)
        return result, context.cursor if result.cursor is None else result.cursor


def test_files_dropped_into_s3_are_imported_then_exported(drop_bucket):
    instance = dg.DagsterInstance.ephemeral()
    table = UsageTableResource(table_name="drop-usage")
    resources = {"usage_table": table, "storage": drop_bucket}
    drop_bucket.put_bytes("raw/nem12/2026/meter.csv", _nem12().encode())
    drop_bucket.put_bytes("raw/nem12/broken.csv", b"100,NEM12,202401010000,A,B\n300,2024\n900\n")

    result, cursor = _tick(instance, drop_bucket)
    keys = [r.run_config["ops"]["import_meter_file"]["config"]["key"] for r in result.run_requests]
    assert sorted(keys) == ["raw/nem12/2026/meter.csv", "raw/nem12/broken.csv"]
    assert {r.job_name for r in result.run_requests} == {meter_file_job.name}

    runs = {
        key: meter_file_job.execute_in_process(
            run_config=request.run_config,
            instance=instance,
            resources=resources,
            raise_on_error=False,
        )
        for key, request in zip(keys, result.run_requests, strict=True)
    }
    good, broken = runs["raw/nem12/2026/meter.csv"], runs["raw/nem12/broken.csv"]
    assert good.success and not broken.success
    failure = broken.get_step_failure_events()[0].step_failure_data.error.message
    assert (
        "Failure: nothing written: s3://meterfile-drops/raw/nem12/broken.csv: an interval, "
        "event or B2B record before any 200 (NMI details) record\n"
    ) in failure
    items = _items("drop-usage")
    assert len(items) == 3 and set(items["quality"]) == {"A", "S"}
    event = instance.get_latest_materialization_event(USAGE_TABLE).asset_materialization
    assert event.metadata["rows"].value == 3 and event.metadata["quarantined"].value == 1

    # the next tick exports the days the import wrote, and does not import the files again
    result, cursor = _tick(instance, drop_bucket, cursor)
    assert [(r.job_name, r.tags[ASSET_PARTITION_RANGE_START_TAG]) for r in result.run_requests] == [
        (ingestion_job.name, str(D1))
    ]
    assert result.run_requests[0].tags[ASSET_PARTITION_RANGE_END_TAG] == str(D2)
    result, cursor = _tick(instance, drop_bucket, cursor)
    assert not result.run_requests and "no new meter files" in result.skip_reason.skip_message


def test_a_new_version_of_a_dropped_file_is_imported_again(drop_bucket):
    instance = dg.DagsterInstance.ephemeral()
    drop_bucket.put_bytes("raw/greenbutton/pge.csv", greenbutton_csv([D1]).encode())
    first, cursor = _tick(instance, drop_bucket)
    boto3.client("s3").put_object(
        Bucket=drop_bucket.bucket,
        Key="raw/greenbutton/pge.csv",
        Body=greenbutton_csv([D2]).encode(),
    )
    second, _ = _tick(instance, drop_bucket, cursor)
    mine = [r.run_key for r in (*first.run_requests, *second.run_requests) if "pge" in r.run_key]
    assert len(mine) == 2 and mine[0] != mine[1]  # the run key names the object's ETag
