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
        raise_on_error=False,
    )
    training = defs.resolve_job_def("training_job").execute_in_process(
        run_config=quiet, instance=instance, raise_on_error=False
    )
    exploration = (
        defs.resolve_job_def("exploration_job").execute_in_process(
            run_config=quiet, instance=instance, raise_on_error=False
        )
        if explore
        else None
    )
    return PipelineRuns(ingestion=ingestion, training=training, exploration=exploration)


def failure_summary(result: dg.ExecuteInProcessResult) -> str:
    """Why a run failed, in a line: its failed blocking checks (with their problems) and the
    first error of each failed step."""
    reasons = [
        f"check {e.check_name} failed ({e.metadata['problems'].value})"
        if "problems" in e.metadata
        else f"check {e.check_name} failed"
        for e in result.get_asset_check_evaluations()
        if not e.passed
    ]
    for event in result.all_events:
        if not event.is_step_failure:
            continue
        error = event.step_failure_data.error
        if error and error.cls_name == "DagsterAssetCheckFailedError":
            continue  # said above, with the check's own problems
        failure = event.step_failure_data.user_failure_data  # a dg.Failure says it in words
        if failure and failure.description:
            reasons.append(f"{event.step_key}: {failure.description.strip().splitlines()[0]}")
            continue
        while error and error.cause:  # Dagster wraps the user's error: say the user's
            error = error.cause
        message = error.message.strip().splitlines()[0] if error else "failed"
        reasons.append(f"{event.step_key}: {message}")
    return "; ".join(reasons) or "see the run's logs"
