"""The meter registry: one small item per meter (first day, last day, unit) and one for the whole
table, in a DynamoDB table of its own beside the usage table (``<usage table>-meters``), so the
app and the sensors list meters and find the latest day without reading the usage table.

Why a table of its own rather than items under a reserved key of the usage table: a reserved
partition key would hold every meter's item, and ingestion updates every meter daily, so a
million meters would be a million writes a day to one partition (DynamoDB allows about 1,000
writes a second per partition); and every Scan, export and cleaning of the usage table would
have to skip them. Keyed by ``meter_id``, the registry's writes spread like the usage table's.
``meters()`` reads the registry alone (a Scan of one item per meter, whatever the history's
length); ``latest_day()`` is one GetItem of the summary item (``meter_id`` = ``#table``, an id
no meter may take).

Kept by whoever writes the usage table through ``UsageTableResource`` (``put_usage``,
``write_usage``, ``import_usage``). A registry exists only when it is complete: it is created
with a new usage table, or built from a whole-table read (``UsageTableResource.build_registry``)
for a table seeded before it existed; until then readers fall back to the Scan they did before.
Concurrent writers: the summary item is updated with optimistic locking (a version attribute and
a condition), so it is exact; a meter's own item is read, merged and written back, so two
writers of the same meter at the same moment can leave the earlier's days (the next write of
that meter mends it).
"""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pandas as pd

from energy_assets.resources.table_load import RESERVED_METER

SUMMARY = RESERVED_METER
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}")


@dataclass(frozen=True)
class MeterEntry:
    meter_id: str
    first_day: str | None
    last_day: str | None
    unit: str | None = None


def day_ranges(frame: pd.DataFrame, series_name: str | None = None) -> pd.DataFrame:
    """Per meter: ``first_day``, ``last_day`` (readable ``YYYY-MM-DD`` days only; None when a
    meter has none) and ``unit`` (the last one given, when the frame has a unit column)."""
    meters = (
        frame["meter_id"].astype(str)
        if "meter_id" in frame.columns
        else pd.Series(series_name, index=frame.index)
    )
    text = frame["date"].astype(str).str.slice(0, 10)
    days = pd.to_datetime(text, format="%Y-%m-%d", errors="coerce")
    readable = text.where(days.notna())
    grouped = pd.DataFrame({"meter_id": meters, "day": readable}).groupby("meter_id", sort=True)
    ranges = pd.DataFrame({"first_day": grouped["day"].min(), "last_day": grouped["day"].max()})
    if "unit" in frame.columns:
        units = frame["unit"].astype(str).str.strip().replace("", None)
        unit = pd.DataFrame({"meter_id": meters, "unit": units}).groupby("meter_id")["unit"].last()
        ranges["unit"] = unit
    else:
        ranges["unit"] = None
    ranges = ranges.astype(object).where(ranges.notna(), None)
    return ranges.reset_index()


def _earlier(a: str | None, b: str | None) -> str | None:
    return min((x for x in (a, b) if x), default=None)


def _later(a: str | None, b: str | None) -> str | None:
    return max((x for x in (a, b) if x), default=None)


class MeterRegistry:
    """The registry table over one DynamoDB client (the usage table resource's)."""

    def __init__(self, client, table_name: str, threads: int = 8):
        self.client = client
        self.table_name = table_name
        self.threads = threads

    def exists(self) -> bool:
        try:
            self.client.describe_table(TableName=self.table_name)
        except self.client.exceptions.ResourceNotFoundException:
            return False
        return True

    def create(self) -> None:
        if self.exists():
            return
        self.client.create_table(
            TableName=self.table_name,
            KeySchema=[{"AttributeName": "meter_id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "meter_id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        self.client.get_waiter("table_exists").wait(
            TableName=self.table_name, WaiterConfig={"Delay": 1, "MaxAttempts": 60}
        )

    def summary(self) -> dict | None:
        """The whole table's item (first_day, last_day, meters, version); None when the
        registry does not exist or is not complete."""
        try:
            found = self.client.get_item(
                TableName=self.table_name, Key={"meter_id": {"S": SUMMARY}}, ConsistentRead=True
            ).get("Item")
        except self.client.exceptions.ResourceNotFoundException:
            return None
        if found is None:
            return None
        return {k: next(iter(v.values())) for k, v in found.items()}

    def meters(self) -> list[MeterEntry]:
        """Every meter's entry (a Scan of the registry: one item per meter)."""

        def segment(n: int) -> list[MeterEntry]:
            found = []
            for page in self.client.get_paginator("scan").paginate(
                TableName=self.table_name, Segment=n, TotalSegments=self.threads
            ):
                for item in page["Items"]:
                    meter = item["meter_id"]["S"]
                    if meter != SUMMARY:
                        found.append(
                            MeterEntry(
                                meter,
                                item.get("first_day", {}).get("S"),
                                item.get("last_day", {}).get("S"),
                                item.get("unit", {}).get("S"),
                            )
                        )
            return found

        with ThreadPoolExecutor(self.threads) as pool:
            parts = pool.map(segment, range(self.threads))
        return sorted((e for part in parts for e in part), key=lambda e: e.meter_id)

    def _existing(self, meters: list[str]) -> dict[str, dict]:
        def read(chunk: list[str]) -> list[dict]:
            request = {self.table_name: {"Keys": [{"meter_id": {"S": m}} for m in chunk]}}
            items: list[dict] = []
            while request:
                answer = self.client.batch_get_item(RequestItems=request)
                items.extend(answer["Responses"].get(self.table_name, []))
                request = answer.get("UnprocessedKeys") or None
            return items

        chunks = [meters[i : i + 100] for i in range(0, len(meters), 100)]
        with ThreadPoolExecutor(self.threads) as pool:
            found = [item for part in pool.map(read, chunks) for item in part]
        return {
            item["meter_id"]["S"]: {k: next(iter(v.values())) for k, v in item.items()}
            for item in found
        }

    def _write(self, items: list[dict]) -> None:
        def write(chunk: list[dict]) -> None:
            request = {self.table_name: [{"PutRequest": {"Item": item}} for item in chunk]}
            while request:
                answer = self.client.batch_write_item(RequestItems=request)
                request = answer.get("UnprocessedItems") or None

        chunks = [items[i : i + 25] for i in range(0, len(items), 25)]
        with ThreadPoolExecutor(self.threads) as pool:
            list(pool.map(write, chunks))

    def record(self, ranges: pd.DataFrame, complete: bool = False) -> int:
        """Merge ``day_ranges`` into the registry; returns the meters new to it. With
        ``complete`` the summary item is written even when absent (the ranges cover the
        whole table: a new table, or a rebuild); otherwise only an existing summary moves."""
        if ranges.empty:
            if complete:
                self._move_summary(None, None, 0, create=True)
            return 0
        meters = ranges["meter_id"].tolist()
        existing = self._existing(meters)
        changed = []
        for meter, first, last, unit in ranges[
            ["meter_id", "first_day", "last_day", "unit"]
        ].itertuples(index=False, name=None):
            old = existing.get(meter, {})
            merged = {
                "first_day": _earlier(old.get("first_day"), first),
                "last_day": _later(old.get("last_day"), last),
                "unit": unit or old.get("unit"),
            }
            if meter in existing and all(old.get(k) == v for k, v in merged.items()):
                continue
            item = {"meter_id": {"S": meter}}
            item.update({k: {"S": v} for k, v in merged.items() if v})
            changed.append(item)
        self._write(changed)
        added = len(set(meters) - set(existing))
        self._move_summary(
            _earlier(None, min((d for d in ranges["first_day"] if d), default=None)),
            _later(None, max((d for d in ranges["last_day"] if d), default=None)),
            added,
            complete,
        )
        return added

    def _move_summary(self, first, last, added: int, create: bool) -> None:
        failed = self.client.exceptions.ConditionalCheckFailedException
        for _ in range(20):
            current = self.summary()
            if current is None and not create:
                return
            current = current or {}
            version = int(current.get("version", 0))
            merged = {
                "first_day": _earlier(current.get("first_day"), first),
                "last_day": _later(current.get("last_day"), last),
            }
            values = {
                ":meters": {"N": str(int(current.get("meters", 0)) + added)},
                ":next": {"N": str(version + 1)},
                **{f":{k}": {"S": v} for k, v in merged.items() if v},
            }
            sets = ["#meters = :meters", "#version = :next"]
            sets += [f"#{k} = :{k}" for k, v in merged.items() if v]
            names = {"#meters": "meters", "#version": "version"}
            names.update({f"#{k}": k for k, v in merged.items() if v})
            if current:
                condition = "#version = :version"
                values[":version"] = {"N": str(version)}
            else:
                condition = "attribute_not_exists(meter_id)"
            try:
                self.client.update_item(
                    TableName=self.table_name,
                    Key={"meter_id": {"S": SUMMARY}},
                    UpdateExpression="SET " + ", ".join(sets),
                    ConditionExpression=condition,
                    ExpressionAttributeNames=names,
                    ExpressionAttributeValues=values,
                )
                return
            except failed:
                continue  # another writer moved it: read again
        raise RuntimeError(f"meter registry {self.table_name}: the summary kept changing")
