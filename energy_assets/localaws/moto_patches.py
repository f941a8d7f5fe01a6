"""UpdateEndpoint for moto's SageMaker, which does not implement it.

The endpoint switches to the new config at once and stays InService; AWS would show Updating
while the new fleet starts and keep serving the old config meanwhile.
"""

from __future__ import annotations

from moto.core.responses import ActionResult
from moto.core.utils import utcnow
from moto.sagemaker.exceptions import ValidationError
from moto.sagemaker.models import FakeEndpoint, SageMakerModelBackend
from moto.sagemaker.responses import SageMakerResponse


def _update_endpoint(self: SageMakerModelBackend, endpoint_name: str, config_name: str) -> str:
    endpoint = self.endpoints.get(endpoint_name)
    if endpoint is None:
        arn = FakeEndpoint.arn_formatter(endpoint_name, self.account_id, self.region_name)
        raise ValidationError(message=f"Could not find endpoint '{arn}'.")
    try:
        config = self.describe_endpoint_config(config_name)
    except Exception as error:
        message = f"Could not find endpoint configuration '{config_name}'."
        raise ValidationError(message=message) from error
    endpoint.endpoint_config_name = config_name
    endpoint.production_variants = endpoint._process_production_variants(
        config["ProductionVariants"]
    )
    endpoint.data_capture_config = config.get("DataCaptureConfig")
    endpoint.endpoint_status = "InService"
    endpoint.last_modified_time = utcnow()
    return endpoint.arn


def _update_endpoint_response(self: SageMakerResponse) -> ActionResult:
    arn = self.sagemaker_backend.update_endpoint(
        self._get_param("EndpointName"), self._get_param("EndpointConfigName")
    )
    return ActionResult({"EndpointArn": arn})


def apply() -> None:
    SageMakerModelBackend.update_endpoint = _update_endpoint
    SageMakerResponse.update_endpoint = _update_endpoint_response
