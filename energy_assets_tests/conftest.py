"""Shared fixtures: one local AWS for the test session, started in-process over real HTTP."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

import pytest

TODAY = datetime.now(UTC).date()
HISTORY_DAYS = 400
HISTORY_START = (TODAY - timedelta(days=HISTORY_DAYS)).isoformat()
DEPLOYED_METERS = 5

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

    from energy_assets.definitions import defs
    from energy_assets.ml.synthetic import generate_usage
    from energy_assets.pipeline import materialize_all
    from energy_assets.seed import seed_table

    frame = generate_usage(n_meters=DEPLOYED_METERS, n_days=HISTORY_DAYS - 30, seed=7)
    seeded = seed_table(defs.resources["usage_table"], frame)
    instance = dg.DagsterInstance.ephemeral()
    yesterday = (TODAY - timedelta(days=1)).isoformat()
    runs = materialize_all(defs, instance, seeded.first_date, yesterday)
    return {"defs": defs, "frame": frame, "seeded": seeded, "runs": runs, "instance": instance}
