"""Cleaning and the train/test split, each written to S3 (what training reads)."""

import dagster as dg
import pandas as pd
import pydantic

from energy_assets import layout, raw_store
from energy_assets.assets.ingestion import RAW_USAGE_EXPORT
from energy_assets.assets.shards import run_shard
from energy_assets.assets.values import Dataset, handed_on
from energy_assets.ml.cleaning import clean_usage, counted
from energy_assets.ml.deepar import deepar_channels
from energy_assets.ml.split import MIN_TRAIN_DAYS, short_meters, time_split
from energy_assets.orchestration.retry_policy import AWS_RETRY_POLICY
from energy_assets.resources import MeterSettings, S3Storage
from energy_assets.resources.s3 import json_bytes, parquet_bytes


class CleaningConfig(dg.Config):
    covariates: list[str] | None = pydantic.Field(
        default=None,
        description="Numeric attributes kept beside usage (default: the deployment's, "
        "ENERGY_ASSETS_COVARIATES); each row must carry a number in each. Other attributes are "
        "ignored and counted.",
    )
    max_outlier_score: float = 12.0
    quarantine_quality: str = pydantic.Field(
        default="",
        description="Quality letters to quarantine (meter files: A actual, E estimated, "
        "S substituted, F final substituted, N null, V variable, Q questionable), e.g. SEF",
    )


class SplitConfig(dg.Config):
    test_days: int = 28


def markdown_table(frame: pd.DataFrame, rows: int = 10) -> dg.MetadataValue:
    return dg.MetadataValue.md(frame.head(rows).to_markdown(index=False))


def read_frame(storage: S3Storage, dataset: Dataset, key: str) -> pd.DataFrame:
    """``key`` of ``dataset``: the bytes its asset wrote, or a clear error."""
    return storage.read_parquet(key, expect=dataset.sha256(key))


@dg.asset(
    # every day of the export feeds a shard's cleaning (the shard's objects of every month)
    deps=[dg.AssetDep(RAW_USAGE_EXPORT, partition_mapping=dg.AllPartitionMapping())],
    group_name="preparation",
    kinds={"pandas", "s3"},
    code_version="2",
    retry_policy=AWS_RETRY_POLICY,
)
def cleaned_usage(
    context: dg.AssetExecutionContext,
    config: CleaningConfig,
    storage: S3Storage,
    meters: MeterSettings,
) -> dg.Output[Dataset]:
    """Every meter on a full daily calendar: duplicates and bad rows quarantined with a reason,
    missing days imputed and flagged.

    Counted in, counted out: ``rows_in == rows_clean + rows_quarantined``. Only the declared
    ``covariates`` (default ``ENERGY_ASSETS_COVARIATES``) are kept beside usage; other
    attributes are ignored and counted (``ignored_attributes``). Rows dated after the last
    complete day or before the history start are quarantined.

    Partitioned by meter shard: a run reads only its shard's raw objects and writes
    ``clean/shard=NN/`` (one shard: ``clean/``).
    """
    shard = run_shard(context, storage)
    raw_read = raw_store.read_raw(storage, shard=None if shard is None else int(shard))
    raw = raw_read.rows
    if raw.empty:
        where = "" if shard is None else f" for shard {shard}"
        raise dg.Failure(f"no raw usage in S3{where}: materialize raw_usage_export first")
    try:
        result = clean_usage(
            raw,
            max_outlier_score=config.max_outlier_score,
            covariates=meters.covariates if config.covariates is None else config.covariates,
            first_day=meters.first_day(),
            last_day=meters.last_day(),
            quarantine_quality=config.quarantine_quality,
            timezone=meters.timezone,
        )
    except ValueError as error:
        raise dg.Failure(str(error), allow_retries=False) from None
    if not counted(result.stats):
        raise dg.Failure(f"cleaning lost rows: {result.stats}", allow_retries=False)
    quarantine_key = layout.quarantine(context.run_id)
    storage.put_csv(quarantine_key, result.quarantine)
    stats = {**result.stats, "quarantine_uri": storage.uri(quarantine_key)}
    # the frame and its counts are one output: a manifest written last vouches for both
    written = storage.put_set(
        layout.clean_manifest(shard),
        {
            layout.clean(shard): (parquet_bytes(result.clean), "application/vnd.apache.parquet"),
            layout.clean_stats(shard): (json_bytes(stats), "application/json"),
        },
    )
    reasons = (
        result.quarantine["reason"].value_counts().rename_axis("reason").reset_index(name="rows")
        if len(result.quarantine)
        else pd.DataFrame({"reason": [], "rows": []})
    )
    return handed_on(
        Dataset(written, shard),
        metadata={
            **{k: v for k, v in result.stats.items() if isinstance(v, (int, float, str))},
            "quarantined_by_reason": markdown_table(reasons, 20),
            "quarantine": dg.MetadataValue.url(storage.uri(quarantine_key)),
            "uri": dg.MetadataValue.url(storage.uri(layout.clean(shard))),
            "raw_objects_read": raw_read.objects,
        },
    )


@dg.asset(
    group_name="preparation",
    kinds={"pandas", "s3"},
    code_version="3",
    retry_policy=AWS_RETRY_POLICY,
)
def train_test_split(
    config: SplitConfig, storage: S3Storage, cleaned_usage: Dataset
) -> dg.Output[Dataset]:
    """Time-ordered split of the cleaned frame: the last ``test_days`` days are the test set;
    CSVs in S3 with the columns training reads (usage, the imputed flag, covariates). A meter
    with too few training days stays in (training serves it seasonal naive once it has a week)
    and is named in the metadata: one new meter must not stop the fleet."""
    shard = cleaned_usage.shard  # the split is of the shard cleaning handed on
    frame = read_frame(storage, cleaned_usage, layout.clean(shard)).sort_values(
        ["meter_id", "date"]
    )
    train, test = time_split(frame, test_days=config.test_days)
    short = short_meters(train, frame["meter_id"].unique())
    objects = {
        key: (
            part.assign(date=part["date"].dt.strftime("%Y-%m-%d")).to_csv(index=False).encode(),
            "text/csv",
        )
        for key, part in ((layout.train(shard), train), (layout.test(shard), test))
    }
    # The same split as SageMaker DeepAR's JSON Lines channels (test = train + test days).
    for name, body in deepar_channels(train, test).items():
        objects[layout.deepar_channel(name, shard)] = (body.encode(), "application/jsonlines")
    # one output of four objects: the manifest, written last, vouches for all of them
    written = storage.put_set(layout.split_manifest(shard), objects)
    return handed_on(
        Dataset(written, shard),
        metadata={
            "train_rows": len(train),
            "test_rows": len(test),
            "meters": int(frame["meter_id"].nunique()),
            f"meters_under_{MIN_TRAIN_DAYS}_training_days": len(short),
            "short_meters": ", ".join(f"{m} ({n} days)" for m, n in list(short.items())[:20])
            or "none",
            "train_end": str(train["date"].max().date()),
            "test_start": str(test["date"].min().date()),
            "test_end": str(test["date"].max().date()),
            "train_uri": dg.MetadataValue.url(storage.uri(layout.train(shard))),
            "test_uri": dg.MetadataValue.url(storage.uri(layout.test(shard))),
            "deepar_channels": dg.MetadataValue.url(storage.uri(layout.deepar_prefix(shard))),
        },
    )
