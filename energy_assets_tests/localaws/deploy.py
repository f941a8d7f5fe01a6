"""Deploying hand-made bundles to the local AWS with plain boto3, as the deploy asset does."""

from __future__ import annotations

import uuid

from energy_assets.ml.bundle import ForecastBundle
from energy_assets.serving.artifact import pack_bundle
from energy_assets_tests.localaws.conftest import ROLE

BUCKET = "localaws-tests-models"


def unique(prefix: str) -> str:
    """Names unique in the session: moto's state is shared by every LocalAWS in the process."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def usage_table(dynamodb, name: str, date_index: str | None = None) -> str:
    """Create ``name`` with the usage table's keys (meter_id, date) and nothing else: no
    registry and, unless ``date_index`` names one (keys only, hashed by date), no date index,
    as a user's own table may be."""
    indexes = [
        {
            "IndexName": date_index,
            "KeySchema": [{"AttributeName": "date", "KeyType": "HASH"}],
            "Projection": {"ProjectionType": "KEYS_ONLY"},
        }
    ]
    dynamodb.create_table(
        TableName=name,
        KeySchema=[
            {"AttributeName": "meter_id", "KeyType": "HASH"},
            {"AttributeName": "date", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "meter_id", "AttributeType": "S"},
            {"AttributeName": "date", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
        **({"GlobalSecondaryIndexes": indexes} if date_index else {}),
    )
    return name


def bucket(clients, name: str) -> str:
    """Create ``name`` in the clients' region unless it exists."""
    s3 = clients("s3")
    if name not in {b["Name"] for b in s3.list_buckets()["Buckets"]}:
        if clients.region == "us-east-1":
            s3.create_bucket(Bucket=name)
        else:
            config = {"LocationConstraint": clients.region}
            s3.create_bucket(Bucket=name, CreateBucketConfiguration=config)
    return name


def upload(clients, bundle: ForecastBundle, key: str | None = None) -> str:
    name = bucket(clients, f"{BUCKET}-{clients.region}")
    key = key or f"{unique(bundle.version)}/model.tar.gz"
    clients("s3").put_object(Bucket=name, Key=key, Body=pack_bundle(bundle))
    return f"s3://{name}/{key}"


def model(clients, bundle: ForecastBundle, url: str | None = None) -> str:
    name = unique(f"model-{bundle.version}")
    clients("sagemaker").create_model(
        ModelName=name,
        PrimaryContainer={
            "Image": "energy-assets-inference",
            "ModelDataUrl": url or upload(clients, bundle),
        },
        ExecutionRoleArn=ROLE,
    )
    return name


def config(clients, *variants: tuple[str, str, float]) -> str:
    """An endpoint config of (variant name, model name, initial weight) variants."""
    name = unique("config")
    clients("sagemaker").create_endpoint_config(
        EndpointConfigName=name,
        ProductionVariants=[
            {
                "VariantName": variant,
                "ModelName": model_name,
                "InstanceType": "ml.m5.large",
                "InitialInstanceCount": 1,
                "InitialVariantWeight": weight,
            }
            for variant, model_name, weight in variants
        ],
    )
    return name


def single_config(clients, bundle: ForecastBundle, url: str | None = None) -> str:
    return config(clients, ("AllTraffic", model(clients, bundle, url), 1.0))


def endpoint(clients, bundle: ForecastBundle) -> str:
    name = unique("endpoint")
    clients("sagemaker").create_endpoint(
        EndpointName=name, EndpointConfigName=single_config(clients, bundle)
    )
    return name
