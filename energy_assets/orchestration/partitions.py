"""The daily partitions of a deployment, built from its settings (never from the environment at
import: ``build_defs`` passes the settings in)."""

import dagster as dg

from energy_assets import layout
from energy_assets.settings import Settings


def daily_partitions(settings: Settings) -> dg.DailyPartitionsDefinition:
    """One partition per day from ``history_start``, each once it has ended where the meters are
    (``timezone``); schedules built from jobs over these partitions run in that time zone too."""
    return dg.DailyPartitionsDefinition(
        start_date=settings.history_start, end_offset=0, timezone=settings.timezone
    )


def shard_partitions(settings: Settings) -> dg.StaticPartitionsDefinition:
    """One partition per meter shard, ``"00"`` to ``"NN"`` as the raw layout names them
    (``raw/usage/month=YYYY-MM/shard=NN/``): the training chain runs once per shard."""
    return dg.StaticPartitionsDefinition(layout.shard_keys(settings.shards))
