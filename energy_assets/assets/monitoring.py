"""Realised error of the served forecaster on new actuals, usage drift and anomalies, published
as CloudWatch custom metrics with alarms on them. The work is ``energy_assets/monitoring``; the
asset configures it and reports what it found."""

import dagster as dg
import pandas as pd

from energy_assets import layout
from energy_assets.assets.ingestion import RAW_USAGE_EXPORT
from energy_assets.assets.preparation import markdown_table
from energy_assets.ml import monitoring as mon
from energy_assets.monitoring.run import Options, Outcome, describe_rule, monitor
from energy_assets.orchestration.retry_policy import AWS_RETRY_POLICY
from energy_assets.resources import CloudWatchResource, S3Storage


class MonitoringConfig(dg.Config):
    lead_days: int = 1
    reference_days: int = 56  # the test window and the four weeks before it
    rolling_days: int = 28
    recent_days: int = 28
    max_rolling_mase: float = 1.0
    sigmas: float = 3.0
    consecutive: int = 2
    metric_max_age_days: int = 14  # CloudWatch refuses data points older than two weeks


def options_of(config: MonitoringConfig) -> Options:
    return Options(
        lead_days=config.lead_days,
        reference_days=config.reference_days,
        rolling_days=config.rolling_days,
        recent_days=config.recent_days,
        rule=mon.DriftRule(
            max_rolling_mase=config.max_rolling_mase,
            sigmas=config.sigmas,
            consecutive=config.consecutive,
        ),
        metric_max_age_days=config.metric_max_age_days,
    )


def forecast_monitoring_asset(partitions: dg.DailyPartitionsDefinition) -> dg.AssetsDefinition:
    """The asset over the deployment's daily partitions: ``build_defs`` makes it."""
    return dg.asset(
        name="forecast_monitoring",
        partitions_def=partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        deps=[
            RAW_USAGE_EXPORT,
            # every shard's deployment: a day scores each shard with its serving version
            dg.AssetDep("forecast_endpoint", partition_mapping=dg.AllPartitionMapping()),
        ],
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
    interval, sudden level shift). Writes ``monitoring/`` in S3, CloudWatch metrics and alarms;
    the drift verdict it records, by the rule configured here, is what the drift sensor acts on."""
    days = context.partition_keys
    options = options_of(config)
    if storage.shards > 1:
        return _by_shard(context, storage, cloudwatch, days, options)
    outcome = monitor(storage, cloudwatch, days, options, run_id=context.run_id)
    if outcome is None:
        context.log.info("no model is deployed yet: nothing to monitor")
        return dg.MaterializeResult(metadata={"status": "no model deployed", "days": len(days)})
    return dg.MaterializeResult(metadata=_metadata(outcome, options, len(days), storage))


def _metadata(outcome: Outcome, options: Options, days: int, storage: S3Storage) -> dict:
    scored, verdict = outcome.scored, outcome.verdict
    rows = len(scored)
    nan = float("nan")
    return {
        "model_version": outcome.version,
        "days": days,
        "rows_scored": rows,
        "realised_mae": float(scored["abs_error"].mean()) if rows else nan,
        "realised_mase": float(scored["scaled_error"].mean()) if rows else nan,
        "rolling_mase": verdict["rolling_mase"] if verdict["rolling_mase"] is not None else nan,
        "reference_mase": outcome.reference.mase,
        "weekly_mase": verdict["weekly_mase"] if verdict["weekly_mase"] is not None else nan,
        "weekly_mase_limit": verdict["weekly_limit"],
        "drift": verdict["drift"],
        "drift_reasons": "; ".join(verdict["reasons"]) or "none",
        "drift_rule": describe_rule(options.rule),
        "anomalies": len(outcome.anomalies),
        "anomaly_list": markdown_table(outcome.anomalies, 50)
        if len(outcome.anomalies)
        else dg.MetadataValue.md("none"),
        "usage_drift": markdown_table(outcome.drift.drop(columns="version").round(3), 50)
        if len(outcome.drift)
        else dg.MetadataValue.md("no recent usage"),
        "metrics_published": outcome.published,
        "alarms": ", ".join(s.name for s in outcome.alarms),
        "alarms_updated": ", ".join(outcome.alarms_put) or "none",
        "uri": dg.MetadataValue.url(storage.uri(layout.MONITORING_REALISED)),
        # where the pass's time went (reading the artifact, the reference, cleaning, scoring...)
        "seconds": dg.MetadataValue.json(outcome.seconds),
    }


def _by_shard(context, storage, cloudwatch, days: list[str], options: Options):
    """With meter shards: each shard scored with the version its route serves (its own raw
    objects, realised rows, summary and alarms); the metadata sums them up, a line per shard."""
    outcomes = {
        shard: monitor(storage, cloudwatch, days, options, run_id=context.run_id, shard=shard)
        for shard in layout.shard_keys(storage.shards)
    }
    served = {k: o for k, o in outcomes.items() if o is not None}
    unserved = [k for k, o in outcomes.items() if o is None]
    if not served:
        context.log.info("no shard has a model deployed yet: nothing to monitor")
        return dg.MaterializeResult(metadata={"status": "no model deployed", "days": len(days)})
    nan = float("nan")
    lines = pd.DataFrame(
        [
            {
                "shard": k,
                "model_version": o.version,
                "rows_scored": len(o.scored),
                "realised_mase": float(o.scored["scaled_error"].mean()) if len(o.scored) else nan,
                "rolling_mase": o.verdict["rolling_mase"],
                "drift": o.verdict["drift"],
                "anomalies": len(o.anomalies),
            }
            for k, o in served.items()
        ]
    )
    scored = pd.concat([o.scored for o in served.values()], ignore_index=True)
    rows = len(scored)
    reasons = [f"shard {k}: {r}" for k, o in served.items() for r in o.verdict["reasons"]]
    return dg.MaterializeResult(
        metadata={
            "shards_monitored": len(served),
            "shards_without_model": ", ".join(unserved) or "none",
            "model_versions": ", ".join(f"{k}: {o.version}" for k, o in served.items()),
            "days": len(days),
            "rows_scored": rows,
            "realised_mae": float(scored["abs_error"].mean()) if rows else nan,
            "realised_mase": float(scored["scaled_error"].mean()) if rows else nan,
            "drift": bool(lines["drift"].any()),
            "drift_reasons": "; ".join(reasons) or "none",
            "drift_rule": describe_rule(options.rule),
            "anomalies": int(lines["anomalies"].sum()),
            "by_shard": markdown_table(lines.round(3), 100),
            "metrics_published": sum(o.published for o in served.values()),
        }
    )
