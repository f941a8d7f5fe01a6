"""Typed Dagster resources over boto3.

Clients are built without explicit endpoints: botocore reads ``AWS_ENDPOINT_URL`` and the
per-service ``AWS_ENDPOINT_URL_<SERVICE>`` variables, so the code paths against the local AWS and
a real account are the same.
"""

from energy_assets.resources.cloudwatch import CloudWatchResource
from energy_assets.resources.dynamodb import UsageTableResource
from energy_assets.resources.handoff import RunValueIOManager
from energy_assets.resources.meters import MeterSettings
from energy_assets.resources.s3 import IncompleteObject, MissingObject, ReplacedObject, S3Storage
from energy_assets.resources.sagemaker import SageMakerResource

__all__ = [
    "CloudWatchResource",
    "IncompleteObject",
    "MeterSettings",
    "MissingObject",
    "ReplacedObject",
    "RunValueIOManager",
    "S3Storage",
    "SageMakerResource",
    "UsageTableResource",
]
