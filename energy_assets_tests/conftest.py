"""Shared fixtures: one local AWS for the test session, started in-process over real HTTP."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

import pytest

TODAY = datetime.now(UTC).date()
HISTORY_DAYS = 400
HISTORY_START = (TODAY - timedelta(days=HISTORY_DAYS)).isoformat()
DEPLOYED_METERS = 5
# The session's shared deployment; tests that need data of their own name their own.
NAMES = {"table": "test-usage", "bucket": "test-energy-assets", "endpoint_name": "test-forecaster"}
REGION = {"AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1"}
os.environ.update(REGION)  # boto3 clients made outside the local_aws fixture need a region


def deployment(**names):
    """The ``Settings`` of a deployment of the tests' own: its names, and daily partitions from
    ``HISTORY_START`` (the generated data starts after it)."""
    from energy_assets.settings import Settings

    return Settings(history_start=HISTORY_START, **names)


@pytest.fixture(scope="session", autouse=True)
def command_environment():
    """The environment the commands run by tests (``cli.main``) read their settings from, as a
    user's shell would hold it: the session's deployment."""
    settings = deployment(**NAMES)
    names = (
        "ENERGY_ASSETS_TABLE",
        "ENERGY_ASSETS_BUCKET",
        "ENERGY_ASSETS_ENDPOINT",
        "ENERGY_ASSETS_HISTORY_START",
    )
    with pytest.MonkeyPatch.context() as patch:
        for name in names:
            patch.setenv(name, settings.as_env()[name])
        yield


@pytest.fixture(scope="session")
def local_aws():
    """The project's local AWS on free ports; AWS clients in this process are pointed at it.
    Fault injection is on (``energy_assets/localaws/faults.py``): tests set rules over HTTP."""
    from energy_assets.localaws import LocalAWS

    aws = LocalAWS(port=0, runtime_port=0, fault_injection=True)
    aws.start()
    with pytest.MonkeyPatch.context() as patch:
        for key, value in aws.env().items():
            patch.setenv(key, value)
        yield aws
    aws.stop()


@pytest.fixture(scope="session")
def deployed(local_aws):
    """Generated data seeded, the whole graph materialized, the endpoint InService."""
    import dagster as dg

    from energy_assets.ml.synthetic import generate_usage
    from energy_assets.orchestration.definitions import build_defs
    from energy_assets.orchestration.pipeline import materialize_all
    from energy_assets.tools.seed import seed_table

    defs = build_defs(deployment(**NAMES))
    frame = generate_usage(n_meters=DEPLOYED_METERS, n_days=HISTORY_DAYS - 30, seed=7)
    seeded = seed_table(defs.resources["usage_table"], frame)
    instance = dg.DagsterInstance.ephemeral()
    yesterday = (TODAY - timedelta(days=1)).isoformat()
    runs = materialize_all(defs, instance, seeded.first_date, yesterday)
    return {"defs": defs, "frame": frame, "seeded": seeded, "runs": runs, "instance": instance}
