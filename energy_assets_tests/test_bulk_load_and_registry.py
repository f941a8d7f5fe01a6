"""Seeding in bulk (ImportTable from S3, parallel BatchWriteItem) and the meter registry, against
the local AWS: every path leaves the table put_usage leaves, and the registry answers meters()
and latest_day() without reading the usage table."""

from __future__ import annotations

import math
import uuid

import boto3
import pandas as pd
import pytest

from energy_assets.resources import UsageTableResource
from energy_assets.resources.dynamodb import LoadFailed


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def bucket(local_aws) -> str:
    name = _name("staging")
    boto3.client("s3").create_bucket(Bucket=name)
    return name


def _awkward() -> pd.DataFrame:
    """Rows as a meter file or a CSV brings them: numbers and text, bad values, ids that look
    like numbers, missing covariates, a key given twice (the last one wins)."""
    rows = [
        {"meter_id": m, "date": f"2026-02-{d:02d}", "usage": 10.5 + d, "temperature": d / 3}
        for m in ("0012", "site/a", "m-3")
        for d in range(1, 21)
    ]
    rows += [
        {"meter_id": "0012", "date": "2026-02-21", "usage": "n/a", "temperature": math.nan},
        {"meter_id": "m-3", "date": "2026-02-30", "usage": "7.50", "temperature": 1e-7},
        {"meter_id": "m-3", "date": "garbage", "usage": -1, "temperature": 1e16},
        {"meter_id": "site/a", "date": "2026-02-05", "usage": " 42 ", "temperature": "inf"},
        {"meter_id": "site/a", "date": "2026-02-22", "usage": "1e3", "temperature": None},
    ]
    return pd.DataFrame(rows)


def _table(frame: UsageTableResource) -> pd.DataFrame:
    scanned = frame.scan()
    return scanned[sorted(scanned.columns)].sort_values(["meter_id", "date"]).reset_index(drop=True)


def test_import_and_parallel_writes_leave_the_table_put_usage_leaves(bucket):
    frame = _awkward()
    reference = UsageTableResource(table_name=_name("put"))
    reference.create()
    reference.put_usage(frame)
    written = UsageTableResource(table_name=_name("batch"))
    written.create()
    assert written.write_usage(frame, threads=3) == len(frame) - 1
    imported = UsageTableResource(table_name=_name("import"))
    assert imported.import_usage(frame, bucket) == len(frame) - 1
    expected = _table(reference)
    assert expected.set_index(["meter_id", "date"]).loc[("0012", "2026-02-01"), "usage"] == "11.5"
    pd.testing.assert_frame_equal(_table(written), expected)
    pd.testing.assert_frame_equal(_table(imported), expected)
    schema = imported.key_schema()
    assert schema == {"hash": "meter_id", "range": "date", "date_index": True}
    assert not boto3.client("s3").list_objects_v2(Bucket=bucket).get("Contents")  # cleaned up


def test_load_usage_imports_a_large_new_table_and_writes_otherwise(bucket):
    frame = _awkward()
    big = UsageTableResource(table_name=_name("big"), bulk_load_min_items=50)
    result = big.load_usage(frame, staging_bucket=bucket)
    assert (result.method, result.created_table, result.items) == ("import", True, len(frame) - 1)
    small = UsageTableResource(table_name=_name("small"), bulk_load_min_items=10_000)
    result = small.load_usage(frame, staging_bucket=bucket)
    assert (result.method, result.created_table) == ("batch", True)
    again = big.load_usage(frame.assign(usage=1.0), staging_bucket=bucket)
    assert (again.method, again.created_table) == ("batch", False)  # ImportTable makes new tables
    assert set(_table(big)["usage"]) == {"1.0"}
    for table in (big, small):
        assert table.meters() == ["0012", "m-3", "site/a"]


def test_the_registry_answers_without_reading_the_usage_table(bucket):
    table = UsageTableResource(table_name=_name("registry"))
    table.load_usage(_awkward(), staging_bucket=bucket)
    assert table.registry_in_use()
    assert table.meters() == ["0012", "m-3", "site/a"]
    assert table.latest_day() == "2026-02-22"  # "2026-02-30" and "garbage" are not days
    entries = {e.meter_id: e for e in table.registry().meters()}
    assert (entries["m-3"].first_day, entries["m-3"].last_day) == ("2026-02-01", "2026-02-20")
    summary = table.registry().summary()
    assert summary["meters"] == "3" and summary["first_day"] == "2026-02-01"
    # ingestion through the resource keeps it: a new day, a new meter
    table.put_usage(
        pd.DataFrame({"meter_id": ["m-3", "new"], "date": ["2026-03-01"] * 2, "usage": [1, 2]})
    )
    assert table.meters() == ["0012", "m-3", "new", "site/a"]
    assert table.latest_day() == "2026-03-01"
    assert table.registry().summary()["meters"] == "4"
    # a write around the resource is not seen by it: the registry, not a Scan, answered
    table.client().put_item(
        TableName=table.table_name,
        Item={"meter_id": {"S": "stray"}, "date": {"S": "2026-04-01"}, "usage": {"N": "1"}},
    )
    assert "stray" not in table.meters() and table.latest_day() == "2026-03-01"
    assert table.build_registry() == 1  # rebuilt from the table: the stray meter is new
    assert "stray" in table.meters() and table.latest_day() == "2026-04-01"


def test_a_table_written_before_the_registry_falls_back_to_scans(bucket):
    table = UsageTableResource(table_name=_name("old"))
    table.create()
    table.put_usage(_awkward())  # no registry: put_usage alone does not start one
    fresh = UsageTableResource(table_name=table.table_name)
    assert not fresh.registry_in_use()
    assert fresh.meters() == ["0012", "m-3", "site/a"]
    assert fresh.latest_day() == "2026-02-22"
    # seeding it again through load_usage builds the registry from the table first
    fresh.load_usage(pd.DataFrame({"meter_id": ["later"], "date": ["2026-02-25"], "usage": [3]}))
    assert UsageTableResource(table_name=table.table_name).registry_in_use()
    assert fresh.meters() == ["0012", "later", "m-3", "site/a"]
    assert fresh.latest_day() == "2026-02-25"


def test_one_series_table_registry(bucket):
    frame = pd.DataFrame({"date": ["2026-01-01", "2026-01-02"], "usage": [1.0, 2.0]})
    table = UsageTableResource(table_name=_name("series"), bulk_load_min_items=1)
    result = table.load_usage(frame, staging_bucket=bucket)
    assert result.method == "import" and table.is_single_series()
    assert table.meters() == [table.table_name] and table.latest_day() == "2026-01-02"


def test_a_failed_import_is_one_clear_error(bucket):
    table = UsageTableResource(table_name=_name("taken"))
    table.create()  # ImportTable creates tables: one that exists is refused at once
    with pytest.raises(Exception, match="ResourceInUse|already exists"):
        table.import_usage(_awkward(), bucket)
    broken = UsageTableResource(table_name=_name("broken"))
    frame = _awkward()
    frame.loc[0, "date"] = ""  # an empty key: the import refuses the item and fails
    with pytest.raises(LoadFailed, match=r"FAILED: ItemValidationError .*1 item\(s\) refused"):
        broken.import_usage(frame, bucket)
