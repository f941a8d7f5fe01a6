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


def monitoring_partitions(settings: Settings) -> dg.PartitionsDefinition:
    """``forecast_monitoring``'s partitions: the days, and with meter shards each (day, shard)
    (``"2026-01-31|03"``), so a day's monitoring is a run per shard Dagster may place anywhere;
    one shard keeps the plain days (one monitoring per day, as before shards)."""
    days = daily_partitions(settings)
    if settings.shards <= 1:
        return days
    return dg.MultiPartitionsDefinition({"day": days, "shard": shard_partitions(settings)})
