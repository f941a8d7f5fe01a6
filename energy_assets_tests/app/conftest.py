import boto3
import pytest

from energy_assets.app.api import create_app
from energy_assets.app.service import UsageService
from energy_assets.background import ASGIThread
from energy_assets.resources import SageMakerResource, UsageTableResource

TOKEN = "s3cret-Token_for/tests"
SLASH_METERS = ("site/a", "site/b/kitchen")


def _serve(deployed, endpoint_name: str | None = None, table_name: str | None = None, **app):
    resources = deployed["defs"].resources
    sagemaker, table = resources["sagemaker"], resources["usage_table"]
    if endpoint_name:
        sagemaker = SageMakerResource(
            endpoint_name=endpoint_name, role_arn=sagemaker.role_arn, image_uri=sagemaker.image_uri
        )
    if table_name:
        table = UsageTableResource(table_name=table_name)
    service = UsageService(table=table, sagemaker=sagemaker)
    return ASGIThread().start(create_app(service, **app))


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


@pytest.fixture(scope="session")
def app_without_table_url(deployed):
    """The app pointed at a table that does not exist."""
    server = _serve(deployed, table_name="no-such-table")
    yield server.url
    server.stop()


@pytest.fixture(scope="session")
def app_with_token_url(deployed):
    server = _serve(deployed, token=TOKEN)
    yield server.url
    server.stop()


@pytest.fixture(scope="session")
def slash_app_url(local_aws):
    """Meters whose ids hold '/', seeded into a table of their own, trained with the default
    training, deployed to an endpoint of their own and served by the app."""
    from energy_assets.ml.cleaning import clean_usage
    from energy_assets.ml.synthetic import generate_usage
    from energy_assets.ml.training import train_forecasters
    from energy_assets.serving.artifact import pack_bundle
    from energy_assets.settings import Settings

    frame = generate_usage(n_meters=len(SLASH_METERS), n_days=150, seed=5, bad_rows=False)
    names = dict(zip(sorted(frame["meter_id"].unique()), SLASH_METERS, strict=True))
    frame["meter_id"] = frame["meter_id"].map(names)
    table = UsageTableResource(table_name="test-usage-slash")
    table.create()
    table.put_usage(frame[["meter_id", "date", "usage"]])
    clean = clean_usage(frame.astype(str)).clean
    bundle = train_forecasters(clean[["meter_id", "date", "usage"]], version="slash", n_jobs=1)

    s3, sagemaker = boto3.client("s3"), boto3.client("sagemaker")
    s3.create_bucket(Bucket="test-app-slash")
    s3.put_object(Bucket="test-app-slash", Key="model.tar.gz", Body=pack_bundle(bundle))
    role = Settings().role_arn
    sagemaker.create_model(
        ModelName="test-slash",
        PrimaryContainer={"Image": "img", "ModelDataUrl": "s3://test-app-slash/model.tar.gz"},
        ExecutionRoleArn=role,
    )
    variant = {
        "VariantName": "AllTraffic",
        "ModelName": "test-slash",
        "InstanceType": "ml.m5.large",
        "InitialInstanceCount": 1,
    }
    sagemaker.create_endpoint_config(EndpointConfigName="test-slash", ProductionVariants=[variant])
    sagemaker.create_endpoint(EndpointName="test-slash", EndpointConfigName="test-slash")
    service = UsageService(
        table=table,
        sagemaker=SageMakerResource(endpoint_name="test-slash", role_arn=role, image_uri="img"),
    )
    server = ASGIThread().start(create_app(service))
    yield server.url
    server.stop()
