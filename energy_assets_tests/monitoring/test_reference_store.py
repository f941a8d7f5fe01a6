"""The reference error is stored when a version is registered, before it serves, and a
monitoring day reads it back: no day after a deploy pays for it (issue 15)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from dagster_aws.s3 import S3Resource

from energy_assets import layout
from energy_assets.ml import monitoring as mon
from energy_assets.monitoring.run import Options, monitor
from energy_assets.monitoring.store import version_reference
from energy_assets.resources import CloudWatchResource, S3Storage
from energy_assets.serving.artifact import load_bundle, pack_bundle

DATA = Path(__file__).parents[1] / "ml" / "data"


@pytest.fixture
def storage(local_aws, request):
    storage = S3Storage(bucket=f"reference-{request.node.name[5:40].replace('_', '-')}",
                        s3=S3Resource())  # fmt: skip
    storage.ensure_bucket()
    return storage


@pytest.fixture(scope="module")
def fleet():
    return load_bundle((DATA / "format1_fleet.tar.gz").read_bytes())


def _refuse(*args, **kwargs):
    raise AssertionError("the reference error was computed again on a monitoring day")


def test_a_monitoring_day_reads_the_versions_reference_and_never_computes_it(
    storage, fleet, monkeypatch
):
    ref, computed = version_reference(storage, fleet, 28, 1)  # what registration does
    assert computed and storage.get_json(layout.monitoring_reference(fleet.version))
    uri = storage.put_bytes(layout.model_dir(fleet.version) + "model.tar.gz", pack_bundle(fleet))
    current = {"endpoint": storage.bucket, "model_version": fleet.version, "model_uri": uri}
    storage.put_json(layout.DEPLOYMENT_CURRENT, current)
    monkeypatch.setattr(mon, "reference", _refuse)
    day = (fleet.history[fleet.meters[0]].index[-1] + pd.Timedelta(days=1)).strftime("%Y-%m-%d")
    cloudwatch = CloudWatchResource(namespace="EnergyAssetsReferenceTests")
    for _ in range(2):  # the first day after the deploy and the next
        outcome = monitor(storage, cloudwatch, [day], Options(reference_days=28))
        assert outcome.reference == ref
        assert storage.get_json(layout.MONITORING_LATEST)["reference"] == ref.as_dict()


def test_a_reference_of_another_window_or_lead_is_computed_once_then_read(storage, fleet):
    stored, _ = version_reference(storage, fleet, 28, 1)
    other, computed = version_reference(storage, fleet, 14, 1)
    assert computed and other.days == 14 and other != stored
    again, computed = version_reference(storage, fleet, 14, 1)
    assert not computed and again == other
    two_days, computed = version_reference(storage, fleet, 14, 2)
    assert computed and two_days.lead == 2


def test_the_served_version_has_its_reference_from_registration(deployed):
    """Right after registration and deploy, before any monitoring day: the reference of the
    version the endpoint serves is in S3, over monitoring's default window and lead, as the
    registration's metadata reports it."""
    storage = deployed["defs"].resources["storage"]
    version = storage.get_json(layout.DEPLOYMENT_CURRENT)["model_version"]
    ref = mon.Reference.from_dict(storage.get_json(layout.monitoring_reference(version)))
    options = Options()
    assert ref.version == version and ref.measures(options.reference_days, options.lead_days)
    events = [
        e
        for e in deployed["runs"].training.get_asset_materialization_events()
        if e.asset_key.path == ["registered_model"]
    ]
    metadata = {k: v.value for k, v in events[-1].materialization.metadata.items()}
    assert metadata["version"] == version
    assert metadata["reference_mase"] == pytest.approx(ref.mase)
    assert metadata["reference_days"] == options.reference_days
