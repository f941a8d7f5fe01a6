import dagster as dg
import pytest

from energy_assets.definitions import defs


def test_definitions_load():
    dg.Definitions.validate_loadable(defs)


def test_one_graph_from_table_to_endpoint():
    graph = defs.resolve_asset_graph()
    keys = {k.path[-1] for k in graph.get_all_asset_keys()}
    assert keys == {
        "usage_table",
        "raw_usage_export",
        "cleaned_usage",
        "usage_features",
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
    from energy_assets.checks import cleaned_usage_is_complete, model_beats_seasonal_naive

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
