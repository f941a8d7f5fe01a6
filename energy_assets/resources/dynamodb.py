"""The usage table: daily usage per meter (pk ``meter_id``, sk ``date``), or one series (pk
``date``)."""

from __future__ import annotations

import gzip
import math
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

import boto3
import dagster as dg
import pandas as pd
from pydantic import PrivateAttr

from energy_assets.resources import table_load
from energy_assets.resources.meter_registry import MeterRegistry, day_ranges
from energy_assets.resources.retries import RetryMode, client_config
from energy_assets.resources.table_exports import (
    ExportFailed,
    ExportRead,
    TableExport,
    read_exports,
)

DATE_INDEX = "date-index"
POLL_MAX_PAUSE = 2.0  # seconds between DescribeImport/DescribeExport calls, at most
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
# ImportTable's source objects: lines per gzipped object (AWS takes up to 50,000 objects)
IMPORT_LINES_PER_OBJECT = 250_000


class NoDayIndex(RuntimeError):
    """The table can tell its new days only by a Scan (no meter registry, no date index)."""


class LoadFailed(RuntimeError):
    """A bulk load (ImportTable) did not complete: its failure, in one line."""


@dataclass(frozen=True)
class LoadResult:
    items: int  # items in the table from this frame (one per key)
    method: str  # "import" (ImportTable from S3) or "batch" (parallel BatchWriteItem)
    created_table: bool
    seconds: float


def _poll(
    describe: Callable[[], dict], status_key: str, final: tuple[str, ...], timeout_seconds: float
) -> dict:
    """``describe()`` again, pausing 0.05 s doubling to ``POLL_MAX_PAUSE`` s, until its
    ``status_key`` is one of ``final`` or ``timeout_seconds`` have passed; the last description
    either way (exports and imports both run asynchronously on AWS). The cap was 10 s: a
    20.5 s import was seen done at 32.75 s; a Describe call every 2 s costs nothing."""
    deadline, pause = time.monotonic() + timeout_seconds, 0.05
    while True:
        described = describe()
        if described[status_key] in final or time.monotonic() > deadline:
            return described
        time.sleep(pause)
        pause = min(pause * 2, POLL_MAX_PAUSE)


class UsageTableResource(dg.ConfigurableResource):
    """Reads and writes the DynamoDB usage table with batched calls only."""

    table_name: str
    region_name: str | None = None
    scan_segments: int = 4
    # raw_usage_export reads a table of at most this many items (DescribeTable's ItemCount) by a
    # parallel Scan, a larger one through DynamoDB exports (energy_assets/table_reads.py). 0:
    # the Scan was not the cheaper at any size measured, from 114 items up (benchmarks/exports.py,
    # README "Ingestion from exports"). ENERGY_ASSETS_SCAN_MAX_ITEMS.
    scan_max_items: int = 0
    retry_mode: RetryMode = "adaptive"  # throttling slows the client down, then it retries
    max_attempts: int = 8  # calls per request in all, the first included
    # The meter registry's table (default ``<table_name>-meters``; see meter_registry.py).
    registry_table: str = ""
    # Seeding a new table with at least this many items goes through ImportTable from S3 (when a
    # staging bucket is given), smaller frames through parallel BatchWriteItem: the measured
    # crossover, benchmarks/results/seeding.md. 0: always BatchWriteItem.
    bulk_load_min_items: int = 20_000
    write_threads: int = 8  # parallel BatchWriteItem calls of write_usage
    _client: Any = PrivateAttr(default=None)
    _registry_ready: bool = PrivateAttr(default=False)

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
        for item, record in zip(items, records, strict=True):
            for key in ("meter_id", "date"):
                if key in item:
                    item[key] = str(record[key])  # keys keep their text: "0012" stays "0012"
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
            written = sum(pool.map(write, _chunks(items, size)))
        self.register(frame)
        return written

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
                return self._days_with_items(candidates, keys)
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

    def new_days(
        self, after: str | None, until: date, first: str | None = None, max_probe_days: int = 62
    ) -> list[str]:
        """Days (``YYYY-MM-DD``) in ``(after, until]`` that have at least one item, without
        reading the usage table: what the new-day sensor asks every few minutes.

        The meter registry's summary (one GetItem) bounds the window by the latest day written;
        nothing newer than ``after`` ends there. Within the window (at most ``max_probe_days``)
        each day is asked of the date key or index (one COUNT Query with ``Limit=1`` a day:
        O(new days), whatever the table's size); a longer window (a backfill) is taken whole.
        Without a registry the window runs from ``after`` (or ``first``) to ``until`` and is
        probed day by day. A table with neither a registry nor a date key or index cannot be
        asked without a Scan: ``NoDayIndex``, one line saying how to build the registry.
        """
        keys = self.key_schema()
        can_probe = keys["hash"] == "date" or keys["date_index"]
        start = date.fromisoformat(after) + timedelta(days=1) if after else None
        end = until
        if self.registry_in_use():
            summary = self.registry().summary() or {}
            last, oldest = summary.get("last_day"), summary.get("first_day")
            if not last:
                return []
            end = min(end, date.fromisoformat(last))
            if oldest and (start is None or start < date.fromisoformat(oldest)):
                start = date.fromisoformat(oldest)
        elif not can_probe:
            raise NoDayIndex(
                f"{self.table_name} has no meter registry and no date index, so new days cannot "
                "be found without a Scan: run `energy-assets seed` on it once, or "
                "UsageTableResource.build_registry()"
            )
        if start is None:
            start = date.fromisoformat(first) if first else None
        if start is None or start > end:
            return []
        candidates = pd.date_range(start, end, freq="D").strftime("%Y-%m-%d").tolist()
        if self.registry_in_use() and (not can_probe or len(candidates) > max_probe_days):
            return candidates
        return self._days_with_items(candidates, keys)

    def _days_with_items(self, candidates: list[str], keys: dict) -> list[str]:
        """The candidate days with an item: one COUNT Query (``Limit=1``) of the date key or
        index per day, 8 at a time."""
        client = self.client()
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

    def meters(self) -> list[str]:
        """Meter ids in the table, from the meter registry (one item per meter, whatever the
        history's length); for a table without a registry, a Scan of the key attribute. One
        series: the table."""
        if self.is_single_series():
            return [self.table_name]
        if self.registry_in_use():
            return [entry.meter_id for entry in self.registry().meters()]
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
        described = _poll(
            lambda: client.describe_export(ExportArn=export_arn)["ExportDescription"],
            "ExportStatus",
            ("COMPLETED", "FAILED"),
            timeout_seconds,
        )
        status = described["ExportStatus"]
        if status == "COMPLETED":
            return TableExport.from_description(described)
        if status == "FAILED":
            raise ExportFailed(
                f"export {export_arn} failed: {described.get('FailureCode')} "
                f"{described.get('FailureMessage', '')}".strip()
            )
        raise ExportFailed(f"export {export_arn} still {status} after {timeout_seconds}s")

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

    # -- the meter registry (meter_registry.py): meters and the latest day without a Scan --

    @property
    def registry_name(self) -> str:
        return self.registry_table or f"{self.table_name}-meters"

    def registry(self) -> MeterRegistry:
        return MeterRegistry(self.client(), self.registry_name)

    def registry_in_use(self) -> bool:
        """Whether the table has a complete meter registry (remembered once found)."""
        if not self._registry_ready:
            self._registry_ready = self.registry().summary() is not None
        return self._registry_ready

    def _series_name(self, frame: pd.DataFrame) -> str | None:
        return None if "meter_id" in frame.columns else self.table_name

    def register(self, frame: pd.DataFrame, complete: bool = False) -> int:
        """Record the meters and days of rows written to the table in the registry; returns the
        meters new to it. ``complete``: the rows are the whole table (a new table, a rebuild),
        so the registry is created when absent; otherwise only an existing one is kept."""
        if "date" not in frame.columns or (frame.empty and not complete):
            return 0
        if not complete and not self.registry_in_use():
            return 0
        registry = self.registry()
        if complete:
            registry.create()
        added = registry.record(day_ranges(frame, self._series_name(frame)), complete=complete)
        self._registry_ready = True
        return added

    def build_registry(self) -> int:
        """Build the registry of a table written before it existed, from one Scan of the keys
        (and unit); returns the meters registered."""
        client = self.client()
        keys = self.key_schema()
        names = {"#d": "date"}
        projection = "#d"
        if keys["hash"] != "date":
            names["#m"] = "meter_id"
            projection += ", #m"
        names["#u"] = "unit"
        projection += ", #u"

        def segment(n: int) -> list[dict]:
            rows: list[dict] = []
            for page in client.get_paginator("scan").paginate(
                TableName=self.table_name,
                ProjectionExpression=projection,
                ExpressionAttributeNames=names,
                Segment=n,
                TotalSegments=self.scan_segments,
            ):
                rows.extend({k: _plain(v) for k, v in item.items()} for item in page["Items"])
            return rows

        with ThreadPoolExecutor(self.scan_segments) as pool:
            rows = [r for part in pool.map(segment, range(self.scan_segments)) for r in part]
        frame = pd.DataFrame(rows, columns=None if rows else ["date"])
        registry = self.registry()
        registry.create()
        ranges = day_ranges(frame, self._series_name(frame))
        added = registry.record(ranges, complete=True)
        self._registry_ready = True
        return added

    def latest_day(self) -> str | None:
        """The latest day (``YYYY-MM-DD``) any meter has in the table: one GetItem of the
        registry's summary; for a table without a registry, a Scan of the date attribute."""
        if self.registry_in_use():
            return (self.registry().summary() or {}).get("last_day")
        days: set[str] = set()
        paginator = self.client().get_paginator("scan")
        for page in paginator.paginate(
            TableName=self.table_name,
            ProjectionExpression="#d",
            ExpressionAttributeNames={"#d": "date"},
        ):
            days.update(item["date"]["S"][:10] for item in page["Items"] if "date" in item)
        readable = pd.to_datetime(pd.Series(sorted(days)), format="%Y-%m-%d", errors="coerce")
        readable = readable.dropna()
        return readable.max().strftime("%Y-%m-%d") if not readable.empty else None

    # -- bulk loading: parallel BatchWriteItem, or ImportTable from S3 for a new table --

    def _keys_of(self, frame: pd.DataFrame, single_series: bool | None = None) -> list[str]:
        single = ("meter_id" not in frame.columns) if single_series is None else single_series
        return ["date"] if single else ["meter_id", "date"]

    def write_usage(self, frame: pd.DataFrame, threads: int | None = None) -> int:
        """Write rows as put_usage does (same items, the last row of a key winning), with
        ``threads`` parallel BatchWriteItem calls of 25 items built column by column; unprocessed
        items are sent again (the client's retry mode backs off). Returns items written."""
        keys = self._keys_of(frame)
        frame = table_load.unique_items(frame, keys)
        client = boto3.client(
            "dynamodb",
            region_name=self.region_name,
            config=client_config(
                self.retry_mode,
                self.max_attempts,
                max_pool_connections=max(10, threads or self.write_threads),
            ),
        )

        def write(batch: list[dict]) -> int:
            request = {self.table_name: batch}
            while request:
                answer = client.batch_write_item(RequestItems=request)
                request = answer.get("UnprocessedItems") or None
            return len(batch)

        with ThreadPoolExecutor(threads or self.write_threads) as pool:
            written = sum(pool.map(write, table_load.batches(frame, keys)))
        self.register(frame)
        return written

    def import_usage(
        self,
        frame: pd.DataFrame,
        bucket: str,
        single_series: bool = False,
        prefix: str = "imports/usage",
        timeout_seconds: float = 3600.0,
    ) -> int:
        """Create the table from ``frame`` with ImportTable: the rows as gzipped DynamoDB JSON
        under ``s3://bucket/prefix/<run>/``, the table created by the import with the usual
        keys and date index, then the registry. The staged objects are removed afterwards.
        Returns the items imported; raises ``LoadFailed`` when the import fails."""
        keys = ["date"] if single_series else ["meter_id", "date"]
        frame = table_load.unique_items(frame, keys)
        s3 = boto3.client("s3", region_name=self.region_name, config=client_config("standard", 5))
        folder = f"{prefix.strip('/')}/{uuid.uuid4().hex}"

        def upload(number: int, body: bytes) -> str:
            key = f"{folder}/part-{number:05d}.json.gz"
            s3.put_object(Bucket=bucket, Key=key, Body=body)
            return key

        # one object's lines at a time (a 10,000-meter frame's lines would be ~2 GB at once),
        # uploaded while the next object's are built
        with ThreadPoolExecutor(2) as pool:
            uploads = [
                pool.submit(upload, number, gzip.compress(text.encode(), 1))
                for number, text in enumerate(
                    table_load.object_texts(frame, keys, IMPORT_LINES_PER_OBJECT)
                )
            ]
            staged = [upload.result() for upload in uploads]
        client = self.client()
        parameters: dict[str, Any] = {
            "TableName": self.table_name,
            "KeySchema": [{"AttributeName": keys[0], "KeyType": "HASH"}]
            + ([{"AttributeName": "date", "KeyType": "RANGE"}] if len(keys) > 1 else []),
            "AttributeDefinitions": [{"AttributeName": k, "AttributeType": "S"} for k in keys],
            "BillingMode": "PAY_PER_REQUEST",
        }
        if not single_series:
            parameters["GlobalSecondaryIndexes"] = [
                {
                    "IndexName": DATE_INDEX,
                    "KeySchema": [
                        {"AttributeName": "date", "KeyType": "HASH"},
                        {"AttributeName": "meter_id", "KeyType": "RANGE"},
                    ],
                    "Projection": {"ProjectionType": "KEYS_ONLY"},
                }
            ]
        try:
            started = client.import_table(
                S3BucketSource={"S3Bucket": bucket, "S3KeyPrefix": folder + "/"},
                InputFormat="DYNAMODB_JSON",
                InputCompressionType="GZIP",
                TableCreationParameters=parameters,
            )
            described = self._imported(
                started["ImportTableDescription"]["ImportArn"], timeout_seconds
            )
        finally:
            for key in staged:  # a few objects: one per IMPORT_LINES_PER_OBJECT items
                s3.delete_object(Bucket=bucket, Key=key)
        client.get_waiter("table_exists").wait(
            TableName=self.table_name, WaiterConfig={"Delay": 1, "MaxAttempts": 60}
        )
        self.register(frame, complete=True)
        return int(described.get("ImportedItemCount", len(frame)))

    def _imported(self, import_arn: str, timeout_seconds: float) -> dict:
        client = self.client()
        described = _poll(
            lambda: client.describe_import(ImportArn=import_arn)["ImportTableDescription"],
            "ImportStatus",
            ("COMPLETED", "FAILED", "CANCELLED"),
            timeout_seconds,
        )
        status = described["ImportStatus"]
        if status == "COMPLETED":
            return described
        if status in ("FAILED", "CANCELLED"):
            raise LoadFailed(
                f"ImportTable into {self.table_name} {status}: "
                f"{described.get('FailureCode', '')} {described.get('FailureMessage', '')} "
                f"({described.get('ErrorCount', 0)} item(s) refused)".replace("  ", " ")
            )
        raise LoadFailed(f"ImportTable into {self.table_name} still {status}")

    def load_usage(
        self,
        frame: pd.DataFrame,
        single_series: bool | None = None,
        staging_bucket: str | None = None,
    ) -> LoadResult:
        """Seed: put ``frame`` in the table the fastest way measured. A table that does not
        exist yet and a frame of at least ``bulk_load_min_items`` rows, with a staging bucket:
        ImportTable from S3; otherwise the table is created when absent and written with
        parallel BatchWriteItem. Either way the meter registry is kept (and built, for an
        existing table written before it existed)."""
        started = time.perf_counter()
        single = ("meter_id" not in frame.columns) if single_series is None else single_series
        created = not self.exists()
        keys = ["date"] if single else ["meter_id", "date"]
        rows = len(table_load.unique_items(frame, keys))
        bulk = 0 < self.bulk_load_min_items <= rows
        if created and bulk and staging_bucket:
            items = self.import_usage(frame, staging_bucket, single_series=single)
            method = "import"
        else:
            if created:
                self.create(single_series=single)
            elif not self.registry_in_use():
                self.build_registry()
            items = self.write_usage(frame)
            if created:
                self.register(frame, complete=True)
            method = "batch"
        return LoadResult(items, method, created, time.perf_counter() - started)
