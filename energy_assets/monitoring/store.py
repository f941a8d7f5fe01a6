"""What monitoring keeps in S3: the serving version's artifact read back, its reference error
(stored when the version is registered, before it serves), and the realised rows of every
version monitored."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from energy_assets import layout
from energy_assets.ml import monitoring as mon
from energy_assets.resources.s3 import MissingObject
from energy_assets.serving.artifact import bundle_at

if TYPE_CHECKING:
    from energy_assets.ml.bundle import ForecastBundle
    from energy_assets.resources import S3Storage

REALISED_KEY = ("meter_id", "date", "model_version")


def serving_bundle(storage: S3Storage, current: dict) -> ForecastBundle:
    """The bundle of ``current`` (a deployment record: ``model_version``, maybe ``model_uri``)."""
    version = current["model_version"]
    uri = current.get("model_uri") or storage.uri(layout.model_dir(version) + "model.tar.gz")
    return bundle_at(storage, uri)


def serving_reference(
    storage: S3Storage, bundle: ForecastBundle, days: int, lead: int, n_jobs: int = -1
) -> mon.Reference:
    """The version's reference error as stored at registration (``version_reference``), read
    back on every day the version serves: the same yardstick each day, and no day pays for it.
    Computed here only for a version registered before references were, or when monitoring is
    configured with another window or lead than the one stored."""
    return version_reference(storage, bundle, days, lead, n_jobs)[0]


def version_reference(
    storage: S3Storage, bundle: ForecastBundle, days: int, lead: int, n_jobs: int = -1
) -> tuple[mon.Reference, bool]:
    """The stored reference of ``bundle``'s version over ``days`` days of ``lead``-day
    forecasts, computed and stored first when there is none such; and whether it was."""
    key = layout.monitoring_reference(bundle.version)
    stored = storage.get_json_or_none(key)
    if stored is not None:
        ref = mon.Reference.from_dict(stored)
        if ref.measures(days, lead):
            return ref, False
    ref = mon.reference(bundle, days=days, lead=lead, n_jobs=n_jobs)
    storage.put_json(key, ref.as_dict())
    return ref, True


def stored_reference(storage: S3Storage, version: str) -> mon.Reference:
    return mon.Reference.from_dict(storage.get_json(layout.monitoring_reference(version)))


def merge_realised(
    storage: S3Storage, new_rows: pd.DataFrame, shard: str | None = None
) -> pd.DataFrame:
    """The stored realised rows with ``new_rows`` replacing any for the same meter, day and
    version (a partition materialized again is scored again, not twice); a meter shard's rows
    are kept apart (``monitoring/shard=NN/``)."""
    key = layout.monitoring_realised(shard)
    try:
        old = storage.read_parquet(key)
    except MissingObject:
        old = None
    if old is not None:
        rows = pd.concat([old, new_rows], ignore_index=True) if len(new_rows) else old
        rows = rows.drop_duplicates(list(REALISED_KEY), keep="last")
    else:
        rows = new_rows
    rows = rows.sort_values(["model_version", "meter_id", "date"]).reset_index(drop=True)
    if len(new_rows):
        storage.put_parquet(key, rows)
    return rows
