"""The SageMaker endpoint serving the evaluated forecaster, with autoscaling and a smoke test."""

import math
from datetime import UTC, datetime

import dagster as dg

from energy_assets import layout
from energy_assets.assets.evaluation import evaluation_report
from energy_assets.resources import S3Storage, SageMakerResource


class DeployConfig(dg.Config):
    instance_type: str = "ml.m5.large"
    initial_instance_count: int = 1
    min_capacity: int = 1
    max_capacity: int = 4
    target_invocations_per_instance: float = 3000.0
    scale_in_cooldown_seconds: int = 300
    scale_out_cooldown_seconds: int = 60
    smoke_test_horizon: int = 7


def smoke_test_problems(answer: dict, version: str, horizon: int) -> list[str]:
    problems = []
    forecast = answer.get("forecast", [])
    if len(forecast) != horizon:
        problems.append(f"expected {horizon} forecasts, got {len(forecast)}")
    if not all(isinstance(v, (int, float)) and math.isfinite(v) for v in forecast):
        problems.append("forecast has non-finite values")
    if answer.get("model_version") != version:
        problems.append(f"served model {answer.get('model_version')!r}, expected {version!r}")
    return problems


@dg.asset(deps=[evaluation_report], group_name="deployment", kinds={"sagemaker"}, code_version="1")
def forecast_endpoint(
    context: dg.AssetExecutionContext,
    config: DeployConfig,
    storage: S3Storage,
    sagemaker: SageMakerResource,
) -> dg.MaterializeResult:
    """Deploy the evaluated model: SageMaker Model, EndpointConfig, Endpoint (created or updated
    in place), target-tracking autoscaling, then a smoke-test invocation. If the smoke test fails
    the endpoint goes back to the config that served before and the run fails."""
    report = storage.get_json(layout.EVALUATION_LATEST)
    version = report["version"]
    name = f"{sagemaker.endpoint_name}-{version}"[:63].rstrip("-")
    tags = {"energy-assets:model-version": version, "energy-assets:run-id": context.run_id}
    sagemaker.create_model(name, report["model_uri"], tags)
    sagemaker.create_endpoint_config(
        name, name, config.instance_type, config.initial_instance_count, tags
    )
    previous = sagemaker.point_endpoint_at(name, tags)
    context.log.info(f"endpoint {sagemaker.endpoint_name} serves {name} (before: {previous})")
    request = {"meter_id": report["smoke_meter"], "horizon": config.smoke_test_horizon}
    try:
        answer = sagemaker.invoke(request)
        problems = smoke_test_problems(answer, version, config.smoke_test_horizon)
    except Exception as error:  # any failure to answer is a failed smoke test
        answer, problems = {}, [f"invocation failed: {error}"]
    if problems:
        if previous:
            sagemaker.point_endpoint_at(previous, tags)
        raise dg.Failure(
            description=f"smoke test of {name} failed; endpoint restored to {previous}",
            metadata={"problems": "; ".join(problems)},
        )
    scaling = sagemaker.configure_autoscaling(
        config.min_capacity,
        config.max_capacity,
        config.target_invocations_per_instance,
        config.scale_in_cooldown_seconds,
        config.scale_out_cooldown_seconds,
    )
    record = {
        "endpoint": sagemaker.endpoint_name,
        "endpoint_config": name,
        "model_version": version,
        "previous_endpoint_config": previous,
        "deployed_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "instance_type": config.instance_type,
        "initial_instance_count": config.initial_instance_count,
        "autoscaling": {**scaling, "min": config.min_capacity, "max": config.max_capacity},
        "smoke_test": answer,
    }
    storage.put_json(layout.deployment(version), record)
    storage.put_json(layout.DEPLOYMENT_CURRENT, record)
    return dg.MaterializeResult(
        metadata={
            "endpoint": sagemaker.endpoint_name,
            "endpoint_config": name,
            "model_version": version,
            "previous_endpoint_config": previous or "none",
            "instance_type": config.instance_type,
            "initial_instance_count": config.initial_instance_count,
            "autoscaling": f"{config.min_capacity}-{config.max_capacity} instances, target "
            f"{config.target_invocations_per_instance:g} invocations/instance/min",
            "smoke_test": dg.MetadataValue.json(answer),
        }
    )
