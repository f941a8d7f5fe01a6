"""The one Definitions object: assets, checks, jobs, schedules, sensors and resources."""

import os

import dagster as dg
from dagster_aws.s3 import S3Resource

from energy_assets.assets.deployment import forecast_endpoint, rollback_job
from energy_assets.assets.evaluation import evaluation_report
from energy_assets.assets.exploration import exploration_report
from energy_assets.assets.ingestion import raw_usage_export, usage_table
from energy_assets.assets.monitoring import forecast_monitoring
from energy_assets.assets.preparation import cleaned_usage, train_test_split, usage_features
from energy_assets.assets.registry import registered_model
from energy_assets.assets.training import trained_forecaster
from energy_assets.checks import cleaned_usage_is_complete, model_beats_seasonal_naive
from energy_assets.jobs import (
    exploration_job,
    ingestion_job,
    meter_file_job,
    monitoring_job,
    training_job,
    usage_job,
)
from energy_assets.notebooks.job import notebook_instance_job
from energy_assets.resources import (
    CloudWatchResource,
    S3Storage,
    SageMakerResource,
    UsageTableResource,
)
from energy_assets.schedules import daily_training_schedule, daily_usage_schedule
from energy_assets.sensors import (
    drift_sensor,
    meter_file_sensor,
    new_usage_sensor,
    run_failure_alert_sensor,
)
from energy_assets.settings import Settings


def build_resources(settings: Settings) -> dict:
    return {
        "usage_table": UsageTableResource(table_name=settings.table, region_name=settings.region),
        "storage": S3Storage(
            bucket=settings.bucket,
            # botocore's standard retry mode; dagster-aws's max_attempts counts retries: 5 calls
            s3=S3Resource(region_name=settings.region, max_attempts=4),
        ),
        "sagemaker": SageMakerResource(
            endpoint_name=settings.endpoint_name,
            role_arn=settings.role_arn,
            image_uri=settings.image_uri,
            region_name=settings.region,
        ),
        "cloudwatch": CloudWatchResource(
            namespace=settings.metrics_namespace,
            region_name=settings.region,
            alert_topic_arn=os.environ.get("ENERGY_ASSETS_ALERT_TOPIC_ARN") or None,
        ),
    }


defs = dg.Definitions(
    assets=[
        usage_table,
        raw_usage_export,
        cleaned_usage,
        usage_features,
        train_test_split,
        exploration_report,
        trained_forecaster,
        evaluation_report,
        registered_model,
        forecast_endpoint,
        forecast_monitoring,
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
    schedules=[daily_usage_schedule, daily_training_schedule],
    sensors=[new_usage_sensor, drift_sensor, run_failure_alert_sensor, meter_file_sensor],
    resources=build_resources(Settings()),
)
