"""The project's table and SageMaker resources as the app uses them: boto3 clients built once.

Building a boto3 client costs about 14 ms, more than the request it would serve (a key-range
Query of the local table, an invocation of the endpoint): the resources build one per call, the
app keeps one per service, region and settings for the life of the process. boto3 clients are
safe to share between threads; building one from the default session is not, hence the lock.
The app's clients also wait less for an AWS that does not answer (2 attempts, 3 s to connect),
so a person hears "unavailable" in seconds rather than after botocore's five tries.
"""

from __future__ import annotations

import os
import threading

import boto3
from botocore.config import Config

from energy_assets.resources import SageMakerResource, UsageTableResource

_LOCK = threading.Lock()
_CLIENTS: dict[tuple, object] = {}
_SCHEMAS: dict[tuple, dict] = {}


def _urls() -> tuple:
    return tuple(sorted((k, v) for k, v in os.environ.items() if k.startswith("AWS_ENDPOINT_URL")))


def shared_client(service: str, region: str | None, read_timeout: float = 10.0):
    """One client per service, region, read timeout and endpoint URL settings."""
    key = (service, region, read_timeout, _urls())
    with _LOCK:
        if key not in _CLIENTS:
            config = Config(
                connect_timeout=3,
                read_timeout=read_timeout,
                retries={"max_attempts": 2, "mode": "standard"},
                max_pool_connections=64,
            )
            _CLIENTS[key] = boto3.client(service, region_name=region, config=config)
        return _CLIENTS[key]


class AppUsageTable(UsageTableResource):
    def client(self):
        return shared_client("dynamodb", self.region_name)

    def key_schema(self) -> dict:
        """Read once: every usage request asks whether the table is keyed by date alone."""
        key = (self.table_name, self.region_name, _urls())
        if key not in _SCHEMAS:
            _SCHEMAS[key] = super().key_schema()
        return _SCHEMAS[key]

    def has_meter(self, meter_id: str) -> bool:
        """Whether the table holds an item of ``meter_id`` (one Query of a single key)."""
        if self.is_single_series():
            return meter_id == self.table_name
        response = self.client().query(
            TableName=self.table_name,
            KeyConditionExpression="meter_id = :m",
            ExpressionAttributeValues={":m": {"S": meter_id}},
            Select="COUNT",
            Limit=1,
        )
        return response["Count"] > 0

    @classmethod
    def of(cls, table: UsageTableResource) -> AppUsageTable:
        return cls(**{name: getattr(table, name) for name in UsageTableResource.model_fields})


class AppSageMaker(SageMakerResource):
    def client(self):
        return shared_client("sagemaker", self.region_name)

    def runtime(self):
        return shared_client("sagemaker-runtime", self.region_name, self.invoke_timeout_seconds)

    def s3(self):  # the shards' routes (multi-model endpoint)
        return shared_client("s3", self.region_name)

    @classmethod
    def of(cls, sagemaker: SageMakerResource) -> AppSageMaker:
        return cls(**{name: getattr(sagemaker, name) for name in SageMakerResource.model_fields})
