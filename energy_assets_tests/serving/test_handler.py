"""The Predictor without HTTP: defaults, single-series models, error classification."""

import json

import pytest

from energy_assets.serving.handler import InvalidRequest, ModelFailure, Predictor
from energy_assets_tests.serving.helpers import broken_bundle, make_bundle, series


def _answer(predictor, payload, content_type="application/json"):
    body, kind = predictor.invoke(json.dumps(payload).encode(), content_type)
    assert kind == "application/json"
    return json.loads(body)


def test_single_series_model_needs_no_meter_id():
    predictor = Predictor(make_bundle(meters=("only",)))
    assert _answer(predictor, {"horizon": 2})["meter_id"] == "only"
    body, _ = predictor.invoke(b",3\n", "text/csv")
    assert json.loads(body)["predictions"][0]["dates"][-1] == "2025-03-04"


def test_numeric_meter_ids_are_read_as_strings():
    predictor = Predictor(make_bundle(meters=("1001", "1002")))
    assert _answer(predictor, {"meter_id": 1002, "horizon": 1})["meter_id"] == "1002"


def test_start_past_the_history_forecasts_through_the_gap():
    bundle = make_bundle()
    answer = _answer(Predictor(bundle), {"meter_id": "m2", "horizon": 3, "start": "2025-03-10"})
    expected = bundle.forecast("m2", 3, start="2025-03-10")
    assert answer["forecast"] == expected["forecast"].tolist()
    assert answer["dates"] == ["2025-03-10", "2025-03-11", "2025-03-12"]


def test_too_little_history_before_start_is_the_callers_problem():
    # Seasonal naive needs a week before start; the model says so with a ValueError.
    with pytest.raises(InvalidRequest, match="needs 7 days"):
        Predictor(make_bundle()).predict("m1", 2, "2025-01-03")


def test_model_exceptions_are_model_failures():
    predictor = Predictor(broken_bundle())
    with pytest.raises(ModelFailure, match="kaboom"):
        predictor.predict("boom", 2)
    with pytest.raises(ModelFailure, match="invalid forecast"):
        predictor.predict("nan-model", 2)


def test_batch_size_is_limited():
    instances = [{"meter_id": "m1", "horizon": 1}] * 1001
    with pytest.raises(InvalidRequest, match="at most 1000"):
        Predictor(make_bundle()).invoke(json.dumps({"instances": instances}).encode())


def test_a_loaded_model_dir_answers_like_the_bundle(tmp_path):
    bundle = make_bundle()
    predictor = Predictor.from_model_dir(bundle.save(tmp_path))
    assert predictor.version == "v1"
    assert predictor.predict("m1", 7)["forecast"] == bundle.forecast("m1", 7)["forecast"].tolist()
    assert len(series()) == 60
