"""Multi-model endpoints in the local runtime, over the AWS API with boto3: ``TargetModel``
names an artifact under the model's S3 prefix, loaded on first use, cached, evicted least
recently used first; SageMaker's errors for a missing target, a missing header, a target on a
single-model endpoint and an artifact that does not load."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from energy_assets.serving.artifact import pack_bundle
from energy_assets_tests.localaws import deploy
from energy_assets_tests.localaws.conftest import REGION, ROLE
from energy_assets_tests.serving.helpers import make_bundle

SHARDS = ("shard-00", "shard-01", "shard-02")


@pytest.fixture(scope="module")
def shards(clients) -> dict:
    """Three shard models under one prefix, a multi-model endpoint over it."""
    bucket = deploy.bucket(clients, f"{deploy.BUCKET}-{clients.region}")
    prefix = deploy.unique("shards")
    s3 = clients("s3")
    for i, shard in enumerate(SHARDS):
        bundle = make_bundle(f"v-{shard}", meters=(f"m{i}",))
        s3.put_object(Bucket=bucket, Key=f"{prefix}/{shard}/model.tar.gz", Body=pack_bundle(bundle))
    s3.put_object(Bucket=bucket, Key=f"{prefix}/broken/model.tar.gz", Body=b"not a tarball")
    sagemaker = clients("sagemaker")
    model = deploy.unique("multi")
    sagemaker.create_model(
        ModelName=model,
        PrimaryContainer={
            "Image": "energy-assets-inference",
            "Mode": "MultiModel",
            "ModelDataUrl": f"s3://{bucket}/{prefix}/",
        },
        ExecutionRoleArn=ROLE,
    )
    endpoint = deploy.unique("multi-endpoint")
    sagemaker.create_endpoint(
        EndpointName=endpoint, EndpointConfigName=deploy.config(clients, ("AllTraffic", model, 1.0))
    )
    return {"endpoint": endpoint, "bucket": bucket, "prefix": prefix}


def _invoke(clients, endpoint: str, meter: str, **extra) -> dict:
    answer = clients("sagemaker-runtime").invoke_endpoint(
        EndpointName=endpoint,
        ContentType="application/json",
        Body=json.dumps({"meter_id": meter, "horizon": 2}).encode(),
        **extra,
    )
    return json.loads(answer["Body"].read())


def _error(call) -> dict:
    with pytest.raises(ClientError) as caught:
        call()
    return caught.value.response


def test_each_target_is_its_own_model_loaded_once(clients, local_aws, shards):
    endpoint = shards["endpoint"]
    for i, shard in enumerate(SHARDS):
        answer = _invoke(clients, endpoint, f"m{i}", TargetModel=f"{shard}/model.tar.gz")
        assert answer["model_version"] == f"v-{shard}"
    _invoke(clients, endpoint, "m0", TargetModel="shard-00/model.tar.gz")
    cache = local_aws.resolver.multi_model_cache(endpoint, REGION)
    assert cache.stats.loads == 3 and cache.stats.hits == 1
    assert cache.loaded() == [
        "shard-01/model.tar.gz",
        "shard-02/model.tar.gz",
        "shard-00/model.tar.gz",
    ]
    # a meter of another shard is not in this shard's model: the model's own 400
    wrong = _error(lambda: _invoke(clients, endpoint, "m1", TargetModel="shard-00/model.tar.gz"))
    assert wrong["Error"]["Code"] == "ModelError" and wrong["OriginalStatusCode"] == 400


def test_least_recently_used_models_are_unloaded(clients, local_aws):
    local_aws.resolver.multi_model_max_models = 2  # read when an endpoint is deployed
    try:
        bucket = deploy.bucket(clients, f"{deploy.BUCKET}-{clients.region}")
        prefix = deploy.unique("lru")
        s3 = clients("s3")
        for i, shard in enumerate(SHARDS):
            body = pack_bundle(make_bundle(f"old-{shard}", meters=(f"m{i}",)))
            s3.put_object(Bucket=bucket, Key=f"{prefix}/{shard}.tar.gz", Body=body)
        model = deploy.unique("lru-model")
        clients("sagemaker").create_model(
            ModelName=model,
            PrimaryContainer={
                "Image": "energy-assets-inference",
                "Mode": "MultiModel",
                "ModelDataUrl": f"s3://{bucket}/{prefix}",  # a prefix without its "/"
            },
            ExecutionRoleArn=ROLE,
        )
        endpoint = deploy.unique("lru-endpoint")
        clients("sagemaker").create_endpoint(
            EndpointName=endpoint,
            EndpointConfigName=deploy.config(clients, ("AllTraffic", model, 1.0)),
        )
        _invoke(clients, endpoint, "m0", TargetModel="shard-00.tar.gz")
        _invoke(clients, endpoint, "m1", TargetModel="shard-01.tar.gz")
        _invoke(clients, endpoint, "m0", TargetModel="shard-00.tar.gz")  # shard-01 is now oldest
        # a new version at the same key: a loaded model is served as loaded, as on SageMaker
        new = pack_bundle(make_bundle("new-shard-00", meters=("m0",)))
        s3.put_object(Bucket=bucket, Key=f"{prefix}/shard-00.tar.gz", Body=new)
        assert _invoke(clients, endpoint, "m0", TargetModel="shard-00.tar.gz")["model_version"] == (
            "old-shard-00"
        )
        _invoke(clients, endpoint, "m2", TargetModel="shard-02.tar.gz")
        cache = local_aws.resolver.multi_model_cache(endpoint, REGION)
        assert cache.stats.evicted == ["shard-01.tar.gz"]
        assert cache.loaded() == ["shard-00.tar.gz", "shard-02.tar.gz"]
        _invoke(clients, endpoint, "m1", TargetModel="shard-01.tar.gz")  # loaded again
        assert cache.stats.loads == 4 and cache.stats.evicted[-1] == "shard-00.tar.gz"
        # once unloaded, the next invocation loads what is at the key now
        assert _invoke(clients, endpoint, "m0", TargetModel="shard-00.tar.gz")["model_version"] == (
            "new-shard-00"
        )
    finally:
        local_aws.resolver.multi_model_max_models = 32


def test_errors_are_sagemakers(clients, shards):
    endpoint = shards["endpoint"]
    missing = _error(lambda: _invoke(clients, endpoint, "m0", TargetModel="shard-99/model.tar.gz"))
    assert missing["Error"]["Code"] == "ValidationError"
    assert missing["Error"]["Message"].startswith(
        f"Failed to download model data(bucket: {shards['bucket']}, "
        f"key: {shards['prefix']}/shard-99/model.tar.gz)"
    )
    no_header = _error(lambda: _invoke(clients, endpoint, "m0"))
    assert no_header["Error"]["Code"] == "ValidationError"
    assert "missing a target model header" in no_header["Error"]["Message"]
    broken = _error(lambda: _invoke(clients, endpoint, "m0", TargetModel="broken/model.tar.gz"))
    assert broken["Error"]["Code"] == "ModelError" and broken["OriginalStatusCode"] == 500
    single = deploy.endpoint(clients, make_bundle("single"))
    refused = _error(lambda: _invoke(clients, single, "m1", TargetModel="x/model.tar.gz"))
    assert refused["Error"]["Code"] == "ValidationError"
    assert refused["Error"]["Message"] == (
        f"Endpoint {single} is not a multi-model endpoint and does not support target model header."
    )


def test_the_resource_creates_and_invokes_a_multi_model_endpoint(clients, one_url, shards):
    from energy_assets.resources import SageMakerResource

    name = deploy.unique("resource-multi")
    sagemaker = SageMakerResource(
        endpoint_name=name, role_arn=ROLE, image_uri="energy-assets-inference", region_name=REGION
    )
    prefix = f"s3://{shards['bucket']}/{shards['prefix']}"
    sagemaker.create_multi_model_endpoint_config(name, name, prefix, "ml.m5.large", 1, {"v": "1"})
    described = clients("sagemaker").describe_model(ModelName=name)["PrimaryContainer"]
    assert described["Mode"] == "MultiModel" and described["ModelDataUrl"] == prefix + "/"
    sagemaker.point_endpoint_at(name, {"v": "1"})
    answer = sagemaker.invoke_target("shard-02/model.tar.gz", {"meter_id": "m2", "horizon": 1})
    assert answer["model_version"] == "v-shard-02" and len(answer["forecast"]) == 1
