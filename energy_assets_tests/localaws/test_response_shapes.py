"""Every Describe/List answer the project (and the SageMaker SDK) reads, checked against
botocore's service model: required members present, types and enum values right. A member the
local AWS leaves out fails here, before a validating client (sagemaker-core's pydantic models)
fails for a user."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import boto3
import pytest

from energy_assets_tests.localaws import deploy
from energy_assets_tests.localaws.conftest import Clients
from energy_assets_tests.localaws.shapes import answer_problems, problems
from energy_assets_tests.serving.helpers import make_bundle

# (service, method, arguments from the deployment's names)
CALLS = [
    ("sagemaker", "describe_endpoint", lambda d: {"EndpointName": d["endpoint"]}),
    ("sagemaker", "describe_endpoint_config", lambda d: {"EndpointConfigName": d["endpoint"]}),
    ("sagemaker", "describe_model", lambda d: {"ModelName": d["endpoint"]}),
    ("sagemaker", "describe_endpoint", lambda d: {"EndpointName": d["plain"]}),  # no capture
    ("sagemaker", "describe_endpoint_config", lambda d: {"EndpointConfigName": d["plain_config"]}),
    ("sagemaker", "list_endpoints", lambda d: {}),
    ("sagemaker", "list_endpoint_configs", lambda d: {}),
    ("sagemaker", "list_models", lambda d: {}),
    ("sagemaker", "list_tags", lambda d: {"ResourceArn": d["endpoint_arn"]}),
    (
        "sagemaker",
        "describe_model_package_group",
        lambda d: {"ModelPackageGroupName": d["endpoint"]},
    ),
    ("sagemaker", "list_model_package_groups", lambda d: {}),
    ("sagemaker", "describe_model_package", lambda d: {"ModelPackageName": d["package"]}),
    (
        "sagemaker",
        "list_model_packages",
        lambda d: {
            "ModelPackageGroupName": d["endpoint"],
            "SortBy": "CreationTime",
            "SortOrder": "Descending",
        },
    ),
    ("sagemaker", "describe_training_job", lambda d: {"TrainingJobName": d["training_job"]}),
    ("sagemaker", "list_training_jobs", lambda d: {}),
    ("application-autoscaling", "describe_scalable_targets", lambda d: _scaling(d)),
    (
        "application-autoscaling",
        "describe_scaling_policies",
        lambda d: {"ServiceNamespace": "sagemaker", "ResourceId": _resource(d)},
    ),
    ("cloudwatch", "list_metrics", lambda d: {"Namespace": d["namespace"]}),
    ("cloudwatch", "list_metrics", lambda d: {"Namespace": "AWS/SageMaker"}),
    ("cloudwatch", "describe_alarms", lambda d: {"AlarmNames": [d["alarm"]]}),
    ("cloudwatch", "get_metric_data", lambda d: _metric_query(d)),
    ("dynamodb", "describe_table", lambda d: {"TableName": d["table"]}),
    ("s3", "list_objects_v2", lambda d: {"Bucket": d["bucket"]}),
    ("s3", "head_object", lambda d: {"Bucket": d["bucket"], "Key": d["model_key"]}),
    ("s3", "list_buckets", lambda d: {}),
]


def _resource(d: dict) -> str:
    return f"endpoint/{d['endpoint']}/variant/AllTraffic"


def _scaling(d: dict) -> dict:
    return {"ServiceNamespace": "sagemaker", "ResourceIds": [_resource(d)]}


def _metric_query(d: dict) -> dict:
    now = datetime.now(UTC)
    metric = {"Namespace": d["namespace"], "MetricName": "DailyMAE"}
    return {
        "MetricDataQueries": [
            {"Id": "m", "MetricStat": {"Metric": metric, "Period": 60, "Stat": "Average"}}
        ],
        "StartTime": now - timedelta(hours=1),
        "EndTime": now + timedelta(minutes=1),
    }


@pytest.fixture(scope="module")
def deployment(project_deployment, local_aws):
    sagemaker = boto3.client("sagemaker")
    arn = sagemaker.describe_endpoint(EndpointName=project_deployment["endpoint"])["EndpointArn"]
    boto3.client("sagemaker-runtime").invoke_endpoint(
        EndpointName=project_deployment["endpoint"],
        ContentType="application/json",
        Body=b'{"meter_id": "m1", "horizon": 2}',
    )
    local_aws.flush_telemetry()  # the endpoint's AWS/SageMaker metrics exist
    plain = deploy.endpoint(Clients(local_aws), make_bundle("plain"))
    plain_config = sagemaker.describe_endpoint(EndpointName=plain)["EndpointConfigName"]
    return {**project_deployment, "endpoint_arn": arn, "plain": plain, "plain_config": plain_config}


@pytest.mark.parametrize(
    ("service", "method", "arguments"),
    CALLS,
    ids=[f"{service}.{method}-{i}" for i, (service, method, _) in enumerate(CALLS)],
)
def test_answers_match_the_service_model(deployment, service, method, arguments):
    client = boto3.client(service)
    answer = getattr(client, method)(**arguments(deployment))
    assert answer_problems(client, method, answer) == []


def test_the_answers_checked_are_not_empty(deployment):
    """The walk above judges real content: the endpoint's data capture, the package's name, the
    scalable target's role, one listed metric per metric."""
    sagemaker = boto3.client("sagemaker")
    endpoint = sagemaker.describe_endpoint(EndpointName=deployment["endpoint"])
    assert endpoint["DataCaptureConfig"] == {
        "EnableCapture": True,
        "CaptureStatus": "Started",
        "CurrentSamplingPercentage": 100,
        "DestinationS3Uri": f"s3://{deployment['bucket']}/datacapture",
    }
    package = sagemaker.describe_model_package(ModelPackageName=deployment["package"])
    assert package["ModelPackageName"] == deployment["endpoint"] == package["ModelPackageGroupName"]
    assert "VpcConfig" not in sagemaker.describe_model(ModelName=deployment["endpoint"])
    (target,) = boto3.client("application-autoscaling").describe_scalable_targets(
        **_scaling(deployment)
    )["ScalableTargets"]
    assert target["RoleARN"].endswith("/AWSServiceRoleForApplicationAutoScaling_SageMakerEndpoint")


def test_the_walk_finds_what_moto_used_to_leave_out():
    """moto's own DescribeEndpoint and DescribeModel answers fail the walk (so it can fail)."""
    model = boto3.session.Session().client("sagemaker", region_name="us-east-1").meta
    endpoint = model.service_model.operation_model("DescribeEndpoint").output_shape
    moto_answer = {
        "EndpointName": "e",
        "EndpointArn": "arn:aws:sagemaker:us-east-1:123456789012:endpoint/e",
        "EndpointStatus": "InService",
        "CreationTime": datetime.now(UTC),
        "LastModifiedTime": datetime.now(UTC),
        "DataCaptureConfig": {"EnableCapture": True, "DestinationS3Uri": "s3://b/capture"},
    }
    assert problems(moto_answer, endpoint) == [
        ".DataCaptureConfig.CaptureStatus: required by DataCaptureConfigSummary, missing",
        ".DataCaptureConfig.CurrentSamplingPercentage: required by DataCaptureConfigSummary, "
        "missing",
    ]
    described = model.service_model.operation_model("DescribeModel").output_shape
    assert sorted(problems({"ModelName": "m", "VpcConfig": {}}, described)) == [
        ".CreationTime: required by DescribeModelOutput, missing",
        ".ModelArn: required by DescribeModelOutput, missing",
        ".VpcConfig.SecurityGroupIds: required by VpcConfig, missing",
        ".VpcConfig.Subnets: required by VpcConfig, missing",
    ]
    wrong = {**moto_answer, "EndpointStatus": "Running", "DataCaptureConfig": None}
    assert problems(wrong, endpoint) == [
        ".EndpointStatus: 'Running' is not one of EndpointStatus's values "
        f"{model.service_model.shape_for('EndpointStatus').enum}",
        ".DataCaptureConfig: NoneType, not a DataCaptureConfigSummary",
    ]


def test_the_sagemaker_sdk_reads_every_resource(deployment):
    """sagemaker-core validates each answer with pydantic, as users of SDK 3.x meet it."""
    from sagemaker.core import resources
    from sagemaker.core.utils.utils import SageMakerClient

    SageMakerClient.reset()  # clients cached by an earlier test may point elsewhere
    name = deployment["endpoint"]
    endpoint = resources.Endpoint.get(endpoint_name=name)
    assert endpoint.endpoint_status == "InService"
    assert endpoint.data_capture_config.capture_status == "Started"
    assert resources.EndpointConfig.get(endpoint_config_name=name).endpoint_config_name == name
    assert resources.Model.get(model_name=name).primary_container.model_data_url.endswith(
        "model.tar.gz"
    )
    assert resources.ModelPackageGroup.get(model_package_group_name=name)
    package = resources.ModelPackage.get(model_package_name=deployment["package"])
    assert package.model_approval_status == "Approved"
    job = resources.TrainingJob.get(training_job_name=deployment["training_job"])
    assert job.training_job_name == deployment["training_job"]
    assert name in {e.endpoint_name for e in resources.Endpoint.get_all()}
    assert name in {m.model_name for m in resources.Model.get_all()}
