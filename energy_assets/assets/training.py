"""Per-meter forecasters chosen on a validation window and packed as model.tar.gz."""

from datetime import UTC, datetime

import dagster as dg
import pandas as pd

from energy_assets import layout
from energy_assets.assets.preparation import markdown_table, train_test_split
from energy_assets.ml.training import train_forecasters
from energy_assets.resources import S3Storage
from energy_assets.serving.artifact import pack_bundle


class TrainingConfig(dg.Config):
    validation_days: int = 28
    candidates: list[str] = ["seasonal_naive", "ensemble"]
    n_jobs: int = -1


def read_split(storage: S3Storage, key: str) -> pd.DataFrame:
    return storage.read_csv(key, dtype={"meter_id": str}, parse_dates=["date"])


def model_version(run_id: str) -> str:
    return f"{datetime.now(UTC):%Y%m%d-%H%M%S}-{run_id[:8]}"


@dg.asset(
    deps=[train_test_split], group_name="training", kinds={"statsmodels", "s3"}, code_version="1"
)
def trained_forecaster(
    context: dg.AssetExecutionContext, config: TrainingConfig, storage: S3Storage
) -> dg.MaterializeResult:
    """Fit every candidate per meter, keep the one with the lowest backtest MAE (seasonal naive
    on ties and failures), refit it on the whole training window and store the artifact.

    Parameters come from the training window only; the test days join the artifact's history so
    that the endpoint forecasts the days after the latest actual."""
    columns = ["meter_id", "date", "usage"]
    train = read_split(storage, layout.TRAIN)[columns]
    test = read_split(storage, layout.TEST)[columns]
    version = model_version(context.run_id)
    bundle = train_forecasters(
        train,
        recent=test,
        validation_days=config.validation_days,
        candidates=tuple(config.candidates),
        n_jobs=config.n_jobs,
        version=version,
        log=context.log.info,
    )
    artifact = pack_bundle(bundle)
    prefix = layout.model_dir(version)
    model_uri = storage.put_bytes(prefix + "model.tar.gz", artifact, "application/gzip")
    storage.put_csv(prefix + "selection.csv", bundle.selection)
    storage.put_json(
        layout.MODEL_LATEST,
        {"version": version, "model_uri": model_uri, "created_at": bundle.created_at},
    )
    selection = bundle.selection
    chosen = selection["chosen"].value_counts().to_dict()
    mae_columns = [c for c in selection.columns if c.startswith("mae_")]
    return dg.MaterializeResult(
        metadata={
            "version": version,
            "meters": len(bundle.meters),
            **{f"chosen_{name}": int(n) for name, n in chosen.items()},
            **{f"validation_{c}": float(selection[c].mean()) for c in mae_columns},
            "fit_failures": int(selection["error"].fillna("").astype(bool).sum())
            if "error" in selection
            else 0,
            "artifact_bytes": len(artifact),
            "selection": markdown_table(selection, 20),
            "model_uri": dg.MetadataValue.url(model_uri),
        }
    )
