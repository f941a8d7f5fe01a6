"""Daily schedules, in the meters' time zone (``ENERGY_ASSETS_TIMEZONE``): the day they refresh
is the one that has just ended there."""

from datetime import UTC, datetime

import dagster as dg

from energy_assets import layout
from energy_assets.orchestration.jobs import training_job, usage_job


def build_schedules(timezone: str, shards: int = 1) -> list:
    """The deployment's schedules, for meters whose days end at midnight in ``timezone``; the
    nightly retrain asks for a run per meter shard (``shards`` of them)."""
    # Built from the partitioned job, so it runs in the partitions' time zone and asks for the
    # partition of the day that ended at the last midnight there.
    daily_usage_schedule = dg.build_schedule_from_partitioned_job(
        usage_job,
        name="daily_usage_schedule",
        hour_of_day=1,
        minute_of_hour=0,
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description=f"At 01:00 {timezone} export yesterday's usage again (late rows) and score "
        "the serving model on it: raw_usage_export and forecast_monitoring for yesterday's "
        "partition.",
    )
    keys = layout.shard_keys(shards)

    @dg.schedule(
        name="daily_training_schedule",
        job=training_job,
        cron_schedule="0 3 * * *",
        execution_timezone=timezone,
        default_status=dg.DefaultScheduleStatus.STOPPED,
        description=f"At 03:00 {timezone} retrain each meter shard ({len(keys)}: a run each) on "
        "the refreshed history; deploys only through the gates. Stopped by default: "
        "drift_sensor retrains when the served model's error drifts.",
    )
    def daily_training_schedule(context: dg.ScheduleEvaluationContext):
        when = context.scheduled_execution_time or datetime.now(UTC)
        day = when.strftime("%Y-%m-%d")
        return [dg.RunRequest(run_key=f"nightly:{day}:{k}", partition_key=k) for k in keys]

    return [daily_usage_schedule, daily_training_schedule]
