"""Blocking quality gates: bad data does not reach training, a worse model does not deploy."""

import dagster as dg

from energy_assets import layout
from energy_assets.assets.evaluation import evaluation_report, report_problems, report_warning
from energy_assets.assets.preparation import cleaned_usage, read_frame
from energy_assets.assets.values import Dataset, Evaluation
from energy_assets.resources import S3Storage

MAX_QUARANTINED_SHARE = 0.05


@dg.asset_check(asset=cleaned_usage, blocking=True)
def cleaned_usage_is_complete(storage: S3Storage, cleaned_usage: Dataset) -> dg.AssetCheckResult:
    """One finite, non-negative value per meter and day, gap-free, with few rows quarantined."""
    frame = read_frame(storage, cleaned_usage, layout.CLEAN)
    stats = storage.get_json(layout.CLEAN_STATS, expect=cleaned_usage.sha256(layout.CLEAN_STATS))
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
    deploys if nothing better serves). A model with non-finite metrics never deploys."""
    report = storage.get_json(storage.key_of(evaluation_report.report_uri))
    problems = report_problems(report)
    warning = report_warning(report)
    overall, verdict = report["overall"], report["baseline_verdict"]
    return dg.AssetCheckResult(
        passed=not problems and not warning,
        severity=dg.AssetCheckSeverity.ERROR if problems else dg.AssetCheckSeverity.WARN,
        description="; ".join(problems) or warning or "beats seasonal naive on the test window",
        metadata={
            "version": report["version"],
            "relative_mae": float(overall["relative_mae"]),
            "rolling_relative_mae": float(verdict["relative_mae"]),
            "verdict": verdict["verdict"],
            "p_value": float(verdict["p_value"]),
            "serves_baseline": bool(report.get("baseline")),
            "mae": float(overall["mae"]),
            "baseline_mae": float(overall["baseline_mae"]),
            "problems": "; ".join(problems) or warning or "none",
        },
    )
