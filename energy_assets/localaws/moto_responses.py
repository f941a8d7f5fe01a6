"""moto's answers corrected to what AWS answers and botocore's service model requires.

Clients that validate answers against the service model fail on a member moto leaves out:
SageMaker Python SDK 3.x (``sagemaker.core`` resources, pydantic models built from the same
model) refuses ``Endpoint.get`` when DescribeEndpoint's ``DataCaptureConfig`` lacks
``CaptureStatus`` and ``CurrentSamplingPercentage``, and ``Model.get`` when DescribeModel has an
empty ``VpcConfig``. Each fix below fills a member the way AWS does, from state moto keeps; the
test ``energy_assets_tests/localaws/test_response_shapes.py`` walks every answer the project
relies on against the service model, so a new gap shows up as a failing test.

* DescribeEndpoint ``DataCaptureConfig``: AWS answers a summary (``EnableCapture``,
  ``CaptureStatus`` Started/Stopped, ``CurrentSamplingPercentage``, ``DestinationS3Uri``, and
  ``KmsKeyId`` when the config has one); moto echoes the endpoint config's ``DataCaptureConfig``.
* DescribeEndpoint and DescribeEndpointConfig without data capture, DescribeModel: moto answers
  ``DataCaptureConfig: {}``, ``VpcConfig: {}`` and ``Containers: []`` for a resource created
  without them (each has required members); AWS leaves them out.
* DescribeModelPackageGroup: ``CreatedBy`` (no member of it is required; nothing here knows a
  Studio user, so it is empty).
* DescribeModelPackage of a versioned package: ``ModelPackageName`` is the group's name, as in
  ListModelPackages; moto drops it.
* DescribeScalableTargets: ``RoleARN`` is the service-linked role Application Auto Scaling uses
  when the caller names none; moto answers null.
* CloudWatch ListMetrics: a metric is one namespace, name and set of dimensions, listed once
  however many data points it has. moto 5.2 compares dimension lists pairwise, every dimension
  against every other, so a metric with two or more dimensions never equals itself and is listed
  once per PutMetricData: each ``AWS/SageMaker`` metric of the runtime (EndpointName,
  VariantName) once per telemetry flush, each ``EnergyAssets`` metric once per day written.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import moto.applicationautoscaling.responses as autoscaling_responses
import moto.cloudwatch.models as cloudwatch_models
from moto.core.responses import ActionResult
from moto.sagemaker.responses import SageMakerResponse

_PATCHED = "_energy_assets_completed"

# Application Auto Scaling's service-linked roles, by the namespace they scale.
SERVICE_LINKED_ROLES = {
    "sagemaker": "sagemaker.application-autoscaling.amazonaws.com/"
    "AWSServiceRoleForApplicationAutoScaling_SageMakerEndpoint",
    "dynamodb": "dynamodb.application-autoscaling.amazonaws.com/"
    "AWSServiceRoleForApplicationAutoScaling_DynamoDBTable",
    "ecs": "ecs.application-autoscaling.amazonaws.com/"
    "AWSServiceRoleForApplicationAutoScaling_ECSService",
}


def data_capture_summary(config: dict) -> dict:
    """DescribeEndpoint's ``DataCaptureConfigSummary`` of an endpoint config's
    ``DataCaptureConfig`` (``EnableCapture`` defaults to true, as on AWS)."""
    enabled = bool(config.get("EnableCapture", True))
    summary = {
        "EnableCapture": enabled,
        "CaptureStatus": "Started" if enabled else "Stopped",
        "CurrentSamplingPercentage": int(config.get("InitialSamplingPercentage", 0)),
        "DestinationS3Uri": config.get("DestinationS3Uri", ""),
    }
    if config.get("KmsKeyId"):
        summary["KmsKeyId"] = config["KmsKeyId"]
    return summary


def _without_empty(answer: dict, *members: str) -> dict:
    for member in members:
        if member in answer and not answer[member]:
            del answer[member]
    return answer


def _endpoint(answer: dict) -> dict:
    config = _without_empty(answer, "DataCaptureConfig").get("DataCaptureConfig")
    if config and "CaptureStatus" not in config:
        answer["DataCaptureConfig"] = data_capture_summary(config)
    return answer


def _endpoint_config(answer: dict) -> dict:
    return _without_empty(answer, "DataCaptureConfig")


def _model(answer: dict) -> dict:
    return _without_empty(answer, "VpcConfig", "Containers")


def _package_group(answer: dict) -> dict:
    answer.setdefault("CreatedBy", {})
    return answer


def _package(answer: dict) -> dict:
    if "ModelPackageName" not in answer and answer.get("ModelPackageGroupName"):
        answer["ModelPackageName"] = answer["ModelPackageGroupName"]
    return answer


SAGEMAKER_FIXES: dict[str, Callable[[dict], dict]] = {
    "describe_endpoint": _endpoint,
    "describe_endpoint_config": _endpoint_config,
    "describe_model": _model,
    "describe_model_package_group": _package_group,
    "describe_model_package": _package,
}


def _completed(action: Callable, fix: Callable[[dict], dict]) -> Callable:
    @functools.wraps(action)
    def answer(self):
        result = action(self)
        if isinstance(result, ActionResult) and isinstance(result.result, dict):
            return ActionResult(fix(dict(result.result)))
        return result

    setattr(answer, _PATCHED, True)
    return answer


def _scalable_target(build: Callable) -> Callable:
    @functools.wraps(build)
    def target(t) -> dict:
        answer = build(t)
        role = SERVICE_LINKED_ROLES.get(answer.get("ServiceNamespace"))
        if not answer.get("RoleARN") and role:
            account = t.arn.split(":")[4]
            answer["RoleARN"] = f"arn:aws:iam::{account}:role/aws-service-role/{role}"
        return answer

    setattr(target, _PATCHED, True)
    return target


def same_dimensions(metric_dimensions: list, dimensions: list) -> bool:
    """Whether two dimension lists name the same metric (order does not matter)."""
    return {(d.name, d.value) for d in metric_dimensions} == {(d.name, d.value) for d in dimensions}


def apply() -> None:
    """Install the fixes (idempotent), in this process, before the moto server answers."""
    for name, fix in SAGEMAKER_FIXES.items():
        action = getattr(SageMakerResponse, name)
        if not getattr(action, _PATCHED, False):
            setattr(SageMakerResponse, name, _completed(action, fix))
    cloudwatch_models.are_dimensions_same = same_dimensions
    build = autoscaling_responses._build_target
    if not getattr(build, _PATCHED, False):
        autoscaling_responses._build_target = _scalable_target(build)
