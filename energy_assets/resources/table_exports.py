"""Reading DynamoDB's exports to S3 (full and incremental) into frames, file by file in parallel
and column by column in Arrow: no Python loop over items.

An export is found through its ``manifest-summary.json`` (DescribeExport's ``ExportManifest``),
which names ``manifest-files.json``, which names each gzipped data file (JSON lines of DynamoDB
JSON). Each data file is parsed twice by pyarrow's JSON reader: once to learn the attribute
names, once with an explicit schema that reads every value as the text DynamoDB wrote (Arrow
would otherwise infer ``2024-01-01`` as a timestamp and lose the text a faulty row had). Values
come out as ``UsageTableResource.scan`` gives them: S and N as written, B as its base64 text,
BOOL as ``True``/``False``, NULL and absent as ``""``, sets, lists and maps as their DynamoDB JSON.

A full export's records are ``{"Item": ...}``; an incremental export's are ``Metadata``
(``WriteTimestampMicros``), ``Keys``, ``NewImage`` (absent for a deleted item), ``OldImage``
(with ``NEW_AND_OLD_IMAGES``). Read together, several incremental exports keep each item's
latest record.
"""

from __future__ import annotations

import gzip
import io
import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

KEY_COLUMNS = ("meter_id", "date")
_TEXT_TYPES = ("S", "N", "B")
_VALUE = pa.struct(
    [
        ("S", pa.string()),
        ("N", pa.string()),
        ("B", pa.string()),
        ("BOOL", pa.bool_()),
        ("NULL", pa.bool_()),
    ]
)
_RECORDS = ("Item", "Keys", "NewImage", "OldImage")


class ExportFailed(RuntimeError):
    """The export ended FAILED, or its output is not an export's."""


@dataclass(frozen=True)
class TableExport:
    """One completed export, as DescribeExport said it."""

    arn: str
    export_type: str  # FULL_EXPORT | INCREMENTAL_EXPORT
    bucket: str
    manifest_key: str  # the manifest-summary.json
    export_time: datetime  # the table's state at (full), or the window's end (incremental)
    from_time: datetime | None = None  # the window's start (incremental)
    item_count: int = 0

    @property
    def incremental(self) -> bool:
        return self.export_type == "INCREMENTAL_EXPORT"

    @classmethod
    def from_description(cls, described: dict) -> TableExport:
        spec = described.get("IncrementalExportSpecification") or {}
        incremental = described.get("ExportType") == "INCREMENTAL_EXPORT"
        return cls(
            arn=described["ExportArn"],
            export_type=described.get("ExportType") or "FULL_EXPORT",
            bucket=described["S3Bucket"],
            manifest_key=described["ExportManifest"],
            export_time=spec.get("ExportToTime") if incremental else described["ExportTime"],
            from_time=spec.get("ExportFromTime") if incremental else None,
            item_count=int(described.get("ItemCount") or 0),
        )


@dataclass
class ExportRead:
    """What exports hold: ``items`` (every item of a full export; the items written in an
    incremental one, as they are after it), ``deleted`` (keys of items deleted in an incremental
    window), each as text columns; counts of what was read."""

    items: pd.DataFrame
    deleted: pd.DataFrame
    exports: list[TableExport]
    files: int = 0
    records: int = 0
    bytes_read: int = 0
    notes: list[str] = field(default_factory=list)


def _names(data: bytes, records: tuple[str, ...]) -> dict[str, list[str]]:
    """Attribute names of each of ``records`` (e.g. ``Item``) in one data file, in order of
    first appearance (the file is one block, so Arrow sees every line before it decides)."""
    table = pj.read_json(io.BytesIO(data), read_options=pj.ReadOptions(block_size=len(data) + 1))
    found = {}
    for record in records:
        if record in table.column_names:
            kind = table.schema.field(record).type
            found[record] = [kind.field(i).name for i in range(kind.num_fields)]
        else:
            found[record] = []
    return found


def _text(column: pa.Array) -> pa.Array:
    """The text of one DynamoDB-JSON attribute column (see the module doc)."""
    kind = column.type
    names = [kind.field(i).name for i in range(kind.num_fields)]
    parts = [column.field(n) for n in _TEXT_TYPES if n in names]
    if "BOOL" in names:
        flag = column.field("BOOL")
        parts.append(pc.if_else(flag, "True", "False"))
    if "NULL" in names:
        parts.append(pc.if_else(pc.is_null(column.field("NULL")), None, ""))
    exotic = [n for n in names if n not in (*_TEXT_TYPES, "BOOL", "NULL")]
    if exotic:  # sets, lists, maps: their DynamoDB JSON, item by item (rare in usage tables)
        values = column.to_pylist()
        parts.append(
            pa.array(
                [
                    json.dumps({n: v[n]}, separators=(",", ":"))
                    if v and (n := next((x for x in exotic if v.get(x) is not None), None))
                    else None
                    for v in values
                ],
                pa.string(),
            )
        )
    if not parts:
        return pa.nulls(len(column), pa.string())
    text = pc.coalesce(*parts) if len(parts) > 1 else parts[0]
    return text.cast(pa.string())


def _parse(data: bytes, records: tuple[str, ...]) -> tuple[pa.Table, int]:
    """One data file's records with each attribute as text: columns ``<record>.<attribute>``
    and ``written`` (WriteTimestampMicros, incremental exports)."""
    names = _names(data, records)
    fields = [
        (record, pa.struct([(n, _VALUE) for n in attributes]))
        for record, attributes in names.items()
        if attributes
    ]
    if not fields:
        raise ExportFailed(f"no {' or '.join(records)} records in a data file")
    metadata = pa.struct([("WriteTimestampMicros", pa.struct([("N", pa.string())]))])
    schema = pa.schema([*fields, ("Metadata", metadata)])
    table = pj.read_json(
        io.BytesIO(data),
        read_options=pj.ReadOptions(block_size=len(data) + 1),
        parse_options=pj.ParseOptions(explicit_schema=schema, unexpected_field_behavior="infer"),
    )
    columns: dict[str, pa.Array] = {}
    for record, attributes in names.items():
        if not attributes:
            continue
        values = table.column(record).combine_chunks()
        present = pc.is_valid(values)
        columns[f"{record}?"] = present
        for name in attributes:
            columns[f"{record}.{name}"] = _text(values.field(name))
    if "Metadata" in table.column_names:
        stamp = table.column("Metadata").combine_chunks().field("WriteTimestampMicros").field("N")
        columns["written"] = pc.cast(stamp, pa.int64())
    return pa.table(columns), table.num_rows


def read_manifest(s3, bucket: str, summary_key: str) -> tuple[dict, list[dict]]:
    """``manifest-summary.json`` and the entries of its ``manifest-files.json``."""
    summary = json.loads(s3.get_object(Bucket=bucket, Key=summary_key)["Body"].read())
    key = summary["manifestFilesS3Key"]
    prefix = summary.get("s3Prefix") or ""
    if prefix and not key.startswith(prefix.rstrip("/") + "/"):
        key = f"{prefix.rstrip('/')}/{key}"
    lines = s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode().splitlines()
    files = [json.loads(line) for line in lines if line.strip()]
    for entry in files:
        data_key = entry["dataFileS3Key"]
        if prefix and not data_key.startswith(prefix.rstrip("/") + "/"):
            entry["dataFileS3Key"] = f"{prefix.rstrip('/')}/{data_key}"
    return summary, files


def _frame(table: pa.Table, record: str, key_columns: list[str]) -> pd.DataFrame:
    """``record``'s attributes as a text frame: key columns first, absent values ``""``."""
    prefix = f"{record}."
    names = [c[len(prefix) :] for c in table.column_names if c.startswith(prefix)]
    ordered = [k for k in key_columns if k in names] + [n for n in names if n not in key_columns]
    # pandas' Arrow-backed text (``str``), not Python objects: ~15 bytes a value, ~65 as
    # Python strings; one chunk a column (large_string: pandas' own storage, past 2 GB of text
    # too): taking rows from a column of a chunk per data file cost ~0.07 s per month object
    # at 10 M items
    data = {
        name: table.column(prefix + name)
        .fill_null("")
        .cast(pa.large_string())
        .combine_chunks()
        .to_pandas(types_mapper=_as_str)
        for name in ordered
    }
    return pd.DataFrame(data, columns=ordered)


def _as_str(arrow_type: pa.DataType):
    text = pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type)
    return pd.StringDtype("pyarrow", na_value=float("nan")) if text else None


def read_exports(
    s3,
    exports: list[TableExport],
    key_columns: list[str],
    series_name: str | None = None,
    threads: int = 8,
) -> ExportRead:
    """Read exports (a full one, or incremental ones in time order) into an ``ExportRead``.

    ``key_columns``: the table's key attributes (``meter_id``, ``date``; ``date`` alone for a
    one-series table, whose frames then get ``meter_id`` = ``series_name`` as ``scan`` does).
    """
    if not exports:
        raise ValueError("no exports to read")
    kinds = {e.incremental for e in exports}
    if len(kinds) > 1:
        raise ValueError("read a full export and incremental exports separately")
    incremental = kinds.pop()
    if not incremental and len(exports) > 1:
        raise ValueError("a full export holds the whole table: read one")
    jobs = []
    for export in exports:
        _, files = read_manifest(s3, export.bucket, export.manifest_key)
        jobs += [(order, export.bucket, f["dataFileS3Key"]) for order, f in enumerate(files)]

    records = ("Keys", "NewImage") if incremental else ("Item",)

    def load(job) -> tuple[pa.Table | None, int, int]:
        _, bucket, key = job
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        data = gzip.decompress(body) if body else b""
        if not data.strip():
            return None, 0, len(body)
        table, rows = _parse(data, records)
        return table, rows, len(body)

    with ThreadPoolExecutor(max(1, threads)) as pool:
        loaded = list(pool.map(load, jobs))
    tables = [t for t, _, _ in loaded if t is not None and t.num_rows]
    read = ExportRead(
        items=pd.DataFrame(columns=list(key_columns), dtype=object),
        deleted=pd.DataFrame(columns=list(key_columns), dtype=object),
        exports=list(exports),
        files=len(jobs),
        records=sum(rows for _, rows, _ in loaded),
        bytes_read=sum(size for _, _, size in loaded),
    )
    if tables:
        table = pa.concat_tables(tables, promote_options="default")
        if incremental:
            read.items, read.deleted = _latest(table, key_columns)
        else:
            read.items = _frame(table, "Item", key_columns)
    if series_name is not None:
        for frame in (read.items, read.deleted):
            if "meter_id" not in frame.columns:
                frame.insert(0, "meter_id", series_name)
    return read


def _latest(table: pa.Table, key_columns: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Incremental records -> (items as written last, keys deleted last)."""
    keys = _frame(table, "Keys", key_columns)
    order = pd.Series(table.column("written").to_numpy(zero_copy_only=False))
    latest = (
        ~keys.assign(_order=order)
        .sort_values("_order", kind="stable")
        .duplicated(list(keys.columns), keep="last")
        .sort_index()
    )
    if "NewImage?" in table.column_names:
        alive = table.column("NewImage?").fill_null(False).to_numpy(zero_copy_only=False)
    else:
        alive = pd.Series(False, index=keys.index).to_numpy()
    keep_items = pa.array((latest & alive).to_numpy())
    keep_deleted = (latest & ~alive).to_numpy()
    items = _frame(table.filter(keep_items), "NewImage", key_columns).reset_index(drop=True)
    deleted = keys[keep_deleted].reset_index(drop=True)
    return items, deleted
