"""One place that wires a deployment: ``build_defs(settings)`` makes the Definitions (resources,
partitions from the settings, assets, checks, jobs, schedules and sensors) of the deployment a
``Settings`` names.

Dagster loads ``defs`` (``[tool.dagster]``, workspace.yaml): it builds them from this process's
environment when the code location loads, not when the module is imported. The demo, the replay
and the tests call ``build_defs`` with settings of their own.
"""

import dagster as dg
from dagster_aws.s3 import S3Resource

from energy_assets.assets.deployment import forecast_endpoint, rollback_job
from energy_assets.assets.evaluation import evaluation_report
from energy_assets.assets.exploration import exploration_features, exploration_report
from energy_assets.assets.ingestion import raw_usage_export_asset, usage_table
from energy_assets.assets.monitoring import forecast_monitoring_asset
from energy_assets.assets.preparation import cleaned_usage, train_test_split
from energy_assets.assets.registry import registered_model
from energy_assets.assets.shards import by_shard
from energy_assets.assets.training import trained_forecaster
from energy_assets.notebooks.job import notebook_instance_job
from energy_assets.orchestration.checks import cleaned_usage_is_complete, model_beats_seasonal_naive
from energy_assets.orchestration.jobs import (
    exploration_job,
    ingestion_job,
    meter_file_job,
    monitoring_job,
    training_job,
    usage_job,
)
from energy_assets.orchestration.partitions import daily_partitions, shard_partitions
from energy_assets.orchestration.schedules import build_schedules
from energy_assets.orchestration.sensors import build_sensors
from energy_assets.resources import (
    CloudWatchResource,
    MeterSettings,
    RunValueIOManager,
    S3Storage,
    SageMakerResource,
    UsageTableResource,
)
from energy_assets.settings import Settings


def build_resources(settings: Settings) -> dict:
    """The resources of the deployment ``settings`` names (also what the CLI commands use)."""
    storage = S3Storage(
        bucket=settings.bucket,
        # botocore's standard retry mode; dagster-aws's max_attempts counts retries: 5 calls
        s3=S3Resource(region_name=settings.region, max_attempts=4),
        shards=settings.shards,
    )
    return {
        "usage_table": UsageTableResource(
            table_name=settings.table,
            region_name=settings.region,
            scan_max_items=settings.scan_max_items,
        ),
        "storage": storage,
        # the values assets hand downstream (the model's version, URI, checksum), per run
        "io_manager": RunValueIOManager(storage=storage),
        "sagemaker": SageMakerResource(
            endpoint_name=settings.endpoint_name,
            role_arn=settings.role_arn,
            image_uri=settings.image_uri,
            region_name=settings.region,
            shards=settings.shards,
            routes_bucket=settings.bucket,
        ),
        "cloudwatch": CloudWatchResource(
            namespace=settings.metrics_namespace,
            region_name=settings.region,
            alert_topic_arn=settings.alert_topic_arn or None,
        ),
        "meters": MeterSettings(
            timezone=settings.timezone,
            history_start=settings.history_start,
            covariates=list(settings.covariates),
            unit=settings.unit,
            country=settings.country,
            subdiv=settings.subdiv,
        ),
    }


def build_defs(settings: Settings) -> dg.Definitions:
    """The whole deployment ``settings`` names, as one Definitions object."""
    partitions = daily_partitions(settings)
    shards = shard_partitions(settings)
    # the training chain (and the exploration of a shard's training set) runs once per shard
    sharded = [
        by_shard(asset, shards)
        for asset in (
            cleaned_usage,
            train_test_split,
            exploration_features,
            exploration_report,
            trained_forecaster,
            evaluation_report,
            registered_model,
            forecast_endpoint,
        )
    ]
    return dg.Definitions(
        assets=[
            usage_table,
            raw_usage_export_asset(partitions),
            *sharded,
            forecast_monitoring_asset(partitions),
        ],
        asset_checks=[cleaned_usage_is_complete, model_beats_seasonal_naive],
        jobs=[
            ingestion_job,
            usage_job,
            monitoring_job,
            training_job,
            exploration_job,
            rollback_job,
            meter_file_job,
            notebook_instance_job,
        ],
        schedules=build_schedules(settings.timezone, settings.shards),
        sensors=build_sensors(settings),
        resources=build_resources(settings),
    )


@dg.definitions
def defs() -> dg.Definitions:
    """The deployment this process's environment names (``Settings()``), read when Dagster
    loads the code location."""
    return build_defs(Settings())
