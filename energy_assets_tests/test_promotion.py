"""Registry, champion/challenger, smoke-test restore and rollback against the local AWS.

The tests run in file order on one endpoint of their own: each step starts from the state the
one before left, as deployments do. The models are real ones chosen for a known ranking on
weekly-seasonal data: "naive" (repeat yesterday) loses to "seasonal naive" (repeat last week).
"""

from __future__ import annotations

import dagster as dg
import pandas as pd
import pytest

from energy_assets import layout
from energy_assets.assets.deployment import forecast_endpoint, rollback_job
from energy_assets.assets.evaluation import evaluation_report
from energy_assets.assets.preparation import train_test_split
from energy_assets.assets.registry import registered_model
from energy_assets.assets.values import Evaluation
from energy_assets.ml.bundle import ForecastBundle
from energy_assets.ml.cleaning import clean_usage
from energy_assets.ml.models import SeasonalNaive
from energy_assets.ml.split import time_split
from energy_assets.ml.synthetic import generate_usage
from energy_assets.release.promotion import compare
from energy_assets.resources.s3 import sha256_hex
from energy_assets.serving.artifact import pack_bundle
from energy_assets.settings import Settings
from energy_assets_tests.lineage import publish as publish_value
from energy_assets_tests.lineage import written


@pytest.fixture(scope="module")
def env(local_aws):
    from energy_assets.orchestration.definitions import build_resources

    settings = Settings(
        table="promotion-usage", bucket="promotion-bucket", endpoint_name="promotion-endpoint"
    )
    resources = build_resources(settings)
    storage = resources["storage"]
    storage.ensure_bucket()
    clean = clean_usage(generate_usage(n_meters=3, n_days=240, seed=11).astype(str)).clean
    train, test = time_split(clean[["meter_id", "date", "usage"]], test_days=28)
    storage.put_csv(layout.TRAIN, train)
    storage.put_csv(layout.TEST, test)
    instance = dg.DagsterInstance.ephemeral()
    split = written(storage, layout.TRAIN, layout.TEST)
    publish_value(train_test_split, split, resources, instance)
    return {"resources": resources, "train": train, "test": test, "instance": instance}


def publish(env, version: str, season_length: int, drop_history: bool = False) -> str:
    """Train a bundle of one model kind, store it and its evaluation report, and materialize
    evaluation_report as that model (what registration and deployment read)."""
    storage = env["resources"]["storage"]
    known = pd.concat([env["train"], env["test"]])
    history, models = {}, {}
    for meter, g in env["train"].groupby("meter_id"):
        y = pd.Series(g["usage"].to_numpy(float), index=pd.DatetimeIndex(g["date"]))
        models[meter] = SeasonalNaive(season_length=season_length).fit(y)
    for meter, g in known.groupby("meter_id"):
        history[meter] = pd.Series(g["usage"].to_numpy(float), index=pd.DatetimeIndex(g["date"]))
    if drop_history:  # a broken artifact: the container cannot start on it
        history.pop(sorted(history)[-1])
    bundle = ForecastBundle(version=version, models=models, history=history)
    artifact = pack_bundle(bundle)
    uri = storage.put_bytes(layout.model_dir(version) + "model.tar.gz", artifact)
    report = {
        "version": version,
        "model_uri": uri,
        "overall": {"mae": 1.0, "rmse": 1.0, "mse": 1.0, "relative_mae": 0.9},
        "smoke_meter": sorted(models)[0],
    }
    report_uri = storage.put_json(layout.report(version), report)
    evaluation = Evaluation(
        version=version,
        model_uri=uri,
        artifact_sha256=sha256_hex(artifact),
        report_uri=report_uri,
        smoke_meter=report["smoke_meter"],
        trained_version=version,
    )
    publish_value(evaluation_report, evaluation, env["resources"], env["instance"])
    return version


def materialize(env, *selected, config: dict | None = None) -> dg.ExecuteInProcessResult:
    """Materialize ``selected`` of the deployment assets; their upstream values are the ones
    published last (the latest materializations the instance records)."""
    upstream = [train_test_split, evaluation_report, registered_model]
    return dg.materialize(
        [a.to_source_asset() for a in upstream if a not in selected] + list(selected),
        resources=env["resources"],
        instance=env["instance"],
        run_config={"ops": {"forecast_endpoint": {"config": config}}} if config else None,
        raise_on_error=False,
    )


def deploy(env, **config) -> dg.ExecuteInProcessResult:
    return materialize(env, registered_model, forecast_endpoint, config=config)


def deploy_metadata(result) -> dict:
    events = [
        e for e in result.get_asset_materialization_events() if e.asset_key == forecast_endpoint.key
    ]
    return {k: v.value for k, v in events[-1].materialization.metadata.items()}


def serving(env) -> str:
    sagemaker = env["resources"]["sagemaker"]
    meter = sorted(env["train"]["meter_id"].unique())[0]
    return sagemaker.invoke({"meter_id": meter, "horizon": 7})["model_version"]


def status(env, version: str) -> str:
    return env["resources"]["sagemaker"].find_package(version)["ModelApprovalStatus"]


def test_compare_uses_the_same_rows_and_names_new_meters():
    rows = pd.DataFrame(
        {
            "meter_id": ["a", "a", "b"],
            "date": pd.to_datetime(["2026-01-01", "2026-01-02"] * 1 + ["2026-01-01"]),
            "actual": [10.0, 10.0, 5.0],
        }
    )
    challenger = rows.assign(forecast=[9.0, 11.0, 5.0])
    champion = rows.iloc[:2].assign(forecast=[10.0, 12.0])
    decision = compare(challenger, champion, "v1")
    assert (decision.challenger_mae, decision.champion_mae) == (1.0, 1.0)
    assert decision.common_meters == 1 and decision.new_meters == ["b"]
    assert decision.promote and "1 new meters" in decision.reason
    worse = compare(challenger.iloc[:2], champion.assign(forecast=[10.0, 10.0]), "v1")
    assert not worse.promote and "does not beat champion v1" in worse.reason
    strict = compare(challenger.iloc[:2], champion.assign(forecast=[10.0, 11.05]), "v1", 0.5)
    assert not strict.promote and "by 50%" in strict.reason


def test_compare_matches_rolling_forecasts_by_origin():
    rows = pd.DataFrame(
        {
            "meter_id": "a",
            "origin": pd.to_datetime(["2026-01-01", "2026-01-01", "2026-01-02"]),
            "date": pd.to_datetime(["2026-01-02", "2026-01-03", "2026-01-03"]),
            "actual": [10.0, 10.0, 10.0],
        }
    )
    challenger = rows.assign(forecast=[10.0, 13.0, 10.0])  # off only two days ahead
    champion = rows.assign(forecast=[11.0, 11.0, 11.0])
    decision = compare(challenger, champion, "v1")
    # three rows matched one to one (not the 2 x 2 of merging on the date alone)
    assert (decision.challenger_mae, decision.champion_mae) == (1.0, 1.0)
    assert not decision.promote


def test_first_model_is_registered_and_deployed(env):
    publish(env, "v1-naive", season_length=1)
    result = deploy(env)
    assert result.success
    meta = deploy_metadata(result)
    assert meta["deployed"] is True and meta["reason"] == "no model is serving"
    assert serving(env) == "v1-naive"
    assert status(env, "v1-naive") == "Approved"
    # the UI says which model the registration and the deployment are about
    versions = {
        e.asset_key.path[-1]: e.materialization.tags["dagster/data_version"]
        for e in result.get_asset_materialization_events()
    }
    assert versions == {"registered_model": "v1-naive", "forecast_endpoint": "v1-naive"}


def test_deploying_the_serving_version_again_changes_nothing(env):
    sagemaker = env["resources"]["sagemaker"]
    packages = len(sagemaker.model_packages())
    config = sagemaker.describe_endpoint()["EndpointConfigName"]
    result = deploy(env)
    assert result.success
    meta = deploy_metadata(result)
    assert meta["reason"] == "v1-naive already serves: redeploying its configuration"
    assert len(sagemaker.model_packages()) == packages  # registered once
    assert sagemaker.describe_endpoint()["EndpointConfigName"] == config == meta["endpoint_config"]
    assert serving(env) == "v1-naive"


def test_better_challenger_replaces_the_champion(env):
    publish(env, "v2-weekly", season_length=7)
    result = deploy(env)
    assert result.success
    meta = deploy_metadata(result)
    assert meta["deployed"] is True and meta["replaced_version"] == "v1-naive"
    assert meta["challenger_test_mae"] < meta["champion_test_mae"]
    assert "beats champion v1-naive" in meta["reason"]
    assert serving(env) == "v2-weekly"
    sagemaker = env["resources"]["sagemaker"]
    package = sagemaker.find_package("v1-naive")
    assert package["CustomerMetadataProperties"]["serving"] == "false"
    arn = sagemaker.describe_endpoint()["EndpointArn"]
    tags = {t["Key"]: t["Value"] for t in sagemaker.client().list_tags(ResourceArn=arn)["Tags"]}
    assert tags["energy-assets:model-version"] == "v2-weekly"


def test_worse_challenger_is_refused_and_the_champion_keeps_serving(env):
    publish(env, "v3-naive", season_length=1)
    result = deploy(env)
    assert result.success  # refusing is a decision, not a failure
    meta = deploy_metadata(result)
    assert meta["deployed"] is False and meta["serving_version"] == "v2-weekly"
    assert "does not beat champion v2-weekly" in meta["reason"]
    assert meta["challenger_test_mae"] > meta["champion_test_mae"]
    assert serving(env) == "v2-weekly"
    package = env["resources"]["sagemaker"].find_package("v3-naive")
    assert package["ModelApprovalStatus"] == "Rejected"
    assert "does not beat" in package["ApprovalDescription"]
    decision = env["resources"]["storage"].get_json(layout.deploy_decision("v3-naive"))
    assert decision["promote"] is False and decision["champion"] == "v2-weekly"


def test_failed_smoke_test_restores_the_previous_config_and_fails_the_run(env):
    publish(env, "v4-broken", season_length=7, drop_history=True)
    result = deploy(env, force=True)
    assert not result.success
    failure = result.get_step_failure_events()[0].event_specific_data.error
    assert "smoke test of promotion-endpoint-v4-broken failed" in failure.message
    assert "restored to promotion-endpoint-v2-weekly" in failure.message
    assert serving(env) == "v2-weekly"
    assert status(env, "v4-broken") == "Rejected"
    current = env["resources"]["storage"].get_json(layout.DEPLOYMENT_CURRENT)
    assert current["model_version"] == "v2-weekly"


def test_rollback_to_a_named_version(env):
    result = rollback_job.execute_in_process(
        run_config={"ops": {"rollback_endpoint": {"config": {"version": "v1-naive"}}}},
        resources=env["resources"],
    )
    assert result.success
    assert serving(env) == "v1-naive"
    current = env["resources"]["storage"].get_json(layout.DEPLOYMENT_CURRENT)
    assert current["model_version"] == "v1-naive" and current["rolled_back_from"] == "v2-weekly"
    assert status(env, "v2-weekly") == "Rejected" and status(env, "v1-naive") == "Approved"
    # the UI's data version of forecast_endpoint names the model it serves again
    (event,) = result.get_asset_materialization_events()
    assert event.materialization.tags["dagster/data_version"] == "v1-naive"


def test_rollback_to_a_version_that_never_served_fails_clearly(env):
    result = rollback_job.execute_in_process(
        run_config={"ops": {"rollback_endpoint": {"config": {"version": "v3-naive"}}}},
        resources=env["resources"],
        raise_on_error=False,
    )
    assert not result.success
    message = result.get_step_failure_events()[0].event_specific_data.error.message
    assert "never served" in message and "v1-naive, v2-weekly" in message
    assert serving(env) == "v1-naive"


def test_cli_lists_the_registry_and_rolls_back(env, monkeypatch, capsys):
    from energy_assets.tools.cli import main
    from energy_assets.tools.registry_view import registry_frame

    monkeypatch.setenv("ENERGY_ASSETS_BUCKET", "promotion-bucket")
    monkeypatch.setenv("ENERGY_ASSETS_ENDPOINT", "promotion-endpoint")
    frame = registry_frame(env["resources"]["sagemaker"]).set_index("version")
    assert frame.loc["v1-naive", "serving"] and not frame.loc["v2-weekly", "serving"]
    assert frame.loc["v3-naive", "status"] == "Rejected"
    assert main(["models"]) == 0
    listing = capsys.readouterr().out
    assert all(v in listing for v in ("v1-naive", "v2-weekly", "v3-naive", "v4-broken"))
    assert main(["rollback", "v2-weekly"]) == 0
    assert "serves v2-weekly again (was v1-naive)" in capsys.readouterr().out
    assert serving(env) == "v2-weekly"
    assert main(["rollback", "no-such-version"]) == 1
    assert "never served" in capsys.readouterr().err


def artifact_key(version: str) -> str:
    return layout.model_dir(version) + "model.tar.gz"


def overwrite_artifact(env, version: str, with_bytes_of: str = "v4-broken") -> None:
    """Replace a version's model.tar.gz by hand (a plain PUT), as the probe in issue 13 did."""
    storage = env["resources"]["storage"]
    storage.client().put_object(
        Bucket=storage.bucket,
        Key=artifact_key(version),
        Body=storage.client()
        .get_object(Bucket=storage.bucket, Key=artifact_key(with_bytes_of))["Body"]
        .read(),
    )


def models_listing(monkeypatch, capsys) -> str:
    from energy_assets.tools.cli import main

    monkeypatch.setenv("ENERGY_ASSETS_BUCKET", "promotion-bucket")
    monkeypatch.setenv("ENERGY_ASSETS_ENDPOINT", "promotion-endpoint")
    assert main(["models"]) == 0
    return capsys.readouterr().out


def listed(listing: str, version: str) -> list[str]:
    """The cells of a version's row in the `models` table."""
    row = next(line for line in listing.splitlines() if f"| {version} " in line)
    return [cell.strip() for cell in row.strip("|").split("|")]


@pytest.fixture(scope="module")
def health(env):
    """The app's /api/health over HTTP, for the promotion endpoint, probing on every call."""
    import httpx

    from energy_assets.app.api import create_app
    from energy_assets.app.service import UsageService
    from energy_assets.background import ASGIThread

    resources = env["resources"]
    service = UsageService(
        table=resources["usage_table"], sagemaker=resources["sagemaker"], health_ttl_seconds=0
    )
    server = ASGIThread().start(create_app(service))

    def get() -> tuple[int, dict]:
        response = httpx.get(f"{server.url}/api/health", timeout=30)
        return response.status_code, response.json()

    yield get
    server.stop()


def test_registration_records_the_artifact_checksum(env):
    storage = env["resources"]["storage"]
    data = storage.get_bytes(artifact_key("v2-weekly"))
    sha = __import__("hashlib").sha256(data).hexdigest()
    package = env["resources"]["sagemaker"].find_package("v2-weekly")
    assert package["CustomerMetadataProperties"]["artifact_sha256"] == sha
    assert storage.head(artifact_key("v2-weekly"))["Metadata"]["sha256"] == sha
    assert storage.get_json(layout.registration("v2-weekly"))["artifact_sha256"] == sha


def test_rollback_refuses_an_overwritten_artifact_and_leaves_the_endpoint_alone(
    env, monkeypatch, capsys
):
    """Issue 13: the serving version's model.tar.gz overwritten, then `rollback` to it."""
    from energy_assets.tools.cli import main

    sagemaker = env["resources"]["sagemaker"]
    before = sagemaker.describe_endpoint()["LastModifiedTime"]
    overwrite_artifact(env, "v2-weekly")
    monkeypatch.setenv("ENERGY_ASSETS_BUCKET", "promotion-bucket")
    monkeypatch.setenv("ENERGY_ASSETS_ENDPOINT", "promotion-endpoint")
    assert main(["rollback", "v2-weekly"]) == 1
    error = capsys.readouterr().err
    assert "of version v2-weekly changed since registration" in error
    assert "the endpoint was not touched" in error
    assert sagemaker.describe_endpoint()["LastModifiedTime"] == before
    assert serving(env) == "v2-weekly"  # the fleet keeps the model it loaded
    listing = models_listing(monkeypatch, capsys)
    assert "answers with version v2-weekly" in listing
    row = listed(listing, "v2-weekly")
    assert "changed" in row and "True" in row
    assert "verified" in listed(listing, "v1-naive")


def test_health_and_models_report_what_the_endpoint_answers(env, health, monkeypatch, capsys):
    status, found = health()
    assert status == 200 and found["answers"] and found["status"] == "InService"
    # the fleet is replaced (as by autoscaling or an instance failure): it loads the bad artifact
    sagemaker = env["resources"]["sagemaker"]
    config = sagemaker.describe_endpoint()["EndpointConfigName"]
    sagemaker.client().update_endpoint(
        EndpointName=sagemaker.endpoint_name, EndpointConfigName=config
    )
    status, found = health()
    assert status == 503 and found["status"] == "InService" and not found["answers"]
    assert "cannot load model artifact" in found["detail"]
    listing = models_listing(monkeypatch, capsys)
    assert "endpoint promotion-endpoint: InService but does not answer" in listing
    assert "True" not in listed(listing, "v2-weekly")


def test_failed_smoke_test_restores_only_a_config_known_to_serve(env, health):
    """The endpoint serves v2-weekly's config, whose artifact is broken: a failed deploy goes
    back to the newest config that passed a smoke test and still verifies (v1-naive's), not to
    the broken one that served before. No retrain needed."""
    publish(env, "v5-broken", season_length=7, drop_history=True)
    result = deploy(env, force=True)
    assert not result.success
    failure = result.get_step_failure_events()[0].event_specific_data.error.message
    assert "smoke test of promotion-endpoint-v5-broken failed" in failure
    assert "restored to promotion-endpoint-v1-naive (version v1-naive" in failure
    assert serving(env) == "v1-naive"
    storage = env["resources"]["storage"]
    assert storage.get_json(layout.DEPLOYMENT_CURRENT)["model_version"] == "v1-naive"
    smoke = storage.get_json(layout.smoke_record("promotion-endpoint-v5-broken"))
    assert smoke["passed"] is False and smoke["problems"]
    assert status(env, "v5-broken") == "Rejected"
    package = env["resources"]["sagemaker"].find_package("v2-weekly")
    assert package["CustomerMetadataProperties"]["serving"] == "false"
    code, found = health()
    assert code == 200 and found["answers"]


def test_deploy_refuses_an_artifact_changed_after_registration(env):
    publish(env, "v6-weekly", season_length=7)
    registered = materialize(env, registered_model)
    assert registered.success
    overwrite_artifact(env, "v6-weekly")
    result = materialize(env, forecast_endpoint, config={"force": True})
    assert not result.success
    failure = result.get_step_failure_events()[0].event_specific_data.error.message
    assert "of version v6-weekly changed since registration" in failure
    assert "the endpoint was not touched" in failure
    sagemaker = env["resources"]["sagemaker"]
    assert not sagemaker.endpoint_config_exists("promotion-endpoint-v6-weekly")
    assert serving(env) == "v1-naive"
    assert status(env, "v6-weekly") == "Rejected"


def test_with_no_config_known_to_serve_the_endpoint_is_deleted(env, health, monkeypatch, capsys):
    overwrite_artifact(env, "v1-naive")  # now no config that passed a smoke test verifies
    publish(env, "v7-broken", season_length=7, drop_history=True)
    result = deploy(env, force=True)
    assert not result.success
    failure = result.get_step_failure_events()[0].event_specific_data.error.message
    assert "no config known to serve remains: endpoint deleted" in failure
    assert env["resources"]["sagemaker"].describe_endpoint() is None
    assert env["resources"]["storage"].get_json_or_none(layout.DEPLOYMENT_CURRENT) is None
    code, found = health()
    assert code == 503 and found["status"] == "Missing"
    listing = models_listing(monkeypatch, capsys)
    assert "endpoint promotion-endpoint: endpoint is Missing" in listing
    assert "changed" in listed(listing, "v1-naive")


def test_registration_refuses_an_artifact_replaced_after_training(env):
    publish(env, "v8-weekly", season_length=7)
    overwrite_artifact(env, "v8-weekly", with_bytes_of="v6-weekly")
    result = materialize(env, registered_model)
    assert not result.success
    failure = result.get_step_failure_events()[0].event_specific_data.error.message
    assert "model.tar.gz changed between training and registration" in failure
    assert "materialize trained_forecaster again" in failure
    assert env["resources"]["sagemaker"].find_package("v8-weekly") is None
