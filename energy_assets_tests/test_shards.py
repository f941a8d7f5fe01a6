"""Meter shards through the whole graph, against the local AWS: a 3-shard fleet trains a model
per shard (one run each, reading only its shard's raw objects), the endpoint is a multi-model
endpoint, and each meter is answered by its own shard's model, through the app's HTTP API and
through boto3 with ``TargetModel``; a failed deploy of one shard leaves its old route and the
other shards serving."""

from __future__ import annotations

import json
from datetime import UTC, datetime, time, timedelta

import boto3
import dagster as dg
import httpx
import pytest

from energy_assets import layout
from energy_assets_tests.conftest import TODAY, deployment

SHARDS = 3
METERS = 4  # meter-0001, -0002 in shard 00, -0004 in 01, -0003 in 02
NAMES = {"table": "shards-usage", "bucket": "shards-energy-assets", "endpoint_name": "shards-fc"}
CHEAP = {"ops": {"trained_forecaster": {"config": {"validation_days": 56, "n_jobs": 1}}}}


def shard_of(meter: str) -> str:
    return layout.shard_key(layout.shard_of(meter, SHARDS))


@pytest.fixture(scope="module")
def fleet(local_aws):
    from energy_assets.ml.synthetic import generate_usage
    from energy_assets.orchestration.definitions import build_defs
    from energy_assets.orchestration.pipeline import materialize_all
    from energy_assets.tools.seed import seed_table

    settings = deployment(**NAMES, shards=SHARDS)
    defs = build_defs(settings)
    frame = generate_usage(n_meters=METERS, n_days=200, seed=11)
    meters = sorted(frame["meter_id"].unique())
    assert sorted({shard_of(m) for m in meters}) == ["00", "01", "02"]
    seeded = seed_table(defs.resources["usage_table"], frame)
    instance = dg.DagsterInstance.ephemeral()
    yesterday = (TODAY - timedelta(days=1)).isoformat()
    runs = materialize_all(defs, instance, seeded.first_date, yesterday)
    assert runs.failed() is None, runs.failed()
    return {"defs": defs, "meters": meters, "runs": runs, "instance": instance}


def routes_of(storage) -> dict[str, dict]:
    return {k: storage.get_json(layout.route(k)) for k in layout.shard_keys(SHARDS)}


def test_each_shard_is_a_run_of_its_own_and_the_endpoint_is_multi_model(fleet):
    runs = fleet["runs"]
    assert list(runs.training_runs) == ["00", "01", "02"]
    assert len({r.run_id for r in runs.training_runs.values()}) == SHARDS
    storage = fleet["defs"].resources["storage"]
    routes = routes_of(storage)
    for shard, route in routes.items():
        assert f"shard{shard}" in route["model_version"]
        assert route["target_model"] == f"shard={shard}/{route['model_version']}.tar.gz"
        assert storage.exists(layout.SERVING_PREFIX + route["target_model"])
        # each shard's cleaned set holds its own meters only
        clean = storage.read_parquet(layout.clean(shard))
        assert {shard_of(m) for m in clean["meter_id"].unique()} == {shard}
    client = boto3.client("sagemaker")
    endpoint = client.describe_endpoint(EndpointName=NAMES["endpoint_name"])
    config = client.describe_endpoint_config(EndpointConfigName=endpoint["EndpointConfigName"])
    model = client.describe_model(ModelName=config["ProductionVariants"][0]["ModelName"])
    assert model["PrimaryContainer"]["Mode"] == "MultiModel"
    assert model["PrimaryContainer"]["ModelDataUrl"] == storage.uri(layout.SERVING_PREFIX)


def test_a_meter_of_each_shard_is_answered_by_its_shards_model(fleet):
    from energy_assets.app.api import create_app
    from energy_assets.app.service import UsageService
    from energy_assets.background import ASGIThread

    resources = fleet["defs"].resources
    routes = routes_of(resources["storage"])
    runtime = boto3.client("sagemaker-runtime")
    server = ASGIThread().start(
        create_app(UsageService(table=resources["usage_table"], sagemaker=resources["sagemaker"]))
    )
    try:
        for meter in fleet["meters"]:
            route = routes[shard_of(meter)]
            answer = runtime.invoke_endpoint(
                EndpointName=NAMES["endpoint_name"],
                TargetModel=route["target_model"],
                ContentType="application/json",
                Body=f'{{"meter_id": "{meter}", "horizon": 3}}',
            )
            body = json.loads(answer["Body"].read())
            assert body["model_version"] == route["model_version"] and len(body["forecast"]) == 3
            window = {
                "start": (TODAY - timedelta(days=20)).isoformat(),
                "end": (TODAY - timedelta(days=10)).isoformat(),
            }
            page = httpx.get(
                f"{server.url}/api/meters/{meter}/predictions", params=window, timeout=30
            )
            assert page.status_code == 200, page.text
            assert page.json()["model_version"] == route["model_version"]
    finally:
        server.stop()


def test_a_shard_run_reads_only_its_shards_raw_objects(fleet, monkeypatch):
    from energy_assets.resources import S3Storage

    read: list[str] = []
    original = S3Storage.get_bytes

    def recording(self, key, *args, **kwargs):
        read.append(key)
        return original(self, key, *args, **kwargs)

    monkeypatch.setattr(S3Storage, "get_bytes", recording)
    job = fleet["defs"].resolve_job_def("training_job")
    run = job.execute_in_process(
        run_config=CHEAP, instance=fleet["instance"], partition_key="01", raise_on_error=False
    )
    assert run.success
    raw = [k for k in read if k.startswith(layout.RAW_MONTHS)]
    assert raw and all("/shard=01/" in k for k in raw), raw
    clean = [
        e for e in run.get_asset_materialization_events() if e.asset_key.path == ["cleaned_usage"]
    ]
    assert clean[0].materialization.partition == "01"


def test_a_failed_shard_deploy_leaves_its_old_route_and_the_others_serving(fleet, local_aws):
    from energy_assets.localaws.faults import FaultClient
    from energy_assets.resources import SageMakerResource

    resources = fleet["defs"].resources
    storage = resources["storage"]
    before = routes_of(storage)
    sagemaker: SageMakerResource = resources["sagemaker"]
    for meter in fleet["meters"]:  # every serving model loaded: the endpoint holds them
        sagemaker.invoke({"meter_id": meter, "horizon": 1})
    # the endpoint cannot load any new artifact from S3: the next shard's new model fails
    faults = FaultClient(local_aws.endpoint_url)
    faults.inject("s3", method="GET", path_contains="/models/serving/", count=50)
    try:
        config = {"ops": {**CHEAP["ops"], "forecast_endpoint": {"config": {"force": True}}}}
        run = (
            fleet["defs"]
            .resolve_job_def("training_job")
            .execute_in_process(
                run_config=config,
                instance=fleet["instance"],
                partition_key="02",
                raise_on_error=False,
            )
        )
    finally:
        faults.clear()
    assert not run.success
    from energy_assets.orchestration.pipeline import failure_summary

    assert "shard 02 stays routed to " + before["02"]["target_model"] in failure_summary(run)
    assert routes_of(storage) == before
    for meter in fleet["meters"]:
        answer = sagemaker.invoke({"meter_id": meter, "horizon": 2})
        assert answer["model_version"] == before[shard_of(meter)]["model_version"]


def test_a_days_monitoring_is_a_run_per_shard_each_reading_its_own_objects(fleet, monkeypatch):
    """The daily schedule's run exports the day; once it succeeded the monitoring sensor asks
    for one forecast_monitoring run per shard (keyed by the export run and the shard, so a tick
    evaluated again asks for the same runs, which Dagster starts once); each run reads only its
    shard's raw objects and route, and writes its shard's summary and alarms."""
    from energy_assets.resources import S3Storage

    defs, instance = fleet["defs"], fleet["instance"]
    storage = defs.resources["storage"]
    routes = routes_of(storage)
    yesterday = (TODAY - timedelta(days=1)).isoformat()
    schedule = defs.resolve_schedule_def("daily_usage_schedule")
    when = datetime.combine(TODAY, time(1, 0), tzinfo=UTC)
    with dg.build_schedule_context(instance=instance, scheduled_execution_time=when) as context:
        (request,) = schedule.evaluate_tick(context).run_requests
    assert request.partition_key == yesterday
    export = defs.resolve_job_def(request.job_name or "usage_job").execute_in_process(
        instance=instance, partition_key=request.partition_key, tags=dict(request.tags)
    )
    assert export.success
    assert {e.asset_key.path[0] for e in export.get_asset_materialization_events()} == {
        "raw_usage_export"
    }

    sensor = defs.resolve_sensor_def("monitoring_after_export_sensor")

    def tick() -> list[dg.RunRequest]:
        context = dg.build_run_status_sensor_context(
            sensor_name=sensor.name,
            dagster_instance=instance,
            dagster_run=export.dagster_run,
            dagster_event=export.get_run_success_event(),
        )
        return list(sensor(context))

    requests = tick()
    assert len(requests) == SHARDS
    assert [r.run_key for r in tick()] == [r.run_key for r in requests]  # same keys: once
    assert len({r.run_key for r in requests}) == SHARDS
    read: list[str] = []
    original = S3Storage._get

    def recording(self, key, *args, **kwargs):
        read.append(key)
        return original(self, key, *args, **kwargs)

    monkeypatch.setattr(S3Storage, "_get", recording)
    job = defs.resolve_job_def("monitoring_job")
    run_ids = set()
    for request in requests:
        shard = request.tags["energy-assets/shard"]
        read.clear()
        run = job.execute_in_process(instance=instance, tags=dict(request.tags))
        assert run.success
        run_ids.add(run.run_id)
        (event,) = run.get_asset_materialization_events()
        assert event.materialization.partition == f"{yesterday}|{shard}"
        raw = [k for k in read if k.startswith(layout.RAW_MONTHS)]
        assert raw and all(f"/shard={shard}/" in k for k in raw), raw
        assert [k for k in read if k.startswith(layout.ROUTES_PREFIX)] == [layout.route(shard)]
        latest = storage.get_json(layout.monitoring_latest(shard))
        assert latest["run_id"] == run.run_id and latest["as_of"] == yesterday
        assert latest["model_version"] == routes[shard]["model_version"]
        assert latest["quality_alarms"][0] == f"{NAMES['endpoint_name']}-shard{shard}-rolling-mase"
        metadata = event.materialization.metadata
        assert metadata["shard"].value == shard
        assert metadata["model_version"].value == routes[shard]["model_version"]
    assert len(run_ids) == SHARDS


def test_one_shard_is_one_partition_and_a_single_model_endpoint(deployed):
    """The default (ENERGY_ASSETS_SHARDS=1): one partition "00", today's keys and version
    names, a single-model endpoint invoked without TargetModel."""
    defs, runs = deployed["defs"], deployed["runs"]
    keys = defs.resolve_job_def("training_job").partitions_def.get_partition_keys()
    assert list(keys) == ["00"] and list(runs.training_runs) == ["00"]
    storage = defs.resources["storage"]
    current = storage.get_json(layout.DEPLOYMENT_CURRENT)
    assert "shard" not in current["model_version"] and storage.exists(layout.CLEAN)
    assert not storage.list_keys(layout.ROUTES_PREFIX)
    client = boto3.client("sagemaker")
    endpoint = client.describe_endpoint(EndpointName=current["endpoint"])
    config = client.describe_endpoint_config(EndpointConfigName=endpoint["EndpointConfigName"])
    model = client.describe_model(ModelName=config["ProductionVariants"][0]["ModelName"])
    assert model["PrimaryContainer"].get("Mode", "SingleModel") == "SingleModel"
    answer = boto3.client("sagemaker-runtime").invoke_endpoint(
        EndpointName=current["endpoint"],
        ContentType="application/json",
        Body=json.dumps({"meter_id": current["smoke_meter"], "horizon": 1}),
    )
    assert json.loads(answer["Body"].read())["model_version"] == current["model_version"]


def test_rollback_without_a_shard_is_refused_on_a_sharded_endpoint(fleet):
    from energy_assets.release.rollout import rollback

    resources = fleet["defs"].resources
    storage = resources["storage"]
    before = routes_of(storage)
    with pytest.raises(ValueError, match="name the shard to roll back"):
        rollback(storage, resources["sagemaker"], before["00"]["model_version"])
    assert routes_of(storage) == before


def test_a_shards_step_alone_reads_its_own_shards_upstream_value(fleet):
    """forecast_endpoint materialized alone for shard 00 (as the UI does) reads shard 00's
    registered model, not the latest registration of any shard."""
    defs, storage = fleet["defs"], fleet["defs"].resources["storage"]
    route = routes_of(storage)["00"]
    job = defs.resolve_implicit_job_def_def_for_assets([dg.AssetKey("forecast_endpoint")])
    run = job.get_subset(asset_selection={dg.AssetKey("forecast_endpoint")}).execute_in_process(
        instance=fleet["instance"], partition_key="00"
    )
    assert run.success
    (event,) = run.get_asset_materialization_events()
    metadata = event.materialization.metadata
    assert event.materialization.partition == "00" and metadata["shard"].value == "00"
    assert metadata["model_version"].value == route["model_version"]  # redeployed as it serves


def test_the_drift_sensor_retrains_only_the_shard_that_drifted(fleet):
    defs, storage = fleet["defs"], fleet["defs"].resources["storage"]
    routes = routes_of(storage)
    day = (TODAY - timedelta(days=1)).isoformat()
    for shard, route in routes.items():
        drifted = shard == "01"
        storage.put_json(
            layout.monitoring_latest(shard),
            {
                "model_version": route["model_version"],
                "as_of": day,
                "verdict": {
                    "drift": drifted,
                    "reasons": ["rolling MASE 1.4 above 1"] if drifted else [],
                    "last_day": day,
                },
            },
        )
    sensor = defs.resolve_sensor_def("drift_sensor")
    with dg.build_sensor_context(instance=fleet["instance"], resources=defs.resources) as context:
        tick = sensor(context)
    (request,) = tick.run_requests
    assert request.partition_key == "01"
    assert request.tags["energy-assets/champion"] == routes["01"]["model_version"]


def test_the_registry_view_names_every_shards_serving_version(fleet):
    from energy_assets.tools.registry_view import endpoint_answer, registry_frame

    resources = fleet["defs"].resources
    storage, sagemaker = resources["storage"], resources["sagemaker"]
    answer = endpoint_answer(sagemaker, storage)
    frame = registry_frame(sagemaker, storage, answer)
    serving = set(frame.loc[frame["serving"], "version"])
    assert serving == {r["model_version"] for r in routes_of(storage).values()}


def test_a_shards_rollback_reroutes_that_shard_only(fleet):
    """Shard 00 gets a newer version, then rollback_job (config shard 00) routes it back to
    the version that served it before: a served copy that is not the registered artifact is
    refused with the route untouched; the real one is smoke-tested through its TargetModel and
    then serves shard 00's meters again, while shards 01 and 02 keep their routes."""
    from energy_assets.orchestration.pipeline import failure_summary

    defs, instance = fleet["defs"], fleet["instance"]
    storage, sagemaker = defs.resources["storage"], defs.resources["sagemaker"]
    old = routes_of(storage)["00"]
    config = {"ops": {**CHEAP["ops"], "forecast_endpoint": {"config": {"force": True}}}}
    run = defs.resolve_job_def("training_job").execute_in_process(
        run_config=config, instance=instance, partition_key="00"
    )
    assert run.success
    before = routes_of(storage)
    newer = before["00"]["model_version"]
    assert newer != old["model_version"]
    meter = next(m for m in fleet["meters"] if shard_of(m) == "00")
    assert sagemaker.invoke({"meter_id": meter, "horizon": 1})["model_version"] == newer

    rollback = defs.resolve_job_def("rollback_job")
    back = {"ops": {"rollback_endpoint": {"config": {"version": old["model_version"]}}}}
    back["ops"]["rollback_endpoint"]["config"]["shard"] = "00"
    served_copy = layout.SERVING_PREFIX + old["target_model"]
    genuine = storage.get_bytes(served_copy)
    storage.put_bytes(served_copy, genuine + b"tampered", "application/gzip")
    try:
        refused = rollback.execute_in_process(
            run_config=back, instance=instance, raise_on_error=False
        )
    finally:
        storage.put_bytes(served_copy, genuine, "application/gzip")
    assert not refused.success
    assert "changed since registration" in failure_summary(refused)
    assert routes_of(storage) == before

    result = rollback.execute_in_process(run_config=back, instance=instance)
    assert result.success
    after = routes_of(storage)
    assert after["00"]["model_version"] == old["model_version"]
    assert after["00"]["target_model"] == old["target_model"]
    assert after["00"]["rolled_back_from"] == newer
    assert {k: after[k] for k in ("01", "02")} == {k: before[k] for k in ("01", "02")}
    for m in fleet["meters"]:
        answer = sagemaker.invoke({"meter_id": m, "horizon": 2})
        assert answer["model_version"] == after[shard_of(m)]["model_version"]
    (event,) = result.get_asset_materialization_events()
    assert event.materialization.partition == "00"
    assert event.materialization.metadata["model_version"].value == old["model_version"]


def test_back_to_one_shard_lays_the_months_out_again_and_serves_single_model(fleet):
    """Last in the module (it re-deploys the fleet's endpoint): the deployment set back to one
    shard exports the table again in one shard's objects, trains one model and makes the
    endpoint single-model again, answering every meter without ``TargetModel``."""
    from energy_assets.orchestration.definitions import build_defs
    from energy_assets.orchestration.pipeline import materialize_all

    settings = deployment(**NAMES, shards=1)
    defs = build_defs(settings)
    storage = defs.resources["storage"]
    yesterday = (TODAY - timedelta(days=1)).isoformat()
    first = fleet["defs"].resources["meters"].history_start
    runs = materialize_all(defs, fleet["instance"], first, yesterday)
    assert runs.failed() is None, runs.failed()
    raw = [k for k in storage.list_keys(layout.RAW_MONTHS) if k.endswith(".parquet")]
    assert raw and all("/shard=00/" in k for k in raw)
    client = boto3.client("sagemaker")
    endpoint = client.describe_endpoint(EndpointName=NAMES["endpoint_name"])
    config = client.describe_endpoint_config(EndpointConfigName=endpoint["EndpointConfigName"])
    model = client.describe_model(ModelName=config["ProductionVariants"][0]["ModelName"])
    assert model["PrimaryContainer"].get("Mode", "SingleModel") == "SingleModel"
    runtime = boto3.client("sagemaker-runtime")
    for meter in fleet["meters"]:
        answer = runtime.invoke_endpoint(
            EndpointName=NAMES["endpoint_name"],
            ContentType="application/json",
            Body=json.dumps({"meter_id": meter, "horizon": 7}),
        )
        served = json.loads(answer["Body"].read())["model_version"]
        assert "shard" not in served  # the one-shard run's version, not a shard's
