"""The whole asset graph materialized against the local AWS, and the endpoint invoked by boto3."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from datetime import timedelta

import boto3
import dagster as dg
import pandas as pd
import pytest

from energy_assets import layout, raw_store
from energy_assets.ml.cleaning import counted
from energy_assets_tests.conftest import DEPLOYED_METERS as METERS
from energy_assets_tests.conftest import TODAY


@pytest.fixture(scope="module")
def pipeline(deployed):
    return deployed


def _metadata(result: dg.ExecuteInProcessResult, asset: str) -> dict:
    events = [m for m in result.get_asset_materialization_events() if m.asset_key.path == [asset]]
    event = events[-1]  # a range run records one event per partition, with the same metadata
    return {k: v.value for k, v in event.materialization.metadata.items()}


def _report(pipeline) -> dict:
    """The evaluation report of the model the training run evaluated."""
    storage = pipeline["defs"].resources["storage"]
    uri = _metadata(pipeline["runs"].training, "evaluation_report")["report_uri"]
    return storage.get_json(storage.key_of(uri))


def test_both_runs_succeed_and_every_asset_materializes(pipeline):
    runs = pipeline["runs"]
    assert runs.ingestion.success and runs.training.success
    materialized = {e.asset_key.path[-1] for e in runs.training.get_asset_materialization_events()}
    assert materialized == {
        "cleaned_usage",
        "train_test_split",
        "trained_forecaster",
        "evaluation_report",
        "registered_model",
        "forecast_endpoint",
    }


def test_export_writes_one_object_per_month(pipeline):
    storage = pipeline["defs"].resources["storage"]
    first = pd.Timestamp(pipeline["seeded"].first_date)
    last = pd.Timestamp(TODAY - timedelta(days=1))
    months = pd.period_range(first, last, freq="M").strftime("%Y-%m")
    expected = {layout.raw_month(m, 0) for m in months} | {layout.RAW_UNDATED}
    assert set(storage.list_keys(layout.RAW_PREFIX)) == expected
    meta = _metadata(pipeline["runs"].ingestion, "raw_usage_export")
    assert meta["table_items"] == pipeline["seeded"].rows
    assert (meta["objects_written"], meta["shards"]) == (len(expected), 1)
    # every item is in a month object of this run or another, waits for today, or is undated
    accounted = ("rows", "rows_other_days", "pending_rows", "undated_rows")
    assert sum(meta[k] for k in accounted) == meta["table_items"]
    assert meta["rows"] + meta["undated_rows"] == meta["table_items"]  # all days in this run
    # what cleaning reads back is every row exported, the undated ones included
    assert len(raw_store.read_raw(storage).rows) == meta["rows"] + meta["undated_rows"]


def test_cleaning_quarantines_bad_rows_with_reasons(pipeline):
    storage = pipeline["defs"].resources["storage"]
    stats = storage.get_json(layout.CLEAN_STATS)
    assert stats["rows_in"] == pipeline["seeded"].rows
    assert counted(stats)
    assert stats["rows_clean"] + stats["rows_quarantined"] == stats["rows_in"]
    key = storage.key_of(stats["quarantine_uri"])
    quarantine = storage.read_csv(key, dtype=str, keep_default_na=False)
    assert len(quarantine) == stats["rows_quarantined"] > 0
    assert {"invalid_date", "negative_usage", "duplicate"} <= set(quarantine["reason"])
    clean = storage.read_parquet(layout.CLEAN)
    assert not clean.duplicated(["meter_id", "date"]).any()
    assert clean["usage"].notna().all() and (clean["usage"] >= 0).all()
    assert clean["imputed"].sum() == stats["rows_imputed"] > 0


def test_blocking_checks_pass(pipeline):
    evaluations = pipeline["runs"].training.get_asset_check_evaluations()
    assert {e.check_name: e.passed for e in evaluations} == {
        "cleaned_usage_is_complete": True,
        "model_beats_seasonal_naive": True,
    }


def test_split_in_s3(pipeline):
    storage = pipeline["defs"].resources["storage"]
    train = storage.read_csv(layout.TRAIN, parse_dates=["date"])
    test = storage.read_csv(layout.TEST, parse_dates=["date"])
    assert train["date"].max() < test["date"].min()
    assert test["date"].nunique() == 28
    # what training reads, no engineered features (those are exploration_features', for people)
    assert {"meter_id", "date", "usage", "imputed"} <= set(train.columns)
    assert not {"day_of_week", "lag_7", "season"} & set(train.columns)
    # the same split as DeepAR channels: one series per meter, test = train + test days
    for name, last in (("train", train["date"].max()), ("test", test["date"].max())):
        lines = storage.get_bytes(layout.deepar_channel(name)).decode().splitlines()
        series = [json.loads(line) for line in lines]
        assert len(series) == METERS
        first = pd.Timestamp(series[0]["start"])
        assert first + pd.Timedelta(days=len(series[0]["target"]) - 1) == last


def test_evaluation_reports_metrics_and_plot(pipeline):
    meta = _metadata(pipeline["runs"].training, "evaluation_report")
    for key in ("mae", "mse", "rmse", "baseline_mae"):
        assert meta[key] >= 0
    assert meta["rmse"] == pytest.approx(meta["mse"] ** 0.5)
    assert meta["plot"].startswith("![predicted vs actual](data:image/png;base64,")
    storage = pipeline["defs"].resources["storage"]
    png = storage.get_bytes(storage.key_of(meta["plot_uri"]))
    assert png.startswith(b"\x89PNG")
    metrics = boto3.client("cloudwatch").list_metrics(Namespace="EnergyAssets")["Metrics"]
    versions = {
        d["Value"] for m in metrics if m["MetricName"] == "TestMAE" for d in m["Dimensions"]
    }
    assert meta["version"] in versions


def test_model_artifact_holds_every_meter(pipeline):
    storage = pipeline["defs"].resources["storage"]
    trained = _metadata(pipeline["runs"].training, "trained_forecaster")
    tar = storage.get_bytes(storage.key_of(trained["model_uri"]))
    with tarfile.open(fileobj=io.BytesIO(tar)) as archive:
        manifest = json.load(archive.extractfile("manifest.json"))
    assert manifest["version"] == trained["version"]
    assert len(manifest["meters"]) == METERS
    assert hashlib.sha256(tar).hexdigest() == trained["sha256"]


def test_each_asset_names_the_model_it_is_about(pipeline):
    """The model version is lineage Dagster records: each step loaded the value its upstream
    step handed on in the same run, and the materializations carry it as their input's data
    version (the UI's provenance)."""
    run = pipeline["runs"].training
    version = _metadata(run, "trained_forecaster")["version"]
    loaded = {
        (e.step_key, e.event_specific_data.input_name): {
            k: v.value for k, v in e.event_specific_data.metadata.items()
        }
        for e in run.all_events
        if e.event_type_value == "LOADED_INPUT"
    }
    for step, name in (
        ("evaluation_report", "trained_forecaster"),
        ("registered_model", "evaluation_report"),
        ("forecast_endpoint", "registered_model"),
    ):
        found = loaded[(step, name)]
        assert found["from_run"] == run.run_id and found["how"] == "written by this run"
        assert found["value"]["version"] == version
    instance = pipeline["instance"]
    for asset, upstream in (
        ("evaluation_report", "trained_forecaster"),
        ("registered_model", "evaluation_report"),
        ("forecast_endpoint", "registered_model"),
    ):
        event = instance.get_latest_materialization_event(dg.AssetKey(asset))
        tags = event.asset_materialization.tags
        # the upstream is partitioned by meter shard: Dagster records its input version as the
        # SHA-256 of the data versions of the partitions read (here shard 00's: the version)
        read = hashlib.sha256(version.encode()).hexdigest()
        assert tags[f"dagster/input_data_version/{upstream}"] == read
        assert tags["dagster/data_version"] == version
    storage = pipeline["defs"].resources["storage"]
    assert not storage.exists("models/latest.json")
    assert not storage.exists("evaluation/latest.json")


def test_endpoint_serves_the_trained_model_through_boto3(pipeline):
    from energy_assets.serving.artifact import load_bundle

    storage = pipeline["defs"].resources["storage"]
    endpoint = pipeline["defs"].resources["sagemaker"].endpoint_name
    sm = boto3.client("sagemaker")
    described = sm.describe_endpoint(EndpointName=endpoint)
    assert described["EndpointStatus"] == "InService"
    config = sm.describe_endpoint_config(EndpointConfigName=described["EndpointConfigName"])
    assert config["ProductionVariants"][0]["InstanceType"] == "ml.m5.large"
    autoscaling = boto3.client("application-autoscaling")
    resource = f"endpoint/{endpoint}/variant/AllTraffic"
    policies = autoscaling.describe_scaling_policies(
        ServiceNamespace="sagemaker", ResourceId=resource
    )["ScalingPolicies"]
    assert [p["PolicyType"] for p in policies] == ["TargetTrackingScaling"]
    tracking = policies[0]["TargetTrackingScalingPolicyConfiguration"]
    assert tracking["PredefinedMetricSpecification"]["PredefinedMetricType"] == (
        "SageMakerVariantInvocationsPerInstance"
    )
    assert (tracking["ScaleInCooldown"], tracking["ScaleOutCooldown"]) == (300, 60)
    (target,) = autoscaling.describe_scalable_targets(
        ServiceNamespace="sagemaker", ResourceIds=[resource]
    )["ScalableTargets"]
    assert (target["MinCapacity"], target["MaxCapacity"]) == (1, 4)

    latest = _report(pipeline)
    bundle = load_bundle(storage.get_bytes(storage.key_of(latest["model_uri"])))
    meter = bundle.meters[-1]
    response = boto3.client("sagemaker-runtime").invoke_endpoint(
        EndpointName=endpoint,
        ContentType="application/json",
        Body=json.dumps({"meter_id": meter, "horizon": 14}),
    )
    answer = json.loads(response["Body"].read())
    expected = bundle.forecast(meter, 14)
    assert answer["model_version"] == latest["version"]
    assert answer["forecast"] == pytest.approx(expected["forecast"].tolist())
    assert answer["dates"][0] == expected["date"].iloc[0].strftime("%Y-%m-%d")
    # parameters come from the training window, but forecasts start after the latest actual
    test = storage.read_csv(layout.TEST, dtype={"meter_id": str}, parse_dates=["date"])
    latest_actual = test.loc[test["meter_id"] == meter, "date"].max()
    assert answer["start"] == (latest_actual + pd.Timedelta(days=1)).strftime("%Y-%m-%d")
    meta = _metadata(pipeline["runs"].training, "forecast_endpoint")
    assert meta["smoke_test"]["model_version"] == latest["version"]
    assert meta["deployed"] is True and meta["reason"] == "no model is serving"


def test_the_served_model_is_registered_and_approved(pipeline):
    defs = pipeline["defs"]
    storage, sagemaker = defs.resources["storage"], defs.resources["sagemaker"]
    current = storage.get_json(layout.DEPLOYMENT_CURRENT)
    package = sagemaker.find_package(current["model_version"])
    assert package["ModelApprovalStatus"] == "Approved"
    assert package["ModelPackageArn"] == current["model_package_arn"]
    metadata = package["CustomerMetadataProperties"]
    report = _report(pipeline)
    assert float(metadata["mae"]) == pytest.approx(report["overall"]["mae"], rel=1e-5)
    assert metadata["serving"] == "true"
    statistics = package["ModelMetrics"]["ModelQuality"]["Statistics"]["S3Uri"]
    assert storage.get_json(storage.key_of(statistics))["version"] == current["model_version"]
    config = sagemaker.client().describe_endpoint_config(
        EndpointConfigName=current["endpoint_config"]
    )
    capture = config["DataCaptureConfig"]
    assert capture["EnableCapture"] and capture["DestinationS3Uri"].endswith("/datacapture")
