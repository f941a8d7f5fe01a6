"""The project's instance storage (dagster.yaml: ``BatchedSqliteStorage``) records a ranged run
as Dagster's plain SQLite storage does: every partition materialized, or failed when the run
fails; the asset's latest materialization and last run. (How much faster: benchmarks/pipeline.py
and docs/scaling.md, "The fixed part of a run".)"""

import os
import shutil
from pathlib import Path

import dagster as dg
import pytest
import yaml
from dagster._core.storage.partition_status_cache import get_and_update_asset_status_cache_value
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)

from energy_assets.instance_storage import (
    BATCH_SIZE_ENV,
    BatchedSqliteEventLogStorage,
    storage_settings,
)

ROOT = Path(__file__).resolve().parents[1]
QUIET = {"telemetry": {"enabled": False}}  # no .telemetry/ or logs/ in the working folder
DAYS = dg.DailyPartitionsDefinition(start_date="2026-01-01", end_date="2026-01-11")  # 10 days
KEY = dg.AssetKey("daily")


def _job(fail: bool) -> dg.JobDefinition:
    @dg.asset(partitions_def=DAYS, backfill_policy=dg.BackfillPolicy.single_run())
    def daily(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        if fail:
            raise RuntimeError("the export failed")
        return dg.MaterializeResult(metadata={"days": len(context.partition_keys)})

    defs = dg.Definitions(assets=[daily], jobs=[dg.define_asset_job("range", selection=[daily])])
    return defs.resolve_job_def("range")


def _run_range(instance: dg.DagsterInstance, fail: bool = False) -> None:
    keys = DAYS.get_partition_keys()
    tags = {ASSET_PARTITION_RANGE_START_TAG: keys[0], ASSET_PARTITION_RANGE_END_TAG: keys[-1]}
    result = _job(fail).execute_in_process(instance=instance, tags=tags, raise_on_error=False)
    assert result.success is not fail


def _what_the_ui_shows(instance: dg.DagsterInstance) -> dict:
    """The partitions' status as the UI reads it, the latest materialization, the run ids."""
    status = get_and_update_asset_status_cache_value(instance, KEY, DAYS)
    latest = instance.get_latest_materialization_event(KEY)
    planned = instance.get_records_for_run(
        instance.get_runs(limit=1)[0].run_id,
        of_type=dg.DagsterEventType.ASSET_MATERIALIZATION_PLANNED,
    ).records
    return {
        "materialized": status.deserialize_materialized_partition_subsets(
            DAYS
        ).get_partition_keys(),
        "failed": status.deserialize_failed_partition_subsets(DAYS).get_partition_keys(),
        "latest_partition": latest.dagster_event.partition if latest else None,
        "last_run_is_the_latest_run": (
            instance.get_asset_records([KEY])[0].asset_entry.last_run_id
            == instance.get_runs(limit=1)[0].run_id
        ),
        "planned_partitions": sorted(r.event_log_entry.dagster_event.partition for r in planned),
    }


@pytest.fixture
def instances(tmp_path, monkeypatch):
    """A plain SQLite instance and the project's, each in a folder of its own."""
    # the project's storage turns batching on in the process: back as it was after the test
    monkeypatch.setenv(BATCH_SIZE_ENV, "")
    monkeypatch.delenv(BATCH_SIZE_ENV)
    (tmp_path / "plain").mkdir()
    (tmp_path / "ours").mkdir()
    plain = dg.DagsterInstance.local_temp(str(tmp_path / "plain"), overrides=QUIET)
    ours_home = str(tmp_path / "ours")
    ours = dg.DagsterInstance.local_temp(
        ours_home, overrides={**QUIET, **storage_settings(os.path.join(ours_home, "storage"))}
    )
    yield plain, ours
    for instance in (plain, ours):
        instance.dispose()


def test_a_ranged_run_is_recorded_as_by_the_plain_storage(instances, monkeypatch):
    plain, ours = instances
    assert isinstance(ours.event_log_storage, BatchedSqliteEventLogStorage)
    batches = []
    store = BatchedSqliteEventLogStorage.store_event_batch

    def counted(self, events):
        batches.append([e.dagster_event_type.value for e in events])
        store(self, events)

    monkeypatch.setattr(BatchedSqliteEventLogStorage, "store_event_batch", counted)
    _run_range(plain)
    _run_range(ours)
    # the planned events and the materializations each reached the storage as one batch
    assert sorted((sorted(set(b)), len(b)) for b in batches) == [
        (["ASSET_MATERIALIZATION"], 10),
        (["ASSET_MATERIALIZATION_PLANNED"], 10),
    ]
    shown = _what_the_ui_shows(ours)
    assert shown == _what_the_ui_shows(plain)
    assert len(shown["materialized"]) == 10 and not shown["failed"]
    assert shown["planned_partitions"] == DAYS.get_partition_keys()  # one planned per partition
    assert shown["latest_partition"] == "2026-01-10" and shown["last_run_is_the_latest_run"]


def test_a_failed_ranged_run_shows_every_partition_failed(instances):
    plain, ours = instances
    for instance in (plain, ours):
        _run_range(instance)
        _run_range(instance, fail=True)  # after a good run: materialized before, failed now
    shown = _what_the_ui_shows(ours)
    assert shown == _what_the_ui_shows(plain)
    assert len(shown["failed"]) == 10


def test_the_checkouts_instance_uses_it_over_dagsters_sqlite_layout(tmp_path):
    """dagster.yaml names the storage; an instance Dagster's plain storage wrote reads the same
    through it (the checkout's .dagster/ from before keeps its runs)."""
    config = yaml.safe_load((ROOT / "dagster.yaml").read_text())
    assert config["storage"]["custom"]["class"] == "BatchedSqliteStorage"
    base = str(tmp_path / "storage")
    with dg.DagsterInstance.local_temp(
        str(tmp_path), overrides={**QUIET, "storage": {"sqlite": {"base_dir": base}}}
    ) as before:
        _run_range(before)
        run_id = before.get_runs(limit=1)[0].run_id
    shutil.copy(ROOT / "dagster.yaml", tmp_path / "dagster.yaml")
    config["storage"]["custom"]["config"]["base_dir"] = base
    (tmp_path / "dagster.yaml").write_text(yaml.safe_dump(config))
    with dg.DagsterInstance.from_config(str(tmp_path)) as after:
        assert isinstance(after.event_log_storage, BatchedSqliteEventLogStorage)
        assert after.get_runs(limit=1)[0].run_id == run_id
        assert len(after.get_materialized_partitions(KEY)) == 10
