"""Test-set accuracy of the trained forecaster beside the seasonal naive baseline."""

import base64
import math

import dagster as dg

from energy_assets import layout
from energy_assets.assets.preparation import markdown_table
from energy_assets.assets.training import read_split
from energy_assets.assets.values import Dataset, Evaluation, ModelArtifact, handed_on
from energy_assets.ml.metrics import (
    baseline_verdict,
    forecast_test,
    rolling_test_forecasts,
    score,
)
from energy_assets.ml.plots import plot_predicted_vs_actual
from energy_assets.orchestration.retry_policy import AWS_RETRY_POLICY
from energy_assets.resources import CloudWatchResource, MeterSettings, S3Storage
from energy_assets.serving.artifact import artifact_sha256, load_bundle, pack_bundle

CLOUDWATCH_METRICS = {
    "mae": "TestMAE",
    "mse": "TestMSE",
    "rmse": "TestRMSE",
    "mape": "TestMAPE",
    "mase": "TestMASE",
    "coverage_80": "TestCoverage80",
    "relative_mae": "TestRelativeMAE",
}


def evaluate_bundle(
    storage: S3Storage, bundle, model_uri: str, train, test, run_id: str, unit: str = "kWh"
):
    """Score ``bundle`` on the test window, write its report, predictions and plot under its
    version, and return (report, per-meter frame, PNG)."""
    frame = forecast_test(bundle, train, test)
    per_meter, overall = score(frame)
    verdict = baseline_verdict(rolling_test_forecasts(bundle, train, test))
    overall["rolling_relative_mae"] = verdict["relative_mae"]
    title = f"Test window, model {bundle.version}" + (
        " (seasonal-naive baseline)" if bundle.is_baseline else ""
    )
    png = plot_predicted_vs_actual(frame, title=title, unit=unit)
    prefix = layout.evaluation_dir(bundle.version)
    plot_uri = storage.put_bytes(prefix + "predicted_vs_actual.png", png, "image/png")
    storage.put_csv(prefix + "per_meter.csv", per_meter)
    storage.put_csv(prefix + "predictions.csv", frame)
    report = {
        "version": bundle.version,
        "model_uri": model_uri,
        "overall": overall,
        "baseline_verdict": verdict,
        "meters": len(per_meter),
        "meters_beating_baseline": int((per_meter["mae_ratio"] < 1).sum()),
        "meters_5pct_worse_than_baseline": int((per_meter["mae_ratio"] > 1.05).sum()),
        "plot_uri": plot_uri,
        "smoke_meter": str(per_meter["meter_id"].iloc[0]),
        "run_id": run_id,
    }
    if bundle.is_baseline:
        report["baseline"] = {"note": bundle.note, "instead_of": bundle.instead_of}
    storage.put_json(layout.report(bundle.version), report)
    return report, per_meter, png


def baseline_reason(report: dict, bundle) -> str | None:
    """Why the seasonal-naive baseline serves instead of ``bundle`` (None: it need not)."""
    verdict = report["baseline_verdict"]
    if bundle.is_baseline:
        return bundle.note or "every meter is served seasonal naive"
    if verdict["verdict"] == "worse":
        return (
            f"model {bundle.version} is worse than seasonal naive on the test window "
            f"(relative MAE {verdict['relative_mae']:.3f}, p = {verdict['p_value']:.3f} over "
            f"{verdict['days']} days)"
        )
    return None


@dg.asset(
    group_name="evaluation",
    kinds={"pandas", "s3", "cloudwatch"},
    code_version="3",
    retry_policy=AWS_RETRY_POLICY,
)
def evaluation_report(
    context: dg.AssetExecutionContext,
    storage: S3Storage,
    cloudwatch: CloudWatchResource,
    meters: MeterSettings,
    trained_forecaster: ModelArtifact,
    train_test_split: Dataset,
) -> dg.Output[Evaluation]:
    """MAE, MSE, RMSE, MAPE, MASE and 80%/95% interval coverage per meter and overall on the
    test window beside seasonal naive, with a predicted-vs-actual small multiple (interval band
    per meter); the model forecasts multi-step from the end of training, like seasonal naive.

    The verdict against the baseline is the endpoint's use: forecasts a week ahead from every
    test day (``baseline_verdict``). A model significantly worse than seasonal naive is not
    what this evaluation passes on: the seasonal-naive baseline of the same meters is, named
    as such (``<version>-baseline``) with the reason; it deploys if nothing better serves."""
    model = trained_forecaster
    if model.trainer != "local":
        raise dg.Failure(
            f"model {model.version} was trained by {model.trainer} ({model.model_uri}): its "
            "model is DeepAR's own format, served by the DeepAR image; this evaluation scores "
            "the models trained here (trainer: local)",
            allow_retries=False,
        )
    bundle = load_bundle(storage.get_bytes(storage.key_of(model.model_uri), expect=model.sha256))
    train = read_split(storage, train_test_split, layout.TRAIN)
    test = read_split(storage, train_test_split, layout.TEST)
    report, per_meter, png = evaluate_bundle(
        storage, bundle, model.model_uri, train, test, context.run_id, meters.unit
    )
    sha256 = model.sha256
    reason = baseline_reason(report, bundle)
    if reason and not bundle.is_baseline:
        context.log.warning(f"{reason}: the seasonal-naive baseline is evaluated in its place")
        baseline = bundle.as_baseline(f"{bundle.version}-baseline", reason)
        artifact = pack_bundle(baseline)
        uri = storage.put_bytes(
            layout.model_dir(baseline.version) + "model.tar.gz", artifact, "application/gzip"
        )
        sha256 = artifact_sha256(artifact)
        model_report = report
        report, per_meter, png = evaluate_bundle(
            storage, baseline, uri, train, test, context.run_id, meters.unit
        )
        report["baseline"]["model_report"] = {
            k: model_report[k] for k in ("version", "model_uri", "overall", "baseline_verdict")
        }
    elif reason:
        context.log.warning(f"{reason}: the model is the seasonal-naive baseline")
    overall = report["overall"]
    cloudwatch.put_metrics(
        {
            name: overall[key]
            for key, name in CLOUDWATCH_METRICS.items()
            if math.isfinite(overall.get(key, math.nan))
        },
        dimensions={"ModelVersion": report["version"]},
    )
    image = base64.b64encode(png).decode()
    verdict = report["baseline_verdict"]
    evaluation = Evaluation(
        version=report["version"],
        model_uri=report["model_uri"],
        artifact_sha256=sha256,
        report_uri=storage.uri(layout.report(report["version"])),
        smoke_meter=report["smoke_meter"],
        trained_version=model.version,
        serves_baseline=bool(report.get("baseline")),
    )
    return handed_on(
        evaluation,
        metadata={
            "version": report["version"],
            "trained_version": model.version,
            **{k: float(v) for k, v in overall.items() if isinstance(v, (int, float))},
            "baseline_verdict": verdict["verdict"],
            "baseline_p_value": float(verdict["p_value"]),
            "serves_baseline": bool(report.get("baseline")),
            "baseline_reason": reason or "",
            "meters_beating_baseline": report["meters_beating_baseline"],
            "meters_5pct_worse_than_baseline": report["meters_5pct_worse_than_baseline"],
            "meters": len(per_meter),
            "per_meter": markdown_table(per_meter.drop(columns=["n"]).round(3), 50),
            "plot": dg.MetadataValue.md(f"![predicted vs actual](data:image/png;base64,{image})"),
            "plot_uri": dg.MetadataValue.url(report["plot_uri"]),
            "report_uri": dg.MetadataValue.url(evaluation.report_uri),
        },
    )


def report_problems(report: dict) -> list[str]:
    """Why an evaluation must not be deployed at all (a broken model); empty when it may."""
    overall = report["overall"]
    return [
        f"{k} is not finite"
        for k in ("mae", "mse", "rmse", "baseline_mae", "relative_mae")
        if not math.isfinite(float(overall.get(k, math.nan)))
    ]


def report_warning(report: dict) -> str | None:
    """What a deployable evaluation must still say: the baseline serves, or the model does not
    beat it on the test window but the difference is within noise."""
    if report.get("baseline"):
        return f"serving the seasonal-naive baseline: {report['baseline']['note']}"
    verdict = report["baseline_verdict"]
    if verdict["verdict"] == "noise":
        return (
            f"does not beat seasonal naive on the test window (relative MAE "
            f"{verdict['relative_mae']:.3f}) but the difference is within noise "
            f"(p = {verdict['p_value']:.2f} over {verdict['days']} days): the model deploys"
        )
    return None
