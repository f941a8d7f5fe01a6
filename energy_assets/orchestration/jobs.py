"""Jobs by asset selection. The partitioned ones take their partitions from the assets they
select (made by ``build_defs`` from the deployment's settings)."""

import dagster as dg

from energy_assets.assets.exploration import exploration_features, exploration_report
from energy_assets.assets.ingestion import RAW_USAGE_EXPORT
from energy_assets.assets.preparation import cleaned_usage
from energy_assets.meterfiles.ops import import_meter_file

FORECAST_MONITORING = dg.AssetKey("forecast_monitoring")

ingestion_job = dg.define_asset_job(
    "ingestion_job",
    selection=dg.AssetSelection.assets(RAW_USAGE_EXPORT),
    description="Export days of the usage table into S3 (one run covers a range of days).",
)

usage_job = dg.define_asset_job(
    "usage_job",
    selection=dg.AssetSelection.assets(RAW_USAGE_EXPORT, FORECAST_MONITORING),
    description="Export new days of usage into S3 and score the serving model on them.",
)

# With meter shards monitoring runs per (day, shard): a job cannot mix those partitions with the
# export's days, so the daily job exports and monitoring_after_export_sensor asks, once the
# export succeeded, for a monitoring run per shard of the exported days.
usage_export_job = dg.define_asset_job(
    "usage_job",
    selection=dg.AssetSelection.assets(RAW_USAGE_EXPORT),
    description="Export new days of usage into S3; monitoring_after_export_sensor then asks "
    "for a monitoring run per meter shard of the days exported.",
)

monitoring_job = dg.define_asset_job(
    "monitoring_job",
    selection=dg.AssetSelection.assets(FORECAST_MONITORING),
    description="Score the serving model on days of usage in S3 (with meter shards: a run per "
    "day range and shard, scoring that shard's meters with the model its route serves).",
)


def usage_job_for(shards: int):
    """The daily job of a deployment with ``shards`` meter shards: export and monitoring in one
    run with one shard; the export alone with several (monitoring follows per shard)."""
    return usage_job if shards <= 1 else usage_export_job


training_job = dg.define_asset_job(
    "training_job",
    selection=dg.AssetSelection.assets(cleaned_usage).downstream()
    - dg.AssetSelection.assets(FORECAST_MONITORING, exploration_features, exploration_report),
    description="Clean, split, train, evaluate and deploy, gated by blocking checks.",
    # on ECS (deploy/aws/dagster.yaml) these runs queue under their own limit and get a larger
    # task; the local launcher ignores the ecs/ tags
    tags={"energy-assets/stage": "training", "ecs/cpu": "4096", "ecs/memory": "16384"},
)

exploration_job = dg.define_asset_job(
    "exploration_job",
    selection=dg.AssetSelection.assets(exploration_features, exploration_report),
    description="The exploration table of the training set and the notebook executed on it.",
)


@dg.job(
    description="Import one NEM12 or Green Button file dropped into S3 (raw/nem12/, "
    "raw/greenbutton/) into the usage table; config: its key, and for Green Button an optional "
    "time zone and meter id.",
)
def meter_file_job():
    import_meter_file()
