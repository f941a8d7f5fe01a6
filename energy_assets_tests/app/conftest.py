import pytest

from energy_assets.app.api import create_app
from energy_assets.app.service import UsageService
from energy_assets.background import BackgroundServer
from energy_assets.resources import SageMakerResource


def _serve(deployed, endpoint_name: str | None = None):
    resources = deployed["defs"].resources
    sagemaker = resources["sagemaker"]
    if endpoint_name:
        sagemaker = SageMakerResource(
            endpoint_name=endpoint_name, role_arn=sagemaker.role_arn, image_uri=sagemaker.image_uri
        )
    service = UsageService(table=resources["usage_table"], sagemaker=sagemaker)
    return BackgroundServer(create_app(service)).start()


@pytest.fixture(scope="session")
def app_url(deployed):
    """The app wired to the test table and the deployed endpoint, served over HTTP."""
    server = _serve(deployed)
    yield server.url
    server.stop()


@pytest.fixture(scope="session")
def app_without_endpoint_url(deployed):
    """The same app pointed at an endpoint that does not exist: the endpoint is down."""
    server = _serve(deployed, endpoint_name="no-such-endpoint")
    yield server.url
    server.stop()
