"""Values published as materializations, for tests that start half way down the graph."""

from __future__ import annotations

import dagster as dg


def materialized_as(asset: dg.AssetsDefinition, value) -> dg.AssetsDefinition:
    """An asset of ``asset``'s name that hands on ``value``: materialized in place of the real
    one (a training run, an evaluation), through the deployment's IO manager, it is what the
    assets downstream read, as the instance records it."""
    return dg.asset(name=asset.key.path[-1])(lambda: value)


def publish(asset: dg.AssetsDefinition, value, resources: dict, instance) -> None:
    result = dg.materialize([materialized_as(asset, value)], resources=resources, instance=instance)
    assert result.success


def written(storage, *keys: str):
    """A ``Dataset`` of objects already in the bucket (their recorded SHA-256)."""
    from energy_assets.assets.values import Dataset

    return Dataset({k: storage.head(k)["Metadata"]["sha256"] for k in keys})
