"""The CloudWatch side of monitoring: the metrics published per meter, fleet and day, the alarms
on them, and which alarms in ALARM ask for a retrain."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pandas as pd

from energy_assets.ml import monitoring as mon
from energy_assets.resources.cloudwatch import AlarmSpec, Datum

if TYPE_CHECKING:
    from energy_assets.resources import CloudWatchResource


def quality_alarm_names(endpoint: str) -> list[str]:
    """The alarms whose ALARM state asks for a retrain (the drift sensor reads them)."""
    return [f"{endpoint}-rolling-mase", f"{endpoint}-weekly-scaled-mae"]


def alarm_specs(
    endpoint: str,
    version: str,
    ref: mon.Reference,
    rule: mon.DriftRule,
    meters: int,
    name: str | None = None,
) -> list[AlarmSpec]:
    """The alarms of the serving version, on the thresholds of the configured drift rule;
    ``name``: the alarms' name stem (a meter shard's: ``<endpoint>-shard03``), default the
    endpoint's."""
    fleet = {"Endpoint": endpoint, "ModelVersion": version}
    stem = name or endpoint
    rolling, weekly = quality_alarm_names(stem)
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
            f"{stem}-usage-anomalies",
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


def _day_stamp(day: pd.Timestamp) -> datetime:
    return datetime(day.year, day.month, day.day, 12, tzinfo=UTC)


def metric_meters(rows: pd.DataFrame, drift: pd.DataFrame, max_meters: int | None) -> set:
    """The meters ``metric_data`` publishes per-meter metrics for: every meter when they are
    at most ``max_meters`` (or it is None), else the ``max_meters`` with the largest mean
    scaled error over ``rows`` (ties by meter id)."""
    every = set(rows["meter_id"]) | set(drift["meter_id"])
    if max_meters is None or len(every) <= max_meters:
        return every
    worst = (
        rows.groupby("meter_id")["scaled_error"]
        .mean()
        .reindex(sorted(every))
        .fillna(-1.0)
        .sort_values(ascending=False, kind="stable")
    )
    return set(worst.index[: max(0, max_meters)])


def metric_data(
    endpoint: str,
    rows: pd.DataFrame,
    daily: pd.DataFrame,
    drift: pd.DataFrame,
    as_of: pd.Timestamp,
    max_age_days: int,
    max_meters: int | None = None,
) -> list[Datum]:
    """Per meter and day, per fleet and day, and per meter as of the last day (none older than
    ``max_age_days``: CloudWatch refuses data points older than two weeks).

    Per-meter metrics go to at most ``max_meters`` meters (None: every meter): those with the
    largest mean scaled error over the rows. Each meter is seven custom metrics, billed per
    metric and month, so a fleet's per-meter figures stay in S3 (monitoring's realised rows
    and drift table), and CloudWatch graphs the fleet and its worst meters."""
    oldest = pd.Timestamp(datetime.now(UTC).date() - timedelta(days=max_age_days))
    data: list[Datum] = []
    meters = metric_meters(rows, drift, max_meters)
    rows = rows[rows["meter_id"].isin(meters)]
    drift = drift[drift["meter_id"].isin(meters)]
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


def alarms_in_alarm(cloudwatch: CloudWatchResource, endpoint: str, version: str) -> list[str]:
    """Quality alarms in ALARM for the serving version (moto never evaluates alarms: their state
    changes only by SetAlarmState there, on AWS by CloudWatch itself)."""
    found = cloudwatch.alarms(quality_alarm_names(endpoint))
    return [
        name
        for name, alarm in found.items()
        if alarm["StateValue"] == "ALARM"
        and {d["Name"]: d["Value"] for d in alarm.get("Dimensions", [])}.get("ModelVersion")
        == version
    ]
