"""One local AWS for these tests, reached with explicit endpoint URLs (``clients``), or through
the environment most users set (``one_url``, for the modules that ask for it).

moto keeps state per process, shared by every LocalAWS in it (the suite's own fixture too), and
per region: these tests work in their own region so that what they create never shows up in
another test's listing of us-east-1.
"""

from __future__ import annotations

import os

import boto3
import pytest

from energy_assets.localaws import LocalAWS

REGION = "us-west-2"
ROLE = "arn:aws:iam::123456789012:role/local-aws-tests"


@pytest.fixture(scope="session")
def local_aws():
    with LocalAWS(port=0, runtime_port=0, region=REGION) as aws:
        yield aws


class Clients:
    """boto3 clients of one LocalAWS, built on demand with explicit endpoint URLs."""

    def __init__(self, aws: LocalAWS, region: str = REGION):
        self.aws, self.region = aws, region
        self._session = boto3.session.Session()
        self._clients: dict[str, object] = {}

    def __call__(self, service: str):
        if service not in self._clients:
            runtime = service == "sagemaker-runtime"
            self._clients[service] = self._session.client(
                service,
                endpoint_url=self.aws.runtime_url if runtime else self.aws.endpoint_url,
                region_name=self.region,
                aws_access_key_id="testing",
                aws_secret_access_key="testing",
            )
        return self._clients[service]


@pytest.fixture(scope="session")
def clients(local_aws) -> Clients:
    return Clients(local_aws)


@pytest.fixture(scope="module")
def one_url(local_aws):
    """The environment most users set: ``AWS_ENDPOINT_URL`` alone (no runtime URL, no other
    per-service URL), test credentials and this module's region. Default boto3 clients, the
    SageMaker SDK and the AWS CLI all go to the local AWS's one port."""
    with pytest.MonkeyPatch.context() as patch:
        for key in [k for k in os.environ if k.startswith("AWS_ENDPOINT_URL_")]:
            patch.delenv(key)
        patch.delenv("AWS_PROFILE", raising=False)
        patch.setenv("AWS_ENDPOINT_URL", local_aws.endpoint_url)
        patch.setenv("AWS_ACCESS_KEY_ID", "testing")
        patch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        patch.setenv("AWS_DEFAULT_REGION", REGION)
        patch.setenv("AWS_REGION", REGION)
        yield dict(os.environ)


@pytest.fixture(scope="module")
def project_deployment(one_url):
    """An endpoint deployed the way the deploy asset does it, through the project's resources
    (model, endpoint config with data capture, endpoint, autoscaling, registry), plus one of each
    other resource the project reads back: a DeepAR training job request, metrics and alarms,
    the usage table, the bucket. Returns their names."""
    from dagster_aws.s3 import S3Resource

    from energy_assets.ml.deepar import training_job_request
    from energy_assets.resources import (
        CloudWatchResource,
        S3Storage,
        SageMakerResource,
        UsageTableResource,
    )
    from energy_assets.resources.cloudwatch import AlarmSpec
    from energy_assets.serving.artifact import pack_bundle
    from energy_assets_tests.localaws import deploy
    from energy_assets_tests.serving.helpers import make_bundle

    name = deploy.unique("project")
    storage = S3Storage(bucket=name, s3=S3Resource(region_name=REGION))
    storage.ensure_bucket()
    model_uri = storage.put_bytes("models/v1/model.tar.gz", pack_bundle(make_bundle("v1")))
    sagemaker = SageMakerResource(
        endpoint_name=name, role_arn=ROLE, image_uri="energy-assets-inference", region_name=REGION
    )
    tags = {"model_version": "v1"}
    sagemaker.create_model(name, model_uri, tags)
    capture = {
        "EnableCapture": True,
        "InitialSamplingPercentage": 100,
        "DestinationS3Uri": storage.uri("datacapture"),
        "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
        "CaptureContentTypeHeader": {"JsonContentTypes": ["application/json"]},
    }
    sagemaker.create_endpoint_config(name, name, "ml.m5.large", 1, tags, capture)
    sagemaker.point_endpoint_at(name, tags)
    sagemaker.configure_autoscaling(1, 4, 300.0, 300, 60)
    package = sagemaker.register_model(
        "v1", model_uri, {"mae": "1.0"}, storage.uri("evaluation/v1/report.json"), tags
    )
    sagemaker.set_approval(sagemaker.describe_package(package), "Approved", "serving")
    job = deploy.unique("deepar")
    channels = {"train": storage.uri("datasets/deepar/train/")}
    sagemaker.client().create_training_job(
        **training_job_request(job, "deepar-image", ROLE, channels, storage.uri("models/deepar"))
    )
    cloudwatch = CloudWatchResource(namespace=deploy.unique("EnergyAssets"), region_name=REGION)
    cloudwatch.put_metrics({"DailyMAE": 1.5}, {"Endpoint": name, "ModelVersion": "v1"})
    alarm = AlarmSpec(f"{name}-mae", "DailyMAE", {"Endpoint": name}, 3.0, "MAE above 3")
    cloudwatch.ensure_alarms([alarm])
    table = UsageTableResource(table_name=name, region_name=REGION)
    table.create()
    return {
        "endpoint": name,
        "bucket": name,
        "model_key": "models/v1/model.tar.gz",
        "package": package,
        "training_job": job,
        "namespace": cloudwatch.namespace,
        "alarm": alarm.name,
        "table": name,
    }
