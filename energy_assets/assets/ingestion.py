"""From the DynamoDB usage table to raw parquet objects per month and meter shard in S3
(``energy_assets.raw_store``): by Scan, full export or incremental exports
(``energy_assets.table_reads``)."""

from dataclasses import dataclass

import dagster as dg
import pandas as pd
import pyarrow as pa

from energy_assets import layout, meter_days, raw_store, raw_writes, table_reads
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


@dataclass
class Routed:
    """Where each scanned item goes: its day (in a month object), the undated object, or later
    (today)."""

    # every item read, each with the day of the partitions it is written to in
    # ``raw_store.DAY``, NA for the undated and the waiting (the items are not copied: a full
    # export is millions of them)
    items: pd.DataFrame
    undated: pd.DataFrame
    undated_why: pd.Series
    pending: int
    normalised: int
    waiting: pd.DataFrame  # the pending items themselves (today's)

    @property
    def rows_by_day(self) -> pd.Series:
        """Rows per day, by day."""
        return self.items[raw_store.DAY].value_counts().sort_index()


def route_items(
    raw: pd.DataFrame, first_day: str, last_day: str, today: str, timezone: str = "UTC"
) -> Routed:
    """Sort items by the day their date names (``energy_assets.ml.days``).

    Days in ``[first_day, last_day]`` (the partitions) go to their day; items of
    ``today``, a day not yet over, wait for its partition; everything else (no readable day, a
    time zone, after today, before the history start) goes to the undated object, for cleaning
    to quarantine with its reason. Nothing read is left out. Days are the meters' days in
    ``timezone``.
    """
    # a table of years holds millions of items but only a few thousand distinct dates: each
    # distinct date is parsed once and every item takes its answer by code (parsing each item's
    # text made ~400 bytes of Python objects an item, gigabytes at 10,000 meters)
    codes, texts = pd.factorize(raw["date"], use_na_sentinel=False)
    days = parse_days(pd.Series(texts).astype("string").str.strip(), timezone)
    key = day_keys(days["day"])
    why = days["problem"].copy()
    why = why.mask(why.isna() & (key > today).fillna(False), "future_date")
    why = why.mask(why.isna() & (key < first_day).fillna(False), "before_history_start")
    # per distinct date: no problem (so a day), and that day not yet a partition's
    readable = why.isna().to_numpy()
    pending_date = readable & (key > last_day).fillna(False).to_numpy()
    dated_date = readable & ~pending_date
    pending, undated = pending_date[codes], ~readable[codes]
    normalised = (days["normalised"].to_numpy() & dated_date)[codes]
    written = key.astype(object).where(pd.Series(dated_date), None)
    keys = pa.array(written.tolist(), type=pa.large_string())  # pandas' own str storage
    routed_days = pd.array(keys.take(pa.array(codes)), dtype="str")
    return Routed(
        items=raw.assign(**{raw_store.DAY: pd.Series(routed_days, index=raw.index)}),
        undated=raw[undated],
        undated_why=pd.Series(why.to_numpy()[codes[undated]], index=raw.index[undated]),
        pending=int(pending.sum()),
        normalised=int(normalised.sum()),
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
        code_version="4",
    )(raw_usage_export)


def raw_usage_export(
    context: dg.AssetExecutionContext, usage_table: UsageTableResource, storage: S3Storage
) -> dg.MaterializeResult:
    """Export the usage table into ``raw/usage/month=YYYY-MM/shard=NN/usage.parquet``: one
    object per month and meter shard (``ENERGY_ASSETS_SHARDS``), rows grouped by day.

    The table is read the cheapest way measured (``energy_assets.table_reads``): a small table
    by one parallel Scan (the months of the run's days are written as the table holds them); a
    larger one by a full DynamoDB export the first time (the backfill: every month it holds),
    then by incremental exports of what was written since the previous export, merged into the
    month objects they touch (new days, late rows, corrections, deletions): a day's refresh
    rewrites its month's objects only. Values stay as the text they were; items whose date
    names no day of the partitions are kept in ``raw/usage/undated/`` for cleaning to
    quarantine, so every item read is accounted for:
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
    in_run = set(days)
    if read.incremental:
        gone = route_items(read.deleted, first_day, last_day, today, timezone)
        written = raw_writes.merge_months(storage, routed.items, gone.items, storage.shards)
        written.add(raw_writes.write_undated(storage, routed.undated, gone.undated))
    else:
        # the whole table: a Scan writes the months of the run's days (the partitions it
        # materializes); a full export every month it holds, for later refreshes to merge into
        months = {raw_store.month_of(day) for day in days}
        if read.source == table_reads.FULL:
            months |= {raw_store.month_of(day) for day in routed.rows_by_day.index}
        written = raw_writes.replace_months(storage, routed.items, months, storage.shards)
        written.add(raw_writes.write_undated(storage, routed.undated))
    context.log.info(
        f"wrote {written.objects} objects ({written.bytes_written / 1e6:.2f} MB) for "
        f"{len(written.months)} month(s) in {storage.shards} shard(s); deleted "
        f"{written.deleted} emptied or re-sharded"
    )
    others = sorted(d for d in written.changed_days if d not in in_run)
    # A day outside the run whose partition was materialized before and whose rows changed
    # (a late row, a correction) is reported as materialized again, so what reads it sees the
    # change; a day never materialized waits for its own run, which finds its rows ready (a
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
    per_day = routed.rows_by_day
    exported = int(per_day[per_day.index.isin(in_run)].sum())
    other_days = int(per_day[~per_day.index.isin(in_run)].sum())
    empty = [day for day in days if day not in per_day.index]
    undated_by = routed.undated_why.value_counts()
    context.log.info(
        f"exported {exported} rows over {len(days)} days ({len(empty)} without rows); "
        f"{len(routed.undated)} items name no exportable day, {routed.pending} wait for today "
        f"to end, {other_days} belong to days outside this run"
        + (f" ({len(others)} of those days changed)" if others else "")
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
            "shards": storage.shards,
            "months_written": len(written.months),
            "objects_written": written.objects,
            "objects_deleted": written.deleted,
            "bytes_written": written.bytes_written,
            "bucket_created": created,
            "prefix": dg.MetadataValue.url(storage.uri(layout.RAW_PREFIX)),
        }
    )


_UNDATED_REASONS = ("invalid_date", "timezone", "future_date", "before_history_start")
