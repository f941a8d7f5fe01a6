"""Realised error of the served forecaster on new actuals, usage drift and anomalies, published
as CloudWatch custom metrics with alarms on them. The work is ``energy_assets/monitoring``; the
asset configures it and reports what it found."""

from collections.abc import Sequence

import dagster as dg

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
    # per-meter CloudWatch metrics for at most this many meters of the fleet (the worst scored;
    # split evenly between the shards' runs): each meter is 7 custom metrics, billed per
    # metric-month; every meter's figures are in S3 (monitoring/)
    meter_metrics_max: int = 100


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
        meter_metrics_max=config.meter_metrics_max,
    )


def forecast_monitoring_asset(partitions: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    """The asset over the deployment's monitoring partitions (``monitoring_partitions``):
    ``build_defs`` makes it. Over days (one shard) a day scores the one serving model; over
    (day, shard) a run scores one shard's meters with the model its route serves, reading the
    day's export and that shard's deployment only."""
    if isinstance(partitions, dg.MultiPartitionsDefinition):
        deps = [
            dg.AssetDep(
                RAW_USAGE_EXPORT,
                partition_mapping=dg.MultiToSingleDimensionPartitionMapping("day"),
            ),
            dg.AssetDep(
                "forecast_endpoint",
                partition_mapping=dg.MultiToSingleDimensionPartitionMapping("shard"),
            ),
        ]
    else:
        deps = [
            RAW_USAGE_EXPORT,
            dg.AssetDep("forecast_endpoint", partition_mapping=dg.AllPartitionMapping()),
        ]
    return dg.asset(
        name="forecast_monitoring",
        partitions_def=partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        deps=deps,
        group_name="monitoring",
        kinds={"pandas", "s3", "cloudwatch"},
        retry_policy=AWS_RETRY_POLICY,
        code_version="2",
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
    the drift verdict it records, by the rule configured here, is what the drift sensor acts on.

    With meter shards a run is one shard's (its partitions name the shard): it reads that
    shard's raw objects and route, and writes ``monitoring/shard=NN/`` and the shard's alarms."""
    days, shard = run_days_and_shard(context.partition_keys)
    options = options_of(config)
    if shard is not None and int(shard) >= storage.shards:
        raise dg.Failure(
            f"shard {shard} does not exist: ENERGY_ASSETS_SHARDS is {storage.shards}",
            allow_retries=False,
        )
    if shard is None and storage.shards > 1:
        raise dg.Failure(
            f"forecast_monitoring over days only, with {storage.shards} meter shards: build "
            "the definitions from the same settings (a run per day and shard)",
            allow_retries=False,
        )
    outcome = monitor(storage, cloudwatch, days, options, run_id=context.run_id, shard=shard)
    where = {} if shard is None else {"shard": shard}
    if outcome is None:
        context.log.info(
            "no model is deployed yet: nothing to monitor"
            if shard is None
            else f"no model serves shard {shard} yet: nothing to monitor"
        )
        return dg.MaterializeResult(
            metadata={**where, "status": "no model deployed", "days": len(days)}
        )
    return dg.MaterializeResult(
        metadata={**where, **_metadata(outcome, options, len(days), storage, shard)}
    )


def run_days_and_shard(keys: Sequence[str]) -> tuple[list[str], str | None]:
    """The sorted days of a run's partition keys and the one shard they name (None: plain
    days). A run over (day, shard) keys covers one shard: several is a mistake said plainly."""
    days, shards = set(), set()
    for key in keys:
        by_dimension = getattr(key, "keys_by_dimension", None)
        if by_dimension is None and "|" in key:
            day, shard = key.split("|")  # dimensions in name order: day, shard
            by_dimension = {"day": day, "shard": shard}
        if by_dimension is None:
            days.add(key)
        else:
            days.add(by_dimension["day"])
            shards.add(by_dimension["shard"])
    if len(shards) > 1:
        raise dg.Failure(
            f"a monitoring run covers one meter shard; this one names {', '.join(sorted(shards))}",
            allow_retries=False,
        )
    return sorted(days), (shards.pop() if shards else None)


def _metadata(
    outcome: Outcome, options: Options, days: int, storage: S3Storage, shard: str | None
) -> dict:
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
        "uri": dg.MetadataValue.url(storage.uri(layout.monitoring_realised(shard))),
        # where the pass's time went (reading the artifact, the reference, cleaning, scoring...)
        "seconds": dg.MetadataValue.json(outcome.seconds),
    }
