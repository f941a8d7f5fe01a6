"""Starting, configuring and stopping the local AWS; the foreground command."""

import json
import os
import signal
import subprocess
import sys
import time

import boto3
import pytest

from energy_assets.localaws import LocalAWS
from energy_assets_tests.localaws import deploy
from energy_assets_tests.serving.helpers import make_bundle


def test_env_points_default_boto3_clients_at_it(local_aws, clients, monkeypatch):
    env = local_aws.env()
    assert set(env) == {
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_DEFAULT_REGION",
    }
    assert env["AWS_ENDPOINT_URL"] == local_aws.endpoint_url != local_aws.runtime_url
    name = deploy.endpoint(clients, make_bundle("env"))
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    session = boto3.session.Session()
    assert session.client("sagemaker").describe_endpoint(EndpointName=name)["EndpointName"] == name
    response = session.client("sagemaker-runtime").invoke_endpoint(
        EndpointName=name, ContentType="application/json", Body=b'{"meter_id":"m1","horizon":1}'
    )
    assert json.loads(response["Body"].read())["model_version"] == "env"


def test_region_defaults_to_us_east_1_unless_set(monkeypatch):
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    assert LocalAWS().region == "us-east-1"
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-central-1")
    assert LocalAWS().region == "eu-central-1"
    assert LocalAWS(region="ap-south-1").region == "ap-south-1"


def test_urls_need_a_started_instance():
    with pytest.raises(RuntimeError, match="start it first"):
        LocalAWS().endpoint_url  # noqa: B018


def test_a_busy_port_fails_with_a_clear_message(local_aws):
    with pytest.raises(RuntimeError, match="cannot listen on .*another local AWS"):
        LocalAWS(runtime_port=local_aws.runtime_port).start()
    with pytest.raises(RuntimeError, match="cannot listen on"):
        LocalAWS(port=local_aws.port).start()


def test_module_runs_in_the_foreground_until_sigterm():
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_ENDPOINT_URL")}
    process = subprocess.Popen(
        [sys.executable, "-m", "energy_assets.localaws", "--port", "0", "--runtime-port", "0"],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        exported = {}
        deadline = time.monotonic() + 180  # busy 2 cores: dagster imports in ~50 s
        while len(exported) < 5 and time.monotonic() < deadline:
            line = process.stdout.readline()
            if line.startswith("export "):
                key, value = line.removeprefix("export ").strip().split("=", 1)
                exported[key] = value
        s3 = boto3.client(
            "s3",
            endpoint_url=exported["AWS_ENDPOINT_URL"],
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        assert "Buckets" in s3.list_buckets()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
