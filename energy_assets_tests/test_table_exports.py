"""Reading the usage table through its exports to S3 (``UsageTableResource.export`` and
``read_export``) against the local AWS: a full export is the table, and an incremental export
after it holds exactly what was written since (new days, late rows, corrections, deletions)."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime

import boto3
import pandas as pd
import pytest

from energy_assets.resources import UsageTableResource
from energy_assets.resources.table_exports import TableExport


def _sorted(frame: pd.DataFrame) -> pd.DataFrame:
    columns = sorted(frame.columns)
    return frame[columns].astype(object).sort_values(["meter_id", "date"]).reset_index(drop=True)


@pytest.fixture(scope="module")
def bucket(local_aws) -> str:
    name = f"exports-{uuid.uuid4().hex[:8]}"
    boto3.client("s3").create_bucket(Bucket=name)
    return name


def _seeded(rows: list[tuple]) -> UsageTableResource:
    table = UsageTableResource(table_name=f"exports-{uuid.uuid4().hex[:8]}")
    table.create()
    table.put_usage(pd.DataFrame(rows, columns=["meter_id", "date", "usage", "temperature"]))
    return table


def test_full_export_reads_as_the_scan(bucket):
    rows = [
        (f"m-{m}", f"2026-03-{d:02d}", round(10 + m + d / 7, 3), d % 9)
        for m in range(6)
        for d in range(1, 29)
    ]
    rows += [("m-0", "2026-03-29", "n/a", 1), ("m-1", "2026-02-30", 5, 1), ("m-2", "bad", -3, 2)]
    table = _seeded(rows)
    (export,) = table.export(bucket, prefix="full")
    assert not export.incremental and export.item_count == len(rows)
    read = table.read_export(export)
    assert read.files >= 4 and read.records == len(rows)
    assert list(read.items.columns[:2]) == ["meter_id", "date"]
    assert _sorted(read.items).equals(_sorted(table.scan()))
    bad = read.items.set_index(["meter_id", "date"])["usage"]
    assert bad[("m-0", "2026-03-29")] == "n/a" and bad[("m-1", "2026-02-30")] == "5"
    assert read.deleted.empty


def test_incremental_export_holds_exactly_the_writes_since_the_last(bucket):
    days = [f"2026-04-{d:02d}" for d in range(1, 21)]
    rows = [
        (f"m-{m}", day, 20.0 + m, 5) for m in range(4) for day in days if (m, day) != (1, days[9])
    ]
    table = _seeded(rows)
    (full,) = table.export(bucket, prefix="daily")
    time.sleep(0.005)
    written = pd.DataFrame(
        [(f"m-{m}", "2026-04-21", 30.0 + m, 6) for m in range(4)]  # the new day
        + [("m-1", days[9], 21.5, 5)]  # a late row: a day that was missing
        + [("m-2", days[3], 99.0, 5), ("m-3", days[0], 1.25, 4)],  # corrections of old days
        columns=["meter_id", "date", "usage", "temperature"],
    )
    table.put_usage(written)
    table.client().delete_item(  # a reading withdrawn
        TableName=table.table_name, Key={"meter_id": {"S": "m-0"}, "date": {"S": days[5]}}
    )
    time.sleep(0.005)
    changes = table.export(bucket, prefix="daily", since=full.export_time)
    assert [c.incremental for c in changes] == [True]
    assert changes[0].from_time == full.export_time
    read = table.read_export(changes)
    # exactly the items written since the full export: no item older than it is read
    assert read.records == len(written) + 1
    expected = written.astype(str)
    got = read.items.set_index(["meter_id", "date"]).sort_index()
    want = expected.set_index(["meter_id", "date"]).sort_index()
    assert list(got.index) == list(want.index)
    assert got.loc[("m-2", days[3]), "usage"] == "99.0"
    assert got.loc[("m-3", days[0]), "usage"] == "1.25"
    assert got.loc[("m-1", days[9]), "usage"] == "21.5"
    assert read.deleted.to_dict("records") == [{"meter_id": "m-0", "date": days[5]}]
    # the full export plus the changes is the table now
    base = table.read_export(full).items.set_index(["meter_id", "date"])
    base = base.drop(index=list(read.deleted.itertuples(index=False, name=None)))
    now = pd.concat([base.drop(index=got.index, errors="ignore"), got]).reset_index()
    pd.testing.assert_frame_equal(_sorted(now), _sorted(table.scan()))


def test_consecutive_windows_read_together_keep_the_latest_record(bucket):
    table = _seeded([("m-0", "2026-05-01", 1.0, 1)])
    (full,) = table.export(bucket, prefix="gap")
    time.sleep(0.005)
    table.put_usage(
        pd.DataFrame(
            [("m-0", "2026-05-02", 2.0, 1)], columns=["meter_id", "date", "usage", "temperature"]
        )
    )
    middle = datetime.now(UTC)
    time.sleep(0.005)
    table.put_usage(
        pd.DataFrame(
            [("m-0", "2026-05-02", 3.0, 1)], columns=["meter_id", "date", "usage", "temperature"]
        )
    )
    time.sleep(0.005)
    first = table.export(bucket, prefix="gap", since=full.export_time, until=middle)
    second = table.export(bucket, prefix="gap", since=middle)
    read = table.read_export(first + second)
    assert read.items[["meter_id", "date", "usage"]].values.tolist() == [
        ["m-0", "2026-05-02", "3.0"]
    ]


def test_export_time_round_trips_so_windows_chain_exactly(bucket):
    table = _seeded([("m-0", "2026-06-01", 1.0, 1)])
    (full,) = table.export(bucket, prefix="chain")
    assert isinstance(full, TableExport)
    assert full.export_time.microsecond % 1000 == 0  # whole milliseconds, as AWS keeps them
