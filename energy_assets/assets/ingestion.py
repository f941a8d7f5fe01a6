"""From the DynamoDB usage table to one raw CSV object per day in S3."""

import dagster as dg
import pandas as pd

from energy_assets import layout
from energy_assets.partitions import daily_partitions
from energy_assets.resources import S3Storage, UsageTableResource
from energy_assets.retry_policy import AWS_RETRY_POLICY

usage_table = dg.AssetSpec(
    "usage_table",
    description="DynamoDB table of daily usage (pk meter_id, sk date, usage number), "
    "written by the metering systems or `energy-assets seed`.",
    group_name="ingestion",
    kinds={"dynamodb"},
)


def split_by_day(raw: pd.DataFrame) -> tuple[dict[str, pd.DataFrame], pd.DataFrame]:
    """Group raw rows by the day their date names; rows without a readable day come back apart."""
    day = raw["date"].astype(str).str.strip().str[:10]
    parsed = pd.to_datetime(day, format="%Y-%m-%d", errors="coerce")
    dated = raw[parsed.notna()]
    by_day = {d: g for d, g in dated.groupby(day[parsed.notna()], sort=True)}
    return by_day, raw[parsed.isna()]


@dg.asset(
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    deps=[usage_table],
    group_name="ingestion",
    kinds={"dynamodb", "s3"},
    retry_policy=AWS_RETRY_POLICY,
    code_version="1",
)
def raw_usage_export(
    context: dg.AssetExecutionContext, usage_table: UsageTableResource, storage: S3Storage
) -> dg.MaterializeResult:
    """Export the usage table into daily objects ``raw/usage/date=YYYY-MM-DD/usage.csv``.

    One parallel Scan serves the whole partition range of a run, so a backfill of years is one
    pass over the table. Values stay as the text they were; rows whose date names no day are kept
    in ``raw/usage/undated/`` for cleaning to quarantine.
    """
    days = context.partition_keys
    created = storage.ensure_bucket()
    raw = usage_table.scan()
    by_day, undated = split_by_day(raw)
    columns = list(raw.columns)
    objects = {
        layout.raw_day(day): by_day.get(day, pd.DataFrame(columns=columns))
        .to_csv(index=False)
        .encode()
        for day in days
    }
    objects[layout.RAW_UNDATED] = undated.to_csv(index=False).encode()
    storage.put_many(objects)
    exported = sum(len(by_day.get(day, ())) for day in days)
    empty = [day for day in days if day not in by_day]
    context.log.info(
        f"exported {exported} rows over {len(days)} days ({len(empty)} without rows); "
        f"{len(undated)} rows name no day"
    )
    return dg.MaterializeResult(
        metadata={
            "rows": exported,
            "days": len(days),
            "days_without_rows": len(empty),
            "undated_rows": len(undated),
            "table_items": len(raw),
            "first_day": days[0],
            "last_day": days[-1],
            "bucket_created": created,
            "prefix": dg.MetadataValue.url(storage.uri(layout.RAW_PREFIX)),
        }
    )
