"""The export's writes of the raw layout (``raw_store``): months written whole from a
whole-table read, or merged with what an incremental export read; the undated object. Each
reports the objects it wrote and deleted and the days whose rows changed (from the day digests
in the objects' footers before and after), so the export reports only those days again."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from energy_assets import layout, table_reads
from energy_assets.raw_store import (
    DAY,
    KEYS,
    PARQUET,
    day_index,
    decode,
    encode,
    encode_with_index,
    month_of,
)
from energy_assets.resources.s3 import MissingObject

if TYPE_CHECKING:
    from energy_assets.resources import S3Storage


@dataclass
class Written:
    """What the export wrote: objects put (and their bytes), objects deleted, and the days
    whose rows changed (per the day digests of the objects before and after)."""

    objects: int = 0
    bytes_written: int = 0
    deleted: int = 0
    months: set[str] = field(default_factory=set)
    changed_days: set[str] = field(default_factory=set)

    def add(self, other: Written) -> Written:
        self.objects += other.objects
        self.bytes_written += other.bytes_written
        self.deleted += other.deleted
        self.months |= other.months
        self.changed_days |= other.changed_days
        return self


def _parts(frame: pd.DataFrame, shards: int) -> dict[str, np.ndarray]:
    """The positions in ``frame`` of each month object's rows, by key: the rows with a day in
    ``DAY`` (NA: not written to a month). Month and shard are found for each distinct day and
    meter, and rows take them by code (no text made per row: a full export is millions)."""
    if not len(frame):
        return {}
    day_codes, days = pd.factorize(frame[DAY])
    rows = np.flatnonzero(day_codes >= 0)
    if not len(rows):
        return {}
    month_codes, months = pd.factorize(pd.Index(days).str[:7])
    month = month_codes[day_codes[rows]]
    if "meter_id" in frame.columns and shards > 1:
        meter_codes, meters = pd.factorize(frame["meter_id"].astype(str))
        shard_of = np.array([layout.shard_of(m, shards) for m in meters], dtype=np.int64)
        shard = shard_of[meter_codes[rows]]
    else:  # one shard, or a single-series table (no meter id): shard 0
        shard = np.zeros(len(rows), dtype=np.int64)
    group = month * shards + shard
    order = np.argsort(group, kind="stable")
    starts = np.flatnonzero(np.r_[True, np.diff(group[order]) != 0])
    ends = np.r_[starts[1:], len(order)]
    parts = {}
    for start, end in zip(starts, ends, strict=True):
        number = int(group[order[start]])
        parts[layout.raw_month(months[number // shards], number % shards)] = rows[order[start:end]]
    return dict(sorted(parts.items()))


def _objects(frame: pd.DataFrame, shards: int) -> dict[str, pd.DataFrame]:
    """``frame``'s rows with a day in ``DAY``, split into their month objects' rows, by key."""
    return {key: frame.take(rows) for key, rows in _parts(frame, shards).items()}


def _changed(before: list[dict], after: list[dict]) -> set[str]:
    """Days whose rows differ between two sets of objects' day indexes (each day's rows and
    digest summed over the objects: a month laid out in other shards is the same month)."""

    def totals(indexes: list[dict]) -> dict[str, tuple[int, int]]:
        found: dict[str, tuple[int, int]] = {}
        for index in indexes:
            for day, (rows, digest) in index.items():
                old_rows, old_sum = found.get(day, (0, 0))
                found[day] = (old_rows + rows, (old_sum + int(digest, 16)) % 2**64)
        return found

    old, new = totals(before), totals(after)
    return {d for d in set(old) | set(new) if old.get(d) != new.get(d)}


def _put(storage: S3Storage, encoded: dict[str, bytes], gone: list[str]) -> None:
    with ThreadPoolExecutor(storage.threads) as pool:
        list(pool.map(lambda k: storage.put_bytes(k, encoded[k], PARQUET), encoded))
        list(pool.map(storage.delete, gone))


def replace_months(
    storage: S3Storage, dated: pd.DataFrame, months: set[str], shards: int
) -> Written:
    """Write ``months`` as the table holds them (``dated``: the table's items, each with its day
    in ``DAY`` or NA, from a Scan or a full export): one object per shard with rows, and the month's
    other objects deleted (a shard count changed, a month emptied)."""
    # one object's rows at a time: a full export's items are not copied whole again
    new = {}
    for key, rows in _parts(dated, shards).items():
        if month_of(key[len(layout.RAW_MONTHS) :]) in months:
            part = dated.take(rows)
            new[key] = encode_with_index(part, part[DAY])
    with ThreadPoolExecutor(storage.threads) as pool:
        listed = pool.map(lambda m: storage.list_keys(layout.raw_month_prefix(m)), sorted(months))
        existing = [k for keys in listed for k in keys if k.endswith(".parquet")]
        before = dict(zip(existing, pool.map(storage.get_bytes, existing), strict=True))
    gone = [k for k in existing if k not in new]
    _put(storage, {k: data for k, (data, _) in new.items()}, gone)
    return Written(
        objects=len(new),
        bytes_written=sum(len(data) for data, _ in new.values()),
        deleted=len(gone),
        months=set(months),
        changed_days=_changed(
            [day_index(b) for b in before.values()], [i for _, i in new.values()]
        ),
    )


def _read_or_none(storage: S3Storage, key: str) -> bytes | None:
    try:
        return storage.get_bytes(key)
    except MissingObject:
        return None


def merge_months(
    storage: S3Storage, dated: pd.DataFrame, deleted: pd.DataFrame, shards: int
) -> Written:
    """Merge what an incremental export read into the objects it touches (``dated``: the items
    written since the previous export, ``deleted``: the keys deleted since, each with its day
    in ``DAY``): each (month, shard) with a new item or a deleted key is its object as it was,
    those items upserted and those keys removed (deleted when nothing is left)."""
    new = _objects(dated, shards)
    deleted = _objects(deleted, shards)
    touched = sorted(set(new) | set(deleted))
    with ThreadPoolExecutor(storage.threads) as pool:
        found = pool.map(lambda k: _read_or_none(storage, k), touched)
        before = dict(zip(touched, found, strict=True))
    after: dict[str, tuple[bytes, dict]] = {}
    for key in touched:
        if before[key] is None:
            old = pd.DataFrame(columns=[*KEYS, DAY])
        else:
            frame, days = decode(before[key])
            old = frame.assign(**{DAY: days})
        none = pd.DataFrame(columns=[*KEYS, DAY])
        merged = table_reads.upsert(old, new.get(key, none), deleted.get(key, none))
        if len(merged):
            after[key] = encode_with_index(merged, merged[DAY])
    gone = [k for k in touched if k not in after and before[k] is not None]
    _put(storage, {k: data for k, (data, _) in after.items()}, gone)
    return Written(
        objects=len(after),
        bytes_written=sum(len(data) for data, _ in after.values()),
        deleted=len(gone),
        months={month_of(k[len(layout.RAW_MONTHS) :]) for k in touched},
        changed_days=_changed(
            [day_index(b) for b in before.values() if b is not None],
            [i for _, i in after.values()],
        ),
    )


def write_undated(
    storage: S3Storage, undated: pd.DataFrame, deleted: pd.DataFrame | None = None
) -> Written:
    """The undated object: ``undated`` (a whole-table read), or with ``deleted`` given (an
    incremental one) the object as it was with ``undated`` upserted and ``deleted`` removed."""
    if deleted is not None:
        data = _read_or_none(storage, layout.RAW_UNDATED)
        old = decode(data)[0] if data is not None else pd.DataFrame(columns=list(KEYS))
        undated = table_reads.upsert(old, undated, deleted)
    data = encode(undated)
    storage.put_bytes(layout.RAW_UNDATED, data, PARQUET)
    return Written(objects=1, bytes_written=len(data))
