"""Sensors that turn new usage into runs."""

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import dagster as dg
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)

from energy_assets.assets.ingestion import raw_usage_export
from energy_assets.jobs import ingestion_job
from energy_assets.partitions import daily_partitions
from energy_assets.resources import UsageTableResource


def day_ranges(days: list[str]) -> list[tuple[str, str]]:
    """Consecutive days folded into ``(first, last)`` ranges, each one run."""
    ranges: list[tuple[str, str]] = []
    for day in sorted(days):
        if ranges and date.fromisoformat(day) - date.fromisoformat(ranges[-1][1]) == timedelta(1):
            ranges[-1] = (ranges[-1][0], day)
        else:
            ranges.append((day, day))
    return ranges


def _exported_through(context: dg.SensorEvaluationContext) -> str | None:
    keys = context.instance.get_materialized_partitions(raw_usage_export.key)
    return max(keys) if keys else None


@dg.sensor(
    job=ingestion_job,
    minimum_interval_seconds=300,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Requests the export of days that appeared in the usage table since the cursor.",
)
def new_usage_sensor(
    context: dg.SensorEvaluationContext, usage_table: UsageTableResource
) -> Iterator[dg.RunRequest] | dg.SkipReason:
    after = context.cursor or _exported_through(context)
    yesterday = datetime.now(UTC).date() - timedelta(days=1)
    first = daily_partitions.start.date().isoformat()
    days = [d for d in usage_table.days_after(after, until=yesterday) if d >= first]
    if not days:
        return dg.SkipReason(f"no usage after {after or 'the start'}")
    context.update_cursor(max(days))
    return iter(
        [
            dg.RunRequest(
                run_key=f"usage:{start}:{end}",
                tags={ASSET_PARTITION_RANGE_START_TAG: start, ASSET_PARTITION_RANGE_END_TAG: end},
            )
            for start, end in day_ranges(days)
        ]
    )
