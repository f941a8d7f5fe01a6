"""The local SageMaker runtime through boto3: real models, AWS-shaped errors, UpdateEndpoint."""

import json

import boto3
import pytest

from energy_assets.serving.artifact import pack_bundle
from energy_assets_tests.serving.conftest import make_bundle

ROLE = "arn:aws:iam::123456789012:role/test"


def _deploy_config(sm, s3, version: str) -> str:
    s3.put_object(
        Bucket="runtime-tests",
        Key=f"{version}/model.tar.gz",
        Body=pack_bundle(make_bundle(version)),
    )
    sm.create_model(
        ModelName=f"model-{version}",
        PrimaryContainer={
            "Image": "img",
            "ModelDataUrl": f"s3://runtime-tests/{version}/model.tar.gz",
        },
        ExecutionRoleArn=ROLE,
    )
    sm.create_endpoint_config(
        EndpointConfigName=f"config-{version}",
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": f"model-{version}",
                "InstanceType": "ml.m5.large",
                "InitialInstanceCount": 1,
            }
        ],
    )
    return f"config-{version}"


@pytest.fixture(scope="module")
def clients(local_aws):
    sm, s3 = boto3.client("sagemaker"), boto3.client("s3")
    s3.create_bucket(Bucket="runtime-tests")
    sm.create_endpoint(EndpointName="runtime-test", EndpointConfigName=_deploy_config(sm, s3, "v1"))
    return sm, s3, boto3.client("sagemaker-runtime")


def _invoke(runtime, body, endpoint="runtime-test", content_type="application/json"):
    response = runtime.invoke_endpoint(EndpointName=endpoint, ContentType=content_type, Body=body)
    assert response["InvokedProductionVariant"] == "AllTraffic"
    return json.loads(response["Body"].read())


def test_invoke_serves_the_endpoints_model(clients):
    _, _, runtime = clients
    answer = _invoke(runtime, json.dumps({"meter_id": "m1", "horizon": 3}))
    expected = make_bundle().forecast("m1", 3)
    assert answer["forecast"] == expected["forecast"].tolist()
    assert answer["model_version"] == "v1"


def test_update_endpoint_switches_the_served_model(clients):
    sm, s3, runtime = clients
    sm.update_endpoint(EndpointName="runtime-test", EndpointConfigName=_deploy_config(sm, s3, "v2"))
    described = sm.describe_endpoint(EndpointName="runtime-test")
    assert described["EndpointStatus"] == "InService"
    assert described["EndpointConfigName"] == "config-v2"
    assert _invoke(runtime, json.dumps({"meter_id": "m1", "horizon": 1}))["model_version"] == "v2"


def test_missing_endpoint_is_a_validation_error(clients):
    _, _, runtime = clients
    with pytest.raises(runtime.exceptions.ValidationError, match="Endpoint nope .* not found"):
        _invoke(runtime, b"{}", endpoint="nope")


def test_bad_payload_is_a_model_error_carrying_the_original_400(clients):
    _, _, runtime = clients
    with pytest.raises(runtime.exceptions.ModelError) as caught:
        _invoke(runtime, json.dumps({"meter_id": "zz", "horizon": 1}))
    error = caught.value.response
    assert error["OriginalStatusCode"] == 400
    assert "unknown meter 'zz'" in error["OriginalMessage"]


def test_other_services_answer(local_aws):
    assert "TableNames" in boto3.client("dynamodb").list_tables()
    boto3.client("cloudwatch").put_metric_data(
        Namespace="Test", MetricData=[{"MetricName": "x", "Value": 1.0}]
    )
    assert boto3.client("cloudwatch").list_metrics(Namespace="Test")["Metrics"]
    scaling = boto3.client("application-autoscaling")
    assert isinstance(
        scaling.describe_scalable_targets(ServiceNamespace="sagemaker")["ScalableTargets"], list
    )
