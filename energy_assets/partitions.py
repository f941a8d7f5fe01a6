import dagster as dg

from energy_assets.settings import Settings

_settings = Settings()
# A day is a partition once it has ended where the meters are (ENERGY_ASSETS_TIMEZONE); schedules
# built from jobs over these partitions run in that time zone too.
daily_partitions = dg.DailyPartitionsDefinition(
    start_date=_settings.history_start, end_offset=0, timezone=_settings.timezone
)
