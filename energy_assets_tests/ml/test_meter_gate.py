"""The per-meter gate: a meter whose model does not beat seasonal naive on its rolling-origin
backtest is served seasonal naive, by the bundle, the endpoint's handler and the evaluation."""

from __future__ import annotations

import json
from unittest import mock

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from energy_assets import layout
from energy_assets.ml.bundle import ForecastBundle
from energy_assets.ml.gate import gate_bundle, meter_gate
from energy_assets.ml.metrics import rolling_test_forecasts
from energy_assets.ml.models import SeasonalNaive
from energy_assets.ml.split import time_split
from energy_assets.ml.training import train_forecasters
from energy_assets.resources import S3Storage
from energy_assets.serving.artifact import load_bundle, pack_bundle
from energy_assets.serving.handler import Predictor

DAYS, TEST_DAYS = 300, 28
STEADY = ("steady0", "steady1", "steady2", "steady3", "steady4")
CHANGED, WANDERING = ("changed0",), ("wander0",)


def _fleet(seed: int = 3) -> pd.DataFrame:
    """Meters with a clear weekly shape (weekends 8 higher, noise 1): ``steady`` keep it;
    ``changed`` swaps it in the test window (a meter whose use changed: the model keeps the
    shape it learnt, seasonal naive follows the new one after a week); ``wander`` is a
    seasonal random walk (each weekday its own random walk: nothing beats last week's
    value, and training already serves it seasonal naive)."""
    rng = np.random.default_rng(seed)
    dates = pd.date_range("2025-01-01", periods=DAYS)
    weekend = (dates.day_of_week >= 5).astype(float)
    in_test = np.arange(DAYS) >= DAYS - TEST_DAYS
    usage = {m: 20 + 8 * weekend + rng.normal(0, 1, DAYS) for m in STEADY}
    for m in CHANGED:
        usage[m] = 20 + 8 * np.where(in_test, 1 - weekend, weekend) + rng.normal(0, 1, DAYS)
    for m in WANDERING:
        walk = rng.normal(0, 1.5, DAYS)
        for t in range(7, DAYS):
            walk[t] += walk[t - 7]
        usage[m] = 40 + 8 * weekend + walk
    return pd.concat(
        pd.DataFrame({"meter_id": m, "date": dates, "usage": np.clip(u, 0.5, None)})
        for m, u in usage.items()
    )


@pytest.fixture(scope="module")
def trained():
    train, test = time_split(_fleet(), TEST_DAYS)
    bundle = train_forecasters(train, version="v1", recent=test, n_jobs=1)
    return bundle, train, test, rolling_test_forecasts(bundle, train, test)


def test_training_serves_a_model_to_every_meter_but_the_wandering_one(trained):
    bundle = trained[0]
    assert bundle.baseline_meters == list(WANDERING)
    # the validation errors the gate pools, beside seasonal naive's on the same origins
    rows = bundle.selection.set_index("meter_id")
    assert (rows.loc[list(STEADY + CHANGED), "n_served_week"] > 100).all()
    steady = rows.loc[list(STEADY)]
    assert (steady["mae_served_week"] < steady["mae_served_baseline_week"]).all()


def test_meters_whose_model_loses_are_served_seasonal_naive_the_rest_their_model(trained):
    bundle, _, _, rolling = trained
    served, decisions = gate_bundle(bundle, rolling, "v1-gated")
    decided = decisions.set_index("meter_id")
    assert set(decided.index) == set(STEADY + CHANGED)  # the wandering meter is not judged
    assert decided.loc[list(CHANGED), "gated"].all()
    assert not decided.loc[list(STEADY), "gated"].any()
    # judged on the test window and validation together, on the same days for both
    assert (decided["test_days"] > 100).all() and (decided["validation_days"] > 100).all()
    for m in CHANGED:
        assert decided.loc[m, "mae"] >= decided.loc[m, "baseline_mae"]
    assert served.version == "v1-gated" and served.instead_of == "v1"
    assert sorted(served.baseline_meters) == sorted(CHANGED + WANDERING)
    assert {m: served.model_name(m) for m in STEADY} == {m: bundle.model_name(m) for m in STEADY}
    assert served.selection.set_index("meter_id").loc["changed0", "served"] == "seasonal_naive"
    # a gated meter takes seasonal naive's own widths, the others keep theirs
    assert served.intervals["changed0"] == bundle.baseline_intervals["changed0"]
    assert served.intervals["steady0"] == bundle.intervals["steady0"]


def test_the_endpoint_serves_seasonal_naive_for_a_gated_meter_and_says_why(trained):
    bundle, _, _, rolling = trained
    served, _ = gate_bundle(bundle, rolling, "v1-gated")
    predictor = Predictor(load_bundle(pack_bundle(served)))  # what the endpoint loads

    def answer(meter):
        body, _ = predictor.invoke(json.dumps({"meter_id": meter, "horizon": 7}).encode())
        return json.loads(body)

    changed = answer("changed0")
    last_week = bundle.history["changed0"].iloc[-7:].to_numpy()
    assert changed["model"] == "seasonal_naive"
    assert changed["forecast"] == pytest.approx(last_week)
    assert "did not beat it on the rolling-origin backtest" in changed["model_note"]
    assert "changed0" in changed["model_note"]
    steady = answer("steady0")
    assert steady["model"] == bundle.model_name("steady0") != "seasonal_naive"
    assert steady["forecast"] == pytest.approx(bundle.forecast("steady0", 7)["forecast"])
    assert steady["forecast"] != pytest.approx(bundle.history["steady0"].iloc[-7:].to_numpy())
    assert steady["model_note"] == ""


class _Level:
    """A model that forecasts the last value (not seasonal naive, to the gate)."""

    name = "level"

    def forward(self, y, h, X=None, X_future=None):
        return np.full(h, float(np.asarray(y)[-1]))


def _rows(meter: str, errors: list[float], baseline_errors: list[float]) -> pd.DataFrame:
    dates = pd.date_range("2026-01-01", periods=len(errors))
    return pd.DataFrame(
        {
            "meter_id": meter,
            "origin": dates - pd.Timedelta(days=1),
            "date": dates,
            "actual": 10.0,
            "forecast": 10.0 + np.asarray(errors),
            "baseline": 10.0 - np.asarray(baseline_errors),
            "scale": 1.0,
        }
    )


def test_the_rule_ties_pooling_and_meters_without_evidence():
    history = pd.Series(10.0, index=pd.date_range("2025-12-01", periods=30))
    meters = ["tie", "pooled", "test_only", "nothing", "naive"]
    models = {m: _Level() for m in meters[:-1]} | {"naive": SeasonalNaive()}
    selection = pd.DataFrame(
        {  # the pooled meter loses the test window by 1 over 10 days, won validation by 1 over 20
            "meter_id": ["pooled"],
            "mae_served_week": [1.0],
            "mae_served_baseline_week": [2.0],
            "n_served_week": [20],
        }
    )
    bundle = ForecastBundle("v", models, {m: history for m in meters}, selection=selection)
    rolling = pd.concat(
        [
            _rows("tie", [1.0] * 10, [1.0] * 10),
            _rows("pooled", [2.0] * 10, [1.0] * 10),
            _rows("test_only", [0.5] * 3, [1.0] * 3),
            _rows("naive", [1.0] * 10, [1.0] * 10),
        ]
    )
    decided = meter_gate(bundle, rolling).set_index("meter_id")
    assert "naive" not in decided.index  # already seasonal naive: nothing to gate
    assert decided.loc["tie", "gated"]  # a tie is not a win
    assert decided.loc["pooled", "mae"] == pytest.approx((20 + 20) / 30)
    assert decided.loc["pooled", "baseline_mae"] == pytest.approx((10 + 40) / 30)
    assert not decided.loc["pooled", "gated"]  # 20 validation days outweigh 10 test days
    assert not decided.loc["test_only", "gated"]  # judged on the 3 days it has
    assert not decided.loc["nothing", "gated"] and decided.loc["nothing", "test_days"] == 0
    assert "MAE 1 vs 1 over 10 forecast days" in decided.loc["tie", "reason"]


def test_a_gated_bundle_keeps_its_notes_through_the_artifact_and_old_ones_load(trained):
    bundle, _, _, rolling = trained
    served, _ = gate_bundle(bundle, rolling, "v1-gated")
    loaded = load_bundle(pack_bundle(served))
    assert loaded.notes == served.notes and set(loaded.notes) == set(CHANGED)
    assert loaded.meter_note("steady0") == ""
    assert loaded.meter_note("changed0").startswith("seasonal naive serves meter changed0")
    assert not bundle.notes and bundle.meter_note("changed0") == ""
    with pytest.raises(KeyError, match="unknown meters"):
        bundle.as_baseline("v2", {"nope": "why"})


def _evaluate(bundle: ForecastBundle, train, test, bucket: str):
    """``evaluation_report`` and its check materialized for ``bundle`` on ``train``/``test``
    in a bucket of the local AWS: (result, storage, the evaluation's metadata)."""
    from energy_assets.assets.evaluation import evaluation_report
    from energy_assets.assets.preparation import train_test_split
    from energy_assets.assets.training import trained_forecaster
    from energy_assets.assets.values import ModelArtifact
    from energy_assets.orchestration.checks import model_beats_seasonal_naive
    from energy_assets.orchestration.definitions import build_defs
    from energy_assets.serving.artifact import artifact_sha256
    from energy_assets_tests.conftest import NAMES, deployment
    from energy_assets_tests.lineage import publish, written

    resources = build_defs(deployment(**{**NAMES, "bucket": bucket})).resources
    storage = resources["storage"]
    storage.ensure_bucket()
    for key, part in ((layout.TRAIN, train), (layout.TEST, test)):
        storage.put_csv(key, part.assign(date=part["date"].dt.strftime("%Y-%m-%d")))
    artifact = pack_bundle(bundle)
    uri = storage.put_bytes(
        layout.model_dir(bundle.version) + "model.tar.gz", artifact, "application/gzip"
    )
    instance = dg.DagsterInstance.ephemeral()
    publish(train_test_split, written(storage, layout.TRAIN, layout.TEST), resources, instance)
    model = ModelArtifact(bundle.version, uri, artifact_sha256(artifact))
    publish(trained_forecaster, model, resources, instance)
    put_json = S3Storage.put_json
    with mock.patch.object(  # a spy: every JSON the evaluation writes is still written
        S3Storage, "put_json", autospec=True, side_effect=lambda self, k, v: put_json(self, k, v)
    ) as spy:
        result = dg.materialize(
            [
                train_test_split.to_source_asset(),
                trained_forecaster.to_source_asset(),
                evaluation_report,
                model_beats_seasonal_naive,
            ],
            resources=resources,
            instance=instance,
        )
    reports = [c.args[1] for c in spy.call_args_list if c.args[1].endswith("report.json")]
    # each version's report is written once, whole (the gate's section, a baseline's figures)
    assert sorted(reports) == sorted(set(reports)), reports
    meta = {
        k: v.value
        for e in result.get_asset_materialization_events()
        if e.asset_key.path[-1] == "evaluation_report"
        for k, v in e.materialization.metadata.items()
    }
    return result, storage, meta


def test_evaluation_passes_on_the_gated_artifact_and_reports_the_gate(local_aws, trained):
    bundle, train, test, _ = trained
    result, storage, meta = _evaluate(bundle, train, test, "test-meter-gate")
    assert meta["version"] == meta["trained_version"] + "-gated"
    assert meta["meters_gated"] == 1 and meta["gated_meters"] == "changed0"
    assert meta["served_rolling_relative_mae_chosen_on_test_window"] < meta["rolling_relative_mae"]
    report = storage.get_json(layout.report(meta["version"]))
    gate = report["gate"]
    assert gate["model_version"] == meta["trained_version"]
    assert set(gate["reasons"]) == set(CHANGED) and gate["meters_already_seasonal_naive"] == 1
    # the model's own test metrics stay what they were (the model's report beside it)
    model_report = storage.get_json(layout.report(meta["trained_version"]))
    assert report["overall"] == model_report["overall"]
    assert "optimistic" in gate["served_chosen_on"]
    served = load_bundle(storage.get_bytes(storage.key_of(report["model_uri"])))
    assert sorted(served.baseline_meters) == sorted(CHANGED + WANDERING)
    (check,) = result.get_asset_check_evaluations()
    assert check.passed and "1 of 6 meters served seasonal naive" in check.description


def test_the_check_finds_a_gated_meter_still_served_a_model(trained):
    from energy_assets.assets.evaluation import gate_problems

    bundle, _, _, rolling = trained
    served, _ = gate_bundle(bundle, rolling, "v1-gated")
    report = {"gate": {"gated": list(CHANGED)}}
    assert gate_problems(report, served) == []
    (problem,) = gate_problems(report, bundle)  # the trained artifact, not the gated one
    assert "1 gated meters are still served a model (changed0)" in problem


class _Copy(SeasonalNaive):
    """Seasonal naive under another name: a model that ties it on every day."""

    name = "copy_of_seasonal_naive"


def test_when_every_meter_is_gated_the_fleet_baseline_serves(local_aws, trained):
    _, train, test, _ = trained
    meters = list(STEADY[:2])
    train, test = (f[f["meter_id"].isin(meters)] for f in (train, test))
    history = {m: g.set_index("date")["usage"] for m, g in train.groupby("meter_id")}
    bundle = ForecastBundle("v2", {m: _Copy() for m in meters}, history)
    result, storage, meta = _evaluate(bundle, train, test, "test-meter-gate-all")
    # a tie on every meter: the fleet's verdict is noise, and no meter's model beats it
    assert meta["version"] == "v2-baseline" and meta["serves_baseline"]
    assert meta["baseline_reason"].startswith("no meter's model beat seasonal naive")
    report = storage.get_json(layout.report("v2-baseline"))
    assert report["baseline"]["model_report"]["gate"]["gated"] == meters
    # the model's own report is kept beside the baseline's, with the gate that judged it
    assert storage.get_json(layout.report("v2"))["gate"]["gated"] == meters
    (check,) = result.get_asset_check_evaluations()
    assert not check.passed and "serving the seasonal-naive baseline" in check.description
