"""The local DynamoDB's compact item store (``dynamodb_store``), through boto3 against the running
local AWS: a table held compactly and the same table held as moto holds items (created with the
store off) get the same writes, and every answer is compared, in order and attribute order.

Each test fails if the compact store loses or alters an item, its attributes' order, types or
text, an update, a delete, the Scan/Query order or pages, or an export's or import's records.
"""

from __future__ import annotations

import gzip
import json
import time

import pytest
from botocore.exceptions import ClientError
from moto.dynamodb.models import dynamodb_backends

from energy_assets.localaws import dynamodb_answers, dynamodb_store
from energy_assets.resources import UsageTableResource
from energy_assets_tests.localaws import deploy
from energy_assets_tests.localaws.conftest import REGION

DAYS = [f"2026-01-{d:02d}" for d in range(1, 13)]
METERS = ["0012", "meter-a", "meter-b", "zz-ü"]


def _items() -> list[dict]:
    """Usage items as seeding writes them, and the odd ones a user's writer may leave."""
    items = []
    for m, meter in enumerate(METERS):
        for d, day in enumerate(DAYS):
            item = {"meter_id": {"S": meter}, "date": {"S": day}, "usage": {"N": f"{m * 7 + d}.25"}}
            if d % 3 == 0:
                item["temperature"] = {"N": str(-d)}
            items.append(item)
    odd = {
        "2026-02-01": {"usage": {"S": 'n/a "quoted" \\ back\nline\x1fsep é 日本'}},
        "2026-02-02": {"usage": {"N": "1E+3"}, "unit": {"S": ""}},
        "2026-02-03": {"flags": {"SS": ["b", "a"]}, "ok": {"BOOL": True}, "none": {"NULL": True}},
        "2026-02-04": {"blob": {"B": b"\x00\x01\xff"}, "nums": {"NS": ["1", "2.5"]}},
        "2026-02-05": {"nested": {"M": {"a": {"L": [{"N": "1"}, {"S": "x"}]}}}},
        "2026-02-06": {},  # keys only
    }
    for day, attrs in odd.items():
        items.append({"usage": {"N": "9"}, "date": {"S": day}, "meter_id": {"S": "meter-a"}})
        items[-1].update(attrs)  # keys not first: the attribute order is kept
    return items


def _create(name: str) -> str:
    """The usage table as the project creates it (keys and date index), in this module's
    region through ``AWS_ENDPOINT_URL`` (``one_url``): the same local AWS as ``ddb``."""
    UsageTableResource(table_name=name, region_name=REGION).create()
    return name


def _backend_table(name: str):
    return dynamodb_backends["123456789012"][REGION].tables[name]


def _moto_stored(make):
    """Run ``make`` with the compact store off: the tables it creates are held as moto holds
    them."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(dynamodb_store, "ENABLED", False)
        return make()


def _write(ddb, name: str, items: list[dict]) -> None:
    for start in range(0, len(items), 25):
        batch = [{"PutRequest": {"Item": i}} for i in items[start : start + 25]]
        ddb.batch_write_item(RequestItems={name: batch})


@pytest.fixture(scope="module")
def ddb(clients, one_url):
    return clients("dynamodb")


@pytest.fixture()
def pair(ddb):
    """(compact table, moto-stored table) holding the same items."""
    compact = _create(deploy.unique("compact"))
    plain = _moto_stored(lambda: _create(deploy.unique("plain")))
    for name in (compact, plain):
        _write(ddb, name, _items())
    assert dynamodb_store.is_compact(_backend_table(compact))
    assert not dynamodb_store.is_compact(_backend_table(plain))
    return compact, plain


def _ordered(answer):
    """An answer with every dict as its list of pairs: equal only in the same order."""
    if isinstance(answer, dict):
        return [
            (k, _ordered(v))
            for k, v in answer.items()
            if k not in ("ResponseMetadata", "ConsumedCapacity")
        ]
    if isinstance(answer, list):
        return [_ordered(v) for v in answer]
    return answer


def _same(call, compact: str, plain: str, error: str | None = None, **kwargs):
    """Call with each table; the answers must be equal, attribute order included (and be the
    ``error`` code when one is expected)."""
    answers = []
    for name in (compact, plain):
        try:
            answers.append(_ordered(call(TableName=name, **kwargs)))
        except ClientError as failed:
            answers.append(("error", failed.response["Error"]["Code"]))
    assert answers[0] == answers[1], kwargs
    assert answers[0] == ("error", error) if error else not isinstance(answers[0], tuple)
    return answers[0]


def _all_pages(ddb, operation: str, name: str, **kwargs) -> list:
    pages = []
    for page in ddb.get_paginator(operation).paginate(TableName=name, **kwargs):
        pages.append(
            _ordered({k: page[k] for k in ("Items", "Count", "LastEvaluatedKey") if k in page})
        )
    return pages


def test_items_are_held_as_a_few_bytes_each(ddb, pair):
    compact, _ = pair
    table = _backend_table(compact)
    partitions = list(table.items.values())
    payloads = [p for part in partitions for p in part.rows.values()]
    assert len(payloads) == len(_items()) == len(table)
    assert all(isinstance(p, bytes) for p in payloads)
    usage = table.items[next(k for k in table.items if k.value == "meter-b")].rows
    # two bytes of shape, the usage (and temperature): keys are held by the partition and dict
    assert max(len(p) for p in usage.values()) <= 12, usage
    assert ddb.describe_table(TableName=compact)["Table"]["ItemCount"] == len(_items())


def test_get_item_answers_every_item_as_written(ddb, pair):
    compact, plain = pair
    for item in _items():
        key = {"meter_id": item["meter_id"], "date": item["date"]}
        got = _same(ddb.get_item, compact, plain, Key=key)
        assert dict(got)["Item"] == _ordered(item)
        _same(
            ddb.get_item,
            compact,
            plain,
            Key=key,
            ProjectionExpression="#u, #d",
            ExpressionAttributeNames={"#d": "date", "#u": "usage"},
        )
    _same(ddb.get_item, compact, plain, Key={"meter_id": {"S": "nobody"}, "date": {"S": "x"}})


def test_query_key_ranges_pages_and_the_date_index(ddb, pair):
    compact, plain = pair
    values = {":m": {"S": "meter-a"}, ":a": {"S": "2026-01-03"}, ":b": {"S": "2026-01-09"}}
    for condition in (
        "meter_id = :m",
        "meter_id = :m AND #d BETWEEN :a AND :b",
        "meter_id = :m AND #d > :b",
        "meter_id = :m AND begins_with(#d, :a)",
    ):
        used = {k: v for k, v in values.items() if k in condition}
        names = {"#d": "date"} if "#d" in condition else {}
        for forward in (True, False):
            pages = [
                _all_pages(
                    ddb,
                    "query",
                    name,
                    KeyConditionExpression=condition,
                    ExpressionAttributeValues=used,
                    ScanIndexForward=forward,
                    PaginationConfig={"PageSize": 5},
                    **({"ExpressionAttributeNames": names} if names else {}),
                )
                for name in (compact, plain)
            ]
            assert pages[0] == pages[1] and pages[0], condition
    filtered = _same(
        ddb.query,
        compact,
        plain,
        KeyConditionExpression="meter_id = :m",
        FilterExpression="attribute_exists(temperature)",
        ProjectionExpression="#u",
        ExpressionAttributeNames={"#u": "usage"},
        ExpressionAttributeValues={":m": {"S": "meter-b"}},
    )
    assert dict(filtered)["Count"] == 4
    for day in ("2026-01-05", "2026-02-01", "2030-01-01"):
        indexed = _same(
            ddb.query,
            compact,
            plain,
            IndexName="date-index",
            KeyConditionExpression="#d = :d",
            ExpressionAttributeNames={"#d": "date"},
            ExpressionAttributeValues={":d": {"S": day}},
        )
        assert dict(indexed)["Count"] == {"2026-01-05": 4, "2026-02-01": 1}.get(day, 0)


def test_scan_pages_segments_and_filters(ddb, pair):
    compact, plain = pair
    for options in (
        {},
        {"PaginationConfig": {"PageSize": 7}},
        {
            "FilterExpression": "#u < :u",
            "ExpressionAttributeValues": {":u": {"N": "-3"}},
            "ExpressionAttributeNames": {"#u": "temperature"},
            "PaginationConfig": {"PageSize": 4},
        },
    ):
        pages = [_all_pages(ddb, "scan", name, **options) for name in (compact, plain)]
        assert pages[0] == pages[1], options
    whole = sum(len(dict(p)["Items"]) for p in _all_pages(ddb, "scan", compact))
    assert whole == len(_items())
    seen = 0
    for segment in range(3):
        pages = [
            _all_pages(
                ddb,
                "scan",
                name,
                Segment=segment,
                TotalSegments=3,
                PaginationConfig={"PageSize": 6},
            )
            for name in (compact, plain)
        ]
        assert pages[0] == pages[1], segment
        seen += sum(len(dict(p)["Items"]) for p in pages[0])
    assert seen == len(_items())


def test_updates_deletes_and_overwrites_are_kept(ddb, pair):
    compact, plain = pair
    key = {"meter_id": {"S": "meter-a"}, "date": {"S": "2026-01-04"}}
    for update in (
        {
            "UpdateExpression": "SET #u = #u + :one, note = :n",
            "ReturnValues": "ALL_NEW",
            "ExpressionAttributeNames": {"#u": "usage"},
            "ExpressionAttributeValues": {":one": {"N": "1"}, ":n": {"S": "fixed"}},
        },
        {
            "UpdateExpression": "REMOVE temperature ADD tags :t",
            "ReturnValues": "ALL_OLD",
            "ExpressionAttributeValues": {":t": {"SS": ["x"]}},
        },
        {
            "UpdateExpression": "SET note = :n",
            "ConditionExpression": "note = :other",
            "error": "ConditionalCheckFailedException",
            "ExpressionAttributeValues": {":n": {"S": "no"}, ":other": {"S": "absent"}},
        },
    ):
        _same(ddb.update_item, compact, plain, Key=key, **update)
    new = {"meter_id": {"S": "meter-new"}, "date": {"S": "2026-03-01"}}
    _same(
        ddb.update_item,
        compact,
        plain,
        Key=new,
        UpdateExpression="SET #u = :u",
        ExpressionAttributeNames={"#u": "usage"},
        ExpressionAttributeValues={":u": {"N": "3"}},
        ReturnValues="ALL_NEW",
    )
    for changed in (key, new):
        after = _same(ddb.get_item, compact, plain, Key=changed)
        assert dict(after)["Item"]
    assert dict(dict(_same(ddb.get_item, compact, plain, Key=key))["Item"])["note"] == [
        ("S", "fixed")
    ]
    gone = {"meter_id": {"S": "meter-b"}, "date": {"S": "2026-01-02"}}
    deleted = _same(ddb.delete_item, compact, plain, Key=gone, ReturnValues="ALL_OLD")
    assert dict(deleted)["Attributes"]
    assert dict(_same(ddb.get_item, compact, plain, Key=gone)).get("Item") is None
    over = {**gone, "usage": {"S": "rewritten"}}
    _same(ddb.put_item, compact, plain, Item=over, ReturnValues="ALL_OLD")
    _same(
        ddb.put_item,
        compact,
        plain,
        Item=over,
        ConditionExpression="attribute_not_exists(#d)",
        ExpressionAttributeNames={"#d": "date"},
        error="ConditionalCheckFailedException",
    )
    ddb.transact_write_items(
        TransactItems=[
            {
                "Update": {
                    "TableName": name,
                    "Key": key,
                    "UpdateExpression": "SET done = :t",
                    "ExpressionAttributeValues": {":t": {"BOOL": True}},
                }
            }
            for name in (compact, plain)
        ]
    )
    pages = [_all_pages(ddb, "scan", name) for name in (compact, plain)]
    assert pages[0] == pages[1]
    assert dict(dict(_same(ddb.get_item, compact, plain, Key=key))["Item"])["done"] == [
        ("BOOL", True)
    ]


def _export_lines(clients, ddb, name: str, bucket: str, **request) -> list[str]:
    arn = ddb.describe_table(TableName=name)["Table"]["TableArn"]
    started = ddb.export_table_to_point_in_time(
        TableArn=arn, S3Bucket=bucket, S3Prefix=name, **request
    )["ExportDescription"]["ExportArn"]
    for _ in range(300):
        described = ddb.describe_export(ExportArn=started)["ExportDescription"]
        if described["ExportStatus"] != "IN_PROGRESS":
            break
        time.sleep(0.02)
    assert described["ExportStatus"] == "COMPLETED", described
    s3 = clients("s3")
    manifest = s3.get_object(Bucket=bucket, Key=described["ExportManifest"])["Body"].read()
    files_key = json.loads(manifest)["manifestFilesS3Key"]
    lines = []
    for entry in s3.get_object(Bucket=bucket, Key=files_key)["Body"].read().splitlines():
        data = s3.get_object(Bucket=bucket, Key=json.loads(entry)["dataFileS3Key"])["Body"]
        lines.append(gzip.decompress(data.read()).decode())  # one text per file, in order
    return lines


def _without_times(text: str) -> list:
    return [
        {k: v for k, v in json.loads(line).items() if k != "Metadata"} for line in text.splitlines()
    ]


def test_full_and_incremental_exports_write_the_same_records(clients, ddb, pair):
    compact, plain = pair
    bucket = deploy.bucket(clients, deploy.unique("store"))
    for name in (compact, plain):
        ddb.update_continuous_backups(
            TableName=name, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
        )
    full = [_export_lines(clients, ddb, name, bucket) for name in (compact, plain)]
    assert full[0] == full[1]  # the same files, lines and bytes
    assert sum(len(text.splitlines()) for text in full[0]) == len(_items())
    start = time.time()
    time.sleep(0.01)
    for name in (compact, plain):
        ddb.put_item(
            TableName=name,
            Item={"meter_id": {"S": "meter-a"}, "date": {"S": "2026-01-02"}, "usage": {"N": "0"}},
        )
        ddb.delete_item(TableName=name, Key={"meter_id": {"S": "0012"}, "date": {"S": DAYS[0]}})
    time.sleep(0.01)
    window = {
        "ExportType": "INCREMENTAL_EXPORT",
        "IncrementalExportSpecification": {"ExportFromTime": start, "ExportToTime": time.time()},
    }
    changes = [_export_lines(clients, ddb, name, bucket, **window) for name in (compact, plain)]
    assert [_without_times(t) for t in changes[0]] == [_without_times(t) for t in changes[1]]
    assert sum(len(t.splitlines()) for t in changes[0]) == 2
    # a past-time full export: the items as they were before those writes
    past = [
        _export_lines(clients, ddb, name, bucket, ExportTime=start) for name in (compact, plain)
    ]
    assert past[0] == past[1]
    assert sorted(sum((t.splitlines() for t in past[0]), [])) == sorted(
        sum((t.splitlines() for t in full[0]), [])
    )


def test_import_table_builds_the_same_table(clients, ddb):
    bucket = deploy.bucket(clients, deploy.unique("store-import"))
    lines = [
        json.dumps({"Item": item}, default=lambda b: __import__("base64").b64encode(b).decode())
        for item in _items()
    ]
    lines.insert(3, '{"Item": {"meter_id": {"S": "no-date"}}}')  # refused: no sort key
    body = gzip.compress(("\n".join(lines) + "\n").encode())
    clients("s3").put_object(Bucket=bucket, Key="in/part-0.json.gz", Body=body)
    names = []
    for compact_store in (True, False):
        name = deploy.unique("imported")

        def start(name=name):
            described = ddb.import_table(
                S3BucketSource={"S3Bucket": bucket, "S3KeyPrefix": "in/"},
                InputFormat="DYNAMODB_JSON",
                InputCompressionType="GZIP",
                TableCreationParameters={
                    "TableName": name,
                    "KeySchema": [
                        {"AttributeName": "meter_id", "KeyType": "HASH"},
                        {"AttributeName": "date", "KeyType": "RANGE"},
                    ],
                    "AttributeDefinitions": [
                        {"AttributeName": "meter_id", "AttributeType": "S"},
                        {"AttributeName": "date", "AttributeType": "S"},
                    ],
                    "BillingMode": "PAY_PER_REQUEST",
                },
            )["ImportTableDescription"]
            for _ in range(300):
                done = ddb.describe_import(ImportArn=described["ImportArn"])
                if done["ImportTableDescription"]["ImportStatus"] != "IN_PROGRESS":
                    return done["ImportTableDescription"]
                time.sleep(0.02)
            raise AssertionError("import did not finish")

        done = start() if compact_store else _moto_stored(start)
        assert (done["ImportedItemCount"], done["ErrorCount"]) == (len(_items()), 1)
        assert dynamodb_store.is_compact(_backend_table(name)) is compact_store
        names.append(name)
    pages = [_all_pages(ddb, "scan", name) for name in names]
    assert pages[0] == pages[1]
    assert sum(len(dict(p)["Items"]) for p in pages[0]) == len(_items())


def test_fast_answers_are_the_serializers(ddb, pair):
    """The one-``json.dumps`` answers equal what moto's serializer writes for the same result."""
    compact, _ = pair
    fast = ddb.scan(TableName=compact, Limit=10)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(dynamodb_answers, "plain_body", lambda *a: None)
        slow = ddb.scan(TableName=compact, Limit=10)
    assert _ordered(fast) == _ordered(slow)
    assert dynamodb_answers.plain_body({"Items": [{"a": {"B": b"x"}}]}, ["Items"]) is None
    assert dynamodb_answers.plain_body({"Items": [], "Count": 0}, ["Items", "Count"]) == (
        '{"Items": [], "Count": 0}'
    )
