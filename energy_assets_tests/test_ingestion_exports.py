"""raw_usage_export through DynamoDB's exports against the local AWS: a full export for the
backfill, then incremental exports that read only what was written since the previous one
(new days, late rows, corrections, deletions), merged into the month objects they touch, which
then hold what a whole-table read would; and the new-day sensor's question answered without a
Scan."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import boto3
import botocore.client
import dagster as dg
import pandas as pd
import pytest
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)
from dagster_aws.s3 import S3Resource

from energy_assets import layout, raw_store, table_reads
from energy_assets.assets.ingestion import raw_usage_export_asset
from energy_assets.orchestration.partitions import daily_partitions
from energy_assets.orchestration.sensors import build_new_usage_sensor
from energy_assets.resources import S3Storage, UsageTableResource
from energy_assets.resources.dynamodb import NoDayIndex
from energy_assets.settings import Settings
from energy_assets.tools.seed import seed_table
from energy_assets_tests.conftest import HISTORY_START, deployment
from energy_assets_tests.localaws import deploy

raw_usage_export = raw_usage_export_asset(daily_partitions(deployment()))
new_usage_sensor = build_new_usage_sensor("UTC", HISTORY_START)

TODAY = datetime.now(UTC).date()


def _day(offset: int) -> str:
    return (TODAY - timedelta(days=offset)).isoformat()


BACKFILL = [_day(n) for n in range(12, 2, -1)]  # 10 days, ending three days ago
METERS = ["m-1", "m-2", "m-3"]


@pytest.fixture
def calls(monkeypatch):
    """Every AWS operation this process makes (a spy: the calls still go to the local AWS)."""
    made: list[str] = []
    real = botocore.client.BaseClient._make_api_call

    def spy(self, operation, params):
        made.append(f"{self.meta.service_model.service_name}:{operation}")
        return real(self, operation, params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", spy)
    return made


def _run(table, storage, first: str, last: str, instance: dg.DagsterInstance | None = None):
    result = dg.materialize(
        [raw_usage_export],
        instance=instance,
        resources={"usage_table": table, "storage": storage},
        tags={ASSET_PARTITION_RANGE_START_TAG: first, ASSET_PARTITION_RANGE_END_TAG: last},
    )
    assert result.success
    events = result.get_asset_materialization_events()
    meta = {k: v.value for k, v in events[-1].materialization.metadata.items()}
    return meta, sorted({e.materialization.partition for e in events})


def _raw(storage: S3Storage, day: str) -> pd.DataFrame:
    """A day's raw rows as the readers see them (``raw_store.read_raw``)."""
    rows = raw_store.read_raw(storage, day, day).rows
    return rows if len(rows) else pd.DataFrame(columns=["meter_id", "date", "usage"])


def _rows(frame: pd.DataFrame) -> set[tuple[str, str, str]]:
    return set(zip(frame["meter_id"], frame["date"], frame["usage"].astype(str), strict=True))


def _months(days) -> set[str]:
    return {raw_store.month_of(d) for d in days}


def _raw_keys(storage: S3Storage) -> set[str]:
    return set(storage.list_keys(layout.RAW_PREFIX))


def _scanned_day(table: UsageTableResource, day: str) -> set[tuple[str, str, str]]:
    scan = table.scan()
    return _rows(scan[scan["date"] == day])


def test_backfill_by_full_export_then_a_day_by_incremental_export(local_aws, calls):
    name = f"inc-{uuid.uuid4().hex[:6]}"
    table = UsageTableResource(table_name=name, scan_max_items=0)  # exports whatever the size
    storage = S3Storage(bucket=name, s3=S3Resource())
    frame = pd.DataFrame(
        [
            (m, d, f"{10 + i + j / 10:.1f}")
            for i, m in enumerate(METERS)
            for j, d in enumerate(BACKFILL)
        ],
        columns=["meter_id", "date", "usage"],
    )
    extra = pd.DataFrame(
        [("m-1", TODAY.isoformat(), "7.0"), ("m-2", "garbage", "5")],  # waits; quarantined later
        columns=["meter_id", "date", "usage"],
    )
    seed_table(table, pd.concat([frame, extra], ignore_index=True), covariates=())

    instance = dg.DagsterInstance.ephemeral()  # the deployment's: it remembers materializations
    meta, partitions = _run(table, storage, BACKFILL[0], BACKFILL[-1], instance)
    assert meta["source"] == "full export" and meta["items_read"] == len(frame) + 2
    assert (meta["rows"], meta["pending_rows"], meta["undated_rows"]) == (30, 1, 1)
    assert partitions == BACKFILL
    # one object per month (one shard) and the undated one, where one CSV per day was
    months = {layout.raw_month(m, 0) for m in _months(BACKFILL)}
    assert _raw_keys(storage) == months | {layout.RAW_UNDATED}
    assert (meta["objects_written"], meta["months_written"]) == (len(months) + 1, len(months))
    assert meta["bytes_written"] == sum(len(storage.get_bytes(k)) for k in _raw_keys(storage))
    for day in BACKFILL:
        assert _rows(_raw(storage, day)) == _scanned_day(table, day)
    state = storage.get_json(table_reads.STATE_KEY)
    assert state["source"] == "full export"
    assert (state["layout"], state["shards"]) == (layout.RAW_LAYOUT, 1)

    # a new day for every meter, a late row, a correction of an old day, a deletion, bad text
    new_day, late_day = _day(2), BACKFILL[3]
    table.put_usage(
        pd.DataFrame(
            [(m, new_day, "20.5") for m in METERS]
            + [("m-4", late_day, "3.3"), ("m-1", BACKFILL[0], "99.9"), ("m-3", "2026-13-01", "1")],
            columns=["meter_id", "date", "usage"],
        )
    )
    table.client().delete_item(
        TableName=name, Key={"meter_id": {"S": "m-2"}, "date": {"S": BACKFILL[5]}}
    )
    calls.clear()
    meta, partitions = _run(table, storage, new_day, new_day, instance)
    assert "dynamodb:Scan" not in calls
    assert meta["source"] == "incremental export"
    # only what was written since the previous export, plus today's item carried over
    assert (meta["items_read"], meta["deletions_read"]) == (6 + 1, 1)
    assert (meta["rows"], meta["rows_other_days"], meta["pending_rows"]) == (3, 2, 1)
    assert meta["undated_rows"] == 1 and "table_items" not in meta
    # the run's day, and the materialized old days the writes changed, reported as materialized
    assert partitions == sorted([new_day, late_day, BACKFILL[0], BACKFILL[5]])
    # only the month objects of the days the writes touched were written again
    touched = _months([new_day, late_day, BACKFILL[0], BACKFILL[5]])
    assert (meta["months_written"], meta["objects_written"]) == (len(touched), len(touched) + 1)
    for day in [*BACKFILL, new_day]:  # each day's rows are what the table holds for that day
        assert _rows(_raw(storage, day)) == _scanned_day(table, day), day
    undated = raw_store.decode(storage.get_bytes(layout.RAW_UNDATED))[0]
    assert set(undated["date"]) == {"garbage", "2026-13-01"}

    # nothing written since: the next refresh reads nothing new, and loses today's item
    meta, _ = _run(table, storage, new_day, new_day)
    assert (meta["items_read"], meta["deletions_read"], meta["pending_rows"]) == (1, 0, 1)
    assert _rows(_raw(storage, new_day)) == _scanned_day(table, new_day)
    assert meta["objects_written"] == 1  # the undated object: no month touched


def test_small_tables_are_scanned_below_the_setting(local_aws, monkeypatch, calls):
    name = f"small-{uuid.uuid4().hex[:6]}"
    table = UsageTableResource(table_name=name, scan_max_items=10)
    storage = S3Storage(bucket=name, s3=S3Resource())
    seed_table(table, pd.DataFrame({"meter_id": "a", "date": BACKFILL, "usage": "1"}))
    meta, _ = _run(table, storage, BACKFILL[0], BACKFILL[-1])
    assert meta["source"] == "scan" and meta["table_items"] == 10
    assert "dynamodb:ExportTableToPointInTime" not in calls
    table = UsageTableResource(table_name=name, scan_max_items=9)
    meta, _ = _run(table, storage, BACKFILL[0], BACKFILL[-1])
    assert meta["source"] == "full export" and meta["rows"] == 10
    monkeypatch.setenv("ENERGY_ASSETS_SCAN_MAX_ITEMS", "ten")
    with pytest.raises(ValueError, match="ENERGY_ASSETS_SCAN_MAX_ITEMS must be a whole number"):
        Settings()
    monkeypatch.setenv("ENERGY_ASSETS_SCAN_MAX_ITEMS", "0")
    assert Settings().scan_max_items == 0


def test_new_usage_sensor_asks_the_registry_and_the_date_index_never_a_scan(local_aws, calls):
    name = f"days-{uuid.uuid4().hex[:6]}"
    table = UsageTableResource(table_name=name)
    storage = S3Storage(bucket=name, s3=S3Resource())
    storage.ensure_bucket()
    seed_table(table, pd.DataFrame({"meter_id": "a", "date": BACKFILL, "usage": "1"}))
    resources = {"usage_table": table, "storage": storage}

    def tick(cursor: str) -> dg.SensorResult:
        with dg.build_sensor_context(
            instance=dg.DagsterInstance.ephemeral(), cursor=cursor, resources=resources
        ) as context:
            return new_usage_sensor(context)

    calls.clear()
    assert tick(BACKFILL[-1]).skip_reason  # nothing after the registry's last day
    dynamodb = [c for c in calls if c.startswith("dynamodb:")]
    assert "dynamodb:Scan" not in dynamodb and "dynamodb:Query" not in dynamodb
    table.put_usage(pd.DataFrame({"meter_id": "b", "date": [_day(1)], "usage": "2"}))
    calls.clear()
    result = tick(BACKFILL[-1])
    assert [r.tags[ASSET_PARTITION_RANGE_START_TAG] for r in result.run_requests] == [_day(1)]
    assert result.cursor == _day(1)
    assert "dynamodb:Scan" not in calls
    # two days probed (the registry bounds the window): one COUNT Query each
    assert calls.count("dynamodb:Query") == 2

    # a table without a registry: the date index alone
    plain = UsageTableResource(table_name=f"{name}-plain", registry_table="none-here")
    plain.create()
    boto3.client("dynamodb").put_item(
        TableName=plain.table_name,
        Item={"meter_id": {"S": "a"}, "date": {"S": _day(3)}, "usage": {"N": "1"}},
    )
    calls.clear()
    assert plain.new_days(_day(6), until=TODAY) == [_day(3)]
    assert "dynamodb:Scan" not in calls
    bare = deploy.usage_table(boto3.client("dynamodb"), f"{name}-bare")
    with pytest.raises(NoDayIndex, match="no meter registry and no date index"):
        UsageTableResource(table_name=bare).new_days(_day(6), until=TODAY)


def test_a_new_shard_count_takes_a_full_export_and_lays_the_months_out_again(local_aws):
    name = f"shards-{uuid.uuid4().hex[:6]}"
    table = UsageTableResource(table_name=name, scan_max_items=0)
    frame = pd.DataFrame(
        [(m, d, "1.5") for m in METERS for d in BACKFILL], columns=["meter_id", "date", "usage"]
    )
    seed_table(table, frame, covariates=())
    meta, _ = _run(table, S3Storage(bucket=name, s3=S3Resource()), BACKFILL[0], BACKFILL[-1])
    assert meta["source"] == "full export"
    sharded = S3Storage(bucket=name, s3=S3Resource(), shards=4)
    meta, _ = _run(table, sharded, BACKFILL[-1], BACKFILL[-1])
    # merging into one-shard objects would put a meter in two shards: the table is read whole
    assert (meta["source"], meta["shards"]) == ("full export", 4)
    shards = {layout.shard_of(m, 4) for m in METERS}
    months = _months(BACKFILL)
    assert _raw_keys(sharded) == {layout.raw_month(m, n) for m in months for n in shards} | {
        layout.RAW_UNDATED
    }
    assert meta["objects_deleted"] == (len(months) if 0 not in shards else 0)
    for day in BACKFILL:
        assert _rows(_raw(sharded, day)) == _scanned_day(table, day)
    meta, _ = _run(table, sharded, BACKFILL[-1], BACKFILL[-1])
    assert meta["source"] == "incremental export"
