import dagster as dg
import pytest

from energy_assets.orchestration.definitions import build_defs
from energy_assets.settings import Settings
from energy_assets_tests.conftest import NAMES, deployment

defs = build_defs(deployment(**NAMES))


def test_definitions_load():
    dg.Definitions.validate_loadable(defs)


def test_the_module_dagster_loads_reads_the_environment_when_loaded(monkeypatch):
    """``defs`` in the module Dagster loads is built when the code location loads, from the
    environment then: importing the module reads nothing."""
    from energy_assets.orchestration import definitions

    monkeypatch.setenv("ENERGY_ASSETS_HISTORY_START", "2025-03-01")
    monkeypatch.setenv("ENERGY_ASSETS_TIMEZONE", "Australia/Sydney")
    loaded = definitions.defs()
    dg.Definitions.validate_loadable(loaded)
    partitions = loaded.resolve_job_def("ingestion_job").partitions_def
    assert partitions.get_first_partition_key() == "2025-03-01"
    assert partitions.timezone == "Australia/Sydney"
    assert loaded.resources["meters"].timezone == "Australia/Sydney"


def test_two_deployments_side_by_side():
    """Each ``build_defs`` wires its own names and partitions; neither touches the other."""
    a = build_defs(Settings(table="a", bucket="a-bucket", history_start="2025-01-01"))
    b = build_defs(Settings(table="b", bucket="b-bucket", history_start="2026-01-01"))
    buckets = [d.resources["storage"].bucket for d in (a, b)]
    assert buckets == ["a-bucket", "b-bucket"]
    first = {
        name: d.resolve_job_def("usage_job").partitions_def.get_first_partition_key()
        for name, d in (("a", a), ("b", b))
    }
    assert first == {"a": "2025-01-01", "b": "2026-01-01"}


def test_one_graph_from_table_to_endpoint():
    graph = defs.resolve_asset_graph()
    keys = {k.path[-1] for k in graph.get_all_asset_keys()}
    assert keys == {
        "usage_table",
        "raw_usage_export",
        "cleaned_usage",
        "exploration_features",
        "train_test_split",
        "trained_forecaster",
        "evaluation_report",
        "registered_model",
        "forecast_endpoint",
        "forecast_monitoring",
        "exploration_report",
    }
    seen, todo = set(), [dg.AssetKey("forecast_monitoring"), dg.AssetKey("exploration_report")]
    while todo:
        key = todo.pop()
        seen.add(key.path[-1])
        todo.extend(graph.get(key).parent_keys)
    assert seen == keys  # one lineage from the table to the endpoint


def test_quality_gates_are_blocking():
    from energy_assets.orchestration.checks import (
        cleaned_usage_is_complete,
        model_beats_seasonal_naive,
    )

    checks = {
        spec.name: spec
        for check in (cleaned_usage_is_complete, model_beats_seasonal_naive)
        for spec in check.check_specs
    }
    assert checks["cleaned_usage_is_complete"].blocking
    assert checks["model_beats_seasonal_naive"].blocking


def test_deploy_config_validates():
    job = defs.resolve_job_def("training_job")
    config = {"ops": {"forecast_endpoint": {"config": {"instance_type": "ml.c5.xlarge"}}}}
    assert dg.validate_run_config(job, config)


def test_rollback_job_takes_a_version():
    job = defs.resolve_job_def("rollback_job")
    config = {"ops": {"rollback_endpoint": {"config": {"version": "20260101-000000-abcdef12"}}}}
    assert dg.validate_run_config(job, config)
    with pytest.raises(dg.DagsterInvalidConfigError):
        dg.validate_run_config(job, {"ops": {"rollback_endpoint": {"config": {}}}})


def test_with_shards_monitoring_is_a_run_per_day_and_shard_and_one_shard_keeps_usage_job():
    """One shard (the default): usage_job exports and monitors a day in one run, over days.
    Several: usage_job exports, forecast_monitoring is partitioned by (day, shard) and a run
    status sensor asks for its runs once an export succeeded."""
    one = defs
    three = build_defs(deployment(**NAMES, shards=3))
    dg.Definitions.validate_loadable(three)

    def selected(d, job):
        return {k.path[-1] for k in d.resolve_job_def(job).asset_layer.executable_asset_keys}

    def sensors(d):
        return {s.name for s in d.get_repository_def().sensor_defs}

    assert selected(one, "usage_job") == {"raw_usage_export", "forecast_monitoring"}
    assert isinstance(
        one.resolve_job_def("monitoring_job").partitions_def, dg.DailyPartitionsDefinition
    )
    assert "monitoring_after_export_sensor" not in sensors(one)
    assert selected(three, "usage_job") == {"raw_usage_export"}
    partitions = three.resolve_job_def("monitoring_job").partitions_def
    assert isinstance(partitions, dg.MultiPartitionsDefinition)
    assert [d.name for d in partitions.partitions_defs] == ["day", "shard"]
    assert "monitoring_after_export_sensor" in sensors(three)
