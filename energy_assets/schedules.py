import dagster as dg

from energy_assets.jobs import ingestion_job, training_job

daily_usage_schedule = dg.build_schedule_from_partitioned_job(
    ingestion_job,
    name="daily_usage_schedule",
    hour_of_day=1,
    minute_of_hour=0,
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="At 01:00 UTC export yesterday's usage.",
)

daily_training_schedule = dg.ScheduleDefinition(
    name="daily_training_schedule",
    job=training_job,
    cron_schedule="0 3 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="At 03:00 UTC retrain on the refreshed history; deploys only through the gates.",
)
