"""The usage table: daily usage per meter (pk ``meter_id``, sk ``date``), or one series (pk
``date``)."""

from __future__ import annotations

import math
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

import boto3
import dagster as dg
import pandas as pd
from pydantic import PrivateAttr

from energy_assets.resources.retries import RetryMode, client_config
from energy_assets.resources.table_exports import (
    ExportFailed,
    ExportRead,
    TableExport,
    read_exports,
)

DATE_INDEX = "date-index"
MAX_INCREMENTAL_WINDOW = timedelta(hours=24)  # AWS's limit for one incremental export


def _chunks(seq: list, size: int) -> list[list]:
    return [seq[i : i + size] for i in range(0, len(seq), size)]


def _to_attribute(value) -> Decimal | str | None:
    """Numbers become DynamoDB numbers; anything else is kept as the text it was."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, (int, float)):
        return Decimal(str(value))
    text = str(value)
    try:
        number = Decimal(text)
    except InvalidOperation:
        return text
    return number if number.is_finite() else text


def _plain(attribute: dict) -> str:
    """Raw text of one DynamoDB-JSON attribute, so bad values reach cleaning as they were."""
    ((kind, value),) = attribute.items()
    if kind in ("S", "N"):
        return value
    if kind == "NULL":
        return ""
    return str(value)


PLACE_TAGS = {"country": "energy-assets:country", "subdiv": "energy-assets:subdiv"}


class UsageTableResource(dg.ConfigurableResource):
    """Reads and writes the DynamoDB usage table with batched calls only."""

    table_name: str
    region_name: str | None = None
    scan_segments: int = 4
    retry_mode: RetryMode = "adaptive"  # throttling slows the client down, then it retries
    max_attempts: int = 8  # calls per request in all, the first included
    _client: Any = PrivateAttr(default=None)

    def config(self):
        return client_config(self.retry_mode, self.max_attempts)

    def client(self):
        """One client per resource (boto3 clients are thread-safe; building one is slow)."""
        if self._client is None:
            self._client = boto3.client(
                "dynamodb", region_name=self.region_name, config=self.config()
            )
        return self._client

    def key_schema(self) -> dict:
        """``{"hash": name, "range": name | None, "date_index": bool}`` of the table."""
        table = self.client().describe_table(TableName=self.table_name)["Table"]
        keys = {k["KeyType"]: k["AttributeName"] for k in table["KeySchema"]}
        indexes = {i["IndexName"] for i in table.get("GlobalSecondaryIndexes", [])}
        return {
            "hash": keys["HASH"],
            "range": keys.get("RANGE"),
            "date_index": DATE_INDEX in indexes,
        }

    def is_single_series(self) -> bool:
        return self.key_schema()["hash"] == "date"

    def exists(self) -> bool:
        try:
            self.client().describe_table(TableName=self.table_name)
        except self.client().exceptions.ResourceNotFoundException:
            return False
        return True

    def place(self) -> dict[str, str]:
        """Whose public holidays the meters keep, as the table was tagged when seeded
        (``country``/``subdiv``; empty when it was not)."""
        client = self.client()
        arn = client.describe_table(TableName=self.table_name)["Table"]["TableArn"]
        tags = client.list_tags_of_resource(ResourceArn=arn).get("Tags", [])
        found = {t["Key"]: t["Value"] for t in tags}
        return {k: found[PLACE_TAGS[k]] for k in PLACE_TAGS if PLACE_TAGS[k] in found}

    def set_place(self, country: str, subdiv: str | None = None) -> None:
        """Tag the table with where its meters are: their public holidays follow it."""
        client = self.client()
        arn = client.describe_table(TableName=self.table_name)["Table"]["TableArn"]
        tags = [{"Key": PLACE_TAGS["country"], "Value": country}]
        if subdiv:
            tags.append({"Key": PLACE_TAGS["subdiv"], "Value": subdiv})
        client.tag_resource(ResourceArn=arn, Tags=tags)

    def create(self, single_series: bool = False) -> None:
        """Create the table (on-demand billing); a date index lets sensors ask about new days."""
        client = self.client()
        if single_series:
            client.create_table(
                TableName=self.table_name,
                KeySchema=[{"AttributeName": "date", "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": "date", "AttributeType": "S"}],
                BillingMode="PAY_PER_REQUEST",
            )
        else:
            client.create_table(
                TableName=self.table_name,
                KeySchema=[
                    {"AttributeName": "meter_id", "KeyType": "HASH"},
                    {"AttributeName": "date", "KeyType": "RANGE"},
                ],
                AttributeDefinitions=[
                    {"AttributeName": "meter_id", "AttributeType": "S"},
                    {"AttributeName": "date", "AttributeType": "S"},
                ],
                GlobalSecondaryIndexes=[
                    {
                        "IndexName": DATE_INDEX,
                        "KeySchema": [
                            {"AttributeName": "date", "KeyType": "HASH"},
                            {"AttributeName": "meter_id", "KeyType": "RANGE"},
                        ],
                        "Projection": {"ProjectionType": "KEYS_ONLY"},
                    }
                ],
                BillingMode="PAY_PER_REQUEST",
            )
        client.get_waiter("table_exists").wait(
            TableName=self.table_name, WaiterConfig={"Delay": 1, "MaxAttempts": 60}
        )

    def put_usage(self, frame: pd.DataFrame, threads: int = 4) -> int:
        """Write rows in batches of 25 (BatchWriteItem) from a few threads; returns items written
        (rows that repeat a key overwrite the earlier one).

        Columns become attributes; numeric text is stored as a number, other text as a string,
        so malformed values land in the table the way a faulty writer would leave them.
        """
        records = frame.to_dict(orient="records")
        items = [
            {k: a for k, v in rec.items() if (a := _to_attribute(v)) is not None} for rec in records
        ]
        for item in items:
            for key in ("meter_id", "date"):
                if key in item:
                    item[key] = str(item[key])
        # One item per key, the last one winning, as successive writes would leave the table
        # (BatchWriteItem refuses a batch that names a key twice).
        keys = ("meter_id", "date") if "meter_id" in frame.columns else ("date",)
        items = list({tuple(item.get(k) for k in keys): item for item in items}.values())

        def write(chunk: list[dict]) -> int:
            table = boto3.resource(
                "dynamodb", region_name=self.region_name, config=self.config()
            ).Table(self.table_name)
            with table.batch_writer() as batch:
                for item in chunk:
                    batch.put_item(Item=item)
            return len(chunk)

        size = max(25, math.ceil(len(items) / threads))
        with ThreadPoolExecutor(threads) as pool:
            return sum(pool.map(write, _chunks(items, size)))

    def scan(self) -> pd.DataFrame:
        """Every item as text columns, read by a parallel Scan (one pass over the table)."""
        client = self.client()

        def segment(n: int) -> list[dict]:
            rows: list[dict] = []
            paginator = client.get_paginator("scan")
            for page in paginator.paginate(
                TableName=self.table_name, Segment=n, TotalSegments=self.scan_segments
            ):
                rows.extend({k: _plain(v) for k, v in item.items()} for item in page["Items"])
            return rows

        with ThreadPoolExecutor(self.scan_segments) as pool:
            rows = [row for part in pool.map(segment, range(self.scan_segments)) for row in part]
        frame = pd.DataFrame(rows, dtype=object)
        if frame.empty:
            return pd.DataFrame(columns=["meter_id", "date", "usage"], dtype=object)
        if "meter_id" not in frame.columns:
            frame.insert(0, "meter_id", self.table_name)
        return frame.fillna("")

    def days_after(self, after: str | None, until: date, max_probe_days: int = 62) -> list[str]:
        """Days (``YYYY-MM-DD``) in ``(after, until]`` that have at least one item.

        With a date key or date index this asks one COUNT query per candidate day; otherwise,
        or for a long window, it scans only the ``date`` attribute with a filter.
        """
        keys = self.key_schema()
        client = self.client()
        start = date.fromisoformat(after) + timedelta(days=1) if after else None
        if start and (keys["hash"] == "date" or keys["date_index"]):
            candidates = pd.date_range(start, until, freq="D").strftime("%Y-%m-%d").tolist()
            if len(candidates) <= max_probe_days:
                index = {} if keys["hash"] == "date" else {"IndexName": DATE_INDEX}

                def has_items(day: str) -> bool:
                    response = client.query(
                        TableName=self.table_name,
                        KeyConditionExpression="#d = :d",
                        ExpressionAttributeNames={"#d": "date"},
                        ExpressionAttributeValues={":d": {"S": day}},
                        Select="COUNT",
                        Limit=1,
                        **index,
                    )
                    return response["Count"] > 0

                with ThreadPoolExecutor(8) as pool:
                    found = list(pool.map(has_items, candidates))
                return [d for d, ok in zip(candidates, found, strict=True) if ok]
        kwargs: dict = {
            "TableName": self.table_name,
            "ProjectionExpression": "#d",
            "ExpressionAttributeNames": {"#d": "date"},
        }
        if after:
            kwargs["FilterExpression"] = "#d >= :s"
            kwargs["ExpressionAttributeValues"] = {":s": {"S": start.isoformat()}}
        days: set[str] = set()
        for page in client.get_paginator("scan").paginate(**kwargs):
            days.update(item["date"]["S"][:10] for item in page["Items"] if "date" in item)
        parsed = pd.to_datetime(pd.Series(sorted(days)), format="%Y-%m-%d", errors="coerce")
        valid = parsed[(parsed.notna()) & (parsed <= pd.Timestamp(until))]
        return valid.dt.strftime("%Y-%m-%d").tolist()

    def meters(self) -> list[str]:
        """Meter ids in the table (a Scan of the key attribute only); one series: the table."""
        if self.is_single_series():
            return [self.table_name]
        found: set[str] = set()
        paginator = self.client().get_paginator("scan")
        for page in paginator.paginate(TableName=self.table_name, ProjectionExpression="meter_id"):
            found.update(item["meter_id"]["S"] for item in page["Items"])
        return sorted(found)

    def usage_between(self, meter_id: str, start: date, end: date) -> pd.DataFrame:
        """Raw items of one meter for days in ``[start, end]``: a key-range Query, or for a
        date-keyed table one BatchGetItem per 100 days."""
        client = self.client()
        if self.is_single_series():
            if meter_id != self.table_name:
                return pd.DataFrame(columns=["date", "usage"])
            days = pd.date_range(start, end, freq="D").strftime("%Y-%m-%d").tolist()
            items: list[dict] = []
            for chunk in _chunks(days, 100):
                request = {self.table_name: {"Keys": [{"date": {"S": d}} for d in chunk]}}
                while request:
                    response = client.batch_get_item(RequestItems=request)
                    items.extend(response["Responses"].get(self.table_name, []))
                    request = response.get("UnprocessedKeys") or None
        else:
            paginator = client.get_paginator("query")
            items = [
                item
                for page in paginator.paginate(
                    TableName=self.table_name,
                    KeyConditionExpression="meter_id = :m AND #d BETWEEN :s AND :e",
                    ExpressionAttributeNames={"#d": "date"},
                    ExpressionAttributeValues={
                        ":m": {"S": meter_id},
                        ":s": {"S": start.isoformat()},
                        ":e": {"S": end.isoformat() + "\uffff"},
                    },
                )
                for item in page["Items"]
            ]
        rows = [{k: _plain(v) for k, v in item.items()} for item in items]
        return pd.DataFrame(rows, columns=None if rows else ["date", "usage"])

    # -- exports to S3: the whole table at a time, or what was written between two times --

    def enable_point_in_time_recovery(self) -> datetime | None:
        """Turn point-in-time recovery on when it is off (exports need it; incremental ones
        reach back to when it was turned on). Returns the earliest restorable time."""
        client = self.client()
        described = client.describe_continuous_backups(TableName=self.table_name)
        recovery = described["ContinuousBackupsDescription"].get(
            "PointInTimeRecoveryDescription", {}
        )
        if recovery.get("PointInTimeRecoveryStatus") != "ENABLED":
            described = client.update_continuous_backups(
                TableName=self.table_name,
                PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True},
            )
            recovery = described["ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"]
        return recovery.get("EarliestRestorableDateTime")

    def export(
        self,
        bucket: str,
        prefix: str = "exports/usage",
        since: datetime | None = None,
        until: datetime | None = None,
        timeout_seconds: float = 3600.0,
    ) -> list[TableExport]:
        """Export the table to ``s3://bucket/prefix`` with ExportTableToPointInTime and wait.

        Without ``since``: one full export, the table as it was at ``until`` (default now).
        With ``since``: incremental exports of the items written in ``[since, until)`` (default
        until now), one per 24 hours (AWS's longest window), in time order. Pass the previous
        export's ``export_time`` as ``since`` and nothing is read twice or missed.
        Point-in-time recovery is turned on first when it is off.
        """
        self.enable_point_in_time_recovery()
        client = self.client()
        arn = client.describe_table(TableName=self.table_name)["Table"]["TableArn"]
        request = {"TableArn": arn, "S3Bucket": bucket, "S3Prefix": prefix.strip("/")}
        if since is None:
            moment = {"ExportTime": until} if until is not None else {}
            started = [client.export_table_to_point_in_time(**request, **moment)]
        else:
            end = until or datetime.now(UTC)
            started, start = [], since
            while start < end:
                stop = min(start + MAX_INCREMENTAL_WINDOW, end)
                spec = {
                    "ExportFromTime": start,
                    "ExportToTime": stop,
                    "ExportViewType": "NEW_AND_OLD_IMAGES",
                }
                started.append(
                    client.export_table_to_point_in_time(
                        **request,
                        ExportType="INCREMENTAL_EXPORT",
                        IncrementalExportSpecification=spec,
                    )
                )
                start = stop
        return [
            self._completed(s["ExportDescription"]["ExportArn"], timeout_seconds) for s in started
        ]

    def _completed(self, export_arn: str, timeout_seconds: float) -> TableExport:
        client = self.client()
        deadline, pause = time.monotonic() + timeout_seconds, 0.05
        while True:
            described = client.describe_export(ExportArn=export_arn)["ExportDescription"]
            status = described["ExportStatus"]
            if status == "COMPLETED":
                return TableExport.from_description(described)
            if status == "FAILED":
                raise ExportFailed(
                    f"export {export_arn} failed: {described.get('FailureCode')} "
                    f"{described.get('FailureMessage', '')}".strip()
                )
            if time.monotonic() > deadline:
                raise ExportFailed(f"export {export_arn} still {status} after {timeout_seconds}s")
            time.sleep(pause)
            pause = min(pause * 2, 10.0)

    def read_export(self, exports: TableExport | list[TableExport], threads: int = 8) -> ExportRead:
        """The items of a full export, or of incremental exports (read together: the latest
        record of each item wins) with the keys deleted, as text columns like ``scan``."""
        exports = [exports] if isinstance(exports, TableExport) else list(exports)
        keys = self.key_schema()
        single = keys["hash"] == "date"
        key_columns = ["date"] if single else ["meter_id", "date"]
        s3 = boto3.client("s3", region_name=self.region_name, config=client_config("standard", 5))
        return read_exports(
            s3,
            exports,
            key_columns,
            series_name=self.table_name if single else None,
            threads=threads,
        )
