"""One local AWS for these tests, reached with explicit endpoint URLs (no env changes).

moto keeps state per process, shared by every LocalAWS in it (the suite's own fixture too), and
per region: these tests work in their own region so that what they create never shows up in
another test's listing of us-east-1.
"""

from __future__ import annotations

import boto3
import pytest

from energy_assets.localaws import LocalAWS

REGION = "us-west-2"
ROLE = "arn:aws:iam::123456789012:role/local-aws-tests"


@pytest.fixture(scope="session")
def local_aws():
    with LocalAWS(port=0, runtime_port=0, region=REGION) as aws:
        yield aws


class Clients:
    """boto3 clients of one LocalAWS, built on demand with explicit endpoint URLs."""

    def __init__(self, aws: LocalAWS, region: str = REGION):
        self.aws, self.region = aws, region
        self._session = boto3.session.Session()
        self._clients: dict[str, object] = {}

    def __call__(self, service: str):
        if service not in self._clients:
            runtime = service == "sagemaker-runtime"
            self._clients[service] = self._session.client(
                service,
                endpoint_url=self.aws.runtime_url if runtime else self.aws.endpoint_url,
                region_name=self.region,
                aws_access_key_id="testing",
                aws_secret_access_key="testing",
            )
        return self._clients[service]


@pytest.fixture(scope="session")
def clients(local_aws) -> Clients:
    return Clients(local_aws)
