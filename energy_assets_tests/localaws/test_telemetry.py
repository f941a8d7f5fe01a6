"""Endpoint metrics in CloudWatch and data capture in S3, written by the local runtime."""

import json
from datetime import UTC, datetime, timedelta

import pytest
from botocore.exceptions import ClientError

from energy_assets_tests.localaws import deploy
from energy_assets_tests.localaws.cli import aws_json
from energy_assets_tests.serving.helpers import make_bundle


def test_invocations_publish_sagemaker_metrics_and_captures(local_aws, clients):
    sagemaker, runtime = clients("sagemaker"), clients("sagemaker-runtime")
    capture_bucket = deploy.bucket(clients, "localaws-tests-capture")
    model = deploy.model(clients, make_bundle("v1"))
    config = deploy.unique("capture-config")
    sagemaker.create_endpoint_config(
        EndpointConfigName=config,
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": model,
                "InstanceType": "ml.m5.large",
                "InitialInstanceCount": 2,
            }
        ],
        DataCaptureConfig={
            "EnableCapture": True,
            "InitialSamplingPercentage": 100,
            "DestinationS3Uri": f"s3://{capture_bucket}/capture",
            "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
            "CaptureContentTypeHeader": {"JsonContentTypes": ["application/json"]},
        },
    )
    name = deploy.unique("captured")
    sagemaker.create_endpoint(EndpointName=name, EndpointConfigName=config)
    local_aws.flush_telemetry()  # nothing of this endpoint is pending before it serves
    for horizon in (1, 2, 3):
        runtime.invoke_endpoint(
            EndpointName=name,
            ContentType="application/json",
            Body=json.dumps({"meter_id": "m1", "horizon": horizon}),
        )
    with pytest.raises(ClientError):
        runtime.invoke_endpoint(EndpointName=name, ContentType="application/json", Body=b"{")
    local_aws.flush_telemetry()

    cloudwatch = clients("cloudwatch")
    dims = [{"Name": "EndpointName", "Value": name}, {"Name": "VariantName", "Value": "AllTraffic"}]

    def total(metric: str, statistic: str = "Sum") -> float:
        points = cloudwatch.get_metric_statistics(
            Namespace="AWS/SageMaker",
            MetricName=metric,
            Dimensions=dims,
            StartTime=datetime.now(UTC) - timedelta(minutes=10),
            EndTime=datetime.now(UTC) + timedelta(minutes=1),
            Period=60,
            Statistics=[statistic],
        )["Datapoints"]
        return sum(p[statistic] for p in points)

    assert total("Invocations") == 4
    assert total("InvocationsPerInstance") == 2  # two instances share the calls
    assert total("Invocation4XXErrors") == 1 and total("Invocation5XXErrors") == 0
    assert total("ModelLatency", "SampleCount") == 4
    assert 0 < total("ModelLatency", "Maximum") < 5e6  # microseconds

    s3 = clients("s3")
    keys = [
        o["Key"]
        for o in s3.list_objects_v2(Bucket=capture_bucket, Prefix=f"capture/{name}/AllTraffic/")[
            "Contents"
        ]
    ]
    assert keys and all(k.endswith(".jsonl") for k in keys)
    records = [
        json.loads(line)
        for k in keys
        for line in s3.get_object(Bucket=capture_bucket, Key=k)["Body"].read().splitlines()
    ]
    assert len(records) == 3  # the rejected payload is not captured
    inputs = sorted(
        json.loads(r["captureData"]["endpointInput"]["data"])["horizon"] for r in records
    )
    assert inputs == [1, 2, 3]
    output = records[0]["captureData"]["endpointOutput"]
    assert output["encoding"] == "JSON" and json.loads(output["data"])["model_version"] == "v1"


def test_list_metrics_lists_each_metric_once(local_aws, clients, one_url):
    """Each flush and each day's monitoring put the same metrics again (same dimensions): the
    AWS CLI's list-metrics shows each once, as CloudWatch does (moto listed one per put)."""
    name = deploy.endpoint(clients, make_bundle("listed"))
    runtime = clients("sagemaker-runtime")
    for _ in range(2):  # two flushes: two PutMetricData of every endpoint metric
        runtime.invoke_endpoint(
            EndpointName=name, ContentType="application/json", Body=b'{"meter_id":"m1","horizon":1}'
        )
        local_aws.flush_telemetry()
    namespace = deploy.unique("EnergyAssets")
    dims = [{"Name": "Endpoint", "Value": name}, {"Name": "ModelVersion", "Value": "listed"}]
    for day in (1, 2):  # what forecast_monitoring writes for two days
        clients("cloudwatch").put_metric_data(
            Namespace=namespace,
            MetricData=[
                {
                    "MetricName": metric,
                    "Dimensions": dims,
                    "Value": 1.0,
                    "Timestamp": datetime.now(UTC) - timedelta(days=day),
                }
                for metric in ("DailyMAE", "DailyMASE")
            ],
        )

    def listed(*args: str) -> list[tuple]:
        metrics = aws_json("cloudwatch", "list-metrics", *args)["Metrics"]
        return sorted(
            (m["MetricName"], tuple(sorted((d["Name"], d["Value"]) for d in m["Dimensions"])))
            for m in metrics
        )

    endpoint_dims = (("EndpointName", name), ("VariantName", "AllTraffic"))
    assert listed(
        "--namespace", "AWS/SageMaker", "--dimensions", f"Name=EndpointName,Value={name}"
    ) == [
        (metric, endpoint_dims)
        for metric in sorted(
            [
                "Invocation4XXErrors",
                "Invocation5XXErrors",
                "Invocations",
                "InvocationsPerInstance",
                "ModelLatency",
                "OverheadLatency",
            ]
        )
    ]
    model_dims = (("Endpoint", name), ("ModelVersion", "listed"))
    assert listed("--namespace", namespace) == [("DailyMAE", model_dims), ("DailyMASE", model_dims)]
