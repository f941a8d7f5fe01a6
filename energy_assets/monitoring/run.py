"""One monitoring pass over a range of days: score the serving version on the new actuals,
summarise, judge drift by the configured rule, publish to CloudWatch, and record the summary
(with the rule and its verdict) that the drift sensor acts on."""

from __future__ import annotations

import json
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

import pandas as pd

from energy_assets import layout
from energy_assets.ml import monitoring as mon
from energy_assets.monitoring.cloudwatch import (
    alarm_specs,
    metric_data,
    quality_alarm_names,
)
from energy_assets.monitoring.raw import recent_clean
from energy_assets.monitoring.store import merge_realised, serving_bundle, serving_reference

if TYPE_CHECKING:
    from energy_assets.resources import CloudWatchResource, S3Storage
    from energy_assets.resources.cloudwatch import AlarmSpec

DRIFT_COLUMNS = ["meter_id", "ks", "psi", "mean_ratio", "version"]
ANOMALY_COLUMNS = ["date", "meter_id", "kind", "actual", "forecast", "lower_95", "upper_95"]


@dataclass(frozen=True)
class Options:
    """How a pass scores and judges (the asset's config, free of Dagster)."""

    lead_days: int = 1
    reference_days: int = 56  # the test window and the four weeks before it
    rolling_days: int = 28
    recent_days: int = 28
    rule: mon.DriftRule = field(default_factory=mon.DriftRule)
    metric_max_age_days: int = 14  # CloudWatch refuses data points older than two weeks
    # meters of the fleet with per-meter CloudWatch metrics (``metric_data``), split evenly
    # between its shards' runs (none per run when the shards outnumber it)
    meter_metrics_max: int = 100


@dataclass
class Outcome:
    """What a pass found and did, for the asset to report."""

    endpoint: str
    version: str
    reference: mon.Reference
    verdict: dict
    scored: pd.DataFrame  # the serving version's realised rows on the days of the pass
    drift: pd.DataFrame  # usage drift per meter as of the last day
    anomalies: pd.DataFrame
    alarms: list[AlarmSpec]
    alarms_put: list[str]
    published: int
    seconds: dict[str, float] = field(default_factory=dict)  # wall time of each part


class Stopwatch:
    """Wall seconds per named part of a pass: where a day's monitoring time goes."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def part(self, name: str):
        started = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - started


def monitor(
    storage: S3Storage,
    cloudwatch: CloudWatchResource,
    days: list[str],
    options: Options,
    run_id: str = "",
    shard: str | None = None,
) -> Outcome | None:
    """Monitor ``days`` (sorted day keys) for the deployed version; None when none is deployed.

    ``shard``: a meter shard of the multi-model endpoint, scored with the version its route
    serves, on its own raw objects, into ``monitoring/shard=NN/`` with alarms of its own.

    What the serving version forecast for each meter is reconstructed from its artifact (from the
    actuals known the day before), scored, checked for anomalies (actual outside the 95% interval,
    sudden level shift) and for usage drift against the training window. Writes the realised rows
    and ``monitoring/latest.json`` in S3, metrics and alarms in CloudWatch."""
    current = storage.get_json_or_none(
        layout.DEPLOYMENT_CURRENT if shard is None else layout.route(shard)
    )
    if current is None:
        return None
    endpoint = current.get("endpoint", "")
    watch = Stopwatch()
    with watch.part("artifact"):
        bundle = serving_bundle(storage, current)
    with watch.part("reference"):
        ref = serving_reference(storage, bundle, options.reference_days, options.lead_days)
    with watch.part("clean"):
        clean = recent_clean(storage, bundle, days[-1], shard)
    in_days = pd.DatetimeIndex(pd.to_datetime(days))
    with watch.part("realised"):
        new_rows = (
            mon.realised(bundle, clean, ref, days=in_days, lead=options.lead_days)
            if len(clean)
            else pd.DataFrame(columns=mon.REALISED_COLUMNS)
        )
    with watch.part("store"):
        rows = merge_realised(storage, new_rows, shard)
    with watch.part("summary"):
        version_rows = mon.anomalies(rows[rows["model_version"] == bundle.version], ref)
        daily = mon.daily_summary(version_rows, window=options.rolling_days)
        counts = version_rows.groupby("date")[["outside_95", "level_shift"]].sum().sum(axis=1)
        daily["anomalies"] = daily["date"].map(counts).fillna(0).astype(int)
        verdict = mon.drift_verdict(daily, ref, options.rule)
    as_of = pd.Timestamp(days[-1])
    with watch.part("usage_drift"):
        drift = (
            mon.usage_drift(bundle, clean, as_of, options.recent_days).assign(
                version=bundle.version
            )
            if len(clean)
            else pd.DataFrame(columns=DRIFT_COLUMNS)
        )
    scored = version_rows[version_rows["date"].isin(in_days)]
    with watch.part("cloudwatch"):
        published = cloudwatch.put_data(
            metric_data(
                endpoint,
                scored,
                daily[daily["date"].isin(in_days)],
                drift,
                as_of,
                options.metric_max_age_days,
                # the fleet's budget of metered meters, shared by its shards' runs
                options.meter_metrics_max // max(1, storage.shards),
            )
        )
        stem = endpoint if shard is None else f"{endpoint}-shard{shard}"
        specs = alarm_specs(
            endpoint, bundle.version, ref, options.rule, len(bundle.meters), name=stem
        )
        alarms_put = cloudwatch.ensure_alarms(specs)
    summary = {
        "endpoint": endpoint,
        "model_version": bundle.version,
        "as_of": days[-1],
        "scored_through": verdict["last_day"],
        "rule": asdict(options.rule),
        "verdict": verdict,
        "reference": ref.as_dict(),
        "daily": json.loads(
            daily.assign(date=pd.to_datetime(daily["date"]).dt.strftime("%Y-%m-%d")).to_json(
                orient="records"
            )
        ),
        "alarms": [s.name for s in specs],
        "quality_alarms": quality_alarm_names(stem),
        "run_id": run_id,
        "shard": shard,
    }
    storage.put_json(layout.monitoring_latest(shard), summary)
    return Outcome(
        endpoint=endpoint,
        version=bundle.version,
        reference=ref,
        verdict=verdict,
        scored=scored,
        drift=drift,
        anomalies=anomaly_table(scored),
        alarms=specs,
        alarms_put=alarms_put,
        published=published,
        seconds={k: round(v, 3) for k, v in watch.seconds.items()},
    )


def anomaly_table(rows: pd.DataFrame) -> pd.DataFrame:
    """One line per anomaly (a level shift or an actual outside the 95% interval), by day."""
    if rows.empty:
        return pd.DataFrame(columns=ANOMALY_COLUMNS)
    outside = rows[rows["outside_95"]].assign(kind="outside 95% interval")
    shift = rows[rows["level_shift"]].assign(kind="level shift")
    found = pd.concat([shift, outside]).sort_values(["date", "meter_id"])
    found = found.assign(date=found["date"].dt.strftime("%Y-%m-%d"))
    return found[ANOMALY_COLUMNS].round(3).reset_index(drop=True)


def describe_rule(rule: mon.DriftRule) -> str:
    """The rule in one line, as the asset's metadata shows it."""
    return (
        f"rolling MASE above {rule.max_rolling_mase:g}, or the 7-day scaled MAE above the "
        f"reference mean + {rule.sigmas:g} sd on {rule.consecutive} consecutive days"
    )
