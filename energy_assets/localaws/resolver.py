"""Endpoint name -> the model it serves, resolved through the local SageMaker control plane.
A multi-model variant (``Mode: MultiModel``) resolves to its prefix; the model an invocation
targets is loaded by ``multi_model.MultiModelCache``.

The runtime finds a model the way SageMaker does: endpoint (must be InService) -> its endpoint
config -> each production variant's model -> ``PrimaryContainer.ModelDataUrl`` -> the
``model.tar.gz`` in S3, extracted and loaded into the same ``Predictor`` the container runs.
The runtime runs in the process of the moto server, so each invocation reads the endpoint's
state from moto's backend (a dict lookup, not a DescribeEndpoint call); configs, models and
artifacts are read through the AWS APIs of the local AWS (boto3 with ``endpoint_url``), as API
clients see them, when the endpoint changes.

Why two caches and why they stay exact: resolving costs three control-plane calls and an S3
download, several times the cost of a forecast. Each call still reads the endpoint's state and
reuses the resolved deployment only while the endpoint's ARN, CreationTime,
EndpointConfigName and LastModifiedTime are unchanged; CreateEndpoint, UpdateEndpoint and
delete+recreate all change one of them, so the next call after an update serves the new model.
As on AWS, a deployment once served is fixed: deleting or changing its config or model later
does not change what the running endpoint serves. Loaded models are shared by
``(ModelDataUrl, ETag)``, so an artifact overwritten at the same S3 key is read again at the next
deployment.
"""

from __future__ import annotations

import logging
import random
import tempfile
import threading
from collections import OrderedDict
from dataclasses import dataclass

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError
from moto.sagemaker.models import sagemaker_backends

from energy_assets.localaws.multi_model import (
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_MODELS,
    MultiModelCache,
)
from energy_assets.serving.artifact import unpack
from energy_assets.serving.handler import Predictor

log = logging.getLogger(__name__)

ACCOUNT = "123456789012"  # moto's default account


class EndpointNotFound(LookupError):
    """No such endpoint, or it is not InService (AWS: ValidationError)."""


class UnknownVariant(LookupError):
    """The caller's TargetVariant is not a variant of the endpoint (AWS: ValidationError)."""


class DeploymentBroken(RuntimeError):
    """The endpoint's model cannot be loaded (on AWS the endpoint would have failed to start)."""


@dataclass(frozen=True)
class Variant:
    name: str
    model_name: str
    model_data_url: str
    predictor: Predictor | None  # None for a multi-model variant: ``models`` holds them
    initial_weight: float = 1.0
    instances: int = 1
    models: MultiModelCache | None = None  # a multi-model variant's loaded targets


@dataclass(frozen=True)
class Deployment:
    stamp: tuple
    arn: str
    variants: dict[str, Variant]
    data_capture: dict | None = None
    async_inference: dict | None = None


class EndpointResolver:
    def __init__(self, aws_url: str, default_region: str, max_models: int = 8):
        self.aws_url = aws_url
        self.default_region = default_region
        self.max_models = max_models
        # each multi-model variant's bounds (its instance's memory), read when it is deployed
        self.multi_model_max_models = DEFAULT_MAX_MODELS
        self.multi_model_max_bytes = DEFAULT_MAX_BYTES
        self._clients: dict[tuple[str, str], object] = {}
        self._deployments: dict[tuple[str, str], Deployment] = {}
        self._models: OrderedDict[tuple[str, str], Predictor] = OrderedDict()
        self._lock = threading.RLock()
        self._session = boto3.session.Session()  # client creation only, under the lock

    def client(self, service: str, region: str | None = None):
        """A boto3 client of the local AWS in ``region`` (moto keeps state per region)."""
        key = (service, region or self.default_region)
        client = self._clients.get(key)
        if client is None:
            with self._lock:
                client = self._clients.get(key) or self._session.client(
                    service,
                    endpoint_url=self.aws_url,
                    region_name=key[1],
                    aws_access_key_id="testing",
                    aws_secret_access_key="testing",
                    config=Config(retries={"max_attempts": 1}, max_pool_connections=32),
                )
                self._clients[key] = client
        return client

    def resolve(
        self, endpoint_name: str, region: str | None = None, target_variant: str | None = None
    ) -> tuple[Variant, Deployment]:
        """The variant that answers this call: ``target_variant``, else chosen by weight."""
        region = region or self.default_region
        endpoint = self._describe_endpoint(endpoint_name, region)
        stamp = (
            endpoint["EndpointArn"],
            endpoint.get("CreationTime"),
            endpoint["EndpointConfigName"],
            endpoint.get("LastModifiedTime"),
        )
        key = (region, endpoint_name)
        deployment = self._deployments.get(key)
        if deployment is None or deployment.stamp != stamp:
            with self._lock:
                deployment = self._deployments.get(key)
                if deployment is None or deployment.stamp != stamp:
                    deployment = self._deploy(endpoint, stamp, region)
                    self._deployments[key] = deployment
        return self._pick(deployment, endpoint, target_variant), deployment

    def multi_model_cache(
        self, endpoint_name: str, region: str | None = None, variant: str | None = None
    ) -> MultiModelCache | None:
        """The loaded targets of a deployed multi-model endpoint's variant (diagnostics)."""
        deployment = self._deployments.get((region or self.default_region, endpoint_name))
        if deployment is None:
            return None
        chosen = deployment.variants.get(variant) if variant else None
        chosen = chosen or next(iter(deployment.variants.values()))
        return chosen.models

    def _describe_endpoint(self, name: str, region: str) -> dict:
        """DescribeEndpoint's fields the runtime needs, from moto's backend in this process."""
        endpoint = sagemaker_backends[ACCOUNT][region].endpoints.get(name)
        if endpoint is None:
            self._deployments.pop((region, name), None)
            raise EndpointNotFound(name)
        if endpoint.endpoint_status != "InService":
            raise EndpointNotFound(f"{name} is {endpoint.endpoint_status}, not InService")
        return {
            "EndpointName": name,
            "EndpointArn": endpoint.arn,
            "CreationTime": endpoint.creation_time,
            "EndpointConfigName": endpoint.endpoint_config_name,
            "LastModifiedTime": endpoint.last_modified_time,
            "EndpointStatus": endpoint.endpoint_status,
            "ProductionVariants": endpoint.production_variants,
        }

    def _deploy(self, endpoint: dict, stamp: tuple, region: str) -> Deployment:
        sagemaker = self.client("sagemaker", region)
        name = endpoint["EndpointName"]
        try:
            config = sagemaker.describe_endpoint_config(
                EndpointConfigName=endpoint["EndpointConfigName"]
            )
        except ClientError as error:
            raise DeploymentBroken(f"endpoint {name}: {_message(error)}") from error
        variants = {}
        for spec in config["ProductionVariants"]:
            try:
                model = sagemaker.describe_model(ModelName=spec["ModelName"])
            except ClientError as error:
                raise DeploymentBroken(f"endpoint {name}: {_message(error)}") from error
            container = model.get("PrimaryContainer") or (model.get("Containers") or [{}])[0]
            url = container.get("ModelDataUrl")
            if not url:
                raise DeploymentBroken(
                    f"model {spec['ModelName']} has no ModelDataUrl; the local runtime serves "
                    "one container with a model.tar.gz, or a multi-model prefix, in S3"
                )
            predictor, models = None, None
            if container.get("Mode") == "MultiModel":
                setting = (container.get("MultiModelConfig") or {}).get("ModelCacheSetting")
                try:
                    models = MultiModelCache(
                        url,
                        lambda region=region: self.client("s3", region),
                        self.multi_model_max_models,
                        self.multi_model_max_bytes,
                        caching=setting != "Disabled",
                    )
                except ValueError as error:
                    raise DeploymentBroken(f"model {spec['ModelName']}: {error}") from error
            else:
                predictor = self._model(url, region)
            variants[spec["VariantName"]] = Variant(
                name=spec["VariantName"],
                model_name=spec["ModelName"],
                model_data_url=url,
                predictor=predictor,
                initial_weight=float(spec.get("InitialVariantWeight", 1.0)),
                instances=int(spec.get("InitialInstanceCount") or 1),
                models=models,
            )
        log.info("endpoint %s serves %s", name, {k: v.model_data_url for k, v in variants.items()})
        return Deployment(
            stamp=stamp,
            arn=endpoint["EndpointArn"],
            variants=variants,
            data_capture=config.get("DataCaptureConfig"),
            async_inference=config.get("AsyncInferenceConfig"),
        )

    def _model(self, url: str, region: str) -> Predictor:
        if not url.startswith("s3://") or "/" not in url[5:]:
            raise DeploymentBroken(f"ModelDataUrl {url!r} is not an s3://bucket/key URL")
        bucket, key = url[5:].split("/", 1)
        s3 = self.client("s3", region)
        try:
            etag = s3.head_object(Bucket=bucket, Key=key)["ETag"]
            cached = self._models.get((url, etag))
            if cached is not None:
                self._models.move_to_end((url, etag))
                return cached
            data = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        except ClientError as error:
            raise DeploymentBroken(
                f"cannot read model artifact {url}: {_message(error)}"
            ) from error
        try:
            with tempfile.TemporaryDirectory(prefix="energy-assets-model-") as folder:
                predictor = Predictor.from_model_dir(unpack(data, folder))
        except Exception as error:
            raise DeploymentBroken(f"cannot load model artifact {url}: {error}") from error
        self._models[(url, etag)] = predictor
        while len(self._models) > self.max_models:
            self._models.popitem(last=False)
        return predictor

    @staticmethod
    def _pick(deployment: Deployment, endpoint: dict, target: str | None) -> Variant:
        variants = deployment.variants
        if target:
            if target not in variants:
                raise UnknownVariant(
                    f"Target variant {target} is not a production variant of endpoint "
                    f"{endpoint['EndpointName']} (variants: {', '.join(variants)})."
                )
            return variants[target]
        if len(variants) == 1:
            return next(iter(variants.values()))
        # Route like SageMaker: by the endpoint's current weights (UpdateEndpointWeights...),
        # else the config's initial ones.
        variants_now = endpoint.get("ProductionVariants", [])
        current = {v["VariantName"]: v.get("CurrentWeight") for v in variants_now}
        names = list(variants)
        weights = [
            variants[n].initial_weight if current.get(n) is None else float(current[n])
            for n in names
        ]
        if sum(weights) <= 0:
            weights = [1.0] * len(names)
        return variants[random.choices(names, weights)[0]]


def _message(error: ClientError) -> str:
    return error.response.get("Error", {}).get("Message") or str(error)
