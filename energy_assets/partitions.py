import dagster as dg

from energy_assets.settings import Settings

daily_partitions = dg.DailyPartitionsDefinition(start_date=Settings().history_start, end_offset=0)
