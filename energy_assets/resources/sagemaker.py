"""SageMaker control plane, runtime and endpoint autoscaling."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import date, timedelta

import boto3
import botocore.exceptions
import dagster as dg

from energy_assets import layout
from energy_assets.resources import routes
from energy_assets.resources.retries import RetryMode, client_config

VARIANT = "AllTraffic"


def _not_found(error) -> bool:
    """SageMaker's answer for a missing endpoint, config, package or group."""
    return error.response["Error"]["Code"] in ("ValidationException", "ResourceNotFound")


class NoRoute(LookupError):
    """No model serves a meter's shard yet on the multi-model endpoint (no route written)."""


class EndpointFailed(RuntimeError):
    """The endpoint did not reach InService."""


class SageMakerResource(dg.ConfigurableResource):
    """Creates models, endpoint configs and endpoints, and invokes them."""

    endpoint_name: str
    role_arn: str
    image_uri: str
    region_name: str | None = None
    model_package_group: str = ""  # default: the endpoint name
    invoke_timeout_seconds: float = 30.0
    poll_seconds: float = 2.0
    retry_mode: RetryMode = "standard"
    max_attempts: int = 5  # control-plane calls per request in all, the first included
    invoke_max_attempts: int = 2  # an invocation is retried once: a caller is waiting
    # Meter shards (ENERGY_ASSETS_SHARDS). Above 1 the endpoint is multi-model: ``invoke``
    # routes a meter to its shard's model (TargetModel) by the routes the deploy wrote in
    # ``routes_bucket`` (``resources/routes.py``), read at most once per ``routes_ttl_seconds``.
    shards: int = 1
    routes_bucket: str = ""
    routes_ttl_seconds: float = 10.0

    def client(self):
        return boto3.client(
            "sagemaker",
            region_name=self.region_name,
            config=client_config(self.retry_mode, self.max_attempts),
        )

    def runtime(self):
        config = client_config(
            self.retry_mode,
            self.invoke_max_attempts,
            read_timeout=self.invoke_timeout_seconds,
            connect_timeout=5,
        )
        return boto3.client("sagemaker-runtime", region_name=self.region_name, config=config)

    def autoscaling(self):
        return boto3.client(
            "application-autoscaling",
            region_name=self.region_name,
            config=client_config(self.retry_mode, self.max_attempts),
        )

    def region(self) -> str:
        """The region the control plane is called in (configured, or boto3's default)."""
        return self.region_name or self.client().meta.region_name

    def create_training_job(self, request: dict) -> str:
        """Start a training job (a ``CreateTrainingJob`` request); its ARN."""
        return self.client().create_training_job(**request)["TrainingJobArn"]

    def delete_endpoint(self) -> None:
        """Delete the endpoint (its configs and models stay, for a later restore)."""
        self.client().delete_endpoint(EndpointName=self.endpoint_name)

    def describe_endpoint(self) -> dict | None:
        client = self.client()
        try:
            return client.describe_endpoint(EndpointName=self.endpoint_name)
        except client.exceptions.ClientError as error:
            if "Could not find" in str(error) or _not_found(error):
                return None
            raise

    def create_model(self, model_name: str, model_data_url: str, tags: dict[str, str]) -> str:
        response = self.client().create_model(
            ModelName=model_name,
            PrimaryContainer={
                "Image": self.image_uri,
                "ModelDataUrl": model_data_url,
                "Environment": {"SAGEMAKER_PROGRAM": "energy_assets.serving.server"},
            },
            ExecutionRoleArn=self.role_arn,
            Tags=[{"Key": k, "Value": v} for k, v in tags.items()],
        )
        return response["ModelArn"]

    def create_endpoint_config(
        self,
        config_name: str,
        model_name: str,
        instance_type: str,
        instance_count: int,
        tags: dict[str, str],
        data_capture: dict | None = None,
    ) -> str:
        """``data_capture``: SageMaker's DataCaptureConfig (requests and responses to S3)."""
        extra = {"DataCaptureConfig": data_capture} if data_capture else {}
        response = self.client().create_endpoint_config(
            **extra,
            EndpointConfigName=config_name,
            ProductionVariants=[
                {
                    "VariantName": VARIANT,
                    "ModelName": model_name,
                    "InstanceType": instance_type,
                    "InitialInstanceCount": instance_count,
                    "InitialVariantWeight": 1.0,
                }
            ],
            Tags=[{"Key": k, "Value": v} for k, v in tags.items()],
        )
        return response["EndpointConfigArn"]

    # -- multi-model endpoints: one endpoint, one model artifact per meter shard --

    def create_multi_model(
        self, model_name: str, model_data_prefix: str, tags: dict[str, str]
    ) -> str:
        """A multi-model SageMaker model: every ``model.tar.gz`` under ``model_data_prefix``
        (``s3://bucket/models/shards/``), each invocation naming its artifact by ``TargetModel``
        (its key under the prefix, e.g. ``shard-03/model.tar.gz``); SageMaker loads an artifact
        on its first invocation and keeps it while it is used."""
        prefix = model_data_prefix if model_data_prefix.endswith("/") else model_data_prefix + "/"
        response = self.client().create_model(
            ModelName=model_name,
            PrimaryContainer={
                "Image": self.image_uri,
                "Mode": "MultiModel",
                "ModelDataUrl": prefix,
                "Environment": {"SAGEMAKER_PROGRAM": "energy_assets.serving.server"},
            },
            ExecutionRoleArn=self.role_arn,
            Tags=[{"Key": k, "Value": v} for k, v in tags.items()],
        )
        return response["ModelArn"]

    def create_multi_model_endpoint_config(
        self,
        config_name: str,
        model_name: str,
        model_data_prefix: str,
        instance_type: str,
        instance_count: int,
        tags: dict[str, str],
        data_capture: dict | None = None,
    ) -> str:
        """The multi-model ``model_name`` over ``model_data_prefix`` and an endpoint config
        serving it (an endpoint config is the same for one model or many); returns the config's
        ARN. ``point_endpoint_at(config_name, ...)`` then deploys it."""
        self.create_multi_model(model_name, model_data_prefix, tags)
        return self.create_endpoint_config(
            config_name, model_name, instance_type, instance_count, tags, data_capture
        )

    def invoke_target(self, target_model: str, payload: dict) -> dict:
        """Invoke a multi-model endpoint's ``target_model`` (its key under the prefix)."""
        response = self.runtime().invoke_endpoint(
            EndpointName=self.endpoint_name,
            ContentType="application/json",
            Accept="application/json",
            TargetModel=target_model,
            Body=json.dumps(payload).encode(),
        )
        return json.loads(response["Body"].read())

    def endpoint_config_exists(self, config_name: str) -> bool:
        client = self.client()
        try:
            client.describe_endpoint_config(EndpointConfigName=config_name)
            return True
        except client.exceptions.ClientError as error:
            if _not_found(error):
                return False
            raise

    def point_endpoint_at(self, config_name: str, tags: dict[str, str]) -> str | None:
        """Create the endpoint or move it to ``config_name`` (UpdateEndpoint keeps it serving).

        Returns the config that served before, so a failed smoke test can restore it.
        """
        current = self.describe_endpoint()
        client = self.client()
        if current is None:
            client.create_endpoint(
                EndpointName=self.endpoint_name,
                EndpointConfigName=config_name,
                Tags=[{"Key": k, "Value": v} for k, v in tags.items()],
            )
            previous = None
        else:
            previous = current["EndpointConfigName"]
            client.update_endpoint(EndpointName=self.endpoint_name, EndpointConfigName=config_name)
            # the endpoint's tags name the model version it serves now
            client.add_tags(
                ResourceArn=current["EndpointArn"],
                Tags=[{"Key": k, "Value": v} for k, v in tags.items()],
            )
        self.wait_in_service()
        return previous

    def wait_in_service(self, timeout_seconds: float = 1800.0) -> dict:
        deadline = time.monotonic() + timeout_seconds
        while True:
            described = self.describe_endpoint()
            status = described["EndpointStatus"] if described else "Missing"
            if status == "InService":
                return described
            if status in ("Failed", "Missing", "OutOfService"):
                reason = (described or {}).get("FailureReason", "")
                raise EndpointFailed(f"endpoint {self.endpoint_name} is {status} {reason}".strip())
            if time.monotonic() > deadline:
                raise EndpointFailed(f"endpoint {self.endpoint_name} still {status} after wait")
            time.sleep(self.poll_seconds)

    def configure_autoscaling(
        self,
        min_capacity: int,
        max_capacity: int,
        target_invocations_per_instance: float,
        scale_in_cooldown: int,
        scale_out_cooldown: int,
    ) -> dict:
        resource_id = f"endpoint/{self.endpoint_name}/variant/{VARIANT}"
        client = self.autoscaling()
        client.register_scalable_target(
            ServiceNamespace="sagemaker",
            ResourceId=resource_id,
            ScalableDimension="sagemaker:variant:DesiredInstanceCount",
            MinCapacity=min_capacity,
            MaxCapacity=max_capacity,
        )
        policy = client.put_scaling_policy(
            PolicyName=f"{self.endpoint_name}-invocations-target",
            ServiceNamespace="sagemaker",
            ResourceId=resource_id,
            ScalableDimension="sagemaker:variant:DesiredInstanceCount",
            PolicyType="TargetTrackingScaling",
            TargetTrackingScalingPolicyConfiguration={
                "TargetValue": target_invocations_per_instance,
                "PredefinedMetricSpecification": {
                    "PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"
                },
                "ScaleInCooldown": scale_in_cooldown,
                "ScaleOutCooldown": scale_out_cooldown,
            },
        )
        return {"resource_id": resource_id, "policy_arn": policy["PolicyARN"]}

    def s3(self):
        return boto3.client(
            "s3", region_name=self.region_name, config=client_config(self.retry_mode, 3)
        )

    @property
    def multi_model(self) -> bool:
        """Whether the endpoint serves a model per meter shard (``shards`` above 1)."""
        return self.shards > 1

    def route(self, shard: str) -> dict | None:
        """The route of ``shard`` (``target_model``, ``model_version``), None if unrouted."""
        return routes.read_route(self.s3, self.routes_bucket, shard, self.routes_ttl_seconds)

    def target_for(self, meter_id: str | None) -> str:
        """The TargetModel that answers ``meter_id`` (its shard's route); without a meter, the
        first shard that has a route. NoRoute when there is none."""
        if meter_id is not None:
            shard = layout.shard_key(layout.shard_of(meter_id, self.shards))
            found = self.route(shard)
            if found is None:
                raise NoRoute(
                    f"no model serves shard {shard} (meter {meter_id}) on endpoint "
                    f"{self.endpoint_name} yet: materialize forecast_endpoint for partition {shard}"
                )
            return found["target_model"]
        for shard in layout.shard_keys(self.shards):
            found = self.route(shard)
            if found is not None:
                return found["target_model"]
        raise NoRoute(f"no shard has a model on endpoint {self.endpoint_name} yet")

    def invoke(self, payload: dict) -> dict:
        """Invoke the endpoint; with shards, the model of the meter's shard (``target_for``)."""
        if self.multi_model:
            return self.invoke_target(self.target_for(payload.get("meter_id")), payload)
        response = self.runtime().invoke_endpoint(
            EndpointName=self.endpoint_name,
            ContentType="application/json",
            Accept="application/json",
            Body=json.dumps(payload).encode(),
        )
        return json.loads(response["Body"].read())

    def probe(self, meter_id: str | None = None) -> dict:
        """What the endpoint answers now: one real one-day invocation (a forecast costs about a
        millisecond), not the endpoint's status, which stays InService while its model fails.

        ``answers`` is True when the model answered, also when it refused the probe's request as
        a client error (which only a loaded model can do); ``model_version`` when it forecast.
        """
        described = self.describe_endpoint()
        status = described["EndpointStatus"] if described else "Missing"
        found = {"endpoint": self.endpoint_name, "status": status, "answers": False}
        if status != "InService":
            return {**found, "model_version": None, "detail": f"endpoint is {status}"}
        try:
            answer = self.invoke({"horizon": 1, **({"meter_id": meter_id} if meter_id else {})})
        except NoRoute as error:
            return {**found, "model_version": None, "detail": f"does not answer: {error}"}
        except botocore.exceptions.ClientError as error:
            if error.response.get("OriginalStatusCode") == 400:
                return {**found, "answers": True, "model_version": None, "detail": "answers"}
            message = error.response["Error"].get("Message") or str(error)
            return {**found, "model_version": None, "detail": f"does not answer: {message}"}
        except botocore.exceptions.BotoCoreError as error:  # timeouts, refused connections
            return {**found, "model_version": None, "detail": f"does not answer: {error}"}
        start = answer.get("start")
        return {
            **found,
            "answers": True,
            "model_version": answer.get("model_version"),
            # the last day the model knows: it forecasts from the day after
            "latest_day": (date.fromisoformat(start) - timedelta(days=1)).isoformat()
            if start
            else None,
            "detail": "answers",
        }

    # -- model registry: one model package group, one versioned package per trained model --

    @property
    def package_group(self) -> str:
        return self.model_package_group or self.endpoint_name

    def ensure_package_group(self) -> str:
        client = self.client()
        try:
            return client.describe_model_package_group(ModelPackageGroupName=self.package_group)[
                "ModelPackageGroupArn"
            ]
        except client.exceptions.ClientError as error:
            if not _not_found(error):
                raise
        return client.create_model_package_group(
            ModelPackageGroupName=self.package_group,
            ModelPackageGroupDescription=f"Forecasters served by endpoint {self.endpoint_name}",
        )["ModelPackageGroupArn"]

    def register_model(
        self,
        version: str,
        model_data_url: str,
        metrics: dict[str, str],
        metrics_uri: str,
        tags: dict[str, str],
    ) -> str:
        """A new package version in the group, PendingManualApproval until the deploy gate
        decides. ``metrics`` (test metrics and the artifact's SHA-256, as strings) go into
        CustomerMetadataProperties, the full report is
        referenced as the package's model-quality statistics."""
        self.ensure_package_group()
        response = self.client().create_model_package(
            ModelPackageGroupName=self.package_group,
            ModelPackageDescription=f"energy_assets model {version}",
            InferenceSpecification={
                "Containers": [{"Image": self.image_uri, "ModelDataUrl": model_data_url}],
                "SupportedContentTypes": ["application/json", "text/csv"],
                "SupportedResponseMIMETypes": ["application/json"],
                "SupportedRealtimeInferenceInstanceTypes": ["ml.m5.large", "ml.c5.large"],
            },
            ModelMetrics={
                "ModelQuality": {
                    "Statistics": {"ContentType": "application/json", "S3Uri": metrics_uri}
                }
            },
            CustomerMetadataProperties={"version": version, **metrics},
            ModelApprovalStatus="PendingManualApproval",
            Tags=[{"Key": k, "Value": v} for k, v in tags.items()],
        )
        return response["ModelPackageArn"]

    def _described_packages(self) -> Iterator[dict]:
        """The group's packages, newest first, each described (status, metadata) on demand."""
        client = self.client()
        try:
            pages = client.get_paginator("list_model_packages").paginate(
                ModelPackageGroupName=self.package_group,
                SortBy="CreationTime",
                SortOrder="Descending",
            )
            arns = [s["ModelPackageArn"] for page in pages for s in page["ModelPackageSummaryList"]]
        except client.exceptions.ClientError as error:
            if _not_found(error):
                return
            raise
        for arn in arns:
            yield self.describe_package(arn)

    def describe_package(self, arn: str) -> dict:
        return self.client().describe_model_package(ModelPackageName=arn)

    def model_packages(self) -> list[dict]:
        """Every package of the group, newest first, described."""
        return list(self._described_packages())

    def find_package(self, version: str) -> dict | None:
        """The package registered for ``version`` (recent versions are found first)."""
        return next(
            (
                package
                for package in self._described_packages()
                if package.get("CustomerMetadataProperties", {}).get("version") == version
            ),
            None,
        )

    def set_approval(self, package: dict, status: str, description: str, **metadata: str) -> None:
        """Approve or reject a package. The package's metadata is sent again with any new
        keys (UpdateModelPackage replaces it on some implementations)."""
        properties = {**package.get("CustomerMetadataProperties", {}), **metadata}
        self.client().update_model_package(
            ModelPackageArn=package["ModelPackageArn"],
            ModelApprovalStatus=status,
            ApprovalDescription=description[:1024],
            CustomerMetadataProperties=properties,
        )

    def set_version_approval(
        self, version: str, status: str, description: str, **metadata: str
    ) -> bool:
        """``set_approval`` on the package of ``version``; False when it was never registered."""
        package = self.find_package(version)
        if package is None:
            return False
        self.set_approval(package, status, description, **metadata)
        return True
