"""The SageMaker endpoint serving the best model: champion/challenger gate, artifact check,
zero-downtime switch, smoke test with restore, data capture and autoscaling."""

from datetime import UTC, datetime

import dagster as dg

from energy_assets import layout
from energy_assets.assets.registry import registered_model
from energy_assets.assets.training import read_split
from energy_assets.ml.metrics import rolling_test_forecasts
from energy_assets.promotion import Decision, compare
from energy_assets.resources import S3Storage, SageMakerResource
from energy_assets.retry_policy import AWS_RETRY_POLICY
from energy_assets.rollout import (
    ArtifactNotVerified,
    SmokeTestFailed,
    Target,
    rollback,
    switch_endpoint,
    verify,
)
from energy_assets.serving.artifact import bundle_at


class DeployConfig(dg.Config):
    instance_type: str = "ml.m5.large"
    initial_instance_count: int = 1
    min_capacity: int = 1
    max_capacity: int = 4
    target_invocations_per_instance: float = 3000.0
    scale_in_cooldown_seconds: int = 300
    scale_out_cooldown_seconds: int = 60
    smoke_test_horizon: int = 7
    data_capture_percent: int = 100  # 0 turns data capture off
    min_improvement: float = 0.0  # the challenger's MAE must be this fraction below the champion's
    force: bool = False  # deploy without the champion/challenger comparison


def champion_decision(
    storage: S3Storage, current: dict, challenger_uri: str, min_improvement: float
) -> Decision:
    """Both models forecast the same test window from the same origins and actuals."""
    champion_version = current["model_version"]
    train, test = read_split(storage, layout.TRAIN), read_split(storage, layout.TEST)
    challenger = bundle_at(storage, challenger_uri)
    ours = rolling_test_forecasts(challenger, train, test)
    champion_uri = current.get("model_uri") or storage.uri(
        layout.model_dir(champion_version) + "model.tar.gz"
    )
    try:
        champion = bundle_at(storage, champion_uri)
        theirs = rolling_test_forecasts(champion, train, test)
    except Exception as error:  # an unreadable champion cannot be compared: say so, deploy
        return Decision(True, f"champion {champion_version} cannot be evaluated: {error}")
    return compare(ours, theirs, champion_version, min_improvement)


def _data_capture(storage: S3Storage, percent: int) -> dict | None:
    if percent <= 0:
        return None
    return {
        "EnableCapture": True,
        "InitialSamplingPercentage": min(percent, 100),
        "DestinationS3Uri": storage.uri(layout.DATA_CAPTURE_PREFIX.rstrip("/")),
        "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
        "CaptureContentTypeHeader": {"JsonContentTypes": ["application/json"]},
    }


@dg.asset(
    deps=[registered_model],
    group_name="deployment",
    kinds={"sagemaker"},
    code_version="3",
    retry_policy=AWS_RETRY_POLICY,
)
def forecast_endpoint(
    context: dg.AssetExecutionContext,
    config: DeployConfig,
    storage: S3Storage,
    sagemaker: SageMakerResource,
) -> dg.MaterializeResult:
    """Serve the registered model if it beats the serving champion on the same test window.

    A challenger that does not is not deployed: its package is Rejected with the reason, which
    is also this materialization's metadata, and the champion keeps serving. A promoted model's
    artifact is checked against the SHA-256 registered with it before anything is created; it
    gets a SageMaker Model and EndpointConfig (instance type and count, data capture); the
    endpoint is created or updated in place (UpdateEndpoint: the old fleet serves until the new
    one is InService), smoke-tested, restored to a config known to serve if the smoke test
    fails (the run then fails), and scaled by target tracking on invocations per instance."""
    report = storage.get_json(layout.EVALUATION_LATEST)
    version = report["version"]
    package = sagemaker.find_package(version)
    current = (
        storage.get_json_or_none(layout.DEPLOYMENT_CURRENT)
        if sagemaker.describe_endpoint()
        else None
    )
    if current is None:
        decision = Decision(True, "no model is serving")
    elif current["model_version"] == version:
        decision = Decision(True, f"{version} already serves: redeploying its configuration")
    elif config.force:
        decision = Decision(True, f"forced over champion {current['model_version']}")
    else:
        decision = champion_decision(storage, current, report["model_uri"], config.min_improvement)
    context.log.info(
        f"{version}: {'deploy' if decision.promote else 'keep champion'}: {decision.reason}"
    )
    storage.put_json(
        layout.deploy_decision(version),
        {
            "version": version,
            "champion": (current or {}).get("model_version"),
            "decided_at": datetime.now(UTC).isoformat(timespec="seconds"),
            **decision.as_dict(),
        },
    )
    figures = {
        k: float(v)
        for k, v in (
            ("challenger_test_mae", decision.challenger_mae),
            ("champion_test_mae", decision.champion_mae),
        )
        if v is not None
    }
    if not decision.promote:
        if package:
            sagemaker.set_approval(package, "Rejected", decision.reason, serving="false")
        return dg.MaterializeResult(
            metadata={
                "deployed": False,
                "reason": decision.reason,
                "challenger_version": version,
                "serving_version": current["model_version"],
                "endpoint": sagemaker.endpoint_name,
                **figures,
            }
        )

    name = f"{sagemaker.endpoint_name}-{version}"[:63].rstrip("-")
    tags = {"energy-assets:model-version": version, "energy-assets:run-id": context.run_id}
    capture = _data_capture(storage, config.data_capture_percent)
    meter = report["smoke_meter"]
    target = Target(
        config_name=name,
        version=version,
        model_uri=report["model_uri"],
        artifact_sha256=(package or {})
        .get("CustomerMetadataProperties", {})
        .get("artifact_sha256"),
        smoke_meter=meter,
    )
    try:
        verify(storage, target)  # nothing is created, the endpoint untouched, if it changed
        if not sagemaker.endpoint_config_exists(name):
            sagemaker.create_model(name, report["model_uri"], tags)
            sagemaker.create_endpoint_config(
                name, name, config.instance_type, config.initial_instance_count, tags, capture
            )
        previous, answer = switch_endpoint(
            storage, sagemaker, target, config.smoke_test_horizon, tags, verified=True
        )
    except (SmokeTestFailed, ArtifactNotVerified) as failure:
        if package:
            sagemaker.set_approval(package, "Rejected", str(failure), serving="false")
        restored = getattr(failure, "restored", None)
        raise dg.Failure(
            description=str(failure),
            metadata={
                "problems": "; ".join(getattr(failure, "problems", [str(failure)])),
                "restored": restored.config_name if restored else "",
            },
            allow_retries=False,  # a retry would fail the same way
        ) from failure
    context.log.info(f"endpoint {sagemaker.endpoint_name} serves {name} (before: {previous})")
    scaling = sagemaker.configure_autoscaling(
        config.min_capacity,
        config.max_capacity,
        config.target_invocations_per_instance,
        config.scale_in_cooldown_seconds,
        config.scale_out_cooldown_seconds,
    )
    now = datetime.now(UTC).isoformat(timespec="seconds")
    if package:
        sagemaker.set_approval(
            package, "Approved", f"serving since {now}: {decision.reason}", serving="true"
        )
    replaced = (current or {}).get("model_version")
    if replaced and replaced != version:
        sagemaker.set_version_approval(
            replaced, "Approved", f"replaced by {version} at {now}", serving="false"
        )
    record = {
        "endpoint": sagemaker.endpoint_name,
        "endpoint_config": name,
        "model_version": version,
        "model_uri": report["model_uri"],
        "artifact_sha256": target.artifact_sha256,
        "model_package_arn": (package or {}).get("ModelPackageArn"),
        "previous_endpoint_config": previous,
        "replaced_version": replaced,
        "reason": decision.reason,
        "deployed_at": now,
        "instance_type": config.instance_type,
        "initial_instance_count": config.initial_instance_count,
        "data_capture": capture,
        "autoscaling": {**scaling, "min": config.min_capacity, "max": config.max_capacity},
        "smoke_meter": meter,
        "smoke_test": answer,
    }
    storage.put_json(layout.deployment(version), record)
    storage.put_json(layout.DEPLOYMENT_CURRENT, record)
    return dg.MaterializeResult(
        metadata={
            "deployed": True,
            "reason": decision.reason,
            "endpoint": sagemaker.endpoint_name,
            "endpoint_config": name,
            "model_version": version,
            "replaced_version": replaced or "none",
            "previous_endpoint_config": previous or "none",
            "instance_type": config.instance_type,
            "initial_instance_count": config.initial_instance_count,
            "data_capture": f"{config.data_capture_percent}% to {capture['DestinationS3Uri']}"
            if capture
            else "off",
            "autoscaling": f"{config.min_capacity}-{config.max_capacity} instances, target "
            f"{config.target_invocations_per_instance:g} invocations/instance/min",
            "smoke_test": dg.MetadataValue.json(answer),
            **figures,
        }
    )


class RollbackConfig(dg.Config):
    version: str  # a model version that served before (see deployments/ in the bucket)
    smoke_test_horizon: int = 7


@dg.op(description="Serve an earlier model version again, smoke-tested, restored on failure.")
def rollback_endpoint(
    context: dg.OpExecutionContext,
    config: RollbackConfig,
    storage: S3Storage,
    sagemaker: SageMakerResource,
) -> None:
    try:
        record = rollback(storage, sagemaker, config.version, config.smoke_test_horizon)
    except (ValueError, SmokeTestFailed, ArtifactNotVerified) as error:
        raise dg.Failure(description=str(error), allow_retries=False) from error
    context.log.info(f"endpoint {sagemaker.endpoint_name} serves {config.version} again")
    context.log_event(
        dg.AssetMaterialization(
            asset_key=forecast_endpoint.key,
            description=f"rolled back to {config.version}",
            metadata={
                "deployed": True,
                "reason": f"rollback from {record.get('rolled_back_from')}",
                "endpoint": sagemaker.endpoint_name,
                "endpoint_config": record["endpoint_config"],
                "model_version": config.version,
                "smoke_test": dg.MetadataValue.json(record["smoke_test"]),
            },
        )
    )


@dg.job(description="Roll the endpoint back to a named model version (config: version).")
def rollback_job():
    rollback_endpoint()
