"""Dagster wiring: build_defs, jobs, schedules, sensors, checks, partitions, the retry policy,
and materialize_all (the whole graph in order). Domain logic lives in the packages beside it."""
