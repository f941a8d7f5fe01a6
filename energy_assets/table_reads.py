"""How ``raw_usage_export`` reads the usage table: a full DynamoDB export for the backfill, the
incremental exports since the previous export for the daily refresh (so a day's cost follows
the items written that day, not the table's size), or a direct parallel Scan for small tables
when that is measured to be cheaper (``UsageTableResource.scan_max_items``, set by
``ENERGY_ASSETS_SCAN_MAX_ITEMS``).

The exports chain through a small state object (``exports/usage/state.json``: the table, the
time the previous export read up to, and the raw layout and shard count its objects were
written in). Items of a day not yet over wait in
``exports/usage/pending.csv`` until it is: an incremental export reads each write once, so what
it cannot place yet must be kept for the next refresh. A full export is taken again when there
is no state, the state names another table, another raw layout or shard count (the month
objects are laid out again from the whole table: ``ENERGY_ASSETS_SHARDS`` changed, or a bucket
from before the month layout), or its time is before the table's earliest
restorable time (point-in-time recovery was turned off and on, the table was recreated, or the
gap is longer than DynamoDB keeps: 35 days).
"""

from __future__ import annotations

import io
import os
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pandas as pd

from energy_assets import layout
from energy_assets.resources import S3Storage, UsageTableResource

EXPORT_PREFIX = "exports/usage"
STATE_KEY = f"{EXPORT_PREFIX}/state.json"
PENDING_KEY = f"{EXPORT_PREFIX}/pending.csv"
# AWS takes incremental windows of at least 15 minutes; the local AWS (or any endpoint set by
# AWS_ENDPOINT_URL) any window. A shorter window starts earlier: a few minutes read again, the
# same items written again to the same objects.
AWS_MIN_INCREMENTAL_WINDOW = timedelta(minutes=15)


SCAN = "scan"
FULL = "full export"
INCREMENTAL = "incremental export"


@dataclass
class TableRead:
    """What one refresh read: ``items`` (every item, or those written since the previous export
    plus the ones waiting for their day), ``deleted`` (keys deleted since), how it was read, and
    the state to save once the objects are written."""

    source: str
    items: pd.DataFrame
    deleted: pd.DataFrame
    seconds: float
    table_items: int | None = None  # DescribeTable's ItemCount when it chose the path
    carried: int = 0  # items carried from the previous refresh's pending object
    exports: int = 0
    files: int = 0
    bytes_read: int = 0
    state: dict | None = field(default=None)

    @property
    def incremental(self) -> bool:
        return self.source == INCREMENTAL


def item_count(table: UsageTableResource) -> int:
    """DescribeTable's ItemCount (AWS refreshes it about every six hours: close enough to choose
    a path by)."""
    described = table.client().describe_table(TableName=table.table_name)["Table"]
    return int(described.get("ItemCount") or 0)


def _min_window() -> timedelta:
    return timedelta(0) if os.environ.get("AWS_ENDPOINT_URL") else AWS_MIN_INCREMENTAL_WINDOW


def _valid_state(table: UsageTableResource, state: dict | None, shards: int = 1) -> datetime | None:
    """The time the previous export read up to, when the next one may start there: the same
    table, and raw objects in the layout and shard count the next merge writes."""
    if not state or state.get("table") != table.table_name:
        return None
    if state.get("layout") != layout.RAW_LAYOUT or state.get("shards") != shards:
        return None
    since = datetime.fromisoformat(state["export_time"])
    client = table.client()
    backups = client.describe_continuous_backups(TableName=table.table_name)
    recovery = backups["ContinuousBackupsDescription"].get("PointInTimeRecoveryDescription", {})
    if recovery.get("PointInTimeRecoveryStatus") != "ENABLED":
        return None
    earliest = recovery.get("EarliestRestorableDateTime")
    if earliest is not None and earliest > since:
        return None
    return since


def read_table(
    table: UsageTableResource,
    storage: S3Storage,
    now: datetime | None = None,
) -> TableRead:
    """Read what this refresh needs: the whole table (Scan, for tables of at most
    ``table.scan_max_items`` items, or full export) or what was written since the previous
    export (incremental exports)."""
    limit = table.scan_max_items
    started = time.perf_counter()
    count = item_count(table)
    if count <= limit:
        items = table.scan()
        return TableRead(SCAN, items, _empty(items), time.perf_counter() - started, count)
    state = storage.get_json_or_none(STATE_KEY)
    since = _valid_state(table, state, storage.shards)
    until = now or datetime.now(UTC)
    if since is None:
        exports = table.export(storage.bucket, EXPORT_PREFIX, until=None)
        read = table.read_export(exports)
        source, carried, items = FULL, 0, read.items
    else:
        start = min(since, until - _min_window())
        exports = table.export(storage.bucket, EXPORT_PREFIX, since=start, until=until)
        read = table.read_export(exports)
        waiting = _pending(storage)
        carried = len(waiting)
        items = upsert(waiting, read.items, read.deleted) if carried else read.items
        source = INCREMENTAL
    last = exports[-1].export_time
    return TableRead(
        source=source,
        items=items,
        deleted=read.deleted,
        seconds=time.perf_counter() - started,
        table_items=count,
        carried=carried,
        exports=len(exports),
        files=read.files,
        bytes_read=read.bytes_read,
        state={
            "table": table.table_name,
            "export_time": last.isoformat(),
            "source": source,
            "exports": [e.arn for e in exports],
            "manifest": exports[-1].manifest_key,
            "layout": layout.RAW_LAYOUT,
            "shards": storage.shards,
        },
    )


def _empty(like: pd.DataFrame) -> pd.DataFrame:
    keys = [c for c in ("meter_id", "date") if c in like.columns] or ["meter_id", "date"]
    return pd.DataFrame(columns=keys, dtype=object)


def _key(frame: pd.DataFrame) -> pd.Series:
    meters = frame["meter_id"] if "meter_id" in frame.columns else pd.Series("", frame.index)
    return meters.astype(str) + "\x00" + frame["date"].astype(str)


def upsert(old: pd.DataFrame, new: pd.DataFrame, deleted: pd.DataFrame) -> pd.DataFrame:
    """``old`` with the items of ``new`` in place of theirs (same key) and ``deleted`` keys
    removed; new items last."""
    gone = set(_key(new)) | set(_key(deleted)) if len(deleted) else set(_key(new))
    kept = old[~_key(old).isin(gone)] if len(old) else old
    frames = [f for f in (kept, new) if len(f)]
    if not frames:
        return new if len(new.columns) else old
    merged = pd.concat(frames, ignore_index=True).astype(object)
    return merged.where(merged.notna(), "")


def _read_text(storage: S3Storage, key: str) -> pd.DataFrame | None:
    if storage.head(key) is None:
        return None
    data = storage.get_bytes(key)
    if not data.strip():
        return pd.DataFrame(columns=["meter_id", "date", "usage"], dtype=object)
    return pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False)


def _pending(storage: S3Storage) -> pd.DataFrame:
    found = _read_text(storage, PENDING_KEY)
    return found if found is not None else pd.DataFrame(columns=["meter_id", "date"], dtype=object)


def save_state(storage: S3Storage, read: TableRead, pending: pd.DataFrame) -> None:
    """After the objects: the items still waiting for their day, then the state that says
    where the next refresh starts (a failure before this reads the same window again)."""
    if read.state is None:
        return
    storage.put_csv(PENDING_KEY, pending)
    storage.put_json(STATE_KEY, read.state)


def window(read: TableRead) -> str:
    """One line for the log: what was read and how long it took."""
    if read.source == SCAN:
        return f"scanned {len(read.items)} items in {read.seconds:.1f} s"
    what = (
        f"{len(read.items)} items ({read.carried} carried from the previous refresh) and "
        f"{len(read.deleted)} deletions written since the previous export"
        if read.incremental
        else f"{len(read.items)} items"
    )
    return (
        f"read {what} from {read.exports} {read.source}(s) ({read.files} files, "
        f"{read.bytes_read / 1e6:.1f} MB) in {read.seconds:.1f} s"
    )
