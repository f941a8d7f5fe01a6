"""Realised error of the served forecaster on new actuals, usage drift and anomalies, published
as CloudWatch custom metrics with alarms on them."""

import io
import json
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import dagster as dg
import pandas as pd

from energy_assets import layout
from energy_assets.assets.ingestion import RAW_USAGE_EXPORT
from energy_assets.assets.preparation import markdown_table
from energy_assets.ml import monitoring as mon
from energy_assets.ml.bundle import ForecastBundle
from energy_assets.ml.cleaning import clean_usage
from energy_assets.resources import CloudWatchResource, MissingObject, S3Storage
from energy_assets.resources.cloudwatch import AlarmSpec, Datum
from energy_assets.retry_policy import AWS_RETRY_POLICY
from energy_assets.serving.artifact import bundle_at

CONTEXT_DAYS = 35  # raw days read before the first new one: cleaning and drift windows


class MonitoringConfig(dg.Config):
    lead_days: int = 1
    reference_days: int = 56  # the test window and the four weeks before it
    rolling_days: int = 28
    recent_days: int = 28
    max_rolling_mase: float = 1.0
    sigmas: float = 3.0
    consecutive: int = 2
    metric_max_age_days: int = 14  # CloudWatch refuses data points older than two weeks


def rule_of(config: MonitoringConfig) -> mon.DriftRule:
    return mon.DriftRule(
        max_rolling_mase=config.max_rolling_mase,
        sigmas=config.sigmas,
        consecutive=config.consecutive,
    )


def quality_alarm_names(endpoint: str) -> list[str]:
    """The alarms whose ALARM state asks for a retrain (the drift sensor reads them)."""
    return [f"{endpoint}-rolling-mase", f"{endpoint}-weekly-scaled-mae"]


def alarm_specs(
    endpoint: str, version: str, ref: mon.Reference, rule: mon.DriftRule, meters: int
) -> list[AlarmSpec]:
    fleet = {"Endpoint": endpoint, "ModelVersion": version}
    rolling, weekly = quality_alarm_names(endpoint)
    return [
        AlarmSpec(
            rolling,
            "RollingMASE",
            fleet,
            rule.max_rolling_mase,
            f"28-day rolling MASE of model {version} above {rule.max_rolling_mase:g}",
        ),
        AlarmSpec(
            weekly,
            "WeeklyMASE",
            fleet,
            round(rule.weekly_limit(ref), 4),
            f"7-day scaled MAE of model {version} above its reference mean + "
            f"{rule.sigmas:g} sd on {rule.consecutive} consecutive days",
            evaluation_periods=rule.consecutive,
            datapoints_to_alarm=rule.consecutive,
        ),
        AlarmSpec(
            f"{endpoint}-usage-anomalies",
            "AnomalyCount",
            fleet,
            max(1, meters // 2),
            "half the meters or more outside their 95% forecast interval on one day",
            comparison="GreaterThanOrEqualToThreshold",
        ),
        AlarmSpec(
            f"{endpoint}-invocation-5xx",
            "Invocation5XXErrors",
            {"EndpointName": endpoint, "VariantName": "AllTraffic"},
            0,
            "the endpoint answered with server errors",
            namespace="AWS/SageMaker",
            statistic="Sum",
            period_seconds=300,
        ),
    ]


def serving_bundle(storage: S3Storage, current: dict) -> ForecastBundle:
    version = current["model_version"]
    uri = current.get("model_uri") or storage.uri(layout.model_dir(version) + "model.tar.gz")
    return bundle_at(storage, uri)


def serving_reference(storage: S3Storage, bundle: ForecastBundle, config: MonitoringConfig):
    key = layout.monitoring_reference(bundle.version)
    stored = storage.get_json_or_none(key)
    if stored is not None:
        return mon.Reference.from_dict(stored)
    ref = mon.reference(bundle, days=config.reference_days, lead=config.lead_days)
    storage.put_json(key, ref.as_dict())
    return ref


def raw_day_keys(storage: S3Storage, after: str | None = None) -> list[str]:
    """Keys of the daily raw objects of days after ``after`` (all when None), by one listing
    that starts after that day's key rather than at the start of the prefix."""
    kwargs = {"Bucket": storage.bucket, "Prefix": layout.RAW_PREFIX}
    if after:
        kwargs["StartAfter"] = layout.raw_day(after)
    paginator = storage.client().get_paginator("list_objects_v2")
    return [
        obj["Key"]
        for page in paginator.paginate(**kwargs)
        for obj in page.get("Contents", [])
        if "date=" in obj["Key"]
    ]


def day_of(key: str) -> str:
    return key.split("date=")[1][:10]


def read_raw_days(storage: S3Storage, first: str, last: str) -> pd.DataFrame:
    """Raw day objects in ``[first, last]``: one listing, then parallel GETs."""
    before = (pd.Timestamp(first) - pd.Timedelta(days=1)).strftime("%Y-%m-%d")
    keys = [
        k
        for k in raw_day_keys(storage, before)
        if first <= day_of(k) <= last and k.endswith(".csv")
    ]
    with ThreadPoolExecutor(storage.threads) as pool:
        blobs = list(pool.map(storage.get_bytes, keys))
    frames = [
        pd.read_csv(io.BytesIO(b), dtype=str, keep_default_na=False) for b in blobs if b.strip()
    ]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _day_stamp(day: pd.Timestamp) -> datetime:
    return datetime(day.year, day.month, day.day, 12, tzinfo=UTC)


def metric_data(
    endpoint: str,
    rows: pd.DataFrame,
    daily: pd.DataFrame,
    drift: pd.DataFrame,
    as_of: pd.Timestamp,
    max_age_days: int,
) -> list[Datum]:
    """Per meter and day, per fleet and day, and per meter as of the last day."""
    oldest = pd.Timestamp(datetime.now(UTC).date() - timedelta(days=max_age_days))
    data: list[Datum] = []
    for r in rows[rows["date"] >= oldest].itertuples():
        dims = {"Endpoint": endpoint, "ModelVersion": r.model_version, "MeterId": r.meter_id}
        stamp = _day_stamp(r.date)
        data += [
            Datum("AbsoluteError", r.abs_error, dims, stamp),
            Datum("ScaledError", r.scaled_error, dims, stamp),
            Datum("OutsideInterval95", float(r.outside_95), dims, stamp, "Count"),
            Datum("LevelShift", float(r.level_shift), dims, stamp, "Count"),
        ]
    for d in daily[daily["date"] >= oldest].itertuples():
        dims = {"Endpoint": endpoint, "ModelVersion": d.model_version}
        stamp = _day_stamp(d.date)
        data += [
            Datum("DailyMASE", d.mase, dims, stamp),
            Datum("DailyMAE", d.mae, dims, stamp),
            *([Datum("WeeklyMASE", d.weekly_mase, dims, stamp)] if pd.notna(d.weekly_mase) else []),
            Datum("AnomalyCount", float(d.anomalies), dims, stamp, "Count"),
        ]
        if pd.notna(d.rolling_mase):
            data.append(Datum("RollingMASE", d.rolling_mase, dims, stamp))
    if as_of >= oldest:
        for r in drift.itertuples():
            dims = {"Endpoint": endpoint, "ModelVersion": r.version, "MeterId": r.meter_id}
            stamp = _day_stamp(as_of)
            data += [
                Datum("UsageKS", r.ks, dims, stamp),
                Datum("UsagePSI", r.psi, dims, stamp),
                Datum("UsageMeanRatio", r.mean_ratio, dims, stamp),
            ]
    return data


def forecast_monitoring_asset(partitions: dg.DailyPartitionsDefinition) -> dg.AssetsDefinition:
    """The asset over the deployment's daily partitions: ``build_defs`` makes it."""
    return dg.asset(
        name="forecast_monitoring",
        partitions_def=partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        deps=[RAW_USAGE_EXPORT, dg.AssetKey("forecast_endpoint")],
        group_name="monitoring",
        kinds={"pandas", "s3", "cloudwatch"},
        retry_policy=AWS_RETRY_POLICY,
        code_version="1",
    )(forecast_monitoring)


def forecast_monitoring(
    context: dg.AssetExecutionContext,
    config: MonitoringConfig,
    storage: S3Storage,
    cloudwatch: CloudWatchResource,
) -> dg.MaterializeResult:
    """For the days of the partition range: what the serving model version forecast for each
    meter (reconstructed from its artifact, from the actuals known the day before), its error,
    drift of recent usage against the training window, and anomalies (actual outside the 95%
    interval, sudden level shift). Writes ``monitoring/`` in S3, CloudWatch metrics and alarms."""
    days = context.partition_keys
    current = storage.get_json_or_none(layout.DEPLOYMENT_CURRENT)
    if current is None:
        context.log.info("no model is deployed yet: nothing to monitor")
        return dg.MaterializeResult(metadata={"status": "no model deployed", "days": len(days)})
    endpoint = current.get("endpoint", "")
    bundle = serving_bundle(storage, current)
    ref = serving_reference(storage, bundle, config)
    history_end = min(s.index[-1] for s in bundle.history.values())
    first_read = (history_end - pd.Timedelta(days=CONTEXT_DAYS)).strftime("%Y-%m-%d")
    raw = read_raw_days(storage, first_read, days[-1])
    clean = clean_usage(raw).clean if len(raw) else pd.DataFrame()
    new_rows = (
        mon.realised(
            bundle, clean, ref, days=pd.DatetimeIndex(pd.to_datetime(days)), lead=config.lead_days
        )
        if len(clean)
        else pd.DataFrame(columns=mon.REALISED_COLUMNS)
    )
    rows = _merge_realised(storage, new_rows)
    version_rows = mon.anomalies(rows[rows["model_version"] == bundle.version], ref)
    daily = mon.daily_summary(version_rows, window=config.rolling_days)
    counts = version_rows.groupby("date")[["outside_95", "level_shift"]].sum().sum(axis=1)
    daily["anomalies"] = daily["date"].map(counts).fillna(0).astype(int)
    verdict = mon.drift_verdict(daily, ref, rule_of(config))
    as_of = pd.Timestamp(days[-1])
    drift = (
        mon.usage_drift(bundle, clean, as_of, config.recent_days).assign(version=bundle.version)
        if len(clean)
        else pd.DataFrame(columns=["meter_id", "ks", "psi", "mean_ratio", "version"])
    )
    in_range = version_rows[version_rows["date"].isin(pd.to_datetime(days))]
    daily_in_range = daily[daily["date"].isin(pd.to_datetime(days))]
    published = cloudwatch.put_data(
        metric_data(endpoint, in_range, daily_in_range, drift, as_of, config.metric_max_age_days)
    )
    specs = alarm_specs(endpoint, bundle.version, ref, rule_of(config), len(bundle.meters))
    alarms_put = cloudwatch.ensure_alarms(specs)
    found = _anomaly_table(in_range)
    summary = {
        "endpoint": endpoint,
        "model_version": bundle.version,
        "as_of": days[-1],
        "scored_through": verdict["last_day"],
        "verdict": verdict,
        "reference": ref.as_dict(),
        "daily": json.loads(
            daily.assign(date=daily["date"].dt.strftime("%Y-%m-%d")).to_json(orient="records")
        ),
        "alarms": [s.name for s in specs],
        "quality_alarms": quality_alarm_names(endpoint),
        "run_id": context.run_id,
    }
    storage.put_json(layout.MONITORING_LATEST, summary)
    scored = int(len(in_range))
    return dg.MaterializeResult(
        metadata={
            "model_version": bundle.version,
            "days": len(days),
            "rows_scored": scored,
            "realised_mae": float(in_range["abs_error"].mean()) if scored else float("nan"),
            "realised_mase": float(in_range["scaled_error"].mean()) if scored else float("nan"),
            "rolling_mase": verdict["rolling_mase"]
            if verdict["rolling_mase"] is not None
            else float("nan"),
            "reference_mase": ref.mase,
            "weekly_mase": verdict["weekly_mase"]
            if verdict["weekly_mase"] is not None
            else float("nan"),
            "weekly_mase_limit": verdict["weekly_limit"],
            "drift": verdict["drift"],
            "drift_reasons": "; ".join(verdict["reasons"]) or "none",
            "anomalies": len(found),
            "anomaly_list": markdown_table(found, 50)
            if len(found)
            else dg.MetadataValue.md("none"),
            "usage_drift": markdown_table(drift.drop(columns="version").round(3), 50)
            if len(drift)
            else dg.MetadataValue.md("no recent usage"),
            "metrics_published": published,
            "alarms": ", ".join(s.name for s in specs),
            "alarms_updated": ", ".join(alarms_put) or "none",
            "uri": dg.MetadataValue.url(storage.uri(layout.MONITORING_REALISED)),
        }
    )


def _merge_realised(storage: S3Storage, new_rows: pd.DataFrame) -> pd.DataFrame:
    """The stored realised rows with ``new_rows`` replacing any for the same meter, day and
    version (a partition materialized again is scored again, not twice)."""
    key = ("meter_id", "date", "model_version")
    try:
        old = storage.read_parquet(layout.MONITORING_REALISED)
    except MissingObject:
        old = None
    if old is not None:
        rows = pd.concat([old, new_rows], ignore_index=True) if len(new_rows) else old
        rows = rows.drop_duplicates(list(key), keep="last")
    else:
        rows = new_rows
    rows = rows.sort_values(["model_version", "meter_id", "date"]).reset_index(drop=True)
    if len(new_rows):
        storage.put_parquet(layout.MONITORING_REALISED, rows)
    return rows


def _anomaly_table(rows: pd.DataFrame) -> pd.DataFrame:
    columns = ["date", "meter_id", "kind", "actual", "forecast", "lower_95", "upper_95"]
    if rows.empty:
        return pd.DataFrame(columns=columns)
    outside = rows[rows["outside_95"]].assign(kind="outside 95% interval")
    shift = rows[rows["level_shift"]].assign(kind="level shift")
    found = pd.concat([shift, outside]).sort_values(["date", "meter_id"])
    found = found.assign(date=found["date"].dt.strftime("%Y-%m-%d"))
    return found[columns].round(3).reset_index(drop=True)
