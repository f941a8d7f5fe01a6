"""Materialize the whole asset graph: every day of the table, then the training chain."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import dagster as dg
import pandas as pd
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)

# Days per export run. Dagster records two events per partition (planned and materialized) in
# its instance storage. The project's instance (dagster.yaml, energy_assets/instance_storage.py)
# writes each run's batch of them in one transaction, ~1 ms a partition: three years of history
# is one run (a second run cost 1-2 s of run start and its own full-table bookkeeping). Runs of
# about ten years keep a decades-long history (20,000 days: 6 runs) showing progress, also on
# an instance with Dagster's plain SQLite storage (~8-17 ms an event: ~1-2 min per run).
EXPORT_CHUNK_DAYS = 3660
INTERRUPTED = "DagsterExecutionInterruptedError"
RUN_CONFIG = {"loggers": {"console": {"config": {"log_level": "INFO"}}}}


@dataclass
class PipelineRuns:
    """The runs made, in order; a job after a failed one is not run (``None``)."""

    ingestion: dg.ExecuteInProcessResult
    training: dg.ExecuteInProcessResult | None = None  # the last training run (a failed one)
    exploration: dg.ExecuteInProcessResult | None = None
    ingestion_runs: list[dg.ExecuteInProcessResult] = field(default_factory=list)
    # one training run per meter shard, in shard order: shard key -> run
    training_runs: dict[str, dg.ExecuteInProcessResult] = field(default_factory=dict)

    def failed(self) -> tuple[str, dg.ExecuteInProcessResult] | None:
        """The first job that failed, with its run; ``None`` when every job run succeeded."""
        for name, run in (
            ("ingestion_job", self.ingestion),
            *((f"training_job (shard {k})", r) for k, r in self.training_runs.items()),
            ("training_job", self.training),
            ("exploration_job", self.exploration),
        ):
            if run is not None and not run.success:
                return name, run
        return None


class _OneLine(logging.Formatter):
    """``HH:MM:SS job step: message``, first line only: errors are summarised by the caller
    (``failure_summary``) and kept whole in the run's event log."""

    def format(self, record: logging.LogRecord) -> str:
        meta = getattr(record, "dagster_meta", None) or {}
        message = (meta.get("orig_message") or record.getMessage()).strip().splitlines()
        where = " ".join(filter(None, [meta.get("job_name"), meta.get("step_key")]))
        stamp = time.strftime("%H:%M:%S", time.localtime(record.created))
        return f"  {stamp} {where}: {message[0] if message else ''}"


@dg.logger(
    config_schema={"log_level": dg.Field(str, is_required=False, default_value="INFO")},
    description="One line per log record on stdout, no tracebacks (the demo's console).",
)
def one_line_console(init_context: dg.InitLoggerContext) -> logging.Logger:
    logger = logging.Logger("energy_assets", level=init_context.logger_config["log_level"])
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(_OneLine())
    logger.addHandler(handler)
    return logger


def day_chunks(first_day: str, last_day: str, size: int) -> list[tuple[str, str]]:
    """``[first_day, last_day]`` as consecutive ranges of at most ``size`` days."""
    days = pd.date_range(first_day, last_day, freq="D").strftime("%Y-%m-%d")
    return [(days[i], days[min(i + size, len(days)) - 1]) for i in range(0, len(days), size)]


def materialize_all(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    first_day: str,
    last_day: str,
    explore: bool = False,
    say: Callable[[str], None] | None = None,
    one_line_logs: bool = False,
    chunk_days: int = EXPORT_CHUNK_DAYS,
) -> PipelineRuns:
    """Run ``ingestion_job`` over ``[first_day, last_day]`` (in runs of ``chunk_days``), then
    ``training_job``, and with ``explore`` the exploration notebook (``exploration_job``).

    Each job runs only if everything before it succeeded: a later job on missing data would
    only fail again, or worse, succeed on stale data. ``say`` hears a line before each run and
    after each export run (progress of long exports). An interrupt (SIGINT, SIGTERM) during a
    run fails that run, and nothing runs after it. Runs are recorded in ``instance``, so the
    Dagster UI shows the graph materialized.
    """
    since = time.time()
    say = say or (lambda _: None)

    def run(
        name: str, tags: dict | None = None, partition_key: str | None = None
    ) -> dg.ExecuteInProcessResult:
        job = defs.resolve_job_def(name)
        if one_line_logs:
            job = job.with_logger_defs({"console": one_line_console})
        return job.execute_in_process(
            run_config=RUN_CONFIG,
            instance=instance,
            tags=tags,
            raise_on_error=False,
            partition_key=partition_key,
        )

    training = defs.resolve_job_def("training_job").partitions_def
    run.shard_keys = training.get_partition_keys() if training else [None]
    try:
        return _materialize(run, first_day, last_day, explore, say, chunk_days)
    except KeyboardInterrupt:
        # Interrupted while Dagster prepared a run: that run was created and never started.
        _cancel_unfinished(instance, since)
        raise


def _cancel_unfinished(instance: dg.DagsterInstance, since: float) -> None:
    """Mark runs of this process left not started (or started, never finished) as canceled, so
    the UI does not show them waiting forever."""
    unfinished = dg.RunsFilter(
        statuses=[dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTED],
        created_after=datetime.fromtimestamp(since, UTC),
    )
    for run in instance.get_runs(filters=unfinished):
        instance.report_run_canceled(run, message="interrupted (SIGINT or SIGTERM)")


def _materialize(run, first_day, last_day, explore, say, chunk_days) -> PipelineRuns:
    chunks = day_chunks(first_day, last_day, chunk_days)
    total = sum(len(pd.date_range(a, b)) for a, b in chunks)
    say(
        f"ingestion_job: exporting {total} days"
        + (f" in {len(chunks)} runs of up to {chunk_days} days" if len(chunks) > 1 else "")
    )
    started = time.monotonic()
    done = 0
    ingestion_runs = []
    for number, (start, end) in enumerate(chunks, start=1):
        tags = {ASSET_PARTITION_RANGE_START_TAG: start, ASSET_PARTITION_RANGE_END_TAG: end}
        result = run("ingestion_job", tags)
        ingestion_runs.append(result)
        if not result.success:
            return PipelineRuns(ingestion=result, ingestion_runs=ingestion_runs)
        done += len(pd.date_range(start, end))
        if len(chunks) > 1:
            elapsed = time.monotonic() - started
            left = elapsed / done * (total - done)
            say(
                f"ingestion_job: run {number}/{len(chunks)} exported {start} .. {end} "
                f"({done}/{total} days, {elapsed:.0f} s; about {left:.0f} s left)"
            )
    runs = PipelineRuns(ingestion=ingestion_runs[-1], ingestion_runs=ingestion_runs)
    return _train_shards(run, runs, explore, say)


def _train_shards(run, runs: PipelineRuns, explore: bool, say) -> PipelineRuns:
    """``training_job`` once per meter shard (one run each, in order: on a cluster they are
    independent runs Dagster may place anywhere), stopping at the first that fails; then the
    exploration of shard 00's training set."""
    keys = _shard_keys(run)
    for key in keys:
        where = f" (shard {key} of {len(keys)})" if len(keys) > 1 else ""
        say(f"training_job{where}: clean, split, train, evaluate, register, deploy")
        runs.training = runs.training_runs[key] = run("training_job", partition_key=key)
        if not runs.training.success:
            return runs
    if explore:
        say("exploration_job: the exploration table and notebook of the training set")
        runs.exploration = run("exploration_job", partition_key=keys[0])  # shard 00's
    return runs


def _shard_keys(run) -> list[str | None]:
    """The training job's shard partitions (``run.shard_keys``, set by ``materialize_all``
    from the deployment's ``shard_partitions``); ``[None]`` for an unpartitioned job."""
    return list(getattr(run, "shard_keys", None) or [None])


def asset_metadata(result: dg.ExecuteInProcessResult, asset: str) -> dict | None:
    """The metadata of ``asset``'s materialization in a run (the last one of a range run, which
    records one per partition), as plain values; None when the run did not materialize it."""
    events = [e for e in result.get_asset_materialization_events() if e.asset_key.path == [asset]]
    if not events:
        return None
    return {k: v.value for k, v in events[-1].materialization.metadata.items()}


def interrupted(result: dg.ExecuteInProcessResult) -> bool:
    """Whether the run failed because the process was asked to stop (SIGINT or SIGTERM)."""
    return any(
        event.is_step_failure
        and event.step_failure_data.error is not None
        and event.step_failure_data.error.cls_name == INTERRUPTED
        for event in result.all_events
    )


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
