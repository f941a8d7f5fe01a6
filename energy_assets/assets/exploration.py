"""The exploration notebook executed against the training set in S3, rendered to HTML."""

import dagster as dg

from energy_assets import layout
from energy_assets.assets.values import Dataset
from energy_assets.ml.notebook import execute_notebook
from energy_assets.notebooks import EXPLORATION
from energy_assets.resources import S3Storage

REPORT_PREFIX = "exploration/"


class ExplorationConfig(dg.Config):
    notebook_path: str = str(EXPLORATION)
    max_meters: int = 12
    timeout_seconds: int = 300


@dg.asset(
    group_name="exploration",
    kinds={"jupyter", "s3"},
    code_version="1",
)
def exploration_report(
    context: dg.AssetExecutionContext,
    config: ExplorationConfig,
    storage: S3Storage,
    train_test_split: Dataset,
) -> dg.MaterializeResult:
    """Trends, weekly and yearly patterns, the missing-data map and the engineered features of
    ``train.csv``: notebooks/exploration.ipynb run in a fresh kernel that reads S3 with boto3
    (the same environment variables point it at the local AWS or a real account)."""
    storage.check(layout.TRAIN, train_test_split.sha256(layout.TRAIN))  # the kernel reads it
    notebook, html = execute_notebook(
        config.notebook_path,
        parameters={
            "BUCKET": storage.bucket,
            "TRAIN_KEY": layout.TRAIN,
            "MAX_METERS": config.max_meters,
        },
        timeout=config.timeout_seconds,
    )
    key = f"{REPORT_PREFIX}{context.run_id}/exploration.html"
    uri = storage.put_bytes(key, html.encode(), "text/html")
    storage.put_json(f"{REPORT_PREFIX}latest.json", {"report_uri": uri, "run_id": context.run_id})
    code_cells = [c for c in notebook.cells if c.cell_type == "code"]
    return dg.MaterializeResult(
        metadata={
            "report_uri": dg.MetadataValue.url(uri),
            "cells_executed": len(code_cells),
            "html_bytes": len(html),
            "train_uri": dg.MetadataValue.url(storage.uri(layout.TRAIN)),
        }
    )
