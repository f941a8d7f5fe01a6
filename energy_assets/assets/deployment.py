"""The SageMaker endpoint serving the best model, and rollback to a version that served.

The deploy sequence (champion/challenger gate, artifact check, zero-downtime switch, smoke test
with restore, data capture, autoscaling) is ``promotion.promote``; the asset hands it the
registered model and the split it was evaluated on, and reports what it did."""

import dagster as dg
from dagster._core.definitions.data_version import DATA_VERSION_TAG

from energy_assets import layout
from energy_assets.assets.training import read_split
from energy_assets.assets.values import Dataset, Registration
from energy_assets.orchestration.retry_policy import AWS_RETRY_POLICY
from energy_assets.release.promotion import Challenger, DeployFailed, EndpointSpec, promote
from energy_assets.release.rollout import ArtifactNotVerified, SmokeTestFailed, rollback
from energy_assets.release.shards import promote_shard
from energy_assets.resources import S3Storage, SageMakerResource


class DeployConfig(dg.Config):
    """``EndpointSpec`` as run config (its defaults are the spec's)."""

    instance_type: str = EndpointSpec.instance_type
    initial_instance_count: int = EndpointSpec.initial_instance_count
    min_capacity: int = EndpointSpec.min_capacity
    max_capacity: int = EndpointSpec.max_capacity
    target_invocations_per_instance: float = EndpointSpec.target_invocations_per_instance
    scale_in_cooldown_seconds: int = EndpointSpec.scale_in_cooldown_seconds
    scale_out_cooldown_seconds: int = EndpointSpec.scale_out_cooldown_seconds
    smoke_test_horizon: int = EndpointSpec.smoke_test_horizon
    data_capture_percent: int = EndpointSpec.data_capture_percent  # 0 turns data capture off
    # the challenger's MAE must be this fraction below the champion's
    min_improvement: float = EndpointSpec.min_improvement
    force: bool = EndpointSpec.force  # deploy without the champion/challenger comparison


@dg.asset(
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
    registered_model: Registration,
    train_test_split: Dataset,
) -> dg.MaterializeResult:
    """Serve the registered model if it beats the serving champion on the same test window
    (``promotion.promote``). A challenger that does not is Rejected with the reason, which is
    also this materialization's metadata, and the champion keeps serving; a promoted model that
    fails its artifact check or smoke test fails the run, the endpoint restored. The data
    version is the model version the endpoint serves after this materialization.

    With meter shards (partition ``NN`` of several) the endpoint is a multi-model endpoint and
    this deploys shard ``NN``'s model beside the others' (``release/shards.py``): its artifact
    under a key naming the shard and version, smoke-tested through that TargetModel, then the
    shard's route; a failed deploy leaves the shard's old route serving."""
    challenger = Challenger(
        registered_model.version, registered_model.model_uri, registered_model.smoke_meter
    )

    def split():
        return (
            read_split(storage, train_test_split, layout.train(train_test_split.shard)),
            read_split(storage, train_test_split, layout.test(train_test_split.shard)),
        )

    spec = EndpointSpec(**config.model_dump())
    shard = train_test_split.shard
    try:
        if shard is None:
            outcome = promote(
                storage, sagemaker, challenger, split, spec, context.run_id, context.log.info
            )
        else:
            outcome = promote_shard(
                storage, sagemaker, challenger, split, spec, context.run_id, shard, context.log.info
            )
    except DeployFailed as failure:
        raise dg.Failure(
            description=str(failure),
            metadata={"problems": "; ".join(failure.problems), "restored": failure.restored},
            allow_retries=False,  # a retry would fail the same way
        ) from failure
    common = {
        "reason": outcome.decision.reason,
        "endpoint": sagemaker.endpoint_name,
        **outcome.figures,
    }
    if not outcome.deployed:
        return dg.MaterializeResult(
            data_version=dg.DataVersion(outcome.serving_version),  # what serves
            metadata={
                "deployed": False,
                "challenger_version": outcome.version,
                "serving_version": outcome.serving_version,
                **common,
            },
        )
    record = outcome.record
    capture = record["data_capture"]
    routed = {"shard": shard, "target_model": record["target_model"]} if shard is not None else {}
    return dg.MaterializeResult(
        data_version=dg.DataVersion(outcome.version),
        metadata={
            "deployed": True,
            **routed,
            "endpoint_config": record["endpoint_config"],
            "model_version": outcome.version,
            "replaced_version": record["replaced_version"] or "none",
            "previous_endpoint_config": record.get("previous_endpoint_config") or "none",
            "instance_type": spec.instance_type,
            "initial_instance_count": spec.initial_instance_count,
            "data_capture": f"{spec.data_capture_percent}% to {capture['DestinationS3Uri']}"
            if capture
            else "off",
            "autoscaling": f"{spec.min_capacity}-{spec.max_capacity} instances, target "
            f"{spec.target_invocations_per_instance:g} invocations/instance/min",
            "smoke_test": dg.MetadataValue.json(record["smoke_test"]),
            **common,
        },
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
            tags={DATA_VERSION_TAG: config.version},  # the model the endpoint serves now
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
