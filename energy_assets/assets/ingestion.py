"""From the DynamoDB usage table to one raw CSV object per day in S3: by Scan, full export or
incremental exports (``energy_assets.table_reads``)."""

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import dagster as dg
import pandas as pd

from energy_assets import layout, meter_days, table_reads
from energy_assets.ml.days import day_keys, parse_days
from energy_assets.orchestration.retry_policy import AWS_RETRY_POLICY
from energy_assets.resources import S3Storage, UsageTableResource

usage_table = dg.AssetSpec(
    "usage_table",
    description="DynamoDB table of daily usage (pk meter_id, sk date, usage number), "
    "written by the metering systems or `energy-assets seed`.",
    group_name="ingestion",
    kinds={"dynamodb"},
)

PROGRESS_EVERY = 1000  # objects written between progress lines


@dataclass
class Routed:
    """Where each scanned item goes: a day object, the undated object, or later (today)."""

    by_day: dict[str, pd.DataFrame]
    undated: pd.DataFrame
    undated_why: pd.Series
    pending: int
    normalised: int
    waiting: pd.DataFrame  # the pending items themselves (today's)


def route_items(
    raw: pd.DataFrame, first_day: str, last_day: str, today: str, timezone: str = "UTC"
) -> Routed:
    """Sort items by the day their date names (``energy_assets.ml.days``).

    Days in ``[first_day, last_day]`` (the partitions) go to their day's object; items of
    ``today``, a day not yet over, wait for its partition; everything else (no readable day, a
    time zone, after today, before the history start) goes to the undated object, for cleaning
    to quarantine with its reason. Nothing read is left out. Days are the meters' days in
    ``timezone``.
    """
    days = parse_days(raw["date"].astype("string").str.strip(), timezone)
    key = day_keys(days["day"])
    why = days["problem"].copy()
    why = why.mask(why.isna() & (key > today).fillna(False), "future_date")
    why = why.mask(why.isna() & (key < first_day).fillna(False), "before_history_start")
    pending = why.isna() & (key > last_day).fillna(False)
    dated = why.isna() & ~pending
    by_day = {str(d): g for d, g in raw[dated].groupby(key[dated], sort=True)}
    undated = why.notna()
    return Routed(
        by_day=by_day,
        undated=raw[undated],
        undated_why=why[undated],
        pending=int(pending.sum()),
        normalised=int((days["normalised"] & dated).sum()),
        waiting=raw[pending],
    )


RAW_USAGE_EXPORT = dg.AssetKey("raw_usage_export")


def raw_usage_export_asset(partitions: dg.DailyPartitionsDefinition) -> dg.AssetsDefinition:
    """The asset over the deployment's daily partitions, whose first day and time zone are
    settings: ``build_defs`` makes it."""
    return dg.asset(
        name=RAW_USAGE_EXPORT.path[-1],
        partitions_def=partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        deps=[usage_table],
        group_name="ingestion",
        kinds={"dynamodb", "s3"},
        retry_policy=AWS_RETRY_POLICY,
        code_version="3",
    )(raw_usage_export)


def raw_usage_export(
    context: dg.AssetExecutionContext, usage_table: UsageTableResource, storage: S3Storage
) -> dg.MaterializeResult:
    """Export the usage table into daily objects ``raw/usage/date=YYYY-MM-DD/usage.csv``.

    The table is read the cheapest way measured (``energy_assets.table_reads``): a small table
    by one parallel Scan; a larger one by a full DynamoDB export the first time (the backfill),
    then by incremental exports of what was written since the previous export, merged into the
    objects of the days they touch (new days, late rows, corrections, deletions). Values stay
    as the text they were; items whose date names no day of the partitions are kept in
    ``raw/usage/undated/`` for cleaning to quarantine, so every item read is accounted for:
    ``items_read == rows + rows_other_days + pending_rows + undated_rows``.
    """
    days = context.partition_keys
    created = storage.ensure_bucket()
    read = table_reads.read_table(usage_table, storage)
    context.log.info(table_reads.window(read))
    partitions = context.assets_def.partitions_def
    timezone = partitions.timezone
    first_day = partitions.get_first_partition_key()
    last_day = partitions.get_last_partition_key() or days[-1]
    today = meter_days.today(timezone).isoformat()
    routed = route_items(read.items, first_day, last_day, today, timezone)
    columns = list(read.items.columns)
    in_run = set(days)
    if read.source == table_reads.SCAN:
        # the whole table, but only the run's days are written (the partitions it materializes)
        written = {day: routed.by_day.get(day, pd.DataFrame(columns=columns)) for day in days}
        undated = routed.undated
    else:
        written, undated = _merged_objects(storage, read, routed, days, first_day, last_day, today)
    objects = {layout.raw_day(day): _csv(frame) for day, frame in written.items()}
    objects[layout.RAW_UNDATED] = _csv(undated)
    keys = list(objects)
    for start in range(0, len(keys), PROGRESS_EVERY):
        storage.put_many({k: objects[k] for k in keys[start : start + PROGRESS_EVERY]})
        if len(keys) > PROGRESS_EVERY:
            done = min(start + PROGRESS_EVERY, len(keys))
            context.log.info(f"wrote {done} of {len(keys)} objects")
    others = sorted(d for d in written if d not in in_run)
    # A day outside the run whose partition was materialized before and whose object changed
    # (a late row, a correction) is reported as materialized again, so what reads it sees the
    # change; a day never materialized waits for its own run, which finds its object ready (a
    # backfill's first full export writes every day: thousands of events would cost minutes).
    done = context.instance.get_materialized_partitions(context.asset_key) if others else set()
    changed = [day for day in others if day in done]
    for day in changed:
        context.log_event(
            dg.AssetMaterialization(
                context.asset_key,
                partition=day,
                metadata={"source": read.source, "run_days": f"{days[0]}..{days[-1]}"},
            )
        )
    table_reads.save_state(storage, read, routed.waiting)
    exported = sum(len(g) for d, g in routed.by_day.items() if d in in_run)
    other_days = sum(len(g) for d, g in routed.by_day.items() if d not in in_run)
    empty = [day for day in days if day not in routed.by_day]
    undated_by = routed.undated_why.value_counts()
    context.log.info(
        f"exported {exported} rows over {len(days)} days ({len(empty)} without rows); "
        f"{len(routed.undated)} items name no exportable day, {routed.pending} wait for today "
        f"to end, {other_days} belong to days outside this run"
        + (f" ({len(others)} of those days written too)" if others else "")
    )
    whole_table = {"table_items": len(read.items)} if not read.incremental else {}
    return dg.MaterializeResult(
        metadata={
            "source": read.source,
            "items_read": len(read.items),
            **whole_table,
            "deletions_read": len(read.deleted),
            "read_seconds": round(read.seconds, 2),
            "exports": read.exports,
            "export_bytes": read.bytes_read,
            "rows": exported,
            "days": len(days),
            "days_without_rows": len(empty),
            "undated_rows": len(routed.undated),
            **{f"undated_{r}": int(undated_by.get(r, 0)) for r in _UNDATED_REASONS},
            "pending_rows": routed.pending,
            "rows_other_days": other_days,
            "other_days_written": len(others),
            "other_days_reported": len(changed),
            "dates_normalised": routed.normalised,
            "first_day": days[0],
            "last_day": days[-1],
            "bucket_created": created,
            "prefix": dg.MetadataValue.url(storage.uri(layout.RAW_PREFIX)),
        }
    )


def _csv(frame: pd.DataFrame) -> bytes:
    """A raw object's bytes: rows by key, the keys and usage first, other attributes by name,
    so a Scan and an export (which list items and attributes in different orders) and a merge
    write the same bytes for the same items."""
    first = [c for c in ("meter_id", "date", "usage") if c in frame.columns]
    ordered = first + sorted(c for c in frame.columns if c not in first)
    keys = [c for c in ("meter_id", "date") if c in frame.columns]
    rows = frame.sort_values(keys, kind="stable") if keys and len(frame) else frame
    return rows[ordered].to_csv(index=False).encode()


def _merged_objects(
    storage: S3Storage,
    read: table_reads.TableRead,
    routed: Routed,
    days: list[str],
    first_day: str,
    last_day: str,
    today: str,
) -> tuple[dict[str, pd.DataFrame], pd.DataFrame]:
    """The day objects (and the undated one) an export refresh writes.

    A full export is the whole table: every day it holds is written (not only the run's), so
    later incremental refreshes always find a day's object to merge into. An incremental one
    holds what was written since the previous export: each day it touches (and each of the
    run's days) is its object as it was with those items upserted and deleted keys removed.
    """
    columns = list(read.items.columns)
    if not read.incremental:
        touched = sorted(set(days) | set(routed.by_day))
        return {
            day: routed.by_day.get(day, pd.DataFrame(columns=columns)) for day in touched
        }, routed.undated
    gone = route_items(read.deleted, first_day, last_day, today)
    touched = sorted(set(days) | set(routed.by_day) | set(gone.by_day))
    none = pd.DataFrame(columns=columns)
    no_keys = read.deleted.iloc[:0]

    def merge(day: str) -> pd.DataFrame:
        return table_reads.merged_object(
            storage,
            layout.raw_day(day),
            routed.by_day.get(day, none),
            gone.by_day.get(day, no_keys),
        )

    with ThreadPoolExecutor(storage.threads) as pool:
        merged = dict(zip(touched, pool.map(merge, touched), strict=True))
    undated = table_reads.merged_object(storage, layout.RAW_UNDATED, routed.undated, gone.undated)
    return merged, undated


_UNDATED_REASONS = ("invalid_date", "timezone", "future_date", "before_history_start")
