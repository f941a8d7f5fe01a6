"""The model version as lineage: what a run reads is what its own upstream step handed on,
through the deployment's IO manager in the bucket (``resources/handoff.py``), never whatever was
written last. Two runs in flight, on one instance, each read their own model."""

from __future__ import annotations

import threading

import dagster as dg
import pytest

from energy_assets.assets.values import ModelArtifact
from energy_assets.orchestration.definitions import build_resources
from energy_assets.orchestration.pipeline import asset_metadata
from energy_assets_tests.conftest import deployment

TIMEOUT = 300  # a run on a busy 2-core machine can take a minute


@pytest.fixture(scope="module")
def resources(local_aws):
    resources = build_resources(deployment(bucket="lineage-bucket"))
    resources["storage"].ensure_bucket()
    return resources


def graph(version: str, upstream_done: threading.Event, go_on: threading.Event):
    """trained_forecaster hands on ``version``; ``pause`` runs between it and the evaluation
    (it signals ``upstream_done`` and waits for ``go_on``), so another run can materialize the
    model meanwhile; evaluation_report hands on the version it read."""

    @dg.asset(name="trained_forecaster")
    def trained() -> ModelArtifact:
        return ModelArtifact(version, f"s3://lineage-bucket/models/{version}/model.tar.gz", "0")

    @dg.asset(deps=[trained])
    def pause() -> None:
        upstream_done.set()
        assert go_on.wait(TIMEOUT), "the other run never got there"

    @dg.asset(name="evaluation_report", deps=[pause])
    def evaluation(trained_forecaster: ModelArtifact) -> dg.MaterializeResult:
        return dg.MaterializeResult(metadata={"evaluated": trained_forecaster.version})

    return [trained, pause, evaluation]


def _read(result: dg.ExecuteInProcessResult) -> dict:
    (event,) = [
        e
        for e in result.all_events
        if e.event_type_value == "LOADED_INPUT" and e.step_key == "evaluation_report"
    ]
    return {k: v.value for k, v in event.event_specific_data.metadata.items()}


def test_two_runs_in_flight_read_their_own_model(resources):
    """Run A trains v-a and pauses; run B trains v-b (now the latest materialization) and
    evaluates it; then A evaluates: v-a, the model of its own run."""
    a_trained, b_trained, a_go, b_go = (threading.Event() for _ in range(4))
    results: dict[str, dg.ExecuteInProcessResult] = {}
    with dg.instance_for_test() as instance:

        def run(name: str, upstream_done, go_on) -> None:
            results[name] = dg.materialize(
                graph(f"v-{name}", upstream_done, go_on),
                resources=resources,
                instance=instance,
                raise_on_error=False,
            )

        thread_a = threading.Thread(target=run, args=("a", a_trained, a_go))
        thread_a.start()
        assert a_trained.wait(TIMEOUT)
        b_go.set()  # B runs straight through while A waits
        run("b", b_trained, b_go)
        latest = instance.get_latest_materialization_event(dg.AssetKey("trained_forecaster"))
        assert latest.run_id == results["b"].run_id  # v-b is the latest model now
        a_go.set()
        thread_a.join(TIMEOUT)
        assert not thread_a.is_alive(), f"run A did not finish within {TIMEOUT} s"

    a, b = results["a"], results["b"]
    assert a.success and b.success
    assert asset_metadata(a, "evaluation_report")["evaluated"] == "v-a"
    assert asset_metadata(b, "evaluation_report")["evaluated"] == "v-b"
    read = _read(a)
    assert read["from_run"] == a.run_id and read["how"] == "written by this run"
    assert read["value"]["version"] == "v-a"


def test_an_asset_materialized_alone_reads_its_upstream_as_dagster_records_it(resources):
    """With the upstream outside the run, the value is the upstream's latest materialization
    (what the UI shows), named with its run in the loaded input's metadata."""
    done, go = threading.Event(), threading.Event()
    go.set()
    with dg.instance_for_test() as instance:
        trained, _, evaluation = graph("v-1", done, go)
        first = dg.materialize([trained], resources=resources, instance=instance)
        second = dg.materialize(graph("v-2", done, go)[:1], resources=resources, instance=instance)
        alone = dg.materialize(
            [trained.to_source_asset(), evaluation], resources=resources, instance=instance
        )
        never = dg.materialize(
            [trained.to_source_asset(), evaluation],
            resources=resources,
            instance=dg.DagsterInstance.ephemeral(),
            raise_on_error=False,
        )
    assert first.success and second.success and alone.success
    assert asset_metadata(alone, "evaluation_report")["evaluated"] == "v-2"
    read = _read(alone)
    assert read["from_run"] == second.run_id
    assert read["how"] == "the latest materialization of trained_forecaster"
    failure = never.get_step_failure_events()[0].step_failure_data.user_failure_data
    assert failure.description == (
        "trained_forecaster has never been materialized: materialize trained_forecaster first"
    )
