"""Sensors: new usage becomes runs, drift becomes a retrain, failed runs become alerts."""

import json
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

import dagster as dg
import pandas as pd
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)

from energy_assets import layout, meter_days
from energy_assets.assets.ingestion import RAW_USAGE_EXPORT
from energy_assets.meterfiles.ops import dropped_files, imported_days
from energy_assets.monitoring.cloudwatch import alarms_in_alarm
from energy_assets.monitoring.drift import drift_decision
from energy_assets.orchestration.jobs import (
    ingestion_job,
    meter_file_job,
    monitoring_job,
    training_job,
    usage_job,
)
from energy_assets.raw_store import read_raw
from energy_assets.resources import CloudWatchResource, S3Storage, UsageTableResource
from energy_assets.settings import Settings

TRIGGER_TAG = "energy-assets/trigger"
PARTITION_TAG = "dagster/partition"
REASON_TAG = "energy-assets/reason"
# A retrain for drift is judged (quality check, champion/challenger) on the latest two weeks.
DRIFT_RETRAIN_RUN_CONFIG = {"ops": {"train_test_split": {"config": {"test_days": 14}}}}


def day_ranges(days: list[str]) -> list[tuple[str, str]]:
    """Consecutive days folded into ``(first, last)`` ranges, each one run."""
    ranges: list[tuple[str, str]] = []
    for day in sorted(days):
        if ranges and date.fromisoformat(day) - date.fromisoformat(ranges[-1][1]) == timedelta(1):
            ranges[-1] = (ranges[-1][0], day)
        else:
            ranges.append((day, day))
    return ranges


def range_requests(job: str, prefix: str, days: list[str]) -> list[dg.RunRequest]:
    return [
        dg.RunRequest(
            job_name=job,
            run_key=f"{prefix}:{start}:{end}",
            tags={ASSET_PARTITION_RANGE_START_TAG: start, ASSET_PARTITION_RANGE_END_TAG: end},
        )
        for start, end in day_ranges(days)
    ]


def _exported_through(context: dg.SensorEvaluationContext) -> str | None:
    keys = context.instance.get_materialized_partitions(RAW_USAGE_EXPORT)
    return max(keys) if keys else None


def dropped_days(
    storage: S3Storage, exported: set[str], after: str | None, first: str, last: str
) -> list[str]:
    """Days after the table's latest day whose rows are a day CSV dropped into S3 (data
    collected straight into S3) and that no export wrote: the table stays the source for the
    days it holds (``read_raw``: a day its month objects hold is the table's)."""
    start = max(first, _next_day(after)) if after else first
    if start > last:
        return []
    days = read_raw(storage, start, last, rows=False).csv_days
    return [d for d in days if d not in exported]


def _next_day(day: str) -> str:
    return (date.fromisoformat(day) + timedelta(days=1)).isoformat()


def waiting_reason(
    after: str | None, pending: list[str], last_complete: date, timezone: str
) -> str:
    """Why ``new_usage_sensor`` requests nothing: what it waits for, and until when."""
    if pending:
        day = pending[0]
        ends = meter_days.end_of(date.fromisoformat(day), timezone)
        return (
            f"waiting for {day} to end at midnight {timezone} ({ends:%Y-%m-%d %H:%M} UTC): "
            f"the table has usage for it, and a day is exported once it is complete; "
            f"nothing new through {last_complete}"
        )
    ends = meter_days.end_of(last_complete + timedelta(days=1), timezone)
    return (
        f"no usage after {after or 'the start'} through {last_complete}, the last day complete "
        f"in {timezone}; the next ends at midnight {timezone} ({ends:%Y-%m-%d %H:%M} UTC)"
    )


def build_new_usage_sensor(
    timezone: str, first_day: str, clock: Callable[[], datetime] | None = None
) -> dg.SensorDefinition:
    """``new_usage_sensor`` for meters whose days end at midnight in ``timezone``, from
    ``first_day`` (the first daily partition) on; ``clock`` gives the time it decides by
    (default: now)."""

    @dg.sensor(
        name="new_usage_sensor",
        jobs=[usage_job, monitoring_job],
        minimum_interval_seconds=300,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Requests the export and monitoring of days that appeared in the usage "
        f"table since the cursor, once each day has ended (midnight {timezone}), and "
        "monitoring of day CSVs dropped straight into the S3 raw prefix.",
    )
    def new_usage_sensor(
        context: dg.SensorEvaluationContext, usage_table: UsageTableResource, storage: S3Storage
    ) -> dg.SensorResult:
        after = context.cursor or _exported_through(context)
        now = clock() if clock else datetime.now(UTC)
        last_complete = meter_days.last_complete_day(timezone, now)
        today = meter_days.today(timezone, now)
        yesterday = last_complete.isoformat()
        first = first_day
        seen = [d for d in usage_table.new_days(after, until=today, first=first) if d >= first]
        table_days = [d for d in seen if d <= yesterday]
        pending = [d for d in seen if d > yesterday]
        cursor = max([after or "", *table_days]) or None
        exported = set(context.instance.get_materialized_partitions(RAW_USAGE_EXPORT))
        drops = dropped_days(storage, exported, cursor, first, yesterday)
        if not table_days and not drops:
            return dg.SensorResult(
                skip_reason=waiting_reason(after, pending, last_complete, timezone),
                cursor=cursor,
            )
        if pending:
            context.log.info(waiting_reason(cursor, pending, last_complete, timezone))
        events = [
            dg.AssetMaterialization(
                RAW_USAGE_EXPORT,
                partition=day,
                metadata={
                    "source": "object dropped into S3",
                    "uri": storage.uri(layout.raw_day(day)),
                },
            )
            for day in drops
        ]
        return dg.SensorResult(
            run_requests=range_requests(usage_job.name, "usage", table_days)
            + range_requests(monitoring_job.name, "s3", drops),
            asset_events=events,
            cursor=cursor,
        )

    return new_usage_sensor


def build_meter_file_sensor(timezone: str, first_day: str) -> dg.SensorDefinition:
    """``meter_file_sensor`` exporting the days of each import from ``first_day`` (the first
    daily partition) to the last day complete in ``timezone``."""

    def meter_file_sensor(
        context: dg.SensorEvaluationContext, storage: S3Storage
    ) -> dg.SensorResult:
        return meter_file_requests(context, storage, timezone, first_day)

    return dg.sensor(
        name="meter_file_sensor",
        jobs=[meter_file_job, ingestion_job],
        minimum_interval_seconds=60,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Imports each NEM12 or Green Button file dropped into s3://BUCKET/raw/nem12/ "
        "or raw/greenbutton/ (meter_file_job, one run per file version), then exports the days "
        "each import wrote (ingestion_job).",
    )(meter_file_sensor)


def meter_file_requests(
    context: dg.SensorEvaluationContext, storage: S3Storage, timezone: str, start: str
) -> dg.SensorResult:
    """One tick of ``meter_file_sensor``: the files to import, then the days imports wrote."""
    cursor = json.loads(context.cursor) if context.cursor else {}
    files, newest, seen = dropped_files(storage, cursor.get("modified"), cursor.get("seen"))
    requests = [
        dg.RunRequest(
            job_name=meter_file_job.name,
            run_key=f"meterfile:{key}:{etag}",
            run_config={"ops": {"import_meter_file": {"config": {"key": key}}}},
            tags={TRIGGER_TAG: "meter file"},
        )
        for key, etag in files
    ]
    imports, last_id = imported_days(context.instance, cursor.get("storage_id"))
    yesterday = meter_days.last_complete_day(timezone, datetime.now(UTC)).isoformat()
    for storage_id, first, last in imports:
        days = pd.date_range(max(first, start), min(last, yesterday), freq="D")
        requests += range_requests(
            ingestion_job.name, f"meterfile-export:{storage_id}", days.strftime("%Y-%m-%d").tolist()
        )
        if first < start:
            context.log.info(f"days before {start} (ENERGY_ASSETS_HISTORY_START) are not exported")
    state = json.dumps({"modified": newest, "seen": seen, "storage_id": last_id})
    if not requests:
        return dg.SensorResult(
            skip_reason="no new meter files and no import to export", cursor=state
        )
    return dg.SensorResult(run_requests=requests, cursor=state)


def _retrain_running(context: dg.SensorEvaluationContext, shard: str) -> bool:
    active = [
        dg.DagsterRunStatus.QUEUED,
        dg.DagsterRunStatus.NOT_STARTED,
        dg.DagsterRunStatus.STARTING,
        dg.DagsterRunStatus.STARTED,
    ]
    runs = context.instance.get_runs(
        filters=dg.RunsFilter(
            job_name=training_job.name, statuses=active, tags={PARTITION_TAG: shard}
        ),
        limit=1,
    )
    if runs:
        return True
    # a run started without a partition (before shards) counts for every shard
    unpartitioned = context.instance.get_runs(
        filters=dg.RunsFilter(job_name=training_job.name, statuses=active), limit=5
    )
    return any(PARTITION_TAG not in run.tags for run in unpartitioned)


@dg.sensor(
    job=training_job,
    minimum_interval_seconds=600,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Requests a retrain (training_job, through the champion/challenger gate) of "
    "each meter shard whose serving model forecast_monitoring found drifting above its "
    "reference (by the rule configured on that asset), or whose quality alarm is in ALARM: a "
    "run for that shard's partition only.",
)
def drift_sensor(
    context: dg.SensorEvaluationContext, storage: S3Storage, cloudwatch: CloudWatchResource
) -> dg.SensorResult:
    cursor = json.loads(context.cursor) if context.cursor else {}
    if storage.shards <= 1:
        request, reason, state = _drift_request(context, storage, cloudwatch, None, cursor)
        if request is None:
            return dg.SensorResult(
                skip_reason=reason, **({"cursor": json.dumps(state)} if state else {})
            )
        return dg.SensorResult(run_requests=[request], cursor=json.dumps(state))
    states, requests, reasons = dict(cursor.get("shards", {})), [], []
    for shard in layout.shard_keys(storage.shards):
        request, reason, state = _drift_request(
            context, storage, cloudwatch, shard, states.get(shard, {})
        )
        if state:
            states[shard] = state
        if request is None:
            reasons.append(f"shard {shard}: {reason}")
        else:
            requests.append(request)
    state = json.dumps({"shards": states})
    if not requests:
        return dg.SensorResult(skip_reason="; ".join(reasons), cursor=state)
    return dg.SensorResult(run_requests=requests, cursor=state)


def _drift_request(
    context: dg.SensorEvaluationContext,
    storage: S3Storage,
    cloudwatch: CloudWatchResource,
    shard: str | None,
    cursor: dict,
) -> tuple[dg.RunRequest | None, str, dict | None]:
    """A retrain of ``shard`` (None: the one-shard deployment) when its serving model drifted:
    (the request or None, why not, the shard's next cursor or None to keep it)."""
    summary = storage.get_json_or_none(layout.monitoring_latest(shard))
    where = layout.DEPLOYMENT_CURRENT if shard is None else layout.route(shard)
    current = storage.get_json_or_none(where) if summary else None
    if summary is None or current is None:
        return None, "no monitored model yet", None
    version = current["model_version"]
    if summary["model_version"] != version:
        return None, f"model {version} has not been monitored yet", None
    partition = shard or layout.shard_key(0)
    if _retrain_running(context, partition):
        return None, "a retrain is running", None
    stem = current.get("endpoint", "")
    alarms = alarms_in_alarm(cloudwatch, stem if shard is None else f"{stem}-shard{shard}", version)
    retrain, reason, state = drift_decision(summary, alarms, cursor)
    if not retrain:
        return None, reason, state
    context.log.info(f"retraining: model {version} drifted ({reason})")
    request = dg.RunRequest(
        run_key=f"retrain:{version}:{state['requested']}",
        run_config=DRIFT_RETRAIN_RUN_CONFIG,
        partition_key=partition,
        tags={TRIGGER_TAG: "drift", REASON_TAG: reason[:255], "energy-assets/champion": version},
    )
    return request, reason, state


def build_sensors(settings: Settings) -> list:
    """The deployment's sensors: day boundaries in its time zone, days from its history start."""
    return [
        build_new_usage_sensor(settings.timezone, settings.history_start),
        drift_sensor,
        run_failure_alert_sensor,
        build_meter_file_sensor(settings.timezone, settings.history_start),
    ]


@dg.run_failure_sensor(
    name="run_failure_alert_sensor",
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Reports every failed run: a log line, a FailedRuns metric in CloudWatch and, "
    "when ENERGY_ASSETS_ALERT_TOPIC_ARN is set, an SNS message.",
)
def run_failure_alert_sensor(
    context: dg.RunFailureSensorContext, cloudwatch: CloudWatchResource
) -> None:
    run = context.dagster_run
    message = context.failure_event.message or "no message"
    text = f"run {run.run_id} of {run.job_name} failed: {message}"
    context.log.error(text)
    cloudwatch.put_metrics({"FailedRuns": 1}, {"Job": run.job_name}, unit="Count")
    cloudwatch.notify(f"energy_assets: {run.job_name} failed", text)
