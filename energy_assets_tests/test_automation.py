"""Schedules and sensors, evaluated with Dagster's testing APIs against the local AWS."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import boto3
import dagster as dg
import pandas as pd
import pytest
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)
from dagster_aws.s3 import S3Resource

from energy_assets import layout
from energy_assets.assets.ingestion import RAW_USAGE_EXPORT
from energy_assets.ml.monitoring import DriftRule, Reference, drift_verdict
from energy_assets.orchestration.definitions import build_defs
from energy_assets.orchestration.sensors import (
    DRIFT_RETRAIN_RUN_CONFIG,
    build_new_usage_sensor,
    day_ranges,
    drift_sensor,
    run_failure_alert_sensor,
)
from energy_assets.resources import CloudWatchResource, S3Storage, UsageTableResource
from energy_assets.settings import Settings
from energy_assets.tools.seed import seed_table
from energy_assets_tests.conftest import HISTORY_START, NAMES, deployment

YESTERDAY = datetime.now(UTC).date() - timedelta(days=1)
defs = build_defs(deployment(**NAMES))
new_usage_sensor = build_new_usage_sensor("UTC", HISTORY_START)


def _ranges(requests) -> list[tuple[str, str]]:
    return [
        (r.tags[ASSET_PARTITION_RANGE_START_TAG], r.tags[ASSET_PARTITION_RANGE_END_TAG])
        for r in requests
    ]


def _day(offset: int) -> str:
    return (YESTERDAY - timedelta(days=offset)).isoformat()


def test_day_ranges_fold_consecutive_days():
    days = ["2025-01-01", "2025-01-02", "2025-01-03", "2025-01-05", "2025-01-07", "2025-01-08"]
    assert day_ranges(days) == [
        ("2025-01-01", "2025-01-03"),
        ("2025-01-05", "2025-01-05"),
        ("2025-01-07", "2025-01-08"),
    ]


def test_default_statuses():
    running = dg.DefaultSensorStatus.RUNNING
    sensors = {s.name: s.default_status for s in defs.sensors}
    assert sensors == {
        "new_usage_sensor": running,
        "drift_sensor": running,
        "run_failure_alert_sensor": running,
        "meter_file_sensor": running,
    }
    schedules = {s.name: s.default_status for s in defs.schedules}
    assert schedules == {
        "daily_usage_schedule": dg.DefaultScheduleStatus.RUNNING,
        "daily_training_schedule": dg.DefaultScheduleStatus.STOPPED,
    }


def test_daily_schedule_refreshes_yesterday_and_its_monitoring():
    schedule = defs.resolve_schedule_def("daily_usage_schedule")
    when = datetime(2026, 11, 20, 1, 0, tzinfo=UTC)
    with dg.build_schedule_context(scheduled_execution_time=when) as context:
        requests = schedule.evaluate_tick(context).run_requests
    assert [r.partition_key for r in requests] == ["2026-11-19"]
    job = defs.resolve_job_def(schedule.job_name)
    assert {k.path[-1] for k in job.asset_layer.selected_asset_keys} == {
        "raw_usage_export",
        "forecast_monitoring",
    }


def test_training_job_leaves_monitoring_to_the_daily_path():
    keys = {
        k.path[-1] for k in defs.resolve_job_def("training_job").asset_layer.selected_asset_keys
    }
    assert "trained_forecaster" in keys and "forecast_endpoint" in keys
    assert "forecast_monitoring" not in keys
    assert dg.validate_run_config(defs.resolve_job_def("training_job"), DRIFT_RETRAIN_RUN_CONFIG)


def _frame(meters: list[str], days) -> pd.DataFrame:
    return pd.DataFrame(
        [(m, pd.Timestamp(d).strftime("%Y-%m-%d"), 10.0) for m in meters for d in days],
        columns=["meter_id", "date", "usage"],
    )


def _storage(bucket: str) -> S3Storage:
    storage = S3Storage(bucket=bucket, s3=S3Resource())
    storage.ensure_bucket()
    return storage


@pytest.mark.parametrize("single_series", [False, True])
def test_new_usage_sensor_requests_only_new_days(local_aws, single_series):
    table = UsageTableResource(table_name=f"sensor-usage-{int(single_series)}")
    storage = _storage(f"sensor-usage-{int(single_series)}")
    old = pd.date_range(end=pd.Timestamp(YESTERDAY) - pd.Timedelta(days=10), periods=5)
    meters = ["a"] if single_series else ["a", "b"]
    seed_table(table, _frame(meters, old))
    cursor = old[-1].strftime("%Y-%m-%d")
    resources = {"usage_table": table, "storage": storage}
    instance = dg.DagsterInstance.ephemeral()

    def tick(cursor):
        with dg.build_sensor_context(
            instance=instance, cursor=cursor, resources=resources
        ) as context:
            return new_usage_sensor(context)

    result = tick(cursor)
    assert result.skip_reason and not result.run_requests

    new_days = [_day(4), _day(3), _day(0)]
    seed_table(table, _frame(meters, new_days))
    result = tick(cursor)
    assert result.cursor == YESTERDAY.isoformat()
    assert _ranges(result.run_requests) == [(_day(4), _day(3)), (_day(0), _day(0))]
    assert {r.job_name for r in result.run_requests} == {"usage_job"}
    assert len({r.run_key for r in result.run_requests}) == 2

    # the next tick starts from the new cursor: nothing runs twice
    assert not tick(result.cursor).run_requests


def test_new_usage_sensor_sees_objects_dropped_into_s3(local_aws):
    table = UsageTableResource(table_name="sensor-drops")
    storage = _storage("sensor-drops")
    seed_table(table, _frame(["a"], pd.date_range(end=_day(5), periods=3)))
    for day in (_day(2), _day(1)):  # collected straight into S3, not in the table
        storage.put_csv(layout.raw_day(day), _frame(["a"], [day]))
    instance = dg.DagsterInstance.ephemeral()
    resources = {"usage_table": table, "storage": storage}
    with dg.build_sensor_context(instance=instance, cursor=_day(5), resources=resources) as context:
        result = new_usage_sensor(context)
    assert [r.job_name for r in result.run_requests] == ["monitoring_job"]
    assert _ranges(result.run_requests) == [(_day(2), _day(1))]
    assert [e.partition for e in result.asset_events] == [_day(2), _day(1)]
    assert all(e.asset_key == RAW_USAGE_EXPORT for e in result.asset_events)

    # the daemon records the reported materializations: the drops are not requested again
    for event in result.asset_events:
        instance.report_runless_asset_event(event)
    with dg.build_sensor_context(
        instance=instance, cursor=result.cursor, resources=resources
    ) as context:
        assert not new_usage_sensor(context).run_requests


def test_with_shards_days_dropped_into_s3_are_monitored_by_a_run_per_shard(local_aws):
    """With meter shards the table's days get the export alone (monitoring follows it, per
    shard) and a day dropped into S3 a monitoring run per shard over its (day, shard)
    partitions, each keyed by the range and the shard."""
    table = UsageTableResource(table_name="sensor-drops-shards")
    storage = _storage("sensor-drops-shards")
    seed_table(table, _frame(["a"], pd.date_range(end=_day(5), periods=3)))
    for day in (_day(2), _day(1)):
        storage.put_csv(layout.raw_day(day), _frame(["a"], [day]))
    sharded = build_new_usage_sensor("UTC", HISTORY_START, shards=3)
    resources = {"usage_table": table, "storage": storage}
    instance = dg.DagsterInstance.ephemeral()
    with dg.build_sensor_context(instance=instance, cursor=_day(5), resources=resources) as context:
        result = sharded(context)
    assert {r.job_name for r in result.run_requests} == {"monitoring_job"}
    assert _ranges(result.run_requests) == [
        (f"{_day(2)}|{shard}", f"{_day(1)}|{shard}") for shard in ("00", "01", "02")
    ]
    assert len({r.run_key for r in result.run_requests}) == 3


def _at(day, hour: int) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=UTC)


def test_new_usage_sensor_waits_for_the_day_to_end_in_the_meters_time_zone(local_aws):
    """A row for today waits for today to end where the meters are, and the sensor says so."""
    table = UsageTableResource(table_name="sensor-timezone")
    storage = _storage("sensor-timezone")
    base = YESTERDAY - timedelta(days=3)
    before, day = (base - timedelta(days=1)).isoformat(), base.isoformat()
    seed_table(table, _frame(["a", "b"], [base - timedelta(days=2), before, day]))
    cursor = (base - timedelta(days=2)).isoformat()
    resources = {"usage_table": table, "storage": storage}

    def tick(timezone: str, now: datetime, cursor: str):
        sensor = build_new_usage_sensor(timezone, HISTORY_START, clock=lambda: now)
        with dg.build_sensor_context(
            instance=dg.DagsterInstance.ephemeral(), cursor=cursor, resources=resources
        ) as context:
            return sensor(context)

    # 15:00 UTC: the base day is over in Sydney (01:00 or 02:00 there), not in UTC.
    sydney = tick("Australia/Sydney", _at(base, 15), cursor)
    assert _ranges(sydney.run_requests) == [(before, day)] and sydney.cursor == day
    utc = tick("UTC", _at(base, 15), cursor)
    assert _ranges(utc.run_requests) == [(before, before)] and utc.cursor == before
    waiting = tick("UTC", _at(base, 15), utc.cursor)
    assert not waiting.run_requests and waiting.cursor == before
    assert waiting.skip_reason.skip_message == (
        f"waiting for {day} to end at midnight UTC ({base + timedelta(days=1)} 00:00 UTC): the "
        f"table has usage for it, and a day is exported once it is complete; nothing new "
        f"through {before}"
    )
    # 02:00 UTC is still the evening before in New York: the day before is not over there.
    new_york = tick("America/New_York", _at(base, 2), cursor)
    assert not new_york.run_requests
    assert new_york.skip_reason.skip_message.startswith(
        f"waiting for {before} to end at midnight America/New_York ({day} 0"
    )  # 04:00 or 05:00 UTC, by daylight saving
    assert new_york.skip_reason.skip_message.endswith(f"nothing new through {cursor}")

    nothing = tick("UTC", _at(base + timedelta(days=2), 15), day)
    assert nothing.skip_reason.skip_message == (
        f"no usage after {day} through {base + timedelta(days=1)}, the last day complete in "
        f"UTC; the next ends at midnight UTC ({base + timedelta(days=3)} 00:00 UTC)"
    )


def test_the_time_zone_setting_moves_the_schedules_and_the_partitions():
    """The meters' time zone, one setting of the deployment: schedules, partitions, the sensor
    and the assets' resource all follow it."""
    sydney = build_defs(Settings(timezone="Australia/Sydney", history_start=HISTORY_START))
    schedule = sydney.resolve_schedule_def("daily_usage_schedule")
    when = datetime(2026, 11, 20, 1, 0, tzinfo=ZoneInfo("Australia/Sydney"))
    with dg.build_schedule_context(scheduled_execution_time=when) as context:
        requests = schedule.evaluate_tick(context).run_requests
    assert schedule.execution_timezone == "Australia/Sydney"
    assert sydney.resolve_schedule_def("daily_training_schedule").execution_timezone == (
        "Australia/Sydney"
    )
    assert sydney.resolve_job_def("usage_job").partitions_def.timezone == "Australia/Sydney"
    assert [r.partition_key for r in requests] == ["2026-11-19"]  # the day that just ended there
    assert "midnight Australia/Sydney" in sydney.resolve_sensor_def("new_usage_sensor").description
    assert sydney.resources["meters"].timezone == "Australia/Sydney"


def test_a_time_zone_that_does_not_exist_is_one_clear_error(monkeypatch):
    from energy_assets.settings import Settings
    from energy_assets.tools.cli import main

    with pytest.raises(ValueError, match="'Mars/Olympus' is not an IANA time zone name"):
        Settings(timezone="Mars/Olympus")
    monkeypatch.setenv("ENERGY_ASSETS_TIMEZONE", "Mars/Olympus")
    assert main(["models"]) == 2


def _reference(version: str) -> Reference:
    return Reference(version, 28, {"a": 1.0}, {"a": 1.0}, 0.8, 0.3, 0.8)


def _monitored(
    storage: S3Storage,
    version: str,
    mase: list[float],
    endpoint: str,
    rule: DriftRule | None = None,
) -> None:
    """The files forecast_monitoring leaves: the deployment and the monitoring summary, with
    the verdict it reached by ``rule`` (its configured one; the default when None)."""
    rule = rule or DriftRule()
    first = pd.Timestamp(YESTERDAY) - pd.Timedelta(days=len(mase) - 1)
    daily = pd.DataFrame(
        {"date": pd.date_range(first, periods=len(mase)), "mase": mase, "mae": mase}
    )
    daily["weekly_mase"] = daily["mase"].rolling(7).mean()
    daily["rolling_mase"] = daily["mase"].rolling(28, min_periods=14).mean()
    verdict = drift_verdict(daily, _reference(version), rule)
    daily = daily.assign(model_version=version, date=daily["date"].dt.strftime("%Y-%m-%d"))
    storage.put_json(layout.DEPLOYMENT_CURRENT, {"endpoint": endpoint, "model_version": version})
    storage.put_json(
        layout.MONITORING_LATEST,
        {
            "model_version": version,
            "as_of": daily["date"].iloc[-1],
            "rule": asdict(rule),
            "verdict": verdict,
            "reference": _reference(version).as_dict(),
            "daily": json.loads(daily.to_json(orient="records")),
        },
    )


def _drift_tick(resources: dict, cursor: str | None = None, instance=None):
    with dg.build_sensor_context(
        instance=instance or dg.DagsterInstance.ephemeral(), cursor=cursor, resources=resources
    ) as context:
        return drift_sensor(context)


@pytest.fixture
def drift_resources(local_aws, request):
    name = f"drift-{request.node.name.split('[')[0].replace('_', '-')[-40:]}"
    return {
        "storage": _storage(name),
        "cloudwatch": CloudWatchResource(namespace="EnergyAssetsDriftTests"),
    }, name


def test_drift_sensor_waits_for_monitoring(drift_resources):
    resources, _ = drift_resources
    assert "no monitored model" in _drift_tick(resources).skip_reason.skip_message


def test_drift_sensor_retrains_on_drift_once_per_cooldown(drift_resources):
    resources, endpoint = drift_resources
    steady = [0.8, 0.6, 1.0, 0.7, 0.9, 0.8, 0.7] * 2
    _monitored(resources["storage"], "v1", steady, endpoint)
    quiet = _drift_tick(resources)
    assert not quiet.run_requests and "no drift" in quiet.skip_reason.skip_message

    # a level shift: the 7-day error leaves reference + 3 standard errors two days running
    _monitored(resources["storage"], "v1", steady + [3.0, 3.2, 2.9], endpoint)
    tick = _drift_tick(resources, quiet.cursor)
    (request,) = tick.run_requests
    assert request.run_key == f"retrain:v1:{YESTERDAY.isoformat()}"
    assert request.tags["energy-assets/trigger"] == "drift"
    assert "7-day scaled MAE above reference" in request.tags["energy-assets/reason"]
    assert request.run_config == DRIFT_RETRAIN_RUN_CONFIG

    # the same champion still drifting the next day: no second request within the cooldown
    again = _drift_tick(resources, tick.cursor)
    assert not again.run_requests and "already requested" in again.skip_reason.skip_message
    # a new serving version starts afresh
    _monitored(resources["storage"], "v2", steady, endpoint)
    assert not _drift_tick(resources, tick.cursor).run_requests


def test_drift_sensor_rolling_mase_rule(drift_resources):
    resources, endpoint = drift_resources
    _monitored(resources["storage"], "v1", [1.1, 1.2, 1.0, 1.3] * 4, endpoint)
    (request,) = _drift_tick(resources).run_requests
    assert "rolling MASE" in request.tags["energy-assets/reason"]


def test_drift_sensor_follows_the_rule_monitoring_recorded(drift_resources):
    """The verdict comes from the rule configured on forecast_monitoring, not a default."""
    resources, endpoint = drift_resources
    shifted = [0.8, 0.6, 1.0, 0.7, 0.9, 0.8, 0.7] * 2 + [3.0, 3.2, 2.9]
    lenient = DriftRule(max_rolling_mase=5.0, sigmas=50.0)
    _monitored(resources["storage"], "v1", shifted, endpoint, rule=lenient)
    tick = _drift_tick(resources)
    assert not tick.run_requests and "no drift" in tick.skip_reason.skip_message
    strict = DriftRule(max_rolling_mase=0.5)
    _monitored(resources["storage"], "v2", [0.8, 0.6, 1.0, 0.7] * 4, endpoint, rule=strict)
    (request,) = _drift_tick(resources).run_requests
    assert "above 0.5 over" in request.tags["energy-assets/reason"]


def test_drift_sensor_honours_an_alarm_for_the_serving_version(drift_resources):
    from energy_assets.monitoring.cloudwatch import quality_alarm_names
    from energy_assets.resources.cloudwatch import AlarmSpec

    resources, endpoint = drift_resources
    cloudwatch = resources["cloudwatch"]
    _monitored(resources["storage"], "v1", [0.8] * 10, endpoint)
    name = quality_alarm_names(endpoint)[0]
    spec = AlarmSpec(name, "RollingMASE", {"Endpoint": endpoint, "ModelVersion": "v0"}, 1.0, "")
    cloudwatch.put_alarm(spec)
    # moto does not evaluate alarms; the state is set as CloudWatch (or an operator) would
    boto3.client("cloudwatch").set_alarm_state(
        AlarmName=name, StateValue="ALARM", StateReason="test"
    )
    assert not _drift_tick(resources).run_requests  # an alarm about another version
    cloudwatch.put_alarm(
        AlarmSpec(name, "RollingMASE", {"Endpoint": endpoint, "ModelVersion": "v1"}, 1.0, "")
    )
    boto3.client("cloudwatch").set_alarm_state(
        AlarmName=name, StateValue="ALARM", StateReason="test"
    )
    (request,) = _drift_tick(resources).run_requests
    assert f"alarm {name} is in ALARM" in request.tags["energy-assets/reason"]


def test_drift_sensor_skips_while_a_retrain_runs(drift_resources):
    resources, endpoint = drift_resources
    _monitored(resources["storage"], "v1", [0.8] * 7 + [3.0] * 7, endpoint)
    instance = dg.DagsterInstance.ephemeral()
    instance.create_run_for_job(
        defs.resolve_job_def("training_job"), status=dg.DagsterRunStatus.STARTED
    )
    assert (
        "retrain is running" in _drift_tick(resources, instance=instance).skip_reason.skip_message
    )


@dg.op
def broken_op():
    raise RuntimeError("the meter feed is down")


@dg.job
def broken_job():
    broken_op()


def test_run_failure_sensor_logs_counts_and_notifies(local_aws):
    sns, sqs = boto3.client("sns"), boto3.client("sqs")
    topic = sns.create_topic(Name="energy-assets-alerts")["TopicArn"]
    queue = sqs.create_queue(QueueName="energy-assets-alerts")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    cloudwatch = CloudWatchResource(namespace="EnergyAssetsFailureTests", alert_topic_arn=topic)

    instance = dg.DagsterInstance.ephemeral()
    result = broken_job.execute_in_process(instance=instance, raise_on_error=False)
    assert not result.success
    context = dg.build_run_status_sensor_context(
        sensor_name=run_failure_alert_sensor.name,
        dagster_instance=instance,
        dagster_run=result.dagster_run,
        dagster_event=result.get_run_failure_event(),
        resources={"cloudwatch": cloudwatch},
    ).for_run_failure()
    run_failure_alert_sensor(context)

    metrics = boto3.client("cloudwatch").list_metrics(
        Namespace="EnergyAssetsFailureTests", MetricName="FailedRuns"
    )["Metrics"]
    assert [m["Dimensions"] for m in metrics] == [[{"Name": "Job", "Value": "broken_job"}]]
    messages = sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=1)["Messages"]
    body = json.loads(messages[0]["Body"])
    assert body["Subject"] == "energy_assets: broken_job failed"
    assert result.run_id in body["Message"]
