"""Clients this project did not write, set up the way most users set them up: ``AWS_ENDPOINT_URL``
alone. boto3, the SageMaker Python SDK and the AWS CLI reach the real model through the local
AWS's one port (moto used to answer InvokeEndpoint there with a canned ``b'body'``)."""

from __future__ import annotations

import json
import os
import time

import boto3
import pytest

from energy_assets.localaws.gateway import is_runtime_request
from energy_assets_tests.localaws import deploy
from energy_assets_tests.localaws.cli import aws, aws_json
from energy_assets_tests.localaws.conftest import Clients
from energy_assets_tests.serving.helpers import make_bundle


def expected(meter: str, horizon: int) -> list[float]:
    return make_bundle("v1").forecast(meter, horizon)["forecast"].tolist()


@pytest.fixture(scope="module")
def endpoint(project_deployment) -> str:
    assert "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME" not in os.environ
    return project_deployment["endpoint"]


def test_boto3_invokes_the_real_model_through_aws_endpoint_url_alone(endpoint, local_aws):
    runtime = boto3.client("sagemaker-runtime")
    assert runtime.meta.endpoint_url == local_aws.endpoint_url
    response = runtime.invoke_endpoint(
        EndpointName=endpoint,
        ContentType="application/json",
        Accept="application/json",
        Body=json.dumps({"meter_id": "m1", "horizon": 3}),
    )
    answer = json.loads(response["Body"].read())
    assert answer["forecast"] == expected("m1", 3) and answer["model_version"] == "v1"
    assert response["ContentType"] == "application/json"
    assert response["InvokedProductionVariant"] == "AllTraffic"


def test_errors_come_back_as_on_aws_through_the_one_url(endpoint):
    runtime = boto3.client("sagemaker-runtime")
    with pytest.raises(runtime.exceptions.ValidationError, match="Endpoint nope of account"):
        runtime.invoke_endpoint(EndpointName="nope", ContentType="application/json", Body=b"{}")
    with pytest.raises(runtime.exceptions.ModelError) as caught:
        runtime.invoke_endpoint(
            EndpointName=endpoint,
            ContentType="application/json",
            Body=b'{"meter_id": "zz", "horizon": 1}',
        )
    assert caught.value.response["OriginalStatusCode"] == 400
    assert "unknown meter 'zz'" in caught.value.response["OriginalMessage"]


def test_the_sdk_gets_the_endpoint_and_invokes_it(endpoint):
    """SageMaker Python SDK 3.x: ``Endpoint.get`` validated DescribeEndpoint (data capture
    included) with pydantic and failed; ``invoke`` went to moto's canned runtime."""
    from sagemaker.core.resources import Endpoint
    from sagemaker.core.utils.utils import SageMakerClient

    SageMakerClient.reset()  # clients cached by an earlier test may point elsewhere
    found = Endpoint.get(endpoint_name=endpoint)
    assert found.endpoint_status == "InService"
    assert found.data_capture_config.current_sampling_percentage == 100
    response = found.invoke(
        body=json.dumps({"meter_id": "m2", "horizon": 4}),
        content_type="application/json",
        accept="application/json",
    )
    body = response.body if isinstance(response.body, bytes) else response.body.read()
    assert json.loads(body)["forecast"] == expected("m2", 4)
    assert response.invoked_production_variant == "AllTraffic"


@pytest.mark.parametrize("port", ["AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME"])
def test_response_stream_carries_the_models_answer(endpoint, local_aws, port):
    url = local_aws.endpoint_url if port == "AWS_ENDPOINT_URL" else local_aws.runtime_url
    runtime = boto3.client("sagemaker-runtime", endpoint_url=url)
    response = runtime.invoke_endpoint_with_response_stream(
        EndpointName=endpoint,
        ContentType="application/json",
        Body=b'{"meter_id": "m1", "horizon": 14}',
    )
    parts = [event["PayloadPart"]["Bytes"] for event in response["Body"]]
    assert json.loads(b"".join(parts))["forecast"] == expected("m1", 14)
    assert response["ContentType"] == "application/json"
    assert response["InvokedProductionVariant"] == "AllTraffic"


def _wait_for_object(s3, uri: str, timeout: float = 30.0) -> bytes:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    deadline = time.monotonic() + timeout
    while True:
        try:
            return s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        except s3.exceptions.NoSuchKey:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def test_async_invocation_reads_s3_and_writes_the_forecast(endpoint, local_aws):
    clients = Clients(local_aws)
    bucket = deploy.bucket(clients, deploy.unique("async"))
    model = deploy.model(clients, make_bundle("v1"))
    config = deploy.unique("async-config")
    clients("sagemaker").create_endpoint_config(
        EndpointConfigName=config,
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": model,
                "InstanceType": "ml.m5.large",
                "InitialInstanceCount": 1,
            }
        ],
        AsyncInferenceConfig={
            "OutputConfig": {
                "S3OutputPath": f"s3://{bucket}/out",
                "S3FailurePath": f"s3://{bucket}/failed",
            }
        },
    )
    name = deploy.unique("async-endpoint")
    clients("sagemaker").create_endpoint(EndpointName=name, EndpointConfigName=config)
    s3, runtime = boto3.client("s3"), boto3.client("sagemaker-runtime")
    s3.put_object(Bucket=bucket, Key="in/good.json", Body=b'{"meter_id": "m2", "horizon": 2}')
    s3.put_object(Bucket=bucket, Key="in/bad.json", Body=b'{"meter_id": "zz", "horizon": 2}')

    good = runtime.invoke_endpoint_async(
        EndpointName=name, InputLocation=f"s3://{bucket}/in/good.json", InferenceId="good-1"
    )
    assert good["ResponseMetadata"]["HTTPStatusCode"] == 202
    assert good["InferenceId"] == "good-1"
    assert good["OutputLocation"] == f"s3://{bucket}/out/good-1.out"
    assert json.loads(_wait_for_object(s3, good["OutputLocation"]))["forecast"] == expected("m2", 2)
    bad = runtime.invoke_endpoint_async(
        EndpointName=name, InputLocation=f"s3://{bucket}/in/bad.json"
    )
    assert bad["FailureLocation"].startswith(f"s3://{bucket}/failed/")
    failure = json.loads(_wait_for_object(s3, bad["FailureLocation"]))
    assert "unknown meter 'zz'" in failure["error"]

    with pytest.raises(runtime.exceptions.ValidationError, match="not an asynchronous"):
        runtime.invoke_endpoint_async(
            EndpointName=endpoint, InputLocation=f"s3://{bucket}/in/good.json"
        )


def test_only_runtime_calls_are_taken_from_moto():
    signed = "AWS4-HMAC-SHA256 Credential=testing/20261129/us-west-2/{}/aws4_request, X=y"
    runtime = {"REQUEST_METHOD": "POST", "PATH_INFO": "/endpoints/e1/invocations"}
    assert is_runtime_request({**runtime, "HTTP_AUTHORIZATION": signed.format("sagemaker")})
    assert is_runtime_request(runtime)  # unsigned: no other service has this path
    stream = {**runtime, "PATH_INFO": "/endpoints/e1/invocations-response-stream"}
    assert is_runtime_request(stream)
    # an S3 object "e1/invocations" in a bucket named "endpoints" stays S3's
    assert not is_runtime_request({**runtime, "HTTP_AUTHORIZATION": signed.format("s3")})
    control = {"REQUEST_METHOD": "POST", "PATH_INFO": "/"}
    assert not is_runtime_request({**control, "HTTP_AUTHORIZATION": signed.format("sagemaker")})
    assert not is_runtime_request({**runtime, "REQUEST_METHOD": "GET"})


def test_the_aws_cli_invokes_and_describes_the_endpoint(endpoint, tmp_path):
    out = tmp_path / "answer.json"
    aws(
        "sagemaker-runtime",
        "invoke-endpoint",
        "--endpoint-name",
        endpoint,
        "--content-type",
        "application/json",
        "--body",
        '{"meter_id": "m1", "horizon": 2}',
        str(out),
    )
    assert json.loads(out.read_text())["forecast"] == expected("m1", 2)
    described = aws_json("sagemaker", "describe-endpoint", "--endpoint-name", endpoint)
    assert described["DataCaptureConfig"]["CaptureStatus"] == "Started"
