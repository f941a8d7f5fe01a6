"""InvokeEndpoint through boto3 against the local runtime: real models, AWS-shaped errors."""

import json

import httpx
import pytest

from energy_assets_tests.localaws import deploy
from energy_assets_tests.localaws.conftest import Clients
from energy_assets_tests.serving.helpers import broken_bundle, make_bundle


@pytest.fixture(scope="module")
def runtime(clients):
    return clients("sagemaker-runtime")


@pytest.fixture(scope="module")
def serving(clients):
    """An endpoint serving make_bundle('v1')."""
    return deploy.endpoint(clients, make_bundle("v1"))


def invoke(runtime, endpoint, payload, content_type="application/json", **extra):
    body = payload if isinstance(payload, bytes | str) else json.dumps(payload)
    response = runtime.invoke_endpoint(
        EndpointName=endpoint, ContentType=content_type, Body=body, **extra
    )
    return json.loads(response["Body"].read()), response


def test_invoke_serves_the_endpoints_model(runtime, serving):
    answer, response = invoke(runtime, serving, {"meter_id": "m1", "horizon": 14})
    expected = make_bundle("v1").forecast("m1", 14)
    assert answer["forecast"] == expected["forecast"].tolist()
    assert answer["dates"] == expected["date"].dt.strftime("%Y-%m-%d").tolist()
    assert answer["model_version"] == "v1" and answer["model"] == "seasonal_naive"
    assert response["ContentType"] == "application/json"
    assert response["InvokedProductionVariant"] == "AllTraffic"


def test_batch_and_csv(runtime, serving):
    batch, _ = invoke(
        runtime,
        serving,
        {"instances": [{"meter_id": "m1", "horizon": 2}, {"meter_id": "m2", "horizon": 3}]},
        Accept="application/json",
    )
    csv, _ = invoke(runtime, serving, "m1,2\nm2,3\n", content_type="text/csv")
    assert batch == csv and [len(p["forecast"]) for p in batch["predictions"]] == [2, 3]


def test_update_endpoint_switches_the_served_model(clients, runtime):
    sagemaker = clients("sagemaker")
    name = deploy.endpoint(clients, make_bundle("v1"))
    assert invoke(runtime, name, {"meter_id": "m1", "horizon": 1})[0]["model_version"] == "v1"
    before = sagemaker.describe_endpoint(EndpointName=name)
    new_config = deploy.single_config(clients, make_bundle("v2", offset=1000.0))
    sagemaker.update_endpoint(EndpointName=name, EndpointConfigName=new_config)
    after = sagemaker.describe_endpoint(EndpointName=name)
    assert after["EndpointStatus"] == "InService" and after["EndpointConfigName"] == new_config
    assert after["LastModifiedTime"] > before["LastModifiedTime"]
    answer, _ = invoke(runtime, name, {"meter_id": "m1", "horizon": 3})
    assert answer["model_version"] == "v2"
    assert (
        answer["forecast"]
        == make_bundle("v2", offset=1000.0).forecast("m1", 3)["forecast"].tolist()
    )


def test_resolution_is_cached_until_the_endpoint_changes(clients, runtime, local_aws):
    name = deploy.endpoint(clients, make_bundle("cached"))
    calls = []
    events = local_aws.resolver.client("sagemaker").meta.events
    handler = events.register("before-call.sagemaker.DescribeModel", lambda **kw: calls.append(1))
    try:
        for _ in range(10):
            invoke(runtime, name, {"meter_id": "m2", "horizon": 1})
        assert len(calls) == 1
        config = deploy.single_config(clients, make_bundle("cached-2"))
        clients("sagemaker").update_endpoint(EndpointName=name, EndpointConfigName=config)
        assert invoke(runtime, name, {"meter_id": "m2", "horizon": 1})[0]["model_version"] == (
            "cached-2"
        )
        assert len(calls) == 2
    finally:
        events.unregister("before-call.sagemaker.DescribeModel", handler)


def test_artifact_overwritten_in_place_is_served_after_the_next_deployment(clients, runtime):
    key = f"{deploy.unique('in-place')}/model.tar.gz"
    url = deploy.upload(clients, make_bundle("first"), key)
    name = deploy.unique("endpoint")
    sagemaker = clients("sagemaker")
    sagemaker.create_endpoint(
        EndpointName=name,
        EndpointConfigName=deploy.single_config(clients, make_bundle("first"), url),
    )
    assert invoke(runtime, name, {"meter_id": "m1", "horizon": 1})[0]["model_version"] == "first"
    deploy.upload(clients, make_bundle("second"), key)
    # As on AWS, a running endpoint keeps the artifact it was deployed with ...
    assert invoke(runtime, name, {"meter_id": "m1", "horizon": 1})[0]["model_version"] == "first"
    # ... and reads the artifact again when it is deployed again.
    config = deploy.single_config(clients, make_bundle("second"), url)
    sagemaker.update_endpoint(EndpointName=name, EndpointConfigName=config)
    assert invoke(runtime, name, {"meter_id": "m1", "horizon": 1})[0]["model_version"] == "second"


def test_a_running_endpoint_survives_deleting_its_model_and_config(clients, runtime):
    sagemaker = clients("sagemaker")
    name = deploy.endpoint(clients, make_bundle("kept"))
    invoke(runtime, name, {"meter_id": "m1", "horizon": 1})
    config = sagemaker.describe_endpoint(EndpointName=name)["EndpointConfigName"]
    model = sagemaker.describe_endpoint_config(EndpointConfigName=config)["ProductionVariants"][0]
    sagemaker.delete_endpoint_config(EndpointConfigName=config)
    sagemaker.delete_model(ModelName=model["ModelName"])
    assert invoke(runtime, name, {"meter_id": "m1", "horizon": 1})[0]["model_version"] == "kept"


def test_missing_and_deleted_endpoints_are_validation_errors(clients, runtime):
    with pytest.raises(runtime.exceptions.ValidationError) as caught:
        invoke(runtime, "nope", {"meter_id": "m1", "horizon": 1})
    assert caught.value.response["Error"]["Message"] == (
        "Endpoint nope of account 123456789012 not found."
    )
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    name = deploy.endpoint(clients, make_bundle("gone"))
    invoke(runtime, name, {"meter_id": "m1", "horizon": 1})
    clients("sagemaker").delete_endpoint(EndpointName=name)
    with pytest.raises(runtime.exceptions.ValidationError, match=f"Endpoint {name} of account"):
        invoke(runtime, name, {"meter_id": "m1", "horizon": 1})


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"meter_id": "zz", "horizon": 1}, "unknown meter 'zz'"),
        ({"meter_id": "m1", "horizon": 400}, "between 1 and 366"),
        (b"{nope", "not valid JSON"),
    ],
)
def test_a_bad_payload_is_a_model_error_carrying_the_containers_400(
    runtime, serving, payload, message
):
    with pytest.raises(runtime.exceptions.ModelError) as caught:
        invoke(runtime, serving, payload)
    error = caught.value.response
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 424
    assert error["OriginalStatusCode"] == 400
    assert message in json.loads(error["OriginalMessage"])["error"]
    assert error["Error"]["Message"].startswith("Received client error (400) from primary")
    assert error["LogStreamArn"].endswith(f"/aws/sagemaker/Endpoints/{serving}")


def test_a_failing_model_is_a_model_error_carrying_a_500(clients, runtime):
    name = deploy.endpoint(clients, broken_bundle())
    with pytest.raises(runtime.exceptions.ModelError) as caught:
        invoke(runtime, name, {"meter_id": "boom", "horizon": 1})
    assert caught.value.response["OriginalStatusCode"] == 500
    assert "kaboom" in caught.value.response["OriginalMessage"]


def test_an_unloadable_artifact_is_a_model_error(clients, runtime):
    sagemaker = clients("sagemaker")
    missing = deploy.single_config(
        clients, make_bundle("x"), f"s3://{deploy.bucket(clients, deploy.BUCKET)}/no/such.tar.gz"
    )
    name = deploy.unique("endpoint")
    sagemaker.create_endpoint(EndpointName=name, EndpointConfigName=missing)
    with pytest.raises(runtime.exceptions.ModelError) as caught:
        invoke(runtime, name, {"meter_id": "m1", "horizon": 1})
    assert caught.value.response["OriginalStatusCode"] == 500
    assert "cannot read model artifact" in caught.value.response["OriginalMessage"]


def test_variants_route_by_weight_and_target_variant(clients, runtime):
    champion = deploy.model(clients, make_bundle("champion"))
    challenger = deploy.model(clients, make_bundle("challenger"))
    config = deploy.config(clients, ("champion", champion, 1.0), ("challenger", challenger, 0.0))
    name = deploy.unique("endpoint")
    clients("sagemaker").create_endpoint(EndpointName=name, EndpointConfigName=config)
    request = {"meter_id": "m1", "horizon": 1}
    for _ in range(10):
        answer, response = invoke(runtime, name, request)
        assert answer["model_version"] == "champion"
        assert response["InvokedProductionVariant"] == "champion"
    answer, response = invoke(runtime, name, request, TargetVariant="challenger")
    assert answer["model_version"] == "challenger"
    assert response["InvokedProductionVariant"] == "challenger"
    with pytest.raises(runtime.exceptions.ValidationError, match="Target variant nobody"):
        invoke(runtime, name, request, TargetVariant="nobody")


def test_the_runtime_serves_the_region_the_caller_signed_for(local_aws, runtime):
    west = Clients(local_aws, region="eu-west-1")
    name = deploy.endpoint(west, make_bundle("west"))
    assert (
        invoke(west("sagemaker-runtime"), name, {"meter_id": "m1", "horizon": 1})[0][
            "model_version"
        ]
        == "west"
    )
    with pytest.raises(runtime.exceptions.ValidationError):
        invoke(runtime, name, {"meter_id": "m1", "horizon": 1})  # us-east-1 has no such endpoint


def test_what_is_not_a_runtime_operation_is_refused_clearly(local_aws):
    answer = httpx.post(f"{local_aws.runtime_url}/endpoints/e1/explain", content=b"{}")
    assert answer.status_code == 404
    assert answer.headers["x-amzn-ErrorType"] == "UnknownOperationException"
    assert "not an operation of the SageMaker runtime API" in answer.json()["message"]
