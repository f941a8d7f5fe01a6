"""Raw usage in S3 laid out for size: one parquet object per month and meter shard.

``raw_usage_export`` writes ``raw/usage/month=YYYY-MM/shard=NN/usage.parquet`` (``layout``): 36
objects per shard for three years where one CSV per day made 1,095, a day's refresh rewrites
only its month's objects, and a shard's reader reads only its shard's. Values stay the text the
table held (missing attributes empty, as in a CSV); rows are grouped by the day the export
routed them to and sorted by key within it, and the parquet's metadata names each day's row
count and digest: a reader takes a window's days without parsing a date, the export knows
which days a rewrite changed, and a Scan, an export and a merge write the same bytes for the
same items.

Day CSVs under ``raw/usage/date=YYYY-MM-DD/usage.csv`` are data collected straight into S3 (or
an older bucket's export): a day's rows come from the month objects when they hold that day,
else from its CSV. ``read_raw`` is the one reader: cleaning, monitoring and the new-usage
sensor all ask it. ``raw_writes`` writes the objects.
"""

from __future__ import annotations

import io
import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from energy_assets import layout

if TYPE_CHECKING:
    from energy_assets.resources import S3Storage

PARQUET = "application/vnd.apache.parquet"
DAYS_META = b"energy_assets.days"  # {day: [rows, digest]} in row order
DAY = "\x00day"  # the routed day of a row while a month object is merged (never written)
KEYS = ("meter_id", "date")


def month_of(day: str) -> str:
    return day[:7]


def _text(frame: pd.DataFrame) -> pd.DataFrame:
    """Key and usage first, other attributes by name; every value text, missing ones empty."""
    first = [c for c in ("meter_id", "date", "usage") if c in frame.columns]
    ordered = first + sorted(c for c in frame.columns if c not in first and c != DAY)
    text = frame[ordered].astype(object)
    return text.where(text.notna(), "").astype(str)


def encode(frame: pd.DataFrame, days: pd.Series | None = None) -> bytes:
    """A raw object's bytes: ``frame``'s rows by ``days`` (each row's day; None for the undated
    object), by key within a day."""
    return encode_with_index(frame, days)[0]


def encode_with_index(frame: pd.DataFrame, days: pd.Series | None) -> tuple[bytes, dict]:
    """``encode``'s bytes and the day index written in their footer."""
    text = _text(frame)
    order = [c for c in KEYS if c in text.columns]
    if days is not None:
        text = text.assign(**{DAY: days.astype(str).to_numpy()})
        order = [DAY, *order]
    if order and len(text):
        text = text.sort_values(order, kind="stable")
    index: dict[str, tuple[int, str]] = {}
    if days is not None:
        labels = text.pop(DAY)
        hashes = _row_hashes(text)
        start = 0
        for day, rows in labels.value_counts(sort=False).sort_index().items():
            total = int(hashes[start : start + rows].sum(dtype=np.uint64))
            index[str(day)] = (int(rows), f"{total:016x}")
            start += rows
    table = pa.table(
        {c: pa.array(text[c].to_numpy(dtype=object), type=pa.string()) for c in text.columns}
    )
    meta = {DAYS_META: json.dumps(index).encode()} if days is not None else None
    buffer = io.BytesIO()
    pq.write_table(table.replace_schema_metadata(meta), buffer, compression="zstd")
    return buffer.getvalue(), index


def _row_hashes(text: pd.DataFrame) -> np.ndarray:
    """A 64-bit hash per row of its non-empty (column, value) pairs, whatever the columns' order
    or the other rows' columns: a day's digest is the sum of its rows' hashes, so it is the
    same however the day's rows are split into shards."""
    total = np.zeros(len(text), dtype=np.uint64)
    for column in text.columns:
        values = text[column]
        cells = pd.util.hash_pandas_object(column + "\x00" + values, index=False).to_numpy()
        total += np.where(values.to_numpy() == "", np.uint64(0), cells)
    # splitmix64's finalizer: the row's cells mixed, so swapping values between rows shows
    total ^= total >> np.uint64(30)
    total *= np.uint64(0xBF58476D1CE4E5B9)
    total ^= total >> np.uint64(27)
    total *= np.uint64(0x94D049BB133111EB)
    total ^= total >> np.uint64(31)
    return total


def day_index(data: bytes) -> dict[str, tuple[int, str]]:
    """The days a month object holds (rows, digest), from its footer alone."""
    return _index(pq.read_schema(io.BytesIO(data)))


def _index(schema: pa.Schema) -> dict[str, tuple[int, str]]:
    meta = schema.metadata or {}
    if DAYS_META not in meta:
        return {}
    return {day: (rows, digest) for day, (rows, digest) in json.loads(meta[DAYS_META]).items()}


def decode(data: bytes) -> tuple[pd.DataFrame, np.ndarray]:
    """A raw object's rows (text) and each row's day (empty text for the undated object)."""
    table = pq.read_table(io.BytesIO(data))
    frame, index = table.to_pandas(), _index(table.schema)
    days = np.repeat(np.array(list(index), dtype="U10"), [r for r, _ in index.values()])
    if len(days) != len(frame):
        days = np.full(len(frame), "", dtype="U10")
    return frame, days


def _dropped_day(key: str) -> str | None:
    if not (key.startswith(layout.RAW_DAYS) and key.endswith(".csv")):
        return None
    return key[len(layout.RAW_DAYS) :][:10]


@dataclass
class RawRead:
    """What ``read_raw`` found: the rows, and where they came from."""

    rows: pd.DataFrame
    month_days: set[str] = field(default_factory=set)  # days the month objects hold
    csv_days: list[str] = field(default_factory=list)  # days whose rows are a dropped CSV's
    objects: int = 0  # objects read
    bytes_read: int = 0


def _in(day: str, first: str | None, last: str | None) -> bool:
    return (first is None or day >= first) and (last is None or day <= last)


def read_raw(
    storage: S3Storage,
    first: str | None = None,
    last: str | None = None,
    rows: bool = True,
    shard: int | None = None,
) -> RawRead:
    """The raw usage of the days in ``[first, last]`` (either open; both None: all of it, and
    the undated object): month objects of the months the window covers, then the day CSVs of
    the window's days the month objects do not hold (the table stays the source for the days it
    holds). Listings, then parallel GETs. With ``rows=False`` only which days come from where
    (no day CSV in the window: listings only).

    ``shard``: only the meters of that shard (``layout.shard_of`` over ``storage.shards``): its
    month objects alone are read (a shard's run never GETs another shard's objects); day CSVs
    and the undated object, which hold every meter, are read and filtered to the shard."""
    if first is None and last is None:
        keys = storage.list_keys(layout.RAW_PREFIX)
        undated = next((k for k in (layout.RAW_UNDATED, layout.RAW_UNDATED_CSV) if k in keys), None)
    else:
        after = first and f"{layout.RAW_DAYS}{first}"
        keys = storage.list_keys_after(layout.RAW_DAYS, after)
        undated = None
    dropped = {d: k for k in keys if (d := _dropped_day(k)) and _in(d, first, last)}
    if not rows and not dropped:
        return RawRead(pd.DataFrame())
    if first is not None or last is not None:
        after = first and f"{layout.RAW_MONTHS}{month_of(first)}"
        keys = storage.list_keys_after(layout.RAW_MONTHS, after)
    months = [
        k
        for k in keys
        if k.startswith(layout.RAW_MONTHS)
        and k.endswith(".parquet")
        and _in(k[len(layout.RAW_MONTHS) :][:7], first and first[:7], last and last[:7])
        and (shard is None or f"/shard={shard:02d}/" in k)
    ]
    with ThreadPoolExecutor(storage.threads) as pool:
        blobs = list(pool.map(storage.get_bytes, months))
    held = {d for b in blobs for d in day_index(b) if _in(d, first, last)}
    csv_days = sorted(set(dropped) - held)
    found = RawRead(pd.DataFrame(), held, csv_days, len(blobs), sum(len(b) for b in blobs))
    if not rows:
        return found
    frames = []
    for blob in blobs:
        frame, days = decode(blob)
        keep = np.ones(len(frame), dtype=bool)
        if first is not None:
            keep &= days >= first
        if last is not None:
            keep &= days <= last
        frames.append(frame if keep.all() else frame[keep])
    extra = [dropped[d] for d in csv_days] + ([undated] if undated else [])
    with ThreadPoolExecutor(storage.threads) as pool:
        texts = list(pool.map(storage.get_bytes, extra))
    for key, data in zip(extra, texts, strict=True):
        found.objects += 1
        found.bytes_read += len(data)
        if key.endswith(".parquet"):
            frames.append(decode(data)[0])
        elif data.strip():
            frames.append(pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False))
    frames = [f for f in frames if len(f)]
    found.rows = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    if shard is not None and len(found.rows) and "meter_id" in found.rows:
        ids = found.rows["meter_id"]
        of = {m: layout.shard_of(m, storage.shards) for m in ids.unique()}
        found.rows = found.rows[ids.map(of).to_numpy() == shard].reset_index(drop=True)
    return found
