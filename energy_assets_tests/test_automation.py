"""The daily schedule and the new-usage sensor, evaluated with Dagster's testing APIs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import dagster as dg
import pandas as pd
import pytest
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)

from energy_assets.resources import UsageTableResource
from energy_assets.schedules import daily_usage_schedule
from energy_assets.seed import seed_table
from energy_assets.sensors import day_ranges, new_usage_sensor


def test_day_ranges_fold_consecutive_days():
    days = ["2025-01-01", "2025-01-02", "2025-01-03", "2025-01-05", "2025-01-07", "2025-01-08"]
    assert day_ranges(days) == [
        ("2025-01-01", "2025-01-03"),
        ("2025-01-05", "2025-01-05"),
        ("2025-01-07", "2025-01-08"),
    ]


def test_daily_schedule_requests_yesterdays_partition():
    from energy_assets.definitions import defs

    schedule = defs.resolve_schedule_def("daily_usage_schedule")
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    when = datetime(2026, 11, 20, 1, 0, tzinfo=UTC)
    with dg.build_schedule_context(scheduled_execution_time=when) as context:
        requests = schedule.evaluate_tick(context).run_requests
    assert [r.partition_key for r in requests] == ["2026-11-19"]
    assert daily_usage_schedule.name == "daily_usage_schedule"


def _frame(meters: list[str], days: pd.DatetimeIndex) -> pd.DataFrame:
    return pd.DataFrame(
        [(m, d.strftime("%Y-%m-%d"), 10.0) for m in meters for d in days],
        columns=["meter_id", "date", "usage"],
    )


@pytest.mark.parametrize("single_series", [False, True])
def test_new_usage_sensor_requests_only_new_days(local_aws, single_series):
    table = UsageTableResource(table_name=f"sensor-usage-{int(single_series)}")
    yesterday = datetime.now(UTC).date() - timedelta(days=1)
    old = pd.date_range(end=yesterday - timedelta(days=10), periods=5, freq="D")
    meters = ["a"] if single_series else ["a", "b"]
    seed_table(table, _frame(meters, old))
    cursor = old[-1].strftime("%Y-%m-%d")

    with dg.build_sensor_context(cursor=cursor, resources={"usage_table": table}) as context:
        assert isinstance(new_usage_sensor(context), dg.SkipReason)

    new_days = pd.DatetimeIndex(
        [yesterday - timedelta(days=4), yesterday - timedelta(days=3), yesterday]
    )
    seed_table(table, _frame(meters, new_days))
    with dg.build_sensor_context(cursor=cursor, resources={"usage_table": table}) as context:
        requests = list(new_usage_sensor(context))
        assert context.cursor == yesterday.isoformat()
    ranges = [
        (r.tags[ASSET_PARTITION_RANGE_START_TAG], r.tags[ASSET_PARTITION_RANGE_END_TAG])
        for r in requests
    ]
    fmt = "%Y-%m-%d"
    assert ranges == [
        (new_days[0].strftime(fmt), new_days[1].strftime(fmt)),
        (new_days[2].strftime(fmt), new_days[2].strftime(fmt)),
    ]
    assert len({r.run_key for r in requests}) == 2
