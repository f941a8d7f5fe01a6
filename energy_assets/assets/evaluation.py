"""Test-set accuracy of the trained forecaster beside the seasonal naive baseline."""

import base64
import math

import dagster as dg

from energy_assets import layout
from energy_assets.assets.preparation import markdown_table, train_test_split
from energy_assets.assets.training import read_split, trained_forecaster
from energy_assets.ml.metrics import forecast_test, score
from energy_assets.ml.plots import plot_predicted_vs_actual
from energy_assets.resources import CloudWatchResource, S3Storage
from energy_assets.retry_policy import AWS_RETRY_POLICY
from energy_assets.serving.artifact import load_bundle

MAX_RELATIVE_MAE = 1.0
CLOUDWATCH_METRICS = {
    "mae": "TestMAE",
    "mse": "TestMSE",
    "rmse": "TestRMSE",
    "mape": "TestMAPE",
    "mase": "TestMASE",
    "coverage_80": "TestCoverage80",
    "relative_mae": "TestRelativeMAE",
}


@dg.asset(
    deps=[trained_forecaster, train_test_split],
    group_name="evaluation",
    kinds={"pandas", "s3", "cloudwatch"},
    code_version="2",
    retry_policy=AWS_RETRY_POLICY,
)
def evaluation_report(
    context: dg.AssetExecutionContext, storage: S3Storage, cloudwatch: CloudWatchResource
) -> dg.MaterializeResult:
    """MAE, MSE, RMSE, MAPE, MASE and 80%/95% interval coverage per meter and overall on the
    test window beside seasonal naive, with a predicted-vs-actual small multiple (interval band
    per meter); the model forecasts multi-step from the end of training, like seasonal naive."""
    latest = storage.get_json(layout.MODEL_LATEST)
    bundle = load_bundle(storage.get_bytes(storage.key_of(latest["model_uri"])))
    train, test = read_split(storage, layout.TRAIN), read_split(storage, layout.TEST)
    frame = forecast_test(bundle, train, test)
    per_meter, overall = score(frame)
    png = plot_predicted_vs_actual(frame, title=f"Test window, model {bundle.version}")
    prefix = layout.evaluation_dir(bundle.version)
    plot_uri = storage.put_bytes(prefix + "predicted_vs_actual.png", png, "image/png")
    storage.put_csv(prefix + "per_meter.csv", per_meter)
    storage.put_csv(prefix + "predictions.csv", frame)
    report = {
        "version": bundle.version,
        "model_uri": latest["model_uri"],
        "overall": overall,
        "meters": len(per_meter),
        "meters_beating_baseline": int((per_meter["mae_ratio"] < 1).sum()),
        "meters_5pct_worse_than_baseline": int((per_meter["mae_ratio"] > 1.05).sum()),
        "plot_uri": plot_uri,
        "smoke_meter": str(per_meter["meter_id"].iloc[0]),
        "run_id": context.run_id,
    }
    storage.put_json(prefix + "report.json", report)
    storage.put_json(layout.EVALUATION_LATEST, report)
    cloudwatch.put_metrics(
        {
            name: overall[key]
            for key, name in CLOUDWATCH_METRICS.items()
            if math.isfinite(overall.get(key, math.nan))
        },
        dimensions={"ModelVersion": bundle.version},
    )
    image = base64.b64encode(png).decode()
    return dg.MaterializeResult(
        metadata={
            "version": bundle.version,
            **{k: float(v) for k, v in overall.items() if isinstance(v, (int, float))},
            "meters_beating_baseline": report["meters_beating_baseline"],
            "meters_5pct_worse_than_baseline": report["meters_5pct_worse_than_baseline"],
            "meters": len(per_meter),
            "per_meter": markdown_table(per_meter.drop(columns=["n"]).round(3), 50),
            "plot": dg.MetadataValue.md(f"![predicted vs actual](data:image/png;base64,{image})"),
            "plot_uri": dg.MetadataValue.url(plot_uri),
        }
    )


def report_problems(report: dict) -> list[str]:
    """Why an evaluation must not be deployed; empty when it may."""
    overall = report["overall"]
    problems = [
        f"{k} is not finite"
        for k in ("mae", "mse", "rmse", "baseline_mae", "relative_mae")
        if not math.isfinite(float(overall.get(k, math.nan)))
    ]
    if not problems and overall["relative_mae"] >= MAX_RELATIVE_MAE:
        problems.append(
            f"relative MAE {overall['relative_mae']:.3f} (geometric mean over meters of model "
            f"MAE / seasonal naive MAE) is not below {MAX_RELATIVE_MAE} on the test window"
        )
    return problems
