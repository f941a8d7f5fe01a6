"""The Dagster side of meter files: import one file dropped into S3, and find what to do next.

A file dropped under ``raw/nem12/`` or ``raw/greenbutton/`` becomes one run of
``meter_file_job`` (``import_meter_file``), which writes its whole days to the usage table and
records a ``usage_table`` materialization naming the days it wrote; the sensor then asks
``ingestion_job`` to export those days, since they may lie before the days the new-usage sensor
waits for.
"""

import os
import tempfile
from datetime import datetime
from pathlib import Path, PurePosixPath

import dagster as dg

from energy_assets.meterfiles import MeterFileError, read_meter_file
from energy_assets.meterfiles.load import RAW_PREFIXES, import_meter_files
from energy_assets.resources import S3Storage, UsageTableResource

USAGE_TABLE = dg.AssetKey("usage_table")
SOURCE_LABEL = "meter file"


class MeterFileConfig(dg.Config):
    key: str
    timezone: str = ""
    meter_id: str = ""


def kind_of(key: str) -> str | None:
    """``nem12`` or ``greenbutton`` from the prefix a file was dropped under."""
    for kind, prefix in RAW_PREFIXES.items():
        if key.startswith(prefix) and not key.endswith("/"):
            return kind
    return None


@dg.op(
    description="Read one NEM12 or Green Button file from S3 and write its whole days to the "
    "usage table; quarantined days go to S3 with their reasons.",
)
def import_meter_file(
    context: dg.OpExecutionContext,
    config: MeterFileConfig,
    usage_table: UsageTableResource,
    storage: S3Storage,
) -> None:
    kind = kind_of(config.key)
    uri = storage.uri(config.key)
    if kind is None:
        raise dg.Failure(f"{uri} is not under {' or '.join(RAW_PREFIXES.values())}")
    with tempfile.TemporaryDirectory(prefix="energy-assets-meterfile-") as folder:
        path = Path(folder) / PurePosixPath(config.key).name
        path.write_bytes(storage.get_bytes(config.key))
        try:
            result = read_meter_file(
                path,
                kind,
                name=uri,
                timezone=config.timezone or None,
                meter_id=config.meter_id or None,
                fallback_timezone=os.environ.get("ENERGY_ASSETS_TIMEZONE") or None,
            )
            summary = import_meter_files(usage_table, [result], storage, label=context.run_id)
        except MeterFileError as error:
            raise dg.Failure(f"nothing written: {error}") from None
    for line in summary.lines():
        context.log.info(line)
    metadata = {
        "source": SOURCE_LABEL,
        "file": dg.MetadataValue.url(uri),
        "kind": result.source,
        "rows": summary.rows,
        "meters": summary.meters,
        "quarantined": summary.quarantined,
        **{f"quarantined_{k}": v for k, v in summary.quarantined_by_reason.items()},
    }
    if summary.first_date:
        metadata.update(first_date=summary.first_date, last_date=summary.last_date)
    if summary.quarantine_uri:
        metadata["quarantine"] = dg.MetadataValue.url(summary.quarantine_uri)
    context.log_event(dg.AssetMaterialization(USAGE_TABLE, metadata=metadata))


def dropped_files(
    storage: S3Storage, since: str | None, seen: list[str] | None = None
) -> tuple[list[tuple[str, str]], str, list[str]]:
    """``(key, etag)`` of files under the drop prefixes modified at or after ``since`` (ISO
    time) and not in ``seen``, oldest first; the newest modification time; and the
    ``key:etag`` of the files modified at that time (S3 times have a resolution of a second,
    so the next call looks at that second again and must skip what it already saw)."""
    after = datetime.fromisoformat(since) if since else None
    skip = set(seen or [])
    found = []
    for prefix in RAW_PREFIXES.values():
        for obj in storage.object_entries(prefix):
            if obj["Key"].endswith("/") or (after and obj["LastModified"] < after):
                continue
            found.append((obj["LastModified"], obj["Key"], obj["ETag"].strip('"')))
    if not found:
        return [], since or "", list(skip)
    found.sort()
    newest = found[-1][0]
    at_newest = [f"{key}:{etag}" for modified, key, etag in found if modified == newest]
    if after is not None and newest == after:
        at_newest = sorted(skip | set(at_newest))
    new = [(key, etag) for _, key, etag in found if f"{key}:{etag}" not in skip]
    return new, newest.isoformat(), at_newest


def imported_days(
    instance: dg.DagsterInstance, after_storage_id: int | None, limit: int = 100
) -> tuple[list[tuple[int, str, str]], int | None]:
    """``(storage id, first day, last day)`` of meter-file imports recorded after the id, and
    the last id seen."""
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=USAGE_TABLE, after_storage_id=after_storage_id),
        limit=limit,
        ascending=True,
    ).records
    found = []
    for record in records:
        metadata = record.asset_materialization.metadata
        source = metadata.get("source")
        if source is not None and source.value == SOURCE_LABEL and "first_date" in metadata:
            found.append(
                (record.storage_id, metadata["first_date"].value, metadata["last_date"].value)
            )
    last = records[-1].storage_id if records else after_storage_id
    return found, last
