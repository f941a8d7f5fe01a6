"""Which meter shard a run of the training chain is about.

The training chain (cleaning through deployment) is partitioned by meter shard (``build_defs``
maps these assets onto the deployment's shard partitions, ``"00"`` to ``"NN"``, the raw
layout's ``shard=NN``): each run handles one shard's meters, reads only that shard's raw objects
and writes under that shard's keys, so shard runs are independent and can run on different
machines at once. With one shard (the default) the one partition ``"00"`` keeps today's keys
and version names; an asset materialized outside the partitioned graph (a test's
``dg.materialize``) is that one-shard case too.
"""

from __future__ import annotations

import dagster as dg

from energy_assets.resources import S3Storage

SHARD_PARTITION_TAG = "dagster/partition"


def run_shard(context: dg.AssetExecutionContext, storage: S3Storage) -> str | None:
    """The shard this run handles (``"03"``), or None for the one-shard deployment."""
    if storage.shards <= 1 or not context.has_partition_key:
        return None
    key = context.partition_key
    if int(key) >= storage.shards:
        raise dg.Failure(
            f"shard {key} does not exist: ENERGY_ASSETS_SHARDS is {storage.shards}",
            allow_retries=False,
        )
    return key


def by_shard(asset: dg.AssetsDefinition, shards: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    """``asset`` partitioned by the deployment's meter shards."""
    return asset.map_asset_specs(lambda spec: spec.replace_attributes(partitions_def=shards))
