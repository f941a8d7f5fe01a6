"""UpdateEndpoint for moto's SageMaker, which answers it with a server error (moto 5.2); and,
through ``apply()``, moto's answers corrected to AWS's (``moto_responses``) and DynamoDB's
exports and imports as AWS writes them (``write_log``, ``dynamodb_exports``,
``dynamodb_import``), Queries and Scans that read only what they return (``dynamodb_query``), and
items held compactly (``dynamodb_store``), item answers written fast (``dynamodb_answers``).

The deploy asset moves a live endpoint to a new endpoint config with UpdateEndpoint, as on AWS,
so the local AWS must support it. The method is added to moto's backend and response classes
(moto dispatches an action to the ``SageMakerResponse`` method of the same snake_case name), in
this process, before the moto server starts.

Semantics: the endpoint switches to the new config at once: its production variants are rebuilt
from the config, ``LastModifiedTime`` moves, the status is InService. On AWS the endpoint shows
Updating while the new fleet starts and keeps serving the old config meanwhile; callers that wait
for InService behave the same against both. ``RetainAllVariantProperties`` keeps the instance
counts and weights of variants that keep their name (as autoscaling may have changed them).
Missing endpoint or config raise ``ValidationException`` with moto's (AWS-like) messages.
"""

from __future__ import annotations

from typing import Any

from moto.core.responses import ActionResult
from moto.core.utils import utcnow
from moto.sagemaker.exceptions import ValidationError
from moto.sagemaker.models import FakeEndpoint, SageMakerModelBackend
from moto.sagemaker.responses import SageMakerResponse

from energy_assets.localaws import (
    dynamodb_answers,
    dynamodb_exports,
    dynamodb_import,
    dynamodb_query,
    dynamodb_store,
    moto_responses,
    write_log,
)

_RETAINED = ("CurrentInstanceCount", "DesiredInstanceCount", "CurrentWeight", "DesiredWeight")


def update_endpoint(
    self: SageMakerModelBackend,
    endpoint_name: str,
    endpoint_config_name: str,
    retain_all_variant_properties: bool = False,
) -> str:
    endpoint = self.endpoints.get(endpoint_name)
    if endpoint is None:
        arn = FakeEndpoint.arn_formatter(endpoint_name, self.account_id, self.region_name)
        raise ValidationError(message=f"Could not find endpoint '{arn}'.")
    config = self.describe_endpoint_config(endpoint_config_name)  # ValidationError if missing
    variants = endpoint._process_production_variants(config["ProductionVariants"])
    if retain_all_variant_properties:
        before = {v["VariantName"]: v for v in endpoint.production_variants}
        for variant in variants:
            old = before.get(variant["VariantName"], {})
            variant.update({k: old[k] for k in _RETAINED if k in old})
    endpoint.endpoint_config_name = endpoint_config_name
    endpoint.production_variants = variants
    endpoint.data_capture_config = config.get("DataCaptureConfig")
    endpoint.endpoint_status = "InService"
    endpoint.failure_reason = None
    endpoint.last_modified_time = utcnow()
    return endpoint.arn


def _update_endpoint_response(self: SageMakerResponse) -> ActionResult:
    arn = self.sagemaker_backend.update_endpoint(
        endpoint_name=self._get_param("EndpointName"),
        endpoint_config_name=self._get_param("EndpointConfigName"),
        retain_all_variant_properties=bool(self._get_param("RetainAllVariantProperties")),
    )
    return ActionResult({"EndpointArn": arn})


def apply() -> None:
    """Install the patches (idempotent): UpdateEndpoint, kept out if moto ever implements it
    itself, the corrected answers of ``moto_responses``, and DynamoDB's write log, exports
    fast ImportTable, partition Queries and paged Scans, and items held compactly
    (``write_log``, ``dynamodb_exports``, ``dynamodb_import``, ``dynamodb_query``,
    ``dynamodb_store``)."""
    native: Any = SageMakerModelBackend.__dict__.get("update_endpoint")
    if native is None or native is update_endpoint:
        SageMakerModelBackend.update_endpoint = update_endpoint
        SageMakerResponse.update_endpoint = _update_endpoint_response
    moto_responses.apply()
    dynamodb_store.install()
    dynamodb_answers.install()
    write_log.install()
    dynamodb_exports.install()
    dynamodb_import.install()
    dynamodb_query.install()
