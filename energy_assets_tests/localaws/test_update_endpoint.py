"""UpdateEndpoint, which the local AWS adds to moto's SageMaker, over the AWS API."""

import pytest
from botocore.exceptions import ClientError

from energy_assets_tests.localaws import deploy
from energy_assets_tests.serving.helpers import make_bundle


@pytest.fixture(scope="module")
def sagemaker(clients):
    return clients("sagemaker")


def test_update_switches_config_and_variants(clients, sagemaker):
    first = deploy.model(clients, make_bundle("u1"))
    name = deploy.unique("endpoint")
    sagemaker.create_endpoint(
        EndpointName=name, EndpointConfigName=deploy.config(clients, ("AllTraffic", first, 1.0))
    )
    second = deploy.model(clients, make_bundle("u2"))
    config = deploy.config(clients, ("blue", first, 1.0), ("green", second, 3.0))
    arn = sagemaker.update_endpoint(EndpointName=name, EndpointConfigName=config)["EndpointArn"]
    described = sagemaker.describe_endpoint(EndpointName=name)
    assert arn == described["EndpointArn"] and described["EndpointStatus"] == "InService"
    assert described["EndpointConfigName"] == config
    variants = {v["VariantName"]: v for v in described["ProductionVariants"]}
    assert set(variants) == {"blue", "green"} and variants["green"]["CurrentWeight"] == 3.0


def test_retain_all_variant_properties_keeps_instance_counts(clients, sagemaker):
    model = deploy.model(clients, make_bundle("r1"))
    name = deploy.unique("endpoint")
    sagemaker.create_endpoint(
        EndpointName=name, EndpointConfigName=deploy.config(clients, ("AllTraffic", model, 1.0))
    )
    sagemaker.update_endpoint_weights_and_capacities(
        EndpointName=name,
        DesiredWeightsAndCapacities=[
            {"VariantName": "AllTraffic", "DesiredWeight": 1.0, "DesiredInstanceCount": 4}
        ],
    )
    new_config = deploy.single_config(clients, make_bundle("r2"))
    sagemaker.update_endpoint(
        EndpointName=name, EndpointConfigName=new_config, RetainAllVariantProperties=True
    )
    variant = sagemaker.describe_endpoint(EndpointName=name)["ProductionVariants"][0]
    assert variant["CurrentInstanceCount"] == 4
    sagemaker.update_endpoint(EndpointName=name, EndpointConfigName=new_config)
    variant = sagemaker.describe_endpoint(EndpointName=name)["ProductionVariants"][0]
    assert variant["CurrentInstanceCount"] == 1  # from the config again


def test_missing_endpoint_or_config_are_validation_errors(clients, sagemaker):
    config = deploy.single_config(clients, make_bundle("m1"))
    with pytest.raises(ClientError) as caught:
        sagemaker.update_endpoint(EndpointName="no-such-endpoint", EndpointConfigName=config)
    assert caught.value.response["Error"]["Code"] == "ValidationException"
    assert "Could not find endpoint" in caught.value.response["Error"]["Message"]
    name = deploy.unique("endpoint")
    sagemaker.create_endpoint(EndpointName=name, EndpointConfigName=config)
    with pytest.raises(ClientError) as caught:
        sagemaker.update_endpoint(EndpointName=name, EndpointConfigName="no-such-config")
    assert caught.value.response["Error"]["Code"] == "ValidationException"
    assert "Could not find endpoint configuration" in caught.value.response["Error"]["Message"]
    assert sagemaker.describe_endpoint(EndpointName=name)["EndpointConfigName"] == config
