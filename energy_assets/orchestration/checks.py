"""Blocking quality gates: bad data does not reach training, a worse model does not deploy."""

import dagster as dg

from energy_assets import layout
from energy_assets.assets.evaluation import (
    evaluation_report,
    gate_problems,
    report_problems,
    report_warning,
)
from energy_assets.assets.preparation import cleaned_usage, read_frame
from energy_assets.assets.values import Dataset, Evaluation
from energy_assets.resources import S3Storage
from energy_assets.serving.artifact import load_bundle

MAX_QUARANTINED_SHARE = 0.05


@dg.asset_check(asset=cleaned_usage, blocking=True)
def cleaned_usage_is_complete(storage: S3Storage, cleaned_usage: Dataset) -> dg.AssetCheckResult:
    """One finite, non-negative value per meter and day, gap-free, with few rows quarantined."""
    shard = cleaned_usage.shard
    frame = read_frame(storage, cleaned_usage, layout.clean(shard))
    stats_key = layout.clean_stats(shard)
    stats = storage.get_json(stats_key, expect=cleaned_usage.sha256(stats_key))
    duplicates = int(frame.duplicated(["meter_id", "date"]).sum())
    missing = int(frame["usage"].isna().sum())
    negative = int((frame["usage"] < 0).sum())
    spans = frame.groupby("meter_id")["date"].agg(["min", "max", "count"])
    gaps = int(((spans["max"] - spans["min"]).dt.days + 1 - spans["count"]).sum())
    share = stats["rows_quarantined"] / max(stats["rows_in"], 1)
    passed = not (duplicates or missing or negative or gaps) and share <= MAX_QUARANTINED_SHARE
    return dg.AssetCheckResult(
        passed=passed,
        metadata={
            "duplicates": duplicates,
            "missing_values": missing,
            "negative_values": negative,
            "calendar_gaps": gaps,
            "quarantined_share": round(share, 4),
            "max_quarantined_share": MAX_QUARANTINED_SHARE,
        },
    )


@dg.asset_check(asset=evaluation_report, blocking=True)
def model_beats_seasonal_naive(
    storage: S3Storage, evaluation_report: Evaluation
) -> dg.AssetCheckResult:
    """Deploy only what does not lose to seasonal naive: a model that beats it on the test
    window (a week ahead from every test day), or is not significantly worse (a warning). A
    model significantly worse is replaced by the baseline itself (a warning: the baseline
    deploys if nothing better serves). Per meter, a model that does not beat seasonal naive on
    its rolling-origin backtest is served seasonal naive in the evaluated artifact (the count
    and the meters are named); an artifact that still serves a model to a meter the gate
    judged a loser fails. A model with non-finite metrics never deploys."""
    report = storage.get_json(storage.key_of(evaluation_report.report_uri))
    artifact = storage.get_bytes(
        storage.key_of(evaluation_report.model_uri), expect=evaluation_report.artifact_sha256
    )
    problems = report_problems(report) + gate_problems(report, load_bundle(artifact))
    warning = report_warning(report)
    overall, verdict = report["overall"], report["baseline_verdict"]
    gate = report.get("gate") or {}
    said = "; ".join(problems) or warning or "beats seasonal naive on the test window"
    if gate.get("meters_gated"):
        said += (
            f"; {gate['meters_gated']} of {gate['meters_judged']} meters served seasonal naive "
            "(their model did not beat it on their rolling-origin backtest)"
        )
    served = gate.get("served") or {}
    return dg.AssetCheckResult(
        passed=not problems and not warning,
        severity=dg.AssetCheckSeverity.ERROR if problems else dg.AssetCheckSeverity.WARN,
        description=said,
        metadata={
            "version": report["version"],
            "relative_mae": float(overall["relative_mae"]),
            "rolling_relative_mae": float(verdict["relative_mae"]),
            "verdict": verdict["verdict"],
            "p_value": float(verdict["p_value"]),
            "serves_baseline": bool(report.get("baseline")),
            "meters_gated": int(gate.get("meters_gated", 0)),
            "gated_meters": ", ".join(gate.get("gated", [])) or "none",
            "served_rolling_relative_mae_chosen_on_test_window": float(
                served.get("rolling_relative_mae", verdict["relative_mae"])
            ),
            "mae": float(overall["mae"]),
            "baseline_mae": float(overall["baseline_mae"]),
            "problems": "; ".join(problems) or warning or "none",
        },
    )
