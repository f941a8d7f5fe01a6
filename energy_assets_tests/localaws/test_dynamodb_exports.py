"""DynamoDB exports to S3 in the local AWS, over the AWS API with boto3: the layout, manifests
and records AWS writes, full and incremental, DescribeExport/ListExports in the service model's
shapes, and AWS's errors."""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import time
from datetime import UTC, datetime, timedelta

import pytest
from botocore.exceptions import ClientError

from energy_assets.localaws import dynamodb_exports
from energy_assets_tests.localaws import deploy
from energy_assets_tests.localaws.shapes import answer_problems


@pytest.fixture(scope="module")
def ddb(clients):
    return clients("dynamodb")


@pytest.fixture(scope="module")
def bucket(clients):
    return deploy.bucket(clients, deploy.unique("exports"))


def _table(ddb, items: int = 40, pitr: bool = True) -> tuple[str, str]:
    name = deploy.usage_table(ddb, deploy.unique("usage"))
    for i in range(items):
        ddb.put_item(TableName=name, Item=_item(f"m{i % 5}", f"2026-01-{i // 5 + 1:02d}", i))
    if pitr:
        ddb.update_continuous_backups(
            TableName=name, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
        )
    return name, ddb.describe_table(TableName=name)["Table"]["TableArn"]


def _item(meter: str, day: str, usage) -> dict:
    return {"meter_id": {"S": meter}, "date": {"S": day}, "usage": {"N": str(usage)}}


def _done(ddb, arn: str) -> dict:
    for _ in range(200):
        described = ddb.describe_export(ExportArn=arn)["ExportDescription"]
        if described["ExportStatus"] != "IN_PROGRESS":
            return described
        time.sleep(0.02)
    raise AssertionError(f"export {arn} did not finish")


def _read(s3, bucket: str, key: str) -> bytes:
    return s3.get_object(Bucket=bucket, Key=key)["Body"].read()


def _records(s3, bucket: str, described: dict) -> tuple[dict, list[dict], list[dict]]:
    """(manifest summary, manifest-files entries, every record of every data file)."""
    summary = json.loads(_read(s3, bucket, described["ExportManifest"]))
    entries = [
        json.loads(line)
        for line in _read(s3, bucket, summary["manifestFilesS3Key"]).decode().splitlines()
    ]
    records = []
    for entry in entries:
        body = _read(s3, bucket, entry["dataFileS3Key"])
        assert base64.b64encode(hashlib.md5(body).digest()).decode() == entry["md5Checksum"]
        lines = [json.loads(x) for x in gzip.decompress(body).decode().splitlines() if x]
        assert len(lines) == entry["itemCount"]
        records += lines
    return summary, entries, records


def _later() -> None:
    time.sleep(0.005)  # export times are whole milliseconds


def test_full_export_writes_aws_layout(clients, ddb, bucket):
    name, arn = _table(ddb)
    started = ddb.export_table_to_point_in_time(TableArn=arn, S3Bucket=bucket, S3Prefix="full")
    assert started["ExportDescription"]["ExportStatus"] == "IN_PROGRESS"
    described = _done(ddb, started["ExportDescription"]["ExportArn"])
    assert described["ExportStatus"] == "COMPLETED", described
    export_id = described["ExportArn"].rsplit("/", 1)[1]
    assert described["ExportArn"] == f"{arn}/export/{export_id}"
    assert described["ItemCount"] == 40 and described["ExportType"] == "FULL_EXPORT"
    s3 = clients("s3")
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="full/")["Contents"]}
    base = f"full/AWSDynamoDB/{export_id}"
    assert {
        f"{base}/_started",
        f"{base}/manifest-summary.json",
        f"{base}/manifest-summary.checksum",
        f"{base}/manifest-files.json",
        f"{base}/manifest-files.checksum",
    } <= keys
    summary, entries, records = _records(s3, bucket, described)
    assert described["ExportManifest"] == f"{base}/manifest-summary.json"
    assert summary["exportArn"] == described["ExportArn"] and summary["itemCount"] == 40
    assert summary["outputFormat"] == "DYNAMODB_JSON" and summary["tableArn"] == arn
    assert len(entries) >= dynamodb_exports.MIN_FILES  # several data files, as AWS splits them
    assert all(e["dataFileS3Key"].startswith(f"{base}/data/") for e in entries)
    assert all(e["dataFileS3Key"].endswith(".json.gz") for e in entries)
    assert sorted((r["Item"]["meter_id"]["S"], r["Item"]["date"]["S"]) for r in records) == sorted(
        (f"m{i % 5}", f"2026-01-{i // 5 + 1:02d}") for i in range(40)
    )
    meter_files = {}  # one meter's items in one file (split by partition key)
    for entry in entries:
        body = gzip.decompress(_read(s3, bucket, entry["dataFileS3Key"])).decode()
        for line in filter(None, body.splitlines()):
            meter_files.setdefault(json.loads(line)["Item"]["meter_id"]["S"], set()).add(
                entry["dataFileS3Key"]
            )
    assert all(len(files) == 1 for files in meter_files.values())
    checksum = _read(s3, bucket, f"{base}/manifest-summary.checksum").decode()
    assert checksum == hashlib.md5(_read(s3, bucket, described["ExportManifest"])).hexdigest()


def test_incremental_export_holds_each_written_item_once(clients, ddb, bucket):
    name, arn = _table(ddb)
    _later()
    start = datetime.now(UTC)
    _later()
    ddb.put_item(TableName=name, Item=_item("m9", "2026-02-01", 1))  # new item
    ddb.put_item(TableName=name, Item=_item("m0", "2026-01-01", 100))  # corrected, twice
    ddb.put_item(TableName=name, Item=_item("m0", "2026-01-01", 101))
    ddb.update_item(
        TableName=name,
        Key={"meter_id": {"S": "m1"}, "date": {"S": "2026-01-01"}},
        UpdateExpression="SET #u = :u",
        ExpressionAttributeNames={"#u": "usage"},
        ExpressionAttributeValues={":u": {"N": "7"}},
    )
    ddb.delete_item(TableName=name, Key={"meter_id": {"S": "m2"}, "date": {"S": "2026-01-01"}})
    ddb.put_item(TableName=name, Item=_item("m8", "2026-02-01", 1))  # created and deleted
    ddb.delete_item(TableName=name, Key={"meter_id": {"S": "m8"}, "date": {"S": "2026-02-01"}})
    ddb.put_item(TableName=name, Item=_item("m3", "2026-01-01", 3))  # rewritten as it was
    _later()
    end = datetime.now(UTC)
    _later()
    ddb.put_item(TableName=name, Item=_item("m4", "2026-01-01", 999))  # after the window
    spec = {"ExportFromTime": start, "ExportToTime": end}
    described = _done(
        ddb,
        ddb.export_table_to_point_in_time(
            TableArn=arn,
            S3Bucket=bucket,
            S3Prefix="inc",
            ExportType="INCREMENTAL_EXPORT",
            IncrementalExportSpecification=spec,
        )["ExportDescription"]["ExportArn"],
    )
    assert described["ExportStatus"] == "COMPLETED", described
    assert described["IncrementalExportSpecification"]["ExportViewType"] == "NEW_AND_OLD_IMAGES"
    summary, entries, records = _records(clients("s3"), bucket, described)
    assert summary["exportType"] == "INCREMENTAL_EXPORT"
    assert summary["outputView"] == "NEW_AND_OLD_IMAGES"
    assert all(e["dataFileS3Key"].startswith("inc/AWSDynamoDB/data/") for e in entries)
    by_key = {(r["Keys"]["meter_id"]["S"], r["Keys"]["date"]["S"]): r for r in records}
    assert set(by_key) == {
        ("m9", "2026-02-01"),
        ("m0", "2026-01-01"),
        ("m1", "2026-01-01"),
        ("m2", "2026-01-01"),
    }
    assert described["ItemCount"] == 4
    new = by_key[("m9", "2026-02-01")]
    assert "OldImage" not in new and new["NewImage"]["usage"] == {"N": "1"}
    corrected = by_key[("m0", "2026-01-01")]
    assert corrected["OldImage"]["usage"] == {"N": "0"}  # before the window, not the 100
    assert corrected["NewImage"]["usage"] == {"N": "101"}
    assert by_key[("m1", "2026-01-01")]["NewImage"]["usage"] == {"N": "7"}
    deleted = by_key[("m2", "2026-01-01")]
    assert "NewImage" not in deleted and deleted["OldImage"]["usage"] == {"N": "2"}
    stamps = [int(r["Metadata"]["WriteTimestampMicros"]["N"]) for r in records]
    assert all(start.timestamp() * 1e6 <= s < end.timestamp() * 1e6 for s in stamps)


def test_new_image_view_and_past_full_export(clients, ddb, bucket):
    name, arn = _table(ddb, items=10)
    _later()
    before = datetime.now(UTC)
    _later()
    ddb.put_item(TableName=name, Item=_item("m0", "2026-01-01", 50))
    ddb.delete_item(TableName=name, Key={"meter_id": {"S": "m1"}, "date": {"S": "2026-01-01"}})
    ddb.put_item(TableName=name, Item=_item("m7", "2026-03-01", 5))
    _later()
    request = {"TableArn": arn, "S3Bucket": bucket, "S3Prefix": "view"}
    spec = {"ExportFromTime": before, "ExportViewType": "NEW_IMAGE"}
    described = _done(
        ddb,
        ddb.export_table_to_point_in_time(
            **request, ExportType="INCREMENTAL_EXPORT", IncrementalExportSpecification=spec
        )["ExportDescription"]["ExportArn"],
    )
    _, _, records = _records(clients("s3"), bucket, described)
    assert all("OldImage" not in r for r in records)
    assert sorted(r["Keys"]["meter_id"]["S"] for r in records if "NewImage" not in r) == ["m1"]
    # the table as it was before those writes, although they are in it now
    past = _done(
        ddb,
        ddb.export_table_to_point_in_time(**request, ExportTime=before)["ExportDescription"][
            "ExportArn"
        ],
    )
    _, _, items = _records(clients("s3"), bucket, past)
    found = {(r["Item"]["meter_id"]["S"], r["Item"]["date"]["S"]): r["Item"] for r in items}
    assert len(found) == 10 and ("m7", "2026-03-01") not in found
    assert found[("m0", "2026-01-01")]["usage"] == {"N": "0"}
    assert ("m1", "2026-01-01") in found


def test_describe_and_list_answer_the_service_model(ddb, bucket):
    _, arn = _table(ddb, items=3)
    started = ddb.export_table_to_point_in_time(TableArn=arn, S3Bucket=bucket)
    assert answer_problems(ddb, "export_table_to_point_in_time", started) == []
    _done(ddb, started["ExportDescription"]["ExportArn"])
    described = ddb.describe_export(ExportArn=started["ExportDescription"]["ExportArn"])
    assert answer_problems(ddb, "describe_export", described) == []
    for member in ("StartTime", "EndTime", "ExportTime", "ExportManifest", "TableId"):
        assert member in described["ExportDescription"], member
    second = ddb.export_table_to_point_in_time(TableArn=arn, S3Bucket=bucket)
    _done(ddb, second["ExportDescription"]["ExportArn"])
    first_page = ddb.list_exports(TableArn=arn, MaxResults=1)
    assert answer_problems(ddb, "list_exports", first_page) == []
    rest = ddb.list_exports(TableArn=arn, MaxResults=1, NextToken=first_page["NextToken"])
    listed = first_page["ExportSummaries"] + rest["ExportSummaries"]
    assert [e["ExportArn"] for e in listed] == [
        started["ExportDescription"]["ExportArn"],
        second["ExportDescription"]["ExportArn"],
    ]
    assert {e["ExportStatus"] for e in listed} == {"COMPLETED"} and "NextToken" not in rest
    # the same ClientToken is the same export
    token = "token-" + deploy.unique("t")
    once = ddb.export_table_to_point_in_time(TableArn=arn, S3Bucket=bucket, ClientToken=token)
    again = ddb.export_table_to_point_in_time(TableArn=arn, S3Bucket=bucket, ClientToken=token)
    assert once["ExportDescription"]["ExportArn"] == again["ExportDescription"]["ExportArn"]


def _code(call) -> str:
    with pytest.raises(ClientError) as caught:
        call()
    return caught.value.response["Error"]["Code"]


def test_errors_are_aws_errors(ddb, bucket):
    _, without_pitr = _table(ddb, items=1, pitr=False)
    assert (
        _code(lambda: ddb.export_table_to_point_in_time(TableArn=without_pitr, S3Bucket=bucket))
        == "PointInTimeRecoveryUnavailableException"
    )
    _, arn = _table(ddb, items=1)
    now = datetime.now(UTC)

    def incremental(start, end=None):
        spec = {"ExportFromTime": start, **({"ExportToTime": end} if end else {})}
        return lambda: ddb.export_table_to_point_in_time(
            TableArn=arn,
            S3Bucket=bucket,
            ExportType="INCREMENTAL_EXPORT",
            IncrementalExportSpecification=spec,
        )

    before_pitr = now - timedelta(hours=1)
    assert _code(incremental(before_pitr)) == "InvalidExportTimeException"
    assert _code(incremental(now, now - timedelta(seconds=1))) == "InvalidExportTimeException"
    assert _code(incremental(now, now + timedelta(days=2))) == "InvalidExportTimeException"
    past = now - timedelta(days=1)
    assert (
        _code(
            lambda: ddb.export_table_to_point_in_time(
                TableArn=arn, S3Bucket=bucket, ExportTime=past
            )
        )
        == "InvalidExportTimeException"
    )
    assert (
        _code(lambda: ddb.export_table_to_point_in_time(TableArn=arn + "x", S3Bucket=bucket))
        == "TableNotFoundException"
    )
    assert _code(lambda: ddb.describe_export(ExportArn=arn + "/export/none")) == (
        "ExportNotFoundException"
    )
    missing = ddb.export_table_to_point_in_time(TableArn=arn, S3Bucket="no-such-bucket-here")
    failed = _done(ddb, missing["ExportDescription"]["ExportArn"])
    assert failed["ExportStatus"] == "FAILED" and failed["FailureCode"] == "S3NoSuchBucket"


def test_failed_transaction_leaves_no_write_in_the_log(clients, ddb, bucket):
    name, arn = _table(ddb, items=2)
    _later()
    start = datetime.now(UTC)
    _later()
    with pytest.raises(ClientError):
        ddb.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": name, "Item": _item("m5", "2026-05-01", 1)}},
                {
                    "Put": {
                        "TableName": name,
                        "Item": _item("m0", "2026-01-01", 1),
                        "ConditionExpression": "attribute_not_exists(meter_id)",
                    }
                },
            ]
        )
    ddb.transact_write_items(
        TransactItems=[{"Put": {"TableName": name, "Item": _item("m6", "2026-05-01", 1)}}]
    )
    _later()
    described = _done(
        ddb,
        ddb.export_table_to_point_in_time(
            TableArn=arn,
            S3Bucket=bucket,
            S3Prefix="tx",
            ExportType="INCREMENTAL_EXPORT",
            IncrementalExportSpecification={"ExportFromTime": start},
        )["ExportDescription"]["ExportArn"],
    )
    _, _, records = _records(clients("s3"), bucket, described)
    assert [r["Keys"]["meter_id"]["S"] for r in records] == ["m6"]


def test_the_aws_cli_exports_and_reads_the_export_back(ddb, bucket, one_url):
    """The AWS CLI (v1) as users run it: export-table-to-point-in-time incremental,
    describe-export, list-exports, each parsed by the CLI from the local AWS's answers."""
    from energy_assets_tests.localaws.cli import aws_json

    name, arn = _table(ddb, items=2)
    time.sleep(1.05)  # the CLI sends whole seconds: a start after PITR was turned on
    start = datetime.now(UTC).replace(microsecond=0)
    ddb.put_item(TableName=name, Item=_item("cli", "2026-07-01", 1))
    _later()
    started = aws_json(
        "dynamodb",
        "export-table-to-point-in-time",
        "--table-arn",
        arn,
        "--s3-bucket",
        bucket,
        "--s3-prefix",
        "cli",
        "--export-type",
        "INCREMENTAL_EXPORT",
        "--incremental-export-specification",
        f"ExportFromTime={int(start.timestamp())},ExportViewType=NEW_IMAGE",
    )["ExportDescription"]
    done = _done(ddb, started["ExportArn"])
    assert done["ItemCount"] == 1 and done["ExportStatus"] == "COMPLETED"
    described = aws_json("dynamodb", "describe-export", "--export-arn", started["ExportArn"])
    assert described["ExportDescription"]["ExportManifest"] == done["ExportManifest"]
    listed = aws_json("dynamodb", "list-exports", "--table-arn", arn)["ExportSummaries"]
    assert [e["ExportType"] for e in listed] == ["INCREMENTAL_EXPORT"]
