"""Shared fixtures: one local AWS for the test session, started in-process over real HTTP."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

import pytest

TODAY = datetime.now(UTC).date()
HISTORY_DAYS = 400
HISTORY_START = (TODAY - timedelta(days=HISTORY_DAYS)).isoformat()

# Names and the partition start are read when the definitions are imported: set them first.
os.environ.update(
    {
        "ENERGY_ASSETS_TABLE": "test-usage",
        "ENERGY_ASSETS_BUCKET": "test-energy-assets",
        "ENERGY_ASSETS_ENDPOINT": "test-forecaster",
        "ENERGY_ASSETS_HISTORY_START": HISTORY_START,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
    }
)


@pytest.fixture(scope="session")
def local_aws():
    """The project's local AWS on free ports; AWS clients in this process are pointed at it."""
    from energy_assets.localaws import LocalAWS

    aws = LocalAWS(port=0, runtime_port=0)
    aws.start()
    with pytest.MonkeyPatch.context() as patch:
        for key, value in aws.env().items():
            patch.setenv(key, value)
        yield aws
    aws.stop()
