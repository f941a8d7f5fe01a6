"""What monitoring publishes to CloudWatch: the fleet's metrics always, per-meter metrics for a
bounded number of meters (each meter is seven custom metrics, billed per metric-month)."""

from datetime import UTC, datetime, timedelta

import pandas as pd

from energy_assets.monitoring.cloudwatch import metric_data

DAY = pd.Timestamp(datetime.now(UTC).date() - timedelta(days=1))


def _tables(meters: int):
    ids = [f"m{i:03d}" for i in range(meters)]
    rows = pd.DataFrame(
        {
            "date": DAY,
            "meter_id": ids,
            "model_version": "v1",
            "abs_error": 1.0,
            "scaled_error": [float(i) for i in range(meters)],  # m(n-1) is the worst
            "outside_95": False,
            "level_shift": False,
        }
    )
    daily = pd.DataFrame(
        {
            "date": [DAY],
            "model_version": ["v1"],
            "mase": [0.9],
            "mae": [1.0],
            "weekly_mase": [0.8],
            "anomalies": [0],
            "rolling_mase": [0.85],
        }
    )
    drift = pd.DataFrame(
        {"meter_id": ids, "ks": 0.1, "psi": 0.05, "mean_ratio": 1.0, "version": "v1"}
    )
    return rows, daily, drift


def _meters(data) -> set[str]:
    return {d.dimensions["MeterId"] for d in data if "MeterId" in d.dimensions}


def test_a_small_fleet_gets_every_meters_metrics():
    rows, daily, drift = _tables(5)
    data = metric_data("ep", rows, daily, drift, DAY, 14, max_meters=100)
    assert _meters(data) == set(rows["meter_id"])
    assert len(data) == 5 * 7 + 5  # 4 per meter and day, 3 drift per meter; 5 fleet metrics


def test_a_large_fleet_gets_the_fleets_metrics_and_its_worst_meters_only():
    rows, daily, drift = _tables(300)
    data = metric_data("ep", rows, daily, drift, DAY, 14, max_meters=10)
    assert _meters(data) == {f"m{i:03d}" for i in range(290, 300)}  # largest scaled errors
    fleet = {d.name for d in data if "MeterId" not in d.dimensions}
    assert fleet == {"DailyMASE", "DailyMAE", "WeeklyMASE", "AnomalyCount", "RollingMASE"}
    assert len(data) == 10 * 7 + 5
