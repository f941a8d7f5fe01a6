"""The replay (``energy-assets simulate``) against the local AWS: new days one by one, a level
shift half way, the sensors and jobs of the project reacting, the model replacing itself."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import boto3
import dagster as dg
import pandas as pd
import pytest

from energy_assets import layout
from energy_assets.tools.simulate import replay, replay_definitions, summary_lines
from energy_assets_tests.conftest import HISTORY_DAYS, deployment

DAYS = 50
NAMES = {
    "table": "replay-usage",
    "bucket": "replay-energy-assets",
    "endpoint_name": "replay-forecaster",
}


@pytest.fixture(scope="module")
def replayed(local_aws):
    defs = replay_definitions(deployment(**NAMES))
    instance = dg.DagsterInstance.ephemeral()
    history_days = HISTORY_DAYS - DAYS - 5  # the partitions start HISTORY_DAYS ago
    result = replay(
        defs, instance, days=DAYS, history_days=history_days, say=lambda s: print(s, flush=True)
    )
    print("\n".join(summary_lines(result)))
    return {"defs": defs, "instance": instance, "result": result}


def test_the_sensors_request_every_new_day_exactly_once(replayed):
    result = replayed["result"]
    days = [d.day for d in result.days]
    assert result.requested_days == days
    assert len(set(result.run_keys)) == len(result.run_keys)
    assert all(d.runs[0] == "usage_job" for d in result.days)
    instance = replayed["instance"]
    monitored = instance.get_materialized_partitions(dg.AssetKey("forecast_monitoring"))
    assert set(days) <= monitored


def test_monitoring_sees_the_error_grow_after_the_shift(replayed):
    phases = replayed["result"].phases
    assert phases["shift"]["mase"] > 2 * phases["before"]["mase"]
    assert phases["shift"]["mae"] > 2 * phases["before"]["mae"]


def test_drift_is_detected_after_the_shift_not_before(replayed):
    result = replayed["result"]
    shift = pd.Timestamp(result.shift_day)
    first = pd.Timestamp(result.first_drift_day)
    assert shift <= first <= shift + pd.Timedelta(days=7)
    drifted = next(d for d in result.days if d.drift)
    assert "scaled MAE" in drifted.drift or "rolling MASE" in drifted.drift


def test_the_endpoint_ends_up_serving_a_retrained_model_with_lower_error(replayed):
    result = replayed["result"]
    assert result.final_version != result.initial_version
    promoted = [r for r in result.retrains if r["serving"] != r["champion"]]
    assert promoted and promoted[-1]["serving"] == result.final_version
    assert promoted[-1]["decision"]["promote"] is True  # through the champion/challenger gate
    phases = result.phases
    assert phases["after"]["versions"] == [result.final_version]
    assert phases["after"]["mase"] < phases["shift"]["mase"] / 2
    endpoint = boto3.client("sagemaker").describe_endpoint(EndpointName=NAMES["endpoint_name"])
    assert endpoint["EndpointConfigName"].endswith(result.final_version)


def test_metrics_alarms_and_anomalies_are_published(replayed):
    result = replayed["result"]
    cloudwatch = boto3.client("cloudwatch")
    metrics = cloudwatch.list_metrics(Namespace="EnergyAssets", MetricName="ScaledError")
    dims = [{d["Name"]: d["Value"] for d in m["Dimensions"]} for m in metrics["Metrics"]]
    mine = [d for d in dims if d["Endpoint"] == NAMES["endpoint_name"]]
    assert {d["ModelVersion"] for d in mine} >= {result.final_version}
    assert len({d["MeterId"] for d in mine}) == 3
    alarms = cloudwatch.describe_alarms(AlarmNamePrefix=NAMES["endpoint_name"])["MetricAlarms"]
    assert {a["MetricName"] for a in alarms} == {
        "RollingMASE",
        "WeeklyMASE",
        "AnomalyCount",
        "Invocation5XXErrors",
    }
    for alarm in alarms:
        if alarm["Namespace"] == "EnergyAssets":
            version = {d["Name"]: d["Value"] for d in alarm["Dimensions"]}["ModelVersion"]
            assert version == result.final_version

    storage = replayed["defs"].resources["storage"]
    rows = storage.read_parquet(layout.MONITORING_REALISED)
    shifted = rows[rows["date"] >= pd.Timestamp(result.shift_day)]
    event = replayed["instance"].get_latest_materialization_event(
        dg.AssetKey("forecast_monitoring")
    )
    assert event.asset_materialization.metadata["model_version"].value == result.final_version
    assert len(shifted) and (shifted["model_version"].nunique() >= 1)
    anomalies = [
        e.asset_materialization.metadata["anomalies"].value
        for e in replayed["instance"]
        .fetch_materializations(dg.AssetKey("forecast_monitoring"), limit=200)
        .records
        if e.asset_materialization.partition
        and e.asset_materialization.partition
        in {result.shift_day, *[d.day for d in result.days if d.phase == "shift"][:3]}
    ]
    assert sum(anomalies) >= 2  # actuals outside the 95% interval right after the shift


def test_get_metric_data_returns_what_monitoring_published(replayed):
    result = replayed["result"]
    resources = replayed["defs"].resources
    midnight = datetime.combine(datetime.now(UTC).date(), time(0), tzinfo=UTC)
    series = resources["cloudwatch"].metric_series(
        "DailyMASE",
        {"Endpoint": NAMES["endpoint_name"], "ModelVersion": result.final_version},
        start=midnight - timedelta(days=15),
        end=midnight,
    )
    summary = resources["storage"].get_json(layout.MONITORING_LATEST)
    expected = {row["date"]: row["mase"] for row in summary["daily"]}
    assert summary["model_version"] == result.final_version and len(series) >= 1
    assert {t.strftime("%Y-%m-%d") for t in series.index} <= set(expected)
    for stamp, value in series.items():
        assert value == pytest.approx(expected[stamp.strftime("%Y-%m-%d")])


def test_the_drift_sensor_follows_the_rule_configured_on_monitoring(replayed):
    """The same realised error judged by two rules set on forecast_monitoring: the drift sensor
    retrains under the strict one and not under the lenient one (a rule of its own would answer
    the same both times). Last in the module: it re-monitors the replay's last day."""
    defs, result = replayed["defs"], replayed["result"]
    drift_sensor = defs.resolve_sensor_def("drift_sensor")
    last = result.days[-1].day
    job = defs.resolve_job_def("monitoring_job")

    def monitor_then_tick(rule: dict):
        config = {"ops": {"forecast_monitoring": {"config": rule}}}
        instance = dg.DagsterInstance.ephemeral()  # no retrain running in it
        run = job.execute_in_process(run_config=config, instance=instance, partition_key=last)
        assert run.success
        event = instance.get_latest_materialization_event(dg.AssetKey("forecast_monitoring"))
        with dg.build_sensor_context(instance=instance, resources=defs.resources) as context:
            return event.asset_materialization.metadata, drift_sensor(context)

    try:
        metadata, tick = monitor_then_tick(
            {"max_rolling_mase": 0.0, "sigmas": -100.0, "consecutive": 1}
        )
        assert metadata["drift"].value is True
        (request,) = tick.run_requests
        assert request.tags["energy-assets/champion"] == result.final_version
        reason = request.tags["energy-assets/reason"]
        assert "above 0 over" in reason or "+ -100 sd" in reason, reason

        metadata, tick = monitor_then_tick({"max_rolling_mase": 100.0, "sigmas": 100.0})
        assert metadata["drift"].value is False
        assert "rolling MASE above 100" in metadata["drift_rule"].value
        assert not tick.run_requests and "no drift" in tick.skip_reason.skip_message
    finally:
        monitor_then_tick({})  # the default rule again, as the replay left it
