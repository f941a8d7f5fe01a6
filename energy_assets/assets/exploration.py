"""What engineers look at before modelling, beside the graph that trains: the training window
with calendar and history features (``exploration_features``) and the exploration notebook
executed against it, rendered to HTML (``exploration_report``). Training does not read them:
the models build their own inputs from ``train.csv`` (the global model its own features)."""

import dagster as dg

from energy_assets import layout
from energy_assets.assets.preparation import markdown_table
from energy_assets.assets.training import read_split
from energy_assets.assets.values import Dataset, handed_on
from energy_assets.ml.features import add_calendar_features
from energy_assets.ml.notebook import execute_notebook
from energy_assets.notebooks import EXPLORATION
from energy_assets.orchestration.retry_policy import AWS_RETRY_POLICY
from energy_assets.resources import S3Storage
from energy_assets.resources.s3 import sha256_hex

REPORT_PREFIX = "exploration/"


class FeatureConfig(dg.Config):
    hemisphere: str = "north"


class ExplorationConfig(dg.Config):
    notebook_path: str = str(EXPLORATION)
    max_meters: int = 12
    timeout_seconds: int = 300


@dg.asset(
    group_name="exploration",
    kinds={"pandas", "s3"},
    code_version="2",
    retry_policy=AWS_RETRY_POLICY,
)
def exploration_features(
    config: FeatureConfig, storage: S3Storage, train_test_split: Dataset
) -> dg.Output[Dataset]:
    """An exploration table: the training window with day of week, weekend, month, day and week
    of year, season, lag 7 and the mean of the previous 7 days, as CSV (the notebook needs only
    pandas). The notebook relates each feature to usage; no model reads this table."""
    shard = train_test_split.shard
    train = read_split(storage, train_test_split, layout.train(shard))
    frame = add_calendar_features(train, hemisphere=config.hemisphere)
    body = frame.assign(date=frame["date"].dt.strftime("%Y-%m-%d")).to_csv(index=False).encode()
    key = layout.features(shard)
    storage.put_bytes(key, body, "text/csv")
    return handed_on(
        Dataset({key: sha256_hex(body)}, shard),
        metadata={
            "rows": len(frame),
            "columns": ", ".join(frame.columns),
            "hemisphere": config.hemisphere,
            "preview": markdown_table(frame.tail(7)),
            "uri": dg.MetadataValue.url(storage.uri(key)),
        },
    )


@dg.asset(
    group_name="exploration",
    kinds={"jupyter", "s3"},
    code_version="2",
)
def exploration_report(
    context: dg.AssetExecutionContext,
    config: ExplorationConfig,
    storage: S3Storage,
    train_test_split: Dataset,
    exploration_features: Dataset,
) -> dg.MaterializeResult:
    """Trends, weekly and yearly patterns, the missing-data map of ``train.csv`` and how each
    feature of ``exploration_features`` relates to usage: the package's exploration.ipynb run in
    a fresh kernel that reads S3 with boto3 (the same environment variables point it at the
    local AWS or a real account)."""
    # the kernel reads them: they must be the objects the upstream steps handed on
    train_key = layout.train(train_test_split.shard)
    features_key = layout.features(exploration_features.shard)
    storage.check(train_key, train_test_split.sha256(train_key))
    storage.check(features_key, exploration_features.sha256(features_key))
    notebook, html = execute_notebook(
        config.notebook_path,
        parameters={
            "BUCKET": storage.bucket,
            "TRAIN_KEY": train_key,
            "FEATURES_KEY": features_key,
            "MAX_METERS": config.max_meters,
        },
        timeout=config.timeout_seconds,
    )
    key = f"{REPORT_PREFIX}{context.run_id}/exploration.html"
    uri = storage.put_bytes(key, html.encode(), "text/html")
    code_cells = [c for c in notebook.cells if c.cell_type == "code"]
    return dg.MaterializeResult(
        metadata={
            "report_uri": dg.MetadataValue.url(uri),
            "cells_executed": len(code_cells),
            "html_bytes": len(html),
            "train_uri": dg.MetadataValue.url(storage.uri(train_key)),
            "features_uri": dg.MetadataValue.url(storage.uri(features_key)),
        }
    )
