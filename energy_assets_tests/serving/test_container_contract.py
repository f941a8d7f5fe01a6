"""The SageMaker container contract over HTTP: /ping, /invocations, /execution-parameters."""

import httpx
import pytest

from energy_assets_tests.serving.helpers import make_bundle


def _invoke(url, **kwargs) -> httpx.Response:
    return httpx.post(f"{url}/invocations", **kwargs)


def test_ping_answers_200_with_the_loaded_model(container_url):
    response = httpx.get(f"{container_url}/ping")
    assert response.status_code == 200 and response.json()["model_version"] == "v1"


def test_single_forecast(container_url):
    response = _invoke(container_url, json={"meter_id": "m2", "horizon": 3})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body == {
        "meter_id": "m2",
        "model": "seasonal_naive",
        "model_version": "v1",
        "model_note": "",  # why this model serves, when that needs saying (none here)
        "start": "2025-03-02",
        "dates": ["2025-03-02", "2025-03-03", "2025-03-04"],
        "forecast": [153.0, 154.0, 155.0],  # the last week of 100 + day number
        "intervals": {},  # no interval widths for m2 in this model
    }


def test_forecast_equals_the_bundle(container_url):
    expected = make_bundle().forecast("m1", 14, start="2025-02-10")
    body = _invoke(
        container_url, json={"meter_id": "m1", "horizon": 14, "start": "2025-02-10"}
    ).json()
    assert body["forecast"] == expected["forecast"].tolist()
    assert body["dates"] == expected["date"].dt.strftime("%Y-%m-%d").tolist()
    assert body["intervals"]["80"]["lower"] == expected["lower_80"].tolist()
    assert body["intervals"]["95"]["upper"] == expected["upper_95"].tolist()


def test_intervals_come_with_the_forecast(container_url):
    body = _invoke(container_url, json={"meter_id": "m1", "horizon": 2}).json()
    assert body["forecast"] == [53.0, 54.0]
    assert body["intervals"] == {
        "80": {"lower": [51.0, 52.0], "upper": [55.0, 56.0]},
        "95": {"lower": [48.0, 49.0], "upper": [58.0, 59.0]},
    }


def test_batch_and_csv_give_the_same_answers(container_url):
    batch = _invoke(
        container_url,
        json={
            "instances": [
                {"meter_id": "m1", "horizon": 2},
                {"meter_id": "m2", "horizon": 1, "start": "2025-01-20"},
            ]
        },
    ).json()["predictions"]
    csv = _invoke(
        container_url,
        content="meter_id,horizon,start\nm1,2,\n\nm2,1,2025-01-20\n",
        headers={"content-type": "text/csv"},
    ).json()["predictions"]
    assert batch == csv
    assert [p["meter_id"] for p in batch] == ["m1", "m2"]
    assert batch[1]["dates"] == ["2025-01-20"] and batch[1]["forecast"] == [112.0]


def test_csv_without_header_and_with_charset(container_url):
    response = _invoke(
        container_url, content="m2,1\r\n", headers={"content-type": "text/csv; charset=utf-8"}
    )
    assert response.status_code == 200
    assert response.json()["predictions"][0]["forecast"] == [153.0]


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"meter_id": "zz", "horizon": 3}, "unknown meter 'zz'; this model serves 2 meters"),
        ({"meter_id": "m1"}, "'horizon' is required"),
        ({"meter_id": "m1", "horizon": 0}, "between 1 and 366"),
        ({"meter_id": "m1", "horizon": 367}, "between 1 and 366"),
        ({"meter_id": "m1", "horizon": "soon"}, "must be an integer"),
        ({"meter_id": "m1", "horizon": 2.5}, "must be an integer"),
        ({"meter_id": "m1", "horizon": True}, "must be an integer"),
        ({"meter_id": "m1", "horizon": 2, "start": "31/12/2025"}, "YYYY-MM-DD"),
        ({"meter_id": "m1", "horizon": 2, "start": "2025-02-30"}, "YYYY-MM-DD"),
        ({"meter_id": "m1", "horizon": 2, "start": "2025-01-01"}, "after the first known day"),
        ({"meter_id": "m1", "horizon": 2, "start": "2027-01-01"}, "days after the last actual"),
        ({"horizon": 2}, "meter_id is required"),
        ({"meter_id": ["m1"], "horizon": 2}, "meter_id must be a string"),
        ({"meter_id": "m1", "horizon": 2, "colour": "red"}, "unknown field"),
        ({"instances": {"meter_id": "m1"}}, "'instances' must be a list"),
        ({"instances": []}, "no forecast requested"),
        ({"instances": [{"meter_id": "m1", "horizon": 1}, 5]}, "instance 1: each request"),
    ],
)
def test_bad_payloads_get_a_400_with_a_clear_message(container_url, payload, message):
    response = _invoke(container_url, json=payload)
    assert response.status_code == 400
    assert message in response.json()["error"]


@pytest.mark.parametrize(
    ("body", "content_type", "message"),
    [
        (b"{nope", "application/json", "not valid JSON"),
        (b"[1, 2]", "application/json", "body must be a JSON object"),
        (b"<a/>", "application/xml", "unsupported content type"),
        (b"m1\n", "text/csv", "CSV line 1: expected meter_id,horizon[,start]"),
        (b"m1,two\n", "text/csv", "CSV line 1: horizon must be an integer"),
        (b"\xff\xfe", "text/csv", "CSV body cannot be read"),
    ],
)
def test_unreadable_bodies_get_a_400(container_url, body, content_type, message):
    response = _invoke(container_url, content=body, headers={"content-type": content_type})
    assert response.status_code == 400 and message in response.json()["error"]


def test_accept_must_allow_json(container_url):
    ok = _invoke(container_url, json={"meter_id": "m1", "horizon": 1}, headers={"accept": "*/*"})
    assert ok.status_code == 200
    refused = _invoke(
        container_url, json={"meter_id": "m1", "horizon": 1}, headers={"accept": "text/csv"}
    )
    assert refused.status_code == 400 and "answers application/json" in refused.json()["error"]


def test_a_failing_model_is_a_500(broken_container_url):
    response = _invoke(broken_container_url, json={"meter_id": "boom", "horizon": 2})
    assert response.status_code == 500
    assert "model failed for meter 'boom'" in response.json()["error"]
    nan = _invoke(broken_container_url, json={"meter_id": "nan-model", "horizon": 2})
    assert nan.status_code == 500 and "invalid forecast" in nan.json()["error"]


def test_execution_parameters_for_batch_transform(container_url):
    params = httpx.get(f"{container_url}/execution-parameters").json()
    assert params["BatchStrategy"] == "MULTI_RECORD" and params["MaxPayloadInMB"] == 6


def test_deeply_nested_json_is_a_400_not_a_500(container_url):
    response = _invoke(
        container_url,
        content=b'{"meter_id": ' + b"[" * 100_000 + b"]" * 100_000 + b', "horizon": 1}',
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 400 and "nested too deeply" in response.json()["error"]


def test_a_body_over_6_mb_is_refused_before_it_is_read_whole(container_url):
    big = b'{"meter_id": "' + b"x" * (20 * 1024 * 1024) + b'", "horizon": 1}'
    response = _invoke(container_url, content=big, headers={"content-type": "application/json"})
    assert response.status_code == 413 and "limit of one invocation" in response.json()["error"]
    assert len(response.content) < 200  # the 20 MB meter id is not echoed

    def chunks():  # no Content-Length: the server counts as it reads
        for _ in range(7):
            yield b" " * (1024 * 1024)

    streamed = _invoke(container_url, content=chunks())
    assert streamed.status_code == 413


def test_a_long_meter_id_is_quoted_short(container_url):
    response = _invoke(container_url, json={"meter_id": "x" * 5_000_000, "horizon": 1})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error.startswith("unknown meter 'xxxx") and len(error) < 200


def test_several_starts_in_one_invocation(container_url):
    body = _invoke(
        container_url,
        json={"meter_id": "m2", "horizon": 2, "starts": ["2025-02-01", "2025-02-02"]},
    ).json()
    assert [f["dates"] for f in body["forecasts"]] == [
        ["2025-02-01", "2025-02-02"],
        ["2025-02-02", "2025-02-03"],
    ]
    assert [f["origin"] for f in body["forecasts"]] == ["2025-01-31", "2025-02-01"]
