"""Materialize the whole asset graph: every day of the table, then the training chain."""

from __future__ import annotations

from dataclasses import dataclass

import dagster as dg
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)


@dataclass
class PipelineRuns:
    ingestion: dg.ExecuteInProcessResult
    training: dg.ExecuteInProcessResult
    exploration: dg.ExecuteInProcessResult | None = None


def materialize_all(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    first_day: str,
    last_day: str,
    explore: bool = False,
) -> PipelineRuns:
    """Run ``ingestion_job`` over ``[first_day, last_day]`` in one run, then ``training_job``,
    and with ``explore`` the exploration notebook (``exploration_job``).

    Runs are recorded in ``instance``, so the Dagster UI shows the graph materialized.
    """
    quiet = {"loggers": {"console": {"config": {"log_level": "INFO"}}}}
    ingestion = defs.resolve_job_def("ingestion_job").execute_in_process(
        run_config=quiet,
        instance=instance,
        tags={ASSET_PARTITION_RANGE_START_TAG: first_day, ASSET_PARTITION_RANGE_END_TAG: last_day},
    )
    training = defs.resolve_job_def("training_job").execute_in_process(
        run_config=quiet, instance=instance
    )
    exploration = (
        defs.resolve_job_def("exploration_job").execute_in_process(
            run_config=quiet, instance=instance
        )
        if explore
        else None
    )
    return PipelineRuns(ingestion=ingestion, training=training, exploration=exploration)
