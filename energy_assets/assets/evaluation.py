"""Test-set accuracy of the trained forecaster beside the seasonal naive baseline."""

import base64
import math

import dagster as dg

from energy_assets import layout
from energy_assets.assets.preparation import markdown_table
from energy_assets.assets.training import read_split
from energy_assets.assets.values import Dataset, Evaluation, ModelArtifact, handed_on
from energy_assets.ml.gate import gate_bundle, served_scores
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
    storage: S3Storage,
    bundle,
    model_uri: str,
    train,
    test,
    run_id: str,
    unit: str = "kWh",
    rolling=None,
):
    """Score ``bundle`` on the test window, write its predictions and plot under its version,
    and return (report, per-meter frame, PNG). The caller writes the report
    (``layout.report``) once it is whole (the gate's section, a baseline's model figures).
    ``rolling``: the bundle's ``rolling_test_forecasts`` when already made."""
    frame = forecast_test(bundle, train, test)
    per_meter, overall = score(frame)
    if rolling is None:
        rolling = rolling_test_forecasts(bundle, train, test)
    verdict = baseline_verdict(rolling)
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


GATE_RULE = (
    "per meter, the model serves only if its MAE is strictly below seasonal naive's over its "
    "rolling-origin backtest: the test window's week-ahead forecasts from every test day "
    "pooled with training's validation errors, each forecast day counted alike"
)


def gate_meters(storage: S3Storage, bundle, report: dict, train, test, rolling):
    """The per-meter gate (``energy_assets.ml.gate``) applied to a bundle the fleet verdict
    passed: the bundle to serve (``bundle`` itself, or ``<version>-gated`` with seasonal
    naive for the meters whose model did not beat it, written to S3), its SHA-256 (None: the
    trained artifact serves), and the report of what serves (its ``model_uri``). The report
    keeps the model's test metrics (``overall``, ``baseline_verdict``) and adds ``gate``: the
    rule, the meters gated and why, and the served mix's metrics, named as chosen on this
    window. The model's own report (with ``gate``) is written here, and the served mix's
    when it is another version; an all-gated fleet's report is the baseline's caller's."""
    served, decisions = gate_bundle(bundle, rolling, f"{bundle.version}-gated")
    gated = decisions[decisions["gated"]]
    ids = gated["meter_id"].tolist()
    losing = decisions["test_mae"] >= decisions["test_baseline_mae"]
    gate = {
        "rule": GATE_RULE,
        "model_version": bundle.version,
        "meters_judged": int(len(decisions)),
        "meters_already_seasonal_naive": len(bundle.baseline_meters),
        "meters_losing_on_test_window_alone": int(losing.sum()),
        "meters_gated": len(ids),
        "gated": ids,
        "reasons": dict(zip(ids, gated["reason"], strict=True)),
    }
    if served is bundle or served.is_baseline:  # nothing gated, or everything (the baseline)
        gate["served"] = dict(report["overall"])
        gate["served_chosen_on"] = (
            "every meter gated: the fleet's seasonal-naive baseline serves (its own report)"
            if served.is_baseline
            else "nothing gated: the model's own figures"
        )
        report = {**report, "gate": gate}
        if not served.is_baseline:  # else the caller writes it beside the baseline's
            storage.put_json(layout.report(bundle.version), report)
        return served, None, report
    artifact = pack_bundle(served)
    uri = storage.put_bytes(
        layout.model_dir(served.version) + "model.tar.gz", artifact, "application/gzip"
    )
    prefix = layout.evaluation_dir(served.version)
    gate["decisions_uri"] = storage.put_csv(prefix + "gate.csv", decisions)
    gate["served"] = served_scores(served, train, test, rolling, ids)
    gate["served_chosen_on"] = (
        "the test window these figures are scored on (the gate chose on it): optimistic"
    )
    storage.put_json(layout.report(bundle.version), {**report, "gate": gate})
    report = {**report, "version": served.version, "model_uri": uri, "gate": gate}
    storage.put_json(layout.report(served.version), report)
    return served, artifact_sha256(artifact), report


@dg.asset(
    group_name="evaluation",
    kinds={"pandas", "s3", "cloudwatch"},
    code_version="4",
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
    as such (``<version>-baseline``) with the reason; it deploys if nothing better serves.
    Otherwise each meter is judged alone (``gate_meters``): a meter whose model does not beat
    seasonal naive on its rolling-origin backtest is served seasonal naive, in the artifact
    ``<version>-gated`` passed on in the model's place; when that leaves no meter a model, the
    baseline of the fleet is passed on as above."""
    model = trained_forecaster
    if model.trainer != "local":
        raise dg.Failure(
            f"model {model.version} was trained by {model.trainer} ({model.model_uri}): its "
            "model is DeepAR's own format, served by the DeepAR image; this evaluation scores "
            "the models trained here (trainer: local)",
            allow_retries=False,
        )
    bundle = load_bundle(storage.get_bytes(storage.key_of(model.model_uri), expect=model.sha256))
    train = read_split(storage, train_test_split, layout.train(train_test_split.shard))
    test = read_split(storage, train_test_split, layout.test(train_test_split.shard))
    rolling = rolling_test_forecasts(bundle, train, test)
    report, per_meter, png = evaluate_bundle(
        storage, bundle, model.model_uri, train, test, context.run_id, meters.unit, rolling
    )
    sha256 = model.sha256
    reason = baseline_reason(report, bundle)
    if not reason:
        served, gated_sha, report = gate_meters(storage, bundle, report, train, test, rolling)
        gate = report["gate"]
        if served.is_baseline:
            reason = (
                f"no meter's model beat seasonal naive on its rolling-origin backtest "
                f"({gate['meters_gated']} meters gated)"
            )
        else:
            sha256 = gated_sha or sha256
            if gate["meters_gated"]:
                context.log.warning(
                    f"{gate['meters_gated']} of {len(per_meter)} meters are served seasonal "
                    f"naive (their model did not beat it on the rolling-origin backtest): "
                    f"{', '.join(gate['gated'][:20])}"
                )
    if reason and not bundle.is_baseline:
        context.log.warning(f"{reason}: the seasonal-naive baseline is evaluated in its place")
        storage.put_json(layout.report(bundle.version), report)  # the model's own, once
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
            k: model_report[k]
            for k in ("version", "model_uri", "overall", "baseline_verdict", "gate")
            if k in model_report
        }
        storage.put_json(layout.report(baseline.version), report)  # with the model's figures
    elif reason:
        context.log.warning(f"{reason}: the model is the seasonal-naive baseline")
        storage.put_json(layout.report(bundle.version), report)
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
            **gate_metadata(report),
            "meters_beating_baseline": report["meters_beating_baseline"],
            "meters_5pct_worse_than_baseline": report["meters_5pct_worse_than_baseline"],
            "meters": len(per_meter),
            "per_meter": markdown_table(per_meter.drop(columns=["n"]).round(3), 50),
            "plot": dg.MetadataValue.md(f"![predicted vs actual](data:image/png;base64,{image})"),
            "plot_uri": dg.MetadataValue.url(report["plot_uri"]),
            "report_uri": dg.MetadataValue.url(evaluation.report_uri),
        },
    )


def gate_metadata(report: dict) -> dict:
    """The per-meter gate in the asset's metadata: how many meters serve seasonal naive and
    which, and the served mix's figures under names that say they were chosen on the window
    they are scored on (the model's own figures are the unprefixed ones)."""
    gate = report.get("gate")
    if not gate:
        return {"meters_gated": 0}
    served = gate["served"]
    out = {
        "meters_gated": gate["meters_gated"],
        "gated_meters": ", ".join(gate["gated"]) or "none",
        "gate_rule": gate["rule"],
        "meters_losing_on_test_window_alone": gate["meters_losing_on_test_window_alone"],
    }
    for key in ("mae", "rmse", "relative_mae", "rolling_relative_mae"):
        value = served.get(key)
        if isinstance(value, (int, float)) and math.isfinite(value):
            out[f"served_{key}_chosen_on_test_window"] = float(value)
    return out


def report_problems(report: dict) -> list[str]:
    """Why an evaluation must not be deployed at all (a broken model); empty when it may."""
    overall = report["overall"]
    return [
        f"{k} is not finite"
        for k in ("mae", "mse", "rmse", "baseline_mae", "relative_mae")
        if not math.isfinite(float(overall.get(k, math.nan)))
    ]


def gate_problems(report: dict, bundle) -> list[str]:
    """Where the evaluated artifact ``bundle`` breaks the per-meter gate of its ``report``: a
    meter the gate sent to seasonal naive still served a model."""
    gated = (report.get("gate") or {}).get("gated", [])
    naive = set(bundle.baseline_meters)
    wrong = [m for m in gated if m in bundle.models and m not in naive]
    if not wrong:
        return []
    return [
        f"{len(wrong)} gated meters are still served a model ({', '.join(wrong[:10])}): the "
        "artifact is not the one the gate made"
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
