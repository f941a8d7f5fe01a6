"""The Predictor without HTTP: defaults, single-series models, error classification."""

import json

import pytest

from energy_assets.serving.handler import (
    MAX_BODY_BYTES,
    MAX_HORIZON,
    InvalidRequest,
    ModelFailure,
    Predictor,
)
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


@pytest.fixture(scope="module", params=[200, 420], ids=["200-days", "420-days"])
def trained(request):
    """The default training (seasonal naive, the global model, its blend) on 3 meters."""
    from energy_assets.ml.cleaning import clean_usage
    from energy_assets.ml.synthetic import generate_usage
    from energy_assets.ml.training import train_forecasters

    frame = clean_usage(generate_usage(3, request.param, seed=1).astype(str)).clean
    # the global model on, whatever its validation says: its year-ago features are under test
    return train_forecasters(
        frame[["meter_id", "date", "usage"]],
        version="h",
        n_jobs=1,
        global_min_meters=1,
        global_margin=-1.0,
    )


def test_every_horizon_the_contract_allows(trained):
    # Horizons past 361 days used to index the global model's year-ago features past the
    # history: IndexError -> 500 for 362..366.
    predictor = Predictor(trained)
    kinds = {trained.model_name(m): m for m in trained.meters}
    # one meter of each kind; of the global model's (1 ms a day), the blend, which runs it
    chosen = [m for name, m in kinds.items() if not name.startswith("gbm")]
    chosen.append(next(m for name, m in kinds.items() if name.startswith("gbm")))
    for meter in chosen:
        answers = []
        for horizons in (range(1, 250), range(250, MAX_HORIZON + 1)):  # 50,000 days a call
            batch = [{"meter_id": meter, "horizon": h} for h in horizons]
            answers += _answer(predictor, {"instances": batch})["predictions"]
        lengths = [len(a["forecast"]) for a in answers]
        assert lengths == list(range(1, MAX_HORIZON + 1)), meter
        assert all(v is not None and v >= 0 for a in answers for v in a["forecast"])
    assert any(name.startswith("gbm") for name in kinds)  # the global model was exercised


def test_several_starts_in_one_call_answer_as_single_requests():
    bundle = make_bundle()
    predictor = Predictor(bundle)
    starts = ["2025-01-05", "2025-02-10", "2025-02-11", "2025-03-05"]
    answer = _answer(predictor, {"meter_id": "m1", "horizon": 3, "starts": starts})
    assert answer["meter_id"] == "m1" and answer["model_version"] == "v1"
    assert answer["model"] == "seasonal_naive" and answer["horizon"] == 3
    first, *answered = answer["forecasts"]
    # seasonal naive needs a week before its start: that start alone is refused, with the reason
    assert first["start"] == "2025-01-05" and "needs 7 days" in first["error"]
    for item in answered:
        single = _answer(predictor, {"meter_id": "m1", "horizon": 3, "start": item["start"]})
        assert item["dates"] == single["dates"] and item["forecast"] == single["forecast"]
        assert item["intervals"] == single["intervals"]
    # the origin is the last actual the forecast was made from; the history ends 2025-03-01
    assert [f["origin"] for f in answered] == ["2025-02-09", "2025-02-10", "2025-03-01"]


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"meter_id": "m1", "horizon": 3, "starts": []}, "non-empty list"),
        ({"meter_id": "m1", "horizon": 3, "starts": "2025-02-10"}, "non-empty list"),
        ({"meter_id": "m1", "horizon": 3, "starts": ["10/02/2025"]}, "YYYY-MM-DD"),
        ({"meter_id": "m1", "horizon": 3, "starts": [None]}, "not empty values"),
        ({"meter_id": "m1", "starts": ["2025-02-10"]}, "'horizon' is required"),
        ({"meter_id": "m1", "horizon": 3, "start": "x", "starts": []}, "beside 'starts'"),
        ({"meter_id": "m1", "horizon": 366, "starts": ["2025-02-10"] * 200}, "forecast days"),
        ({"meter_id": "m1", "horizon": 1, "starts": ["2025-02-10"] * 1001}, "at most 1000"),
    ],
)
def test_bad_starts_requests_are_refused_whole(payload, message):
    with pytest.raises(InvalidRequest, match=message):
        Predictor(make_bundle()).invoke(json.dumps(payload).encode())


def test_deeply_nested_and_oversized_bodies_are_the_callers_problem():
    predictor = Predictor(make_bundle())
    with pytest.raises(InvalidRequest, match="nested too deeply"):
        predictor.invoke(b"[" * 200_000 + b"]" * 200_000)
    with pytest.raises(InvalidRequest, match="not valid JSON"):
        predictor.invoke(b'{"meter_id": "m1", "horizon": ' + b"9" * 5000 + b"}")
    with pytest.raises(InvalidRequest, match="over the limit"):
        predictor.invoke(b" " * (MAX_BODY_BYTES + 1))


@pytest.mark.parametrize(
    "payload",
    [
        {"meter_id": "x" * 5_000_000, "horizon": 1},
        {"meter_id": [[[["deep" * 1000]]]], "horizon": 1},
        {"meter_id": "m1", "horizon": "9" * 1_000_000},
        {"meter_id": "m1", "horizon": 1, "start": "2" * 1_000_000},
        {"meter_id": "m1", "horizon": 1, "y" * 1_000_000: 1},
    ],
    ids=["meter_id", "nested", "horizon", "start", "field"],
)
def test_errors_quote_at_most_a_few_dozen_characters_of_the_request(payload):
    with pytest.raises(InvalidRequest) as raised:
        Predictor(make_bundle()).invoke(json.dumps(payload).encode())
    assert len(str(raised.value)) < 200
